/**
 * Zone awareness: prefer instances in the caller's zone, spilling over to all
 * zones when the local ones are too few to carry the traffic, after Envoy's
 * zone-aware routing (min_cluster_size) reduced to a threshold.
 *
 * The inner policy's picker is built over the local instances when there are
 * at least minLocalInstances (default 1) of them and they make at least
 * minLocalPercent (default 0) of all; otherwise over all instances. The
 * caller passes only usable instances (ready, not ejected), so unhealthy
 * local instances are simply absent and count against the thresholds; so do
 * weight-0 (draining) ones, unless every instance has weight 0.
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedZone } from "./config.js";
import type { Picker } from "./types.js";
import { eligibleByWeight } from "./weights.js";

/** The instances a zone-aware picker chooses among. */
export function zoneScope(zone: ResolvedZone, instances: readonly Instance[]): readonly Instance[] {
  const usable = eligibleByWeight(instances);
  const local = usable.filter((i) => i.zone === zone.local);
  const enough = local.length >= zone.minLocalInstances && local.length * 100 >= zone.minLocalPercent * usable.length;
  return enough ? local : instances;
}

/** `build`'s picker over the zone scope of `instances`. */
export function zoneAware(zone: ResolvedZone, instances: readonly Instance[], build: (scope: readonly Instance[]) => Picker): Picker {
  return build(zoneScope(zone, instances));
}
