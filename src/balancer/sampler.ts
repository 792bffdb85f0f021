/**
 * Weighted random choice of an index, for random and least_request: Vose's
 * alias method, O(1) per sample whatever the weights (the binary search over
 * cumulative weights it replaces was O(log n): 71 ns a pick at 1,000
 * instances). Built in O(n) with the picker, and again only when slow start
 * changes the weights.
 *
 * The table has one column per eligible index. A sample picks a column
 * uniformly, then keeps it with probability prob[column] or takes its alias:
 * column c contributes prob[c] / n to itself and (1 - prob[c]) / n to
 * alias[c], and Vose's construction makes those shares add up to weight /
 * total for every index (probabilities() gives the sums, for the tests).
 * One uniform number drives both steps: its integer part (times n) is the
 * column, the fraction the coin, so a pick costs one random number as before.
 *
 * Eligible indexes are those with a positive weight; when every weight is 0,
 * all of them, equally (weight 0 means "no new traffic", unless nothing else
 * is left).
 */
export class WeightedSampler {
  /** Eligible indexes into the weights the sampler was built from, in order. */
  readonly eligible: Int32Array;
  /** Per column: the chance of keeping it, in [0, 1]. */
  private readonly prob: Float64Array;
  /** Per column: the index taken otherwise (an index into the weights, not a column). */
  private readonly alias: Int32Array;
  /**
   * Per column c, what sample() reads, side by side (one cache line, where two arrays took two:
   * 3-5% of a weighted pick at 1,000 instances): [2c] alias[c], [2c + 1] eligible[c] - alias[c],
   * so that it can select without a branch.
   */
  private readonly pairs: Int32Array;
  /** Vose's work lists, kept so that an update (slow start) allocates nothing. */
  private readonly small: Int32Array;
  private readonly large: Int32Array;
  private readonly scaled: Float64Array;
  private equal = true;

  constructor(weights: Float64Array) {
    let positive = 0;
    for (const w of weights) if (w > 0) positive++;
    const all = positive === 0;
    this.eligible = new Int32Array(all ? weights.length : positive);
    let k = 0;
    weights.forEach((w, i) => {
      if (all || w > 0) this.eligible[k++] = i;
    });
    const n = this.eligible.length;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    this.pairs = new Int32Array(2 * n);
    this.small = new Int32Array(n);
    this.large = new Int32Array(n);
    this.scaled = new Float64Array(n);
    this.update(weights);
  }

  /** How many indexes it can return. */
  get size(): number {
    return this.eligible.length;
  }

  /** Whether all eligible indexes are equally likely. */
  get uniform(): boolean {
    return this.equal;
  }

  /**
   * Takes new weights for the same indexes and rebuilds the table. Slow start
   * changes weights but never turns a positive weight into 0 or back, so the
   * eligible set holds.
   */
  update(weights: Float64Array): void {
    const e = this.eligible;
    const n = e.length;
    const { prob, alias, small, large, scaled } = this;
    let max = 0;
    let equal = true;
    const first = weights[e[0] ?? 0] ?? 0;
    for (let c = 0; c < n; c++) {
      const w = weights[e[c] as number] as number;
      if (w !== first) equal = false;
      if (w > max) max = w;
    }
    this.equal = equal || max === 0;
    if (this.equal) {
      // Every column keeps itself: a uniform column choice.
      for (let c = 0; c < n; c++) {
        prob[c] = 1;
        alias[c] = e[c] as number;
      }
      this.derive();
      return;
    }
    // Relative to the heaviest, so that a sum of weights near Number.MAX_VALUE cannot overflow.
    let total = 0;
    for (let c = 0; c < n; c++) total += (weights[e[c] as number] as number) / max;
    // scaled[c]: the column's share of n columns' worth of probability; 1 is a full column.
    let ns = 0;
    let nl = 0;
    for (let c = 0; c < n; c++) {
      const p = (((weights[e[c] as number] as number) / max) * n) / total;
      scaled[c] = p;
      if (p < 1) small[ns++] = c;
      else large[nl++] = c;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns] as number;
      const l = large[nl - 1] as number;
      prob[s] = scaled[s] as number;
      alias[s] = e[l] as number;
      // What l has left after topping s up to a full column: (a + b) - 1 rather than a - (1 - b),
      // the numerically stabler order (Keith Schwarz, "Darts, Dice, and Coins").
      const rest = (scaled[l] as number) + (scaled[s] as number) - 1;
      scaled[l] = rest;
      if (rest < 1) {
        nl--;
        small[ns++] = l;
      }
    }
    // Left over: columns whose share rounding left a hair off 1; they keep themselves.
    while (nl > 0) {
      const l = large[--nl] as number;
      prob[l] = 1;
      alias[l] = e[l] as number;
    }
    while (ns > 0) {
      const s = small[--ns] as number;
      prob[s] = 1;
      alias[s] = e[s] as number;
    }
    this.derive();
  }

  private derive(): void {
    for (let c = 0; c < this.eligible.length; c++) {
      const alias = this.alias[c] as number;
      this.pairs[2 * c] = alias;
      this.pairs[2 * c + 1] = (this.eligible[c] as number) - alias;
    }
  }

  /** An eligible index, chosen with probability proportional to its weight, for r uniform in [0, 1). */
  sample(r: number): number {
    const n = this.eligible.length;
    const u = r * n;
    // r * n can round up to n for r just below 1.
    const c = Math.min(u | 0, n - 1);
    // Equal weights: every column keeps itself; skipping the coin saves a load on the critical path.
    if (this.equal) return this.eligible[c] as number;
    // alias + (kept ? eligible - alias : 0), as arithmetic: the coin is a fair one for most columns, and a
    // branch on it mispredicted about every other draw (~3 ns a draw at 1,000 instances, weights 1..5).
    const pairs = this.pairs;
    return ((pairs[2 * c] as number) + +(u - c < (this.prob[c] as number)) * (pairs[2 * c + 1] as number)) | 0;
  }

  /**
   * The probability of each index (by position in the weights given; 0 for
   * those not eligible) that the table encodes: for the tests, which check it
   * against weight / total.
   */
  probabilities(length: number): Float64Array {
    const out = new Float64Array(length);
    const n = this.eligible.length;
    for (let c = 0; c < n; c++) {
      const keep = this.prob[c] as number;
      const self = this.eligible[c] as number;
      const alias = this.alias[c] as number;
      out[self] = (out[self] as number) + keep / n;
      out[alias] = (out[alias] as number) + (1 - keep) / n;
    }
    return out;
  }
}
