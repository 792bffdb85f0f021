/**
 * source_affinity: session affinity by client address, like kube-proxy's IPVS
 * `sh` scheduler or a Service's sessionAffinity: ClientIP. The same address
 * goes to the same instance while the set is unchanged.
 *
 * Implemented as a consistent-hashing ring of clientAddress (ring.ts), not
 * IPVS's modulo table, so that when an instance leaves only its own clients
 * move. That needs every instance's point count to be independent of the
 * others: each instance gets POINTS points per lightest
 * weight, i.e. round(POINTS * weight / minWeight), so while the lightest
 * weight is unchanged (always, with equal weights) removing an instance moves
 * exactly the clients it had. ringHash.maxRingSize caps the total (scaling all
 * counts down).
 *
 * No clientAddress: round robin. No slow start and weight-0 instances get no
 * points, as in ring_hash.
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { hash32 } from "./hash.js";
import { capRing, HashedPicker } from "./hashed.js";
import { HashRing } from "./ring.js";
import { Rotation } from "./round-robin.js";
import type { PickRequest, PolicyName } from "./types.js";

/** Points for an instance of the lightest weight: share within about +-10% (1 / sqrt(POINTS)) at 1,000 instances' build cost of ~10 ms. */
export const POINTS = 100;

export function affinityCounts(weights: readonly number[], maxRingSize: number): Int32Array {
  const min = Math.min(...weights);
  return capRing(
    weights.map((w) => Math.max(1, Math.round((POINTS * w) / min))),
    maxRingSize,
  );
}

export class SourceAffinityPicker extends HashedPicker {
  readonly policy: PolicyName = "source_affinity";
  private readonly ring: HashRing;
  private readonly rotation: Rotation;

  constructor(instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) {
    super(instances);
    this.ring = new HashRing(this.ids(), affinityCounts(this.weights, config.maxRingSize));
    this.rotation = new Rotation(this.list, ctx.random);
  }

  pick(request?: PickRequest): Instance | undefined {
    const address = request?.clientAddress;
    if (address === undefined) return this.rotation.take();
    return this.list[this.ring.lookup(hash32(address))];
  }
}
