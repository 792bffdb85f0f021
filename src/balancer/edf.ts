/**
 * Earliest-deadline-first weighted scheduling, as Envoy's EdfScheduler: the
 * k-th pick of instance i is due at k / weight_i; each pick takes the entry
 * with the earliest deadline from a binary heap, ties going to the entry
 * queued first. O(log n) per pick, where nginx's smooth WRR scans all n.
 *
 * Over every unit of virtual time, instance i is picked exactly weight_i times
 * (integer weights), spread evenly, so proportions are those of nginx's
 * algorithm over each cycle; the order within a cycle can differ from nginx's
 * (weights 5:1:1 give A, A, A, A, B, C, A rather than A, A, B, A, C, A, A).
 * weighted_round_robin uses nginx's scan for small sets, where its exact
 * order is cheap, and this above them.
 */
export class EdfScheduler {
  /** Heap of entry slots, ordered by (deadline, seq). */
  private readonly heap: Int32Array;
  private readonly deadline: Float64Array;
  private readonly seq: Float64Array;
  /** Picks of each entry since the last reset: deadlines are base + (picks + 1) / weight, computed afresh, so no error accumulates and equal rationals tie exactly. */
  private readonly picks: Float64Array;
  private readonly weight: Float64Array;
  private readonly size: number;
  private base = 0;
  private last = 0;
  private nextSeq = 0;

  /** Only positive weights may be given. */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.size = n;
    this.heap = new Int32Array(n);
    this.deadline = new Float64Array(n);
    this.seq = new Float64Array(n);
    this.picks = new Float64Array(n);
    this.weight = Float64Array.from(weights);
    this.reset(0);
  }

  /**
   * Takes new weights (slow start changed them) and schedules afresh from the
   * last pick's virtual time, as Envoy rebuilds its scheduler on a refresh.
   */
  update(weights: ArrayLike<number>): void {
    for (let i = 0; i < this.size; i++) this.weight[i] = weights[i] as number;
    this.reset(this.last);
  }

  private reset(base: number): void {
    this.base = base;
    for (let i = 0; i < this.size; i++) {
      this.picks[i] = 0;
      this.deadline[i] = base + 1 / (this.weight[i] as number);
      this.seq[i] = this.nextSeq++;
      this.heap[i] = i;
    }
    for (let k = (this.size >> 1) - 1; k >= 0; k--) this.down(k);
  }

  /** The index due next; -1 when empty. */
  pick(): number {
    if (this.size === 0) return -1;
    const i = this.heap[0] as number;
    this.last = this.deadline[i] as number;
    const k = (this.picks[i] as number) + 1;
    this.picks[i] = k;
    this.deadline[i] = this.base + (k + 1) / (this.weight[i] as number);
    this.seq[i] = this.nextSeq++;
    this.down(0);
    return i;
  }

  private less(a: number, b: number): boolean {
    const da = this.deadline[a] as number;
    const db = this.deadline[b] as number;
    return da < db || (da === db && (this.seq[a] as number) < (this.seq[b] as number));
  }

  private down(k: number): void {
    const heap = this.heap;
    const n = this.size;
    const item = heap[k] as number;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= n) break;
      if (child + 1 < n && this.less(heap[child + 1] as number, heap[child] as number)) child++;
      if (!this.less(heap[child] as number, item)) break;
      heap[k] = heap[child] as number;
      k = child;
    }
    heap[k] = item;
  }
}
