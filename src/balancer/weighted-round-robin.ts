/**
 * weighted_round_robin: nginx's smooth weighted round robin
 * (ngx_http_upstream_get_peer in ngx_http_upstream_round_robin.c). On every
 * pick, each instance's `current` grows by its weight; the instance with the
 * largest `current` (the first one on ties) wins and gives back the total.
 * Over any window of `total` picks (integer weights), each instance is chosen
 * exactly `weight` times, and its picks are spread out rather than bunched:
 * weights 2:1 give A, B, A; 5:1:1 give A, A, B, A, C, A, A.
 *
 * Cost O(n) per pick (nginx scans all peers too), so above SCAN_LIMIT
 * instances the picker schedules by earliest deadline instead (edf.ts,
 * Envoy's scheduler, O(log n); O(1) once a short cycle of integer weights
 * has been recorded): the same counts per cycle, spread as evenly, in a
 * possibly different order. Equal weights are plain rotation, O(1), from
 * a random offset as round_robin. Weight-0 instances are
 * never picked unless all weights are 0 (then plain rotation over all).
 * With slow start, effective weights are recomputed while instances warm up
 * (see weights.ts); `current` values carry over, as nginx keeps them when
 * effective weights change.
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { EdfScheduler } from "./edf.js";
import { Rotation } from "./round-robin.js";
import type { Picker, PolicyName } from "./types.js";
import { EffectiveWeights, eligibleByWeight } from "./weights.js";

/** Up to this many instances, nginx's scan (exact nginx order, ~4 ns per instance per pick); above, EDF. */
export const SCAN_LIMIT = 32;

export class WeightedRoundRobinPicker implements Picker {
  readonly policy: PolicyName = "weighted_round_robin";
  readonly size: number;
  private readonly list: readonly Instance[];
  private readonly weights: EffectiveWeights;
  private readonly current: Float64Array;
  private readonly rotation: Rotation;
  private total = 0;
  private equal = true;
  private edf: EdfScheduler | undefined;

  constructor(instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) {
    this.list = eligibleByWeight(instances);
    this.size = this.list.length;
    this.weights = new EffectiveWeights(this.list, config.slowStart, ctx.now);
    this.current = new Float64Array(this.size);
    this.rotation = new Rotation(this.list, ctx.random);
    this.sync();
  }

  private sync(): void {
    const w = this.weights.values;
    let total = 0;
    let equal = true;
    for (let k = 0; k < w.length; k++) {
      total += w[k] as number;
      if (w[k] !== w[0]) equal = false;
    }
    this.total = total;
    this.equal = equal;
    if (!equal && w.length > SCAN_LIMIT) {
      if (this.edf) this.edf.update(w);
      else this.edf = new EdfScheduler(w);
    }
  }

  pick(): Instance | undefined {
    if (this.weights.refresh()) this.sync();
    if (this.equal) return this.rotation.take();
    if (this.edf) return this.list[this.edf.pick()];
    const w = this.weights.values;
    const cur = this.current;
    let best = 0;
    let bestCurrent = -Infinity;
    for (let k = 0; k < cur.length; k++) {
      const c = (cur[k] as number) + (w[k] as number);
      cur[k] = c;
      if (c > bestCurrent) {
        bestCurrent = c;
        best = k;
      }
    }
    cur[best] = bestCurrent - this.total;
    return this.list[best];
  }
}
