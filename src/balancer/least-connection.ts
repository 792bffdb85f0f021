/**
 * least_connection: the instance with the fewest calls in flight per unit of
 * weight, `active / weight`, over all instances (not sampled: least_request
 * draws candidates), after IPVS's weighted least-connection scheduler
 * (ip_vs_wlc.c; with equal weights it is IPVS's lc). IPVS counts inactive
 * connections too (active * 256 + inactive); a client has no such thing, so
 * only calls in flight count.
 *
 * Ties, and so every pick while nothing is in flight, rotate as round_robin
 * (least-loaded.ts): weights then play no part, as in IPVS, where every
 * server scores 0. Use shortest_expected_delay when an idle heavy instance
 * should be preferred to an idle light one.
 */
import { LeastLoadedPicker } from "./least-loaded.js";
import type { PolicyName } from "./types.js";

export class LeastConnectionPicker extends LeastLoadedPicker {
  readonly policy: PolicyName = "least_connection";

  protected choose(): number {
    if (this.uniform) return this.fewestActive();
    const active = this.active.all();
    const start = this.cursor;
    // Nothing scores below an idle instance (0 / weight): the first one from the cursor wins.
    if (active[start] === 0) return start;
    // From the cursor to the end, then from the start to the cursor (least-loaded.ts).
    const head = scan(active, this.w, start, start + 1, this.size);
    if (head >= 0) return head;
    const tail = scan(active, this.w, ~head, 0, start);
    return tail >= 0 ? tail : ~tail;
  }
}

/** The lowest active / weight in [from, to) if below best's; an idle instance ends the pick (see fewest() in least-loaded.ts). */
function scan(active: Float64Array, w: Float64Array, best: number, from: number, to: number): number {
  let bestActive = active[best] as number;
  let bestWeight = w[best] as number;
  for (let k = from; k < to; k++) {
    const a = active[k] as number;
    if (a === 0) return k;
    const wk = w[k] as number;
    // a / wk < bestActive / bestWeight, without dividing.
    if (a * bestWeight < bestActive * wk) {
      best = k;
      bestActive = a;
      bestWeight = wk;
    }
  }
  return ~best;
}
