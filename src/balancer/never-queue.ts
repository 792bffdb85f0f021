/**
 * never_queue: an idle instance (no call in flight) if there is one, else
 * shortest_expected_delay, over all instances, after IPVS's nq scheduler
 * (ip_vs_nq.c): a call never waits behind another while some instance has
 * nothing to do, even a slow one that shortest_expected_delay would pass over.
 *
 * Among idle instances the heaviest wins (the lowest expected delay among
 * them), ties rotating as round_robin (least-loaded.ts). IPVS instead takes
 * the first idle server in its list; in a client, where calls often do not
 * overlap, that would send them all to one instance. With equal weights this
 * is least_connection.
 */
import { LeastLoadedPicker } from "./least-loaded.js";
import type { PolicyName } from "./types.js";

export class NeverQueuePicker extends LeastLoadedPicker {
  readonly policy: PolicyName = "never_queue";

  protected choose(): number {
    if (this.uniform) return this.fewestActive();
    const active = this.active.all();
    const w = this.w;
    const top = this.maxWeight;
    const start = this.cursor;
    // An idle instance of the top weight is as good as it gets.
    if (active[start] === 0 && w[start] === top) return start;
    // From the cursor to the end, then from the start to the cursor (least-loaded.ts).
    const head = scan(active, w, top, start, start + 1, this.size);
    if (head >= 0) return head;
    const tail = scan(active, w, top, ~head, 0, start);
    return tail >= 0 ? tail : ~tail;
  }
}

/** The best in [from, to) if better than best: idle before busy, then the heavier idle or the shorter expected delay. */
function scan(active: Float64Array, w: Float64Array, top: number, best: number, from: number, to: number): number {
  let bestActive = active[best] as number;
  let bestWeight = w[best] as number;
  for (let k = from; k < to; k++) {
    const a = active[k] as number;
    const wk = w[k] as number;
    if (a === 0) {
      // Idle beats busy; between idle instances, the heavier.
      if (bestActive !== 0 || wk > bestWeight) {
        if (wk === top) return k;
        best = k;
        bestActive = 0;
        bestWeight = wk;
      }
    } else if (bestActive !== 0 && (a + 1) * bestWeight < (bestActive + 1) * wk) {
      // Both busy: the shorter expected delay, (a + 1) / wk < (bestActive + 1) / bestWeight.
      best = k;
      bestActive = a;
      bestWeight = wk;
    }
  }
  return ~best;
}
