/**
 * Effective weights: an instance's configured weight, ramped up after it
 * starts (slow start), after Envoy's EdfLoadBalancerBase::applySlowStartFactor:
 *
 *   time_factor = max(elapsed, 1 ms) / window
 *   effective   = weight * max(time_factor ^ (1 / aggression), minWeightPercent / 100)
 *
 * An instance without a startTime, or started at least a window ago, gets its
 * full weight; weight 0 stays 0 (and a positive weight never ramps down to 0,
 * since time_factor > 0). A start time in the future (clock skew) counts as
 * "just started".
 *
 * Pickers are immutable snapshots but time passes, so EffectiveWeights
 * recomputes the values during pick(), at most every `refreshMs` (default
 * 1000) and only while some instance is still warming. Cost: while warming,
 * one clock read per pick (Date.now(), ~20-40 ns) plus an O(n) recomputation,
 * and the policy's O(n) rebuild of what it derives from the weights, once per
 * refreshMs; once no instance is warming, one boolean test per pick.
 */
import type { Instance } from "../model/instance.js";

export interface ResolvedSlowStart {
  readonly windowMs: number;
  readonly aggression: number;
  readonly minWeightPercent: number;
  readonly refreshMs: number;
}

/** The configured weight, with anything but a finite positive number read as 0. */
export function baseWeight(instance: Instance): number {
  const w = instance.weight;
  return w > 0 && w < Infinity ? w : 0;
}

/** The weight `instance` has at `now` (epoch ms) under `slowStart`. */
export function effectiveWeight(instance: Instance, now: number, slowStart?: ResolvedSlowStart): number {
  const w = baseWeight(instance);
  if (w === 0 || slowStart === undefined || instance.startTime === undefined) return w;
  const elapsed = now - instance.startTime;
  if (!(elapsed < slowStart.windowMs)) return w; // out of the window (or an unusable clock): full weight
  const timeFactor = Math.max(elapsed, 1) / slowStart.windowMs;
  const ramp = slowStart.aggression === 1 ? timeFactor : Math.pow(timeFactor, 1 / slowStart.aggression);
  return w * Math.max(ramp, slowStart.minWeightPercent / 100);
}

/** The effective weights of a fixed list of instances, kept current by refresh(). */
export class EffectiveWeights {
  /** One per instance, in the instances' order. */
  readonly values: Float64Array;
  private warming = false;
  private nextAt = 0;

  constructor(
    private readonly instances: readonly Instance[],
    private readonly slowStart: ResolvedSlowStart | undefined,
    private readonly now: () => number,
  ) {
    this.values = new Float64Array(instances.length);
    const warmable = slowStart !== undefined && instances.some((i) => i.startTime !== undefined && baseWeight(i) > 0);
    if (warmable) this.compute(now());
    else instances.forEach((inst, k) => (this.values[k] = baseWeight(inst)));
  }

  /** Whether some instance is below its full weight as of the last computation. */
  get isWarming(): boolean {
    return this.warming;
  }

  /** Recomputes the values when some instance is warming and refreshMs has passed; true when it did. */
  refresh(): boolean {
    if (!this.warming) return false;
    const t = this.now();
    if (t < this.nextAt) return false;
    this.compute(t);
    return true;
  }

  private compute(t: number): void {
    let warming = false;
    for (let k = 0; k < this.instances.length; k++) {
      const inst = this.instances[k] as Instance;
      const v = effectiveWeight(inst, t, this.slowStart);
      this.values[k] = v;
      if (v < baseWeight(inst)) warming = true;
    }
    this.warming = warming;
    this.nextAt = t + (this.slowStart?.refreshMs ?? 0);
  }
}

/** The instances that may take new traffic: those with a positive weight, or all of them when none has one. */
export function eligibleByWeight(instances: readonly Instance[]): readonly Instance[] {
  const positive = instances.filter((i) => baseWeight(i) > 0);
  return positive.length > 0 ? positive : instances;
}
