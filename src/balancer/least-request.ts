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
 * instances are never drawn unless all weights are 0.
 *
 * Cost per pick: N draws from the alias table (O(1) each, sampler.ts) and N
 * reads from the picker's own array of counts, which the tracker keeps
 * current (load.ts); no allocation, and choiceCount 2 has a straight path.
 * At 1,000 instances a pick went from 115-197 ns (equal weights, weights
 * 1..5: a binary search per draw with unequal weights, a Map lookup by id
 * per candidate) to 23-32 ns (CPU time, best of several runs, on a shared
 * 2-vCPU machine; npm run bench -- pickers has the rows).
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { inFlight, type InFlight } from "./load.js";
import { WeightedSampler } from "./sampler.js";
import type { Picker, PolicyName } from "./types.js";
import { EffectiveWeights } from "./weights.js";

/** Draws per candidate before settling for fewer distinct candidates (a dominant weight repeats). */
const ATTEMPTS = 8;

export class LeastRequestPicker implements Picker {
  readonly policy: PolicyName = "least_request";
  readonly size: number;
  private readonly weights: EffectiveWeights;
  private readonly sampler: WeightedSampler;
  private readonly random: () => number;
  /** Calls in flight per instance index; undefined without a LoadTracker. */
  private readonly active: InFlight | undefined;
  private readonly choiceCount: number;
  private readonly bias: number;
  private readonly drawn: Int32Array;
  /** Equal weights: compare calls in flight alone (Envoy's unweightedHostPick). Set by sync(), as plain. */
  private uniform = true;
  /** No comparison to make: one instance, no tracker, or bias 0 with unequal weights. One field for pick() to test. */
  private plain = false;

  constructor(
    private readonly instances: readonly Instance[],
    config: ResolvedConfig,
    ctx: ResolvedContext,
  ) {
    this.weights = new EffectiveWeights(instances, config.slowStart, ctx.now);
    this.sampler = new WeightedSampler(this.weights.values);
    this.size = this.sampler.size;
    this.random = ctx.random;
    this.active = ctx.load && inFlight(ctx.load, instances);
    this.choiceCount = config.choiceCount;
    this.bias = config.activeRequestBias;
    this.drawn = new Int32Array(config.choiceCount);
    this.sync();
  }

  /** What pick() tests, derived from the weights: at construction and after each slow-start refresh. */
  private sync(): void {
    this.uniform = this.sampler.uniform;
    this.plain = this.active === undefined || this.size === 1 || (this.bias === 0 && !this.uniform);
  }

  /** Lower is better: calls in flight, per unit of weight when weights differ. */
  private score(active: InFlight, i: number): number {
    const a = active.at(i);
    if (this.uniform) return a;
    // bias 1, the default, needs no Math.pow.
    return (this.bias === 1 ? a : Math.pow(a, this.bias)) / (this.weights.values[i] as number);
  }

  pick(): Instance | undefined {
    if (this.weights.refresh()) {
      this.sampler.update(this.weights.values);
      this.sync();
    }
    const sampler = this.sampler;
    const first = sampler.sample(this.random());
    const active = this.active;
    if (this.plain || active === undefined) return this.instances[first];
    if (this.size <= this.choiceCount) return this.instances[this.compareAll(active, first)];
    if (this.choiceCount === 2) {
      // The default, straight: up to ATTEMPTS draws for a second candidate; the first drawn wins ties.
      let second = sampler.sample(this.random());
      for (let attempt = 1; second === first && attempt < ATTEMPTS; attempt++) second = sampler.sample(this.random());
      if (second === first) return this.instances[first];
      const a1 = active.at(first);
      const a2 = active.at(second);
      if (this.uniform) return this.instances[a2 < a1 ? second : first];
      const w = this.weights.values;
      if (this.bias === 1) return this.instances[a2 / (w[second] as number) < a1 / (w[first] as number) ? second : first];
      return this.instances[this.score(active, second) < this.score(active, first) ? second : first];
    }
    const drawn = this.drawn;
    drawn[0] = first;
    let count = 1;
    let best = first;
    let bestScore = this.score(active, first);
    for (let c = 1; c < this.choiceCount; c++) {
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const i = sampler.sample(this.random());
        if (seen(drawn, count, i)) continue;
        drawn[count++] = i;
        const s = this.score(active, i);
        if (s < bestScore) {
          best = i;
          bestScore = s;
        }
        break;
      }
    }
    return this.instances[best];
  }

  /** At most choiceCount eligible instances: all of them compete; `first` (drawn) wins ties, then eligible order. */
  private compareAll(active: InFlight, first: number): number {
    let best = first;
    let bestScore = this.score(active, first);
    for (const i of this.sampler.eligible) {
      if (i === first) continue;
      const s = this.score(active, i);
      if (s < bestScore) {
        best = i;
        bestScore = s;
      }
    }
    return best;
  }
}

function seen(drawn: Int32Array, count: number, i: number): boolean {
  for (let k = 0; k < count; k++) if (drawn[k] === i) return true;
  return false;
}
