/**
 * Client-side load balancing, after grpc-js's picker split: a Picker is an
 * immutable snapshot of the instances it chooses among, rebuilt when they
 * change, with a synchronous, cheap pick(). State that must outlive a
 * rebuild (calls in flight, for least_request) lives in a LoadTracker that
 * successive pickers share.
 */
import type { Instance } from "../model/instance.js";

export const POLICIES = [
  "round_robin",
  "weighted_round_robin",
  "random",
  "least_request",
  "ring_hash",
  "maglev",
  "source_affinity",
  // IPVS's schedulers over calls in flight: wlc, sed and nq.
  "least_connection",
  "shortest_expected_delay",
  "never_queue",
] as const;
export type PolicyName = (typeof POLICIES)[number];

export interface PickRequest {
  /** Consistent-hash key (ring_hash, maglev): a user id, a session, a header value. */
  hashKey?: string;
  /** Client address (source_affinity). */
  clientAddress?: string;
}

export interface Picker {
  readonly policy: PolicyName;
  /** How many instances it chooses among. */
  readonly size: number;
  /** The chosen instance, or undefined when there is none. Synchronous; never throws. */
  pick(request?: PickRequest): Instance | undefined;
}

/**
 * Calls in flight per instance id, shared by successive pickers of one service
 * (least_request, least_connection, shortest_expected_delay, never_queue).
 * createLoadTracker()'s is the fast one: pickers read its counts without a
 * lookup by id; any other implementation is asked inFlight(id) per read.
 */
export interface LoadTracker {
  start(instanceId: string): void;
  end(instanceId: string): void;
  inFlight(instanceId: string): number;
}

export interface SlowStartConfig {
  /** An instance's weight ramps up over this long after its start time. */
  windowMs: number;
  /** 1 = linear; higher ramps faster at first (Envoy's aggression). Default 1. */
  aggression?: number;
  /** The weight never drops below this share of the full weight, 0..100. Default 10. */
  minWeightPercent?: number;
  /** While some instance is warming, a picker recomputes effective weights at most this often. Default 1000. */
  refreshMs?: number;
}

export interface ZoneConfig {
  /** The caller's zone. */
  local: string;
  /** Use only local instances while at least this many are available. Default 1. */
  minLocalInstances?: number;
  /** ... and they are at least this share (0..100) of all available instances. Default 0. */
  minLocalPercent?: number;
}

export interface BalancerConfig {
  policy: PolicyName;
  slowStart?: SlowStartConfig;
  zone?: ZoneConfig;
  /** least_request: candidates per pick (default 2) and Envoy's active_request_bias (default 1). */
  leastRequest?: { choiceCount?: number; activeRequestBias?: number };
  /**
   * ring_hash: points of an instance of the default weight 100 (default 160; an instance's
   * points depend on its own weight only, so removing one moves only its keys), and the cap on
   * the whole ring (default 8,388,608, Envoy's bound; beyond it every count shrinks together).
   */
  ringHash?: { pointsPerInstance?: number; maxRingSize?: number };
  /** maglev: lookup table size, a prime (default 65537). */
  maglev?: { tableSize?: number };
}

export interface PickerContext {
  load?: LoadTracker;
  /** Clock for slow start (epoch ms). */
  now?: () => number;
  /** Random source in [0, 1) for random, least_request and starting offsets; default a fast PRNG seeded from Math.random (prng.ts). */
  random?: () => number;
}
