/**
 * shortest_expected_delay: the instance where a new call would expect to
 * finish first, `(active + 1) / weight` (the calls ahead of it plus itself,
 * served at a rate proportional to the weight), over all instances, after
 * IPVS's sed scheduler (ip_vs_sed.c).
 *
 * Unlike least_connection it sees the weight when instances are idle: weights
 * 3:1 and nothing in flight send every call to the heavier instance, and the
 * lighter one takes calls only once the heavier has 3 in flight (4/3 > 1/1).
 * Ties rotate as round_robin (least-loaded.ts); with equal weights this is
 * least_connection.
 */
import { LeastLoadedPicker } from "./least-loaded.js";
import type { PolicyName } from "./types.js";

export class ShortestExpectedDelayPicker extends LeastLoadedPicker {
  readonly policy: PolicyName = "shortest_expected_delay";

  protected choose(): number {
    if (this.uniform) return this.fewestActive();
    const active = this.active.all();
    const w = this.w;
    const top = this.maxWeight;
    const start = this.cursor;
    // 1 / top is the lowest expected delay there is: an idle instance of the top weight ends the pick.
    if (active[start] === 0 && w[start] === top) return start;
    // From the cursor to the end, then from the start to the cursor (least-loaded.ts).
    const head = scan(active, w, top, start, start + 1, this.size);
    if (head >= 0) return head;
    const tail = scan(active, w, top, ~head, 0, start);
    return tail >= 0 ? tail : ~tail;
  }
}

/** The lowest (active + 1) / weight in [from, to) if below best's (see fewest() in least-loaded.ts). */
function scan(active: Float64Array, w: Float64Array, top: number, best: number, from: number, to: number): number {
  let bestDelay = (active[best] as number) + 1;
  let bestWeight = w[best] as number;
  for (let k = from; k < to; k++) {
    const d = (active[k] as number) + 1;
    const wk = w[k] as number;
    // d / wk < bestDelay / bestWeight, without dividing.
    if (d * bestWeight < bestDelay * wk) {
      if (d === 1 && wk === top) return k;
      best = k;
      bestDelay = d;
      bestWeight = wk;
    }
  }
  return ~best;
}
