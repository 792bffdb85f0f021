/**
 * What least_connection, shortest_expected_delay and never_queue share, the
 * three IPVS schedulers that scan every instance (ip_vs_wlc.c, ip_vs_sed.c,
 * ip_vs_nq.c) rather than sample a few as least_request does: the eligible
 * instances, their effective weights, their calls in flight, and the rule
 * for ties.
 *
 * Calls in flight are the LoadTracker's (ctx.load), IPVS's active
 * connections; without a tracker every instance counts as idle. Weight-0
 * instances take no new traffic unless all have weight 0 (then they are
 * scored as equal weights), as round_robin. Slow start applies as to the
 * other weighted policies.
 *
 * Ties: IPVS keeps the first instance in list order, so with nothing in
 * flight (calls that do not overlap, the common case for one client) every
 * call would go to the first instance. Here the scan starts at a cursor that
 * moves past each pick, beginning at a random offset as round_robin does:
 * the first best instance at or after the cursor (wrapping) wins. Equal
 * scores therefore rotate exactly as round_robin, and a pick is a
 * deterministic function of the counts, the weights and the cursor.
 *
 * Scores are compared as IPVS does, by cross-multiplication (`a / wa < b / wb`
 * as `a * wb < b * wa`): no division per instance, and exact, so equal ratios
 * tie, for integer weights and counts (weights above WEIGHT_LIMIT, only
 * absurd ones, are scaled down first so that the products cannot overflow).
 *
 * Cost: O(n) per pick in the worst case (every instance busy), as IPVS.
 * Each scan stops at the first instance nothing can beat (an idle one for
 * least_connection; an idle one of the top weight for the other two), so
 * with few calls in flight, the usual case, a pick reads a few counts.
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { createLoadTracker, inFlight, type InFlight } from "./load.js";
import type { Picker, PolicyName } from "./types.js";
import { EffectiveWeights, eligibleByWeight } from "./weights.js";

/** Above this weight (2^64), weights are divided by the heaviest: counts times weights stay far from overflow. */
const WEIGHT_LIMIT = 2 ** 64;

export abstract class LeastLoadedPicker implements Picker {
  abstract readonly policy: PolicyName;
  readonly size: number;
  protected readonly list: readonly Instance[];
  /** Calls in flight by index into list. */
  protected readonly active: InFlight;
  /** Weights compared, by index into list: the effective weights, scaled when absurd. */
  protected readonly w: Float64Array;
  /** All weights equal: compare calls in flight alone. */
  protected uniform = true;
  /** The largest weight: an idle instance of this weight has the lowest expected delay there is. */
  protected maxWeight = 0;
  /** Where the next scan starts; ties go to the first best instance from here. */
  protected cursor: number;
  private readonly weights: EffectiveWeights;

  constructor(instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) {
    this.list = eligibleByWeight(instances);
    this.size = this.list.length;
    this.weights = new EffectiveWeights(this.list, config.slowStart, ctx.now);
    this.w = new Float64Array(this.size);
    // Without a tracker, one nobody writes to: every count 0, and the same code path.
    this.active = inFlight(ctx.load ?? createLoadTracker(), this.list);
    this.cursor = Math.min((ctx.random() * this.size) | 0, Math.max(this.size - 1, 0));
    this.sync();
  }

  private sync(): void {
    const values = this.weights.values;
    let max = 0;
    let equal = true;
    for (let k = 0; k < values.length; k++) {
      const v = values[k] as number;
      if (v > max) max = v;
      if (v !== values[0]) equal = false;
    }
    // All weights 0 (all instances draining): equal weights.
    this.uniform = equal;
    const divisor = max > WEIGHT_LIMIT ? max : 1;
    for (let k = 0; k < values.length; k++) this.w[k] = (values[k] as number) / divisor;
    this.maxWeight = max / divisor;
  }

  pick(): Instance | undefined {
    if (this.weights.refresh()) this.sync();
    const best = this.choose();
    this.cursor = best + 1 === this.size ? 0 : best + 1;
    return this.list[best];
  }

  /** The index into list to pick: the policy's best, the first from the cursor on ties. */
  protected abstract choose(): number;

  /**
   * Equal weights, for all three policies: the fewest calls in flight (with
   * equal weights, (active + 1) / w orders as active, and an idle instance
   * is also the fastest one); an idle instance ends the scan.
   */
  protected fewestActive(): number {
    const active = this.active.all();
    const start = this.cursor;
    if (active[start] === 0) return start;
    // From the cursor to the end, then from the start to the cursor: two plain loops, no wrap test per instance.
    const head = fewest(active, start, start + 1, this.size);
    if (head >= 0) return head;
    const tail = fewest(active, ~head, 0, start);
    return tail >= 0 ? tail : ~tail;
  }
}

/**
 * The scans' convention: a scan of [from, to) for an instance better than
 * `best` (the first of equals stays) returns an instance that nothing can
 * beat as is, ending the pick; otherwise the best so far as ~index
 * (negative), for the caller to go on from.
 */
function fewest(active: Float64Array, best: number, from: number, to: number): number {
  let bestActive = active[best] as number;
  for (let k = from; k < to; k++) {
    const a = active[k] as number;
    if (a < bestActive) {
      if (a === 0) return k;
      best = k;
      bestActive = a;
    }
  }
  return ~best;
}
