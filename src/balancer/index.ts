/**
 * Client-side load balancing: createPicker(config, instances, ctx) builds an
 * immutable Picker over the usable instances of one service; rebuild it when
 * they change, passing the same LoadTracker so least_request keeps its counts.
 *
 * Policies: round_robin, weighted_round_robin (nginx smooth WRR), random
 * (weighted), least_request (power of two choices), ring_hash and maglev
 * (consistent hashing of hashKey), source_affinity (consistent hashing of
 * clientAddress), and IPVS's schedulers over all instances' calls in flight:
 * least_connection (wlc), shortest_expected_delay (sed), never_queue (nq).
 * Optional slow start (weighted policies) and zone awareness (all
 * policies). Invalid configuration throws ConfigError here; pick() never
 * throws and returns undefined only when there are no instances.
 */
import type { Instance } from "../model/instance.js";
import { resolveConfig, resolveContext, type ResolvedConfig, type ResolvedContext } from "./config.js";
import { LeastConnectionPicker } from "./least-connection.js";
import { LeastRequestPicker } from "./least-request.js";
import { MaglevPicker } from "./maglev.js";
import { NeverQueuePicker } from "./never-queue.js";
import { RandomPicker } from "./random.js";
import { RingHashPicker } from "./ring-hash.js";
import { RoundRobinPicker } from "./round-robin.js";
import { ShortestExpectedDelayPicker } from "./shortest-expected-delay.js";
import { SourceAffinityPicker } from "./source-affinity.js";
import type { BalancerConfig, Picker, PickerContext, PolicyName } from "./types.js";
import { WeightedRoundRobinPicker } from "./weighted-round-robin.js";
import { zoneAware } from "./zone.js";

export { POLICIES } from "./types.js";
export type { BalancerConfig, LoadTracker, PickRequest, Picker, PickerContext, PolicyName, SlowStartConfig, ZoneConfig } from "./types.js";
export { createLoadTracker } from "./load.js";
export { effectiveWeight } from "./weights.js";
export { OutlierDetector, type OutlierConfig, type OutlierDetectorOptions } from "./outlier.js";
export { HealthChecker, type HealthCheckConfig, type HealthCheckerOptions } from "./health-check.js";

type Factory = (instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) => Picker;

const FACTORIES: Record<PolicyName, Factory> = {
  round_robin: (i, _c, ctx) => new RoundRobinPicker(i, ctx),
  weighted_round_robin: (i, c, ctx) => new WeightedRoundRobinPicker(i, c, ctx),
  random: (i, c, ctx) => new RandomPicker(i, c, ctx),
  least_request: (i, c, ctx) => new LeastRequestPicker(i, c, ctx),
  ring_hash: (i, c, ctx) => new RingHashPicker(i, c, ctx),
  maglev: (i, c, ctx) => new MaglevPicker(i, c, ctx),
  source_affinity: (i, c, ctx) => new SourceAffinityPicker(i, c, ctx),
  least_connection: (i, c, ctx) => new LeastConnectionPicker(i, c, ctx),
  shortest_expected_delay: (i, c, ctx) => new ShortestExpectedDelayPicker(i, c, ctx),
  never_queue: (i, c, ctx) => new NeverQueuePicker(i, c, ctx),
};

class EmptyPicker implements Picker {
  readonly size = 0;
  constructor(readonly policy: PolicyName) {}
  pick(): undefined {
    return undefined;
  }
}

/**
 * A picker for `instances` (already filtered to the usable ones) under
 * `config` (or just a policy name). Throws ConfigError for an invalid config.
 */
export function createPicker(config: BalancerConfig | PolicyName, instances: readonly Instance[], ctx?: PickerContext): Picker {
  const resolved = resolveConfig(config);
  const context = resolveContext(ctx);
  const build = (scope: readonly Instance[]): Picker => (scope.length === 0 ? new EmptyPicker(resolved.policy) : FACTORIES[resolved.policy](scope, resolved, context));
  return resolved.zone ? zoneAware(resolved.zone, instances, build) : build(instances);
}
