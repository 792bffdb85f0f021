/**
 * source_affinity: session affinity by client address, like kube-proxy's IPVS
 * `sh` scheduler or a Service's sessionAffinity: ClientIP. The same address
 * goes to the same instance while the set is unchanged.
 *
 * Implemented as a consistent-hashing ring of clientAddress (ring.ts), not
 * IPVS's modulo table, so that when an instance leaves only its own clients
 * move. That needs every instance's point count to be independent of the
 * others (ring_hash's Envoy sizing scales counts with N and so moves a few
 * survivors' clients too): each instance gets POINTS points per lightest
 * weight, i.e. round(POINTS * weight / minWeight), so while the lightest
 * weight is unchanged (always, with equal weights) removing an instance moves
 * exactly the clients it had. ringHash.maxRingSize caps the total (scaling all
 * counts down); ringHash.minRingSize does not apply.
 *
 * No clientAddress: round robin. No slow start and weight-0 instances get no
 * points, as in ring_hash.
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { hash32 } from "./hash.js";
import { HashRing } from "./ring.js";
import { hashMembers } from "./ring-hash.js";
import { Rotation } from "./round-robin.js";
import type { PickRequest, Picker, PolicyName } from "./types.js";

/** Points for an instance of the lightest weight: share within about +-10% (1 / sqrt(POINTS)) at 1,000 instances' build cost of ~10 ms. */
export const POINTS = 100;

export function affinityCounts(weights: readonly number[], maxRingSize: number): Int32Array {
  const min = Math.min(...weights);
  const raw = weights.map((w) => Math.max(1, Math.round((POINTS * w) / min)));
  const total = raw.reduce((a, b) => a + b, 0);
  const shrink = total > maxRingSize ? maxRingSize / total : 1;
  return Int32Array.from(raw, (c) => Math.max(1, Math.floor(c * shrink)));
}

export class SourceAffinityPicker implements Picker {
  readonly policy: PolicyName = "source_affinity";
  readonly size: number;
  private readonly list: readonly Instance[];
  private readonly ring: HashRing;
  private readonly rotation: Rotation;

  constructor(instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) {
    const { list, weights } = hashMembers(instances);
    this.list = list;
    this.size = list.length;
    this.ring = new HashRing(
      list.map((i) => i.id),
      affinityCounts(weights, config.maxRingSize),
    );
    this.rotation = new Rotation(list, ctx.random);
  }

  pick(request?: PickRequest): Instance | undefined {
    const address = request?.clientAddress;
    if (address === undefined) return this.rotation.take();
    return this.list[this.ring.lookup(hash32(address))];
  }
}
