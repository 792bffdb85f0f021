/**
 * A consistent-hashing ring (ketama, as Envoy's RingHashLoadBalancer::Ring):
 * each owner puts points on a 32-bit circle at hash32("<key>_<j>"), and a
 * request hash belongs to the owner of the first point at or after it,
 * wrapping around. Removing an owner only moves the hashes that fell on its
 * points, provided the other owners keep their point counts. Lookup is a
 * binary search, O(log points).
 */
import { hash32 } from "./hash.js";

/** Owners whose index still fits beside a 32-bit hash in a double's 53-bit mantissa. */
const PACKABLE = 2 ** 21;

export class HashRing {
  /** Point positions, ascending. */
  private readonly points: Uint32Array;
  /** The owner (an index into the keys given) of each point. */
  private readonly owners: Int32Array;

  /** keys[i] names owner i; counts[i] is how many points it gets. */
  constructor(keys: readonly string[], counts: ArrayLike<number>) {
    let total = 0;
    for (let i = 0; i < keys.length; i++) total += counts[i] ?? 0;
    this.points = new Uint32Array(total);
    this.owners = new Int32Array(total);
    const m = keys.length;
    if (m <= PACKABLE) {
      // Sort (hash, owner) pairs as single doubles: a native numeric sort, no comparator calls.
      const packed = new Float64Array(total);
      let p = 0;
      for (let i = 0; i < m; i++) {
        const prefix = `${keys[i]}_`;
        for (let j = 0; j < (counts[i] ?? 0); j++) packed[p++] = hash32(prefix + j) * m + i;
      }
      packed.sort();
      for (let k = 0; k < total; k++) {
        const v = packed[k] as number;
        const owner = v % m;
        this.owners[k] = owner;
        this.points[k] = (v - owner) / m;
      }
    } else {
      const pairs: [number, number][] = [];
      keys.forEach((key, i) => {
        for (let j = 0; j < (counts[i] ?? 0); j++) pairs.push([hash32(`${key}_${j}`), i]);
      });
      pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      pairs.forEach(([h, i], k) => {
        this.points[k] = h;
        this.owners[k] = i;
      });
    }
  }

  get size(): number {
    return this.points.length;
  }

  /** The owner of hash h (unsigned 32-bit), or -1 for an empty ring. */
  lookup(h: number): number {
    const pts = this.points;
    const n = pts.length;
    if (n === 0) return -1;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((pts[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === n ? 0 : lo] as number;
  }

  /** The owner of a point chosen uniformly (so, in proportion to point counts) for r in [0, 1). */
  ownerAt(r: number): number {
    const n = this.owners.length;
    return n === 0 ? -1 : (this.owners[Math.min((r * n) | 0, n - 1)] as number);
  }
}
