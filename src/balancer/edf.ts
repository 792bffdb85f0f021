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
 *
 * Integer weights repeat: the first sum / gcd picks after a reset are exactly
 * the entries due by 1 / gcd, each i weight_i / gcd times, and from there the
 * deadlines are those of the start shifted by 1 / gcd. So, when that cycle is
 * short (at most CYCLE_PER_ENTRY picks per entry, or MIN_CYCLE), the first one
 * is recorded as it is picked and then replayed, O(1) a pick: at 1,000
 * instances with weights 1..5, 150 ns a pick with the heap (npm run bench --
 * pickers). The replay keeps the first cycle's order for ties where the heap
 * would order them by the previous cycle's picks: the counts per cycle and
 * their spread are the same, and the heap's order was not nginx's either.
 * Fractional weights (slow start) and long cycles stay on the heap.
 */
/** Cycles of at most this many picks per entry are replayed (4 bytes a pick: 64 B per entry). */
const CYCLE_PER_ENTRY = 16;
/** ... or of at most this many picks, whatever the number of entries. */
const MIN_CYCLE = 1024;

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
  /** The cycle recorded since the last reset, when weights repeat in a short one; else undefined. */
  private cycle: Int32Array | undefined;
  /** Picks of the cycle recorded so far; cycle.length once it is complete (then picks replay it). */
  private recorded = 0;
  /** The next position of the replay. */
  private at = 0;

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

  /** Picks in the cycle that is recorded and then replayed; 0 while on the heap alone. */
  get cycleLength(): number {
    return this.cycle?.length ?? 0;
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
    const length = cycleLength(this.weight);
    this.cycle = length === 0 ? undefined : this.cycle?.length === length ? this.cycle : new Int32Array(length);
    this.recorded = 0;
    this.at = 0;
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
    const cycle = this.cycle;
    if (cycle !== undefined && this.recorded === cycle.length) {
      const at = this.at;
      this.at = at + 1 === cycle.length ? 0 : at + 1;
      return cycle[at] as number;
    }
    if (this.size === 0) return -1;
    const i = this.heap[0] as number;
    this.last = this.deadline[i] as number;
    const k = (this.picks[i] as number) + 1;
    this.picks[i] = k;
    this.deadline[i] = this.base + (k + 1) / (this.weight[i] as number);
    this.seq[i] = this.nextSeq++;
    this.down(0);
    if (cycle !== undefined) cycle[this.recorded++] = i;
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

/** Picks in one cycle of integer weights (sum / gcd), when it is short enough to record; else 0. */
function cycleLength(weights: Float64Array): number {
  const n = weights.length;
  const limit = Math.max(MIN_CYCLE, CYCLE_PER_ENTRY * n);
  let g = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i] as number;
    if (w !== Math.floor(w)) return 0;
    if (g !== 1) g = gcd(g, w);
  }
  if (g === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (weights[i] as number) / g;
  return sum <= limit ? sum : 0;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}
