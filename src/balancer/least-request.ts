/**
 * least_request: power of N choices (N = choiceCount, default 2) over the
 * calls in flight of the shared LoadTracker, after Envoy's
 * LeastRequestLoadBalancer.
 *
 * - Equal weights (Envoy's unweightedHostPick): N distinct candidates drawn
 *   uniformly; the one with the fewest calls in flight wins, the first drawn
 *   on ties.
 * - Unequal weights: Envoy turns `weight / (active + 1)^bias` into EDF
 *   scheduler weights; a P2C comparison of that score would instead starve the
 *   lighter instance whenever calls do not overlap (weights 2:1 and nothing in
 *   flight: A wins every pair, 100:0 instead of 2:1). So the weight goes into
 *   the draw and the load into the comparison: candidates are drawn with
 *   probability proportional to weight, and the winner has the fewest calls
 *   in flight per unit of weight, `active^bias / weight`. With nothing in
 *   flight every candidate ties and the first drawn wins, so traffic splits
 *   exactly by weight; under load, calls in flight tend to be proportional to
 *   weight. bias 0 ignores load altogether (weighted random), as in Envoy.
 *   Equal weights reduce to the rule above.
 *
 * When there are at most N eligible instances, all of them are compared.
 * Without a LoadTracker the policy degrades to weighted random. Weight-0
 * instances are never drawn unless all weights are 0. Cost per pick: N
 * samples (O(log n) each with unequal weights) and N tracker lookups.
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { WeightedSampler } from "./sampler.js";
import type { LoadTracker, Picker, PolicyName } from "./types.js";
import { EffectiveWeights } from "./weights.js";

/** Draws per candidate before settling for fewer distinct candidates (a dominant weight repeats). */
const ATTEMPTS = 8;

export class LeastRequestPicker implements Picker {
  readonly policy: PolicyName = "least_request";
  readonly size: number;
  private readonly weights: EffectiveWeights;
  private readonly sampler: WeightedSampler;
  private readonly random: () => number;
  private readonly load: LoadTracker | undefined;
  private readonly choiceCount: number;
  private readonly bias: number;
  private readonly drawn: Int32Array;

  constructor(
    private readonly instances: readonly Instance[],
    config: ResolvedConfig,
    ctx: ResolvedContext,
  ) {
    this.weights = new EffectiveWeights(instances, config.slowStart, ctx.now);
    this.sampler = new WeightedSampler(this.weights.values);
    this.size = this.sampler.size;
    this.random = ctx.random;
    this.load = ctx.load;
    this.choiceCount = config.choiceCount;
    this.bias = config.activeRequestBias;
    this.drawn = new Int32Array(config.choiceCount);
  }

  /** Lower is better: calls in flight, per unit of weight when weights differ. */
  private score(load: LoadTracker, i: number): number {
    const active = load.inFlight((this.instances[i] as Instance).id);
    if (this.sampler.uniform) return active;
    const w = this.weights.values[i] as number;
    return (this.bias === 1 ? active : Math.pow(active, this.bias)) / w;
  }

  pick(): Instance | undefined {
    if (this.weights.refresh()) this.sampler.update(this.weights.values);
    const sampler = this.sampler;
    const first = sampler.sample(this.random());
    const load = this.load;
    if (load === undefined || sampler.size === 1 || (this.bias === 0 && !sampler.uniform)) return this.instances[first];
    let best = first;
    let bestScore = this.score(load, first);
    if (sampler.size <= this.choiceCount) {
      for (const i of sampler.eligible) {
        if (i === first) continue;
        const s = this.score(load, i);
        if (s < bestScore) {
          best = i;
          bestScore = s;
        }
      }
      return this.instances[best];
    }
    const drawn = this.drawn;
    drawn[0] = first;
    let count = 1;
    for (let c = 1; c < this.choiceCount; c++) {
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const i = sampler.sample(this.random());
        if (seen(drawn, count, i)) continue;
        drawn[count++] = i;
        const s = this.score(load, i);
        if (s < bestScore) {
          best = i;
          bestScore = s;
        }
        break;
      }
    }
    return this.instances[best];
  }
}

function seen(drawn: Int32Array, count: number, i: number): boolean {
  for (let k = 0; k < count; k++) if (drawn[k] === i) return true;
  return false;
}
