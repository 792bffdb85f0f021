/**
 * ring_hash: consistent hashing of PickRequest.hashKey on a ring with points
 * in proportion to weight, sized as Envoy's RingHashLoadBalancer: scale so
 * the lightest instance gets a whole number of points and the ring at least
 * minRingSize points, unless that exceeds maxRingSize; counts are allotted
 * from running sums, so fractional shares round consistently. Instances are
 * ordered by id, so every client builds the same ring from the same set
 * whatever order it was delivered in.
 *
 * Removing one of N instances moves its own keys (about 1/N) and, when the
 * per-instance point count changes with N (it is ceil(minRingSize / N) with
 * equal weights), some keys between survivors: e.g. N = 10 -> 9 raises it
 * from 103 to 114 points, moving about 9% more. Above minRingSize /
 * (N - 1) >= 1 the count is unchanged and only the removed instance's keys move.
 *
 * No slow start: as in Envoy, hash policies ignore it. A weight that changes
 * with time would move keys between instances every refresh, defeating
 * affinity, and rebuilding the ring every second costs O(points log points).
 * Weight-0 instances get no points (unless all weights are 0: then equal).
 * Without a hashKey, a random point's owner (weighted random).
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { hash32 } from "./hash.js";
import { HashRing } from "./ring.js";
import type { PickRequest, Picker, PolicyName } from "./types.js";
import { baseWeight, eligibleByWeight } from "./weights.js";

/**
 * Weights beyond this (or lighter than the heaviest / this) only come from
 * absurd inputs such as 1e300; they would overflow or underflow the sizing
 * arithmetic (an empty ring, so pick() returning undefined). A ring of at most
 * 8,388,608 points cannot show a larger ratio anyway.
 */
const WEIGHT_RANGE = 2 ** 32;

/** Eligible instances ordered by id, with their weights (1 each when all are 0; within WEIGHT_RANGE). */
export function hashMembers(instances: readonly Instance[]): { list: Instance[]; weights: number[] } {
  const list = [...eligibleByWeight(instances)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const weights = list.map(baseWeight);
  const max = weights.reduce((a, b) => Math.max(a, b), 0);
  if (max === 0) weights.fill(1);
  else if (max > WEIGHT_RANGE || weights.some((w) => w * WEIGHT_RANGE < max)) {
    // Scale the heaviest to WEIGHT_RANGE and raise the lightest to 1, keeping the ratios in between.
    weights.forEach((w, k) => (weights[k] = Math.max(1, (w / max) * WEIGHT_RANGE)));
  }
  return { list, weights };
}

/** Points per instance as Envoy allots them: running sums of scale * normalized weight, rounded up. */
export function ringCounts(weights: readonly number[], minRingSize: number, maxRingSize: number): Int32Array {
  const sum = weights.reduce((a, b) => a + b, 0);
  const min = Math.min(...weights);
  // Envoy: scale = min(ceil(minNormalized * minRingSize) / minNormalized, maxRingSize), with
  // normalized = weight / sum. Kept as points per unit of weight so equal integer weights stay exact.
  const perLightest = Math.ceil((min * minRingSize) / sum);
  const capped = (perLightest * sum) / min > maxRingSize;
  const counts = new Int32Array(weights.length);
  let cumulative = 0;
  let current = 0;
  weights.forEach((w, i) => {
    cumulative += w;
    const target = Math.ceil(capped ? (cumulative * maxRingSize) / sum : (cumulative * perLightest) / min);
    counts[i] = Math.max(0, target - current);
    current = Math.max(current, target);
  });
  return counts;
}

export class RingHashPicker implements Picker {
  readonly policy: PolicyName = "ring_hash";
  readonly size: number;
  private readonly list: readonly Instance[];
  private readonly ring: HashRing;
  private readonly random: () => number;

  constructor(instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) {
    const { list, weights } = hashMembers(instances);
    this.list = list;
    this.size = list.length;
    this.ring = new HashRing(
      list.map((i) => i.id),
      ringCounts(weights, config.minRingSize, config.maxRingSize),
    );
    this.random = ctx.random;
  }

  /** Points on the ring (for tests and benchmarks). */
  get ringSize(): number {
    return this.ring.size;
  }

  pick(request?: PickRequest): Instance | undefined {
    const key = request?.hashKey;
    const owner = key === undefined ? this.ring.ownerAt(this.random()) : this.ring.lookup(hash32(key));
    return this.list[owner];
  }
}
