/**
 * ring_hash: consistent hashing of PickRequest.hashKey on a ketama ring
 * (ring.ts), with points in proportion to weight. Unlike Envoy's
 * RingHashLoadBalancer, which scales every instance's points so the ring
 * holds at least minRingSize (so the counts change with N, and removing one
 * of 10 instances also moved ~8% of the survivors' keys), the points of an
 * instance depend on its own weight only: round(pointsPerInstance * weight /
 * 100), at least 1. Removing one of N instances therefore moves exactly its
 * own keys. podreg hashes keys with XXH32, so it never shared Envoy's key
 * mapping anyway; what it keeps is the ring's behaviour.
 *
 * The one exception is maxRingSize: when the points would pass it (absurd
 * weights, or tens of thousands of instances), every count is scaled down by
 * the same factor and some survivors' keys move; the log says nothing, the
 * docs do. Instances are ordered by id, so every client builds the same ring
 * from the same set whatever order it was delivered in.
 *
 * No slow start: as in Envoy, hash policies ignore it. A weight that changes
 * with time would move keys between instances every refresh, defeating
 * affinity. Weight-0 instances get no points (unless all weights are 0: then
 * equal). Without a hashKey, a random point's owner (weighted random).
 */
import { DEFAULT_WEIGHT, type Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { hash32 } from "./hash.js";
import { capRing, HashedPicker } from "./hashed.js";
import { HashRing } from "./ring.js";
import type { PickRequest, PolicyName } from "./types.js";

/**
 * Points per instance: a function of its own weight only (relative to the
 * default weight 100), so that no instance's count depends on the others.
 * Scaled down together only when the total would pass maxRingSize.
 */
export function ringCounts(weights: readonly number[], pointsPerInstance: number, maxRingSize: number): Int32Array {
  return capRing(
    weights.map((w) => Math.min(maxRingSize, Math.max(1, Math.round((pointsPerInstance * w) / DEFAULT_WEIGHT)))),
    maxRingSize,
  );
}

export class RingHashPicker extends HashedPicker {
  readonly policy: PolicyName = "ring_hash";
  private readonly ring: HashRing;
  private readonly random: () => number;

  constructor(instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) {
    super(instances);
    this.ring = new HashRing(this.ids(), ringCounts(this.weights, config.pointsPerInstance, config.maxRingSize));
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
