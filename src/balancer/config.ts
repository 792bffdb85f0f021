/**
 * Validation of a BalancerConfig into the fully defaulted form the policies
 * use. Every problem is a ConfigError naming the field, the value and what is
 * allowed, thrown by createPicker (never by pick()).
 */
import { ConfigError } from "../errors.js";
import { POLICIES, type BalancerConfig, type LoadTracker, type PickerContext, type PolicyName, type ZoneConfig } from "./types.js";
import type { ResolvedSlowStart } from "./weights.js";

export interface ResolvedZone {
  readonly local: string;
  readonly minLocalInstances: number;
  readonly minLocalPercent: number;
}

export interface ResolvedConfig {
  readonly policy: PolicyName;
  readonly slowStart?: ResolvedSlowStart;
  readonly zone?: ResolvedZone;
  readonly choiceCount: number;
  readonly activeRequestBias: number;
  readonly minRingSize: number;
  readonly maxRingSize: number;
  readonly tableSize: number;
}

/** Envoy's bounds: ring_hash maximum_ring_size <= 8M, maglev table_size <= 5,000,011. */
export const MAX_RING_SIZE = 8_388_608;
export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_TABLE_SIZE = 65_537;
export const MAX_TABLE_SIZE = 5_000_011;

/** PickerContext with its defaults filled in. */
export interface ResolvedContext {
  readonly load?: LoadTracker;
  readonly now: () => number;
  /** Uniform in [0, 1), whatever the caller's function returns. */
  readonly random: () => number;
}

export function resolveContext(ctx: PickerContext = {}): ResolvedContext {
  const given = ctx.random;
  const random = given
    ? () => {
        const r = given();
        return r >= 0 && r < 1 ? r : 0;
      }
    : Math.random;
  return { ...(ctx.load && { load: ctx.load }), now: ctx.now ?? Date.now, random };
}

const describe = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(v));

function fail(field: string, value: unknown, expected: string): never {
  throw new ConfigError(`balancer: ${field} is ${describe(value)}; expected ${expected}`);
}

/** `value` checked by `ok`, or `dflt` when undefined (required when there is no default). */
function num(field: string, value: unknown, dflt: number | undefined, ok: (n: number) => boolean, expected: string): number {
  if (value === undefined) {
    if (dflt === undefined) throw new ConfigError(`balancer: ${field} is required; expected ${expected}`);
    return dflt;
  }
  if (typeof value !== "number" || !ok(value)) fail(field, value, expected);
  return value;
}

const finite = (n: number) => Number.isFinite(n);
const int = (n: number) => Number.isInteger(n);

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

function slowStart(c: BalancerConfig["slowStart"]): ResolvedSlowStart | undefined {
  if (c === undefined) return undefined;
  if (typeof c !== "object" || c === null) fail("slowStart", c, "an object like { windowMs: 30000 }");
  return {
    windowMs: num("slowStart.windowMs", c.windowMs, undefined, (n) => finite(n) && n > 0, "a positive number of milliseconds"),
    aggression: num("slowStart.aggression", c.aggression, 1, (n) => finite(n) && n > 0, "a positive number (1 = linear)"),
    minWeightPercent: num("slowStart.minWeightPercent", c.minWeightPercent, 10, (n) => n >= 0 && n <= 100, "a percentage in 0..100"),
    refreshMs: num("slowStart.refreshMs", c.refreshMs, 1000, (n) => finite(n) && n >= 0, "a non-negative number of milliseconds"),
  };
}

function zone(c: ZoneConfig | undefined): ResolvedZone | undefined {
  if (c === undefined) return undefined;
  if (typeof c !== "object" || c === null) fail("zone", c, 'an object like { local: "zone-a" }');
  if (typeof c.local !== "string" || c.local === "") fail("zone.local", c.local, "the caller's zone, a non-empty string");
  return {
    local: c.local,
    minLocalInstances: num("zone.minLocalInstances", c.minLocalInstances, 1, (n) => int(n) && n >= 1, "an integer >= 1"),
    minLocalPercent: num("zone.minLocalPercent", c.minLocalPercent, 0, (n) => n >= 0 && n <= 100, "a percentage in 0..100"),
  };
}

export function resolveConfig(config: BalancerConfig | PolicyName): ResolvedConfig {
  const c: BalancerConfig = typeof config === "string" ? { policy: config } : config;
  if (typeof c !== "object" || c === null) fail("config", c, `a policy name or { policy, ... }`);
  if (!(POLICIES as readonly unknown[]).includes(c.policy)) fail("policy", c.policy, `one of ${POLICIES.join(", ")}`);
  const lr = c.leastRequest ?? {};
  const rh = c.ringHash ?? {};
  const minRingSize = num("ringHash.minRingSize", rh.minRingSize, DEFAULT_MIN_RING_SIZE, (n) => int(n) && n >= 1 && n <= MAX_RING_SIZE, `an integer in 1..${MAX_RING_SIZE}`);
  const maxRingSize = num("ringHash.maxRingSize", rh.maxRingSize, MAX_RING_SIZE, (n) => int(n) && n >= 1 && n <= MAX_RING_SIZE, `an integer in 1..${MAX_RING_SIZE}`);
  if (minRingSize > maxRingSize) fail("ringHash.minRingSize", minRingSize, `at most ringHash.maxRingSize (${maxRingSize})`);
  const tableSize = num("maglev.tableSize", c.maglev?.tableSize, DEFAULT_TABLE_SIZE, (n) => isPrime(n) && n <= MAX_TABLE_SIZE, `a prime number up to ${MAX_TABLE_SIZE} (e.g. 65537, 655373)`);
  const ss = slowStart(c.slowStart);
  const z = zone(c.zone);
  return {
    policy: c.policy,
    ...(ss && { slowStart: ss }),
    ...(z && { zone: z }),
    choiceCount: num("leastRequest.choiceCount", lr.choiceCount, 2, (n) => int(n) && n >= 2 && n <= 64, "an integer in 2..64"),
    activeRequestBias: num("leastRequest.activeRequestBias", lr.activeRequestBias, 1, (n) => finite(n) && n >= 0, "a non-negative number"),
    minRingSize,
    maxRingSize,
    tableSize,
  };
}
