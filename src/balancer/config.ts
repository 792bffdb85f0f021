/**
 * The one definition of the balancer layer's limits and defaults, and their
 * validation. Limits are zod schemas (balancerSchema here, outlierSchema and
 * healthCheckSchema beside their classes); defaults are the *_DEFAULTS
 * constants. createPicker, OutlierDetector and HealthChecker parse their
 * config with these schemas and the client config file embeds the same ones,
 * so a value is refused or accepted alike, with the same message, whichever
 * way it comes in. Every problem is a ConfigError naming the field's path,
 * thrown by createPicker (never by pick()).
 */
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { fastRandom } from "./prng.js";
import { POLICIES, type BalancerConfig, type LoadTracker, type PickerContext, type PolicyName, type SlowStartConfig, type ZoneConfig } from "./types.js";
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
  readonly pointsPerInstance: number;
  readonly maxRingSize: number;
  readonly tableSize: number;
}

/** Envoy's bounds: ring_hash maximum_ring_size <= 8M, maglev table_size <= 5,000,011. */
export const MAX_RING_SIZE = 8_388_608;
/** ring_hash points of an instance of the default weight: 160, as ketama; a share within about +-8% (1 / sqrt(160)). */
export const DEFAULT_POINTS_PER_INSTANCE = 160;
export const DEFAULT_TABLE_SIZE = 65_537;
export const MAX_TABLE_SIZE = 5_000_011;
/** Node's timers hold a 32-bit delay; a longer one fires after 1 ms instead (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2_147_483_647;

/** The value every optional field of T takes when left out. */
export type Defaults<T> = { readonly [K in keyof T]-?: Exclude<T[K], undefined> };

export const SLOW_START_DEFAULTS: Defaults<Omit<SlowStartConfig, "windowMs">> = { aggression: 1, minWeightPercent: 10, refreshMs: 1000 };
export const ZONE_DEFAULTS: Defaults<Omit<ZoneConfig, "local">> = { minLocalInstances: 1, minLocalPercent: 0 };
export const LEAST_REQUEST_DEFAULTS: Defaults<NonNullable<BalancerConfig["leastRequest"]>> = { choiceCount: 2, activeRequestBias: 1 };
export const RING_HASH_DEFAULTS: Defaults<NonNullable<BalancerConfig["ringHash"]>> = { pointsPerInstance: DEFAULT_POINTS_PER_INSTANCE, maxRingSize: MAX_RING_SIZE };
export const MAGLEV_DEFAULTS: Defaults<NonNullable<BalancerConfig["maglev"]>> = { tableSize: DEFAULT_TABLE_SIZE };

/** `defaults` with the fields `given` sets (an undefined field keeps its default). */
export function withDefaults<D extends object>(defaults: D, given: { readonly [K in keyof D]?: D[K] | undefined } | undefined): D {
  const out = { ...defaults };
  if (given === undefined) return out;
  for (const key of Object.keys(defaults) as (keyof D)[]) {
    const value = given[key];
    if (value !== undefined) out[key] = value as D[keyof D];
  }
  return out;
}

// Field kinds shared by the schemas of this layer and the client's. z.number() refuses NaN and ±Infinity.
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const positive = () => z.number().positive();
export const nonNegative = () => z.number().min(0);
const percent = () => z.number().min(0).max(100);
/** A delay a timer waits for: > 0 and small enough for setTimeout. */
export const delayMs = () => z.number().positive().max(MAX_TIMER_MS);

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export const balancerSchema = z.strictObject({
  policy: z.enum(POLICIES, { error: `must be one of ${POLICIES.join(", ")}` }),
  slowStart: z
    .strictObject({ windowMs: positive(), aggression: positive().optional(), minWeightPercent: percent().optional(), refreshMs: nonNegative().optional() })
    .optional(),
  zone: z.strictObject({ local: z.string().min(1), minLocalInstances: int(1).optional(), minLocalPercent: percent().optional() }).optional(),
  leastRequest: z.strictObject({ choiceCount: int(2, 64).optional(), activeRequestBias: nonNegative().optional() }).optional(),
  ringHash: z
    .strictObject({ pointsPerInstance: int(1, 65_536).optional(), maxRingSize: int(1, MAX_RING_SIZE).optional() })
    .optional(),
  maglev: z.strictObject({ tableSize: int(2, MAX_TABLE_SIZE).refine(isPrime, { error: "must be a prime" }).optional() }).optional(),
});

/** True when A and B are the same type: the schemas must produce exactly the declared config shapes. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const shape: Same<z.output<typeof balancerSchema>, BalancerConfig> = true;
void shape;

export interface ConfigProblem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** zod issues as one problem per place: union branches and unknown keys unpacked. */
export function configProblems(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): ConfigProblem[] {
  return issues.flatMap((issue): ConfigProblem[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === "unrecognized_keys") return issue.keys.map((k) => ({ path: [...path, k], message: "unknown key" }));
    if (issue.code === "invalid_union") {
      // `false | {...}`: given an object, the object branch's complaints are the useful ones.
      const deep = issue.errors.find((b) => b.some((i) => i.path.length > 0 || (i.code !== "invalid_type" && i.code !== "invalid_value")));
      if (deep !== undefined) return configProblems(deep, path);
    }
    return [{ path, message: issue.message.replace(/^Invalid input: /, "") }];
  });
}

/** `a.b.0.c`, as messages name a field. */
export const pathText = (path: readonly PropertyKey[]): string => path.map(String).join(".");

/**
 * `input` parsed by `schema`, or a ConfigError `invalid <what>: <path>: <problem>; ...`,
 * each line as the client config file's report has it (less the file's prefix).
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const text = configProblems(result.error.issues).map((p) => (p.path.length > 0 ? `${pathText(p.path)}: ${p.message}` : p.message));
  throw new ConfigError(`invalid ${what}: ${text.join("; ")}`, { cause: result.error });
}

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
    : fastRandom;
  return { ...(ctx.load && { load: ctx.load }), now: ctx.now ?? Date.now, random };
}

export function resolveConfig(config: BalancerConfig | PolicyName): ResolvedConfig {
  const c = parseConfig(balancerSchema, typeof config === "string" ? { policy: config } : config, "balancer config");
  const slowStart = c.slowStart && { windowMs: c.slowStart.windowMs, ...withDefaults(SLOW_START_DEFAULTS, c.slowStart) };
  const zone = c.zone && { local: c.zone.local, ...withDefaults(ZONE_DEFAULTS, c.zone) };
  return {
    policy: c.policy,
    ...(slowStart && { slowStart }),
    ...(zone && { zone }),
    ...withDefaults(LEAST_REQUEST_DEFAULTS, c.leastRequest),
    ...withDefaults(RING_HASH_DEFAULTS, c.ringHash),
    ...withDefaults(MAGLEV_DEFAULTS, c.maglev),
  };
}
