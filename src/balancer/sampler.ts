/**
 * Weighted random choice of an index, for random and least_request: a binary
 * search over cumulative weights (O(log n)), or a single multiplication when
 * the eligible weights are all equal.
 *
 * Eligible indexes are those with a positive weight; when every weight is 0,
 * all of them, equally (weight 0 means "no new traffic", unless nothing else
 * is left).
 */
export class WeightedSampler {
  /** Eligible indexes into the weights the sampler was built from. */
  readonly eligible: Int32Array;
  private readonly cumulative: Float64Array;
  private total = 0;
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
    this.cumulative = new Float64Array(this.eligible.length);
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
   * Takes new weights for the same indexes. Slow start changes weights but
   * never turns a positive weight into 0 or back, so the eligible set holds.
   */
  update(weights: Float64Array): void {
    let sum = 0;
    let equal = true;
    const first = weights[this.eligible[0] ?? 0] ?? 0;
    for (let k = 0; k < this.eligible.length; k++) {
      const w = weights[this.eligible[k] as number] as number;
      if (w !== first) equal = false;
      sum += w;
      this.cumulative[k] = sum;
    }
    this.total = sum;
    this.equal = equal || sum === 0;
  }

  /** An eligible index, chosen with probability proportional to its weight, for r uniform in [0, 1). */
  sample(r: number): number {
    const e = this.eligible;
    const n = e.length;
    if (this.equal) return e[Math.min((r * n) | 0, n - 1)] as number;
    const target = r * this.total;
    const c = this.cumulative;
    // First k with cumulative[k] > target; zero-weight entries repeat the previous sum and are never it.
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((c[mid] as number) > target) hi = mid;
      else lo = mid + 1;
    }
    return e[lo] as number;
  }
}
