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
 * current (load.ts); no allocation. The default, choiceCount 2 with bias 1,
 * is pick() alone, small enough with the draws it inlines for V8 to inline
 * it into its caller; every other case is in methods of their own. At 1,000
 * instances a pick went from 115-197 ns (equal weights, weights 1..5: a
 * binary search per draw with unequal weights, a Map lookup by id per
 * candidate) to 23-32 ns, then about 10% less with that straight path and
 * the batched random numbers of prng.ts (the same picks, measured in one
 * process with rounds interleaved); then, not drawing a second candidate
 * when the first is idle, 40.1 -> 37.3 ns (equal) and 57.4 -> 43.6 ns
 * (weights 1..5) in npm run bench -- pickers, where a third of the
 * instances have a call in flight. 37.3 and 43.6 ns match a later run
 * beside a memory-bound process on the other core, which slows every row
 * 1.3-1.8x; on a quiet machine the same code takes 25.6-26.7 and
 * 30.4-32.5 ns (docs/performance.md).
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { inFlight, type InFlight } from "./load.js";
import { WeightedSampler } from "./sampler.js";
import type { Picker, PolicyName } from "./types.js";
import { EffectiveWeights } from "./weights.js";

/** Draws per candidate before settling for fewer distinct candidates (a dominant weight repeats). */
const ATTEMPTS = 8;

/** What pick() does after the first draw, set by sync(). */
const enum Mode {
  /** Return it: one instance, no tracker, or bias 0 with unequal weights. */
  Plain,
  /** choiceCount 2 over more than 2 instances, equal weights: fewer calls in flight wins. */
  TwoEqual,
  /** choiceCount 2 over more than 2 instances, bias 1: fewer calls in flight per unit of weight wins. */
  TwoWeighted,
  /** Anything else: more candidates, all instances, or another bias (general()). */
  General,
}

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
  /** Equal weights: compare calls in flight alone (Envoy's unweightedHostPick). Set by sync(). */
  private uniform = true;
  private mode = Mode.Plain;

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
    if (this.active === undefined || this.size === 1 || (this.bias === 0 && !this.uniform)) this.mode = Mode.Plain;
    else if (this.choiceCount !== 2 || this.size <= 2) this.mode = Mode.General;
    else this.mode = this.uniform ? Mode.TwoEqual : this.bias === 1 ? Mode.TwoWeighted : Mode.General;
  }

  /** Lower is better: calls in flight, per unit of weight when weights differ. */
  private score(active: InFlight, i: number): number {
    const a = active.at(i);
    if (this.uniform) return a;
    // bias 1, the default, needs no Math.pow.
    return (this.bias === 1 ? a : Math.pow(a, this.bias)) / (this.weights.values[i] as number);
  }

  // The default's path alone (choiceCount 2), kept small enough for V8 to inline into the caller
  // (about 250 bytes of bytecode; V8 inlines up to 460); every other case is in methods of their own.
  pick(): Instance | undefined {
    if (this.weights.refresh()) this.reweigh();
    const first = this.sampler.sample(this.random());
    const mode = this.mode;
    if (mode === Mode.Plain) return this.instances[first];
    if (mode === Mode.General) return this.instances[this.general(first)];
    const active = this.active as InFlight;
    const a1 = active.at(first);
    // No second candidate can beat an idle first one (ties go to the first drawn): its draw would
    // not change the pick, so it is not made. Each pick's distribution is the same.
    if (a1 === 0) return this.instances[first];
    let second = this.sampler.sample(this.random());
    if (second === first) second = this.redraw(first);
    const a2 = active.at(second);
    if (mode === Mode.TwoEqual) return this.instances[a2 < a1 ? second : first];
    // Dividing, not cross-multiplying (a2 * w1 < a1 * w2): no faster here, and it would settle
    // near-ties of fractional (slow-start) weights differently.
    const w = this.weights.values;
    return this.instances[a2 / (w[second] as number) < a1 / (w[first] as number) ? second : first];
  }

  private reweigh(): void {
    this.sampler.update(this.weights.values);
    this.sync();
  }

  /** Up to ATTEMPTS - 1 more draws for a second candidate distinct from `first`; `first` if none. */
  private redraw(first: number): number {
    let second = first;
    for (let attempt = 1; second === first && attempt < ATTEMPTS; attempt++) second = this.sampler.sample(this.random());
    return second;
  }

  /** The winner among choiceCount candidates, or all eligible instances when there are no more. */
  private general(first: number): number {
    const active = this.active as InFlight;
    if (this.size <= this.choiceCount) return this.compareAll(active, first);
    const sampler = this.sampler;
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
    return best;
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
