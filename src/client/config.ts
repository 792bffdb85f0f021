/**
 * Per-service client configuration: zod schemas, file loading, and the
 * resolution of one service's settings.
 *
 * Resolution is per section: each top-level section (balancer, hashKey,
 * routing, outlier, healthCheck, retries, timeoutMs) comes whole from the most
 * specific layer that sets it (services.<name>, then defaults, then built-in
 * defaults); sections are not deep-merged, so a service's `retries` never
 * inherits half of the defaults' `retries` (fields a section leaves out come
 * from the built-in defaults). `outlier: false` and `healthCheck: false`
 * switch an inherited section off; absent, they are off too.
 *
 * The balancer, outlier and healthCheck sections are the balancer layer's own
 * schemas (their limits live there, once), so a file that validates here
 * never fails when the balancer is built, and a bad value gets the same
 * message either way.
 */
import { z } from "zod";
import { type HealthCheckConfig, healthCheckSchema } from "../balancer/health-check.js";
import { type OutlierConfig, outlierSchema } from "../balancer/outlier.js";
import type { BalancerConfig } from "../balancer/types.js";
import { balancerSchema, configProblems, delayMs, int, nonNegative, type Same } from "../balancer/config.js";
import { problemsError, readConfigFile, type Locate } from "../util/config-file.js";
import type { RoutingConfig } from "../router/router.js";
import { parseSelector } from "../router/selector.js";

export const RETRY_ON = ["connect-error", "5xx", "reset"] as const;
export type RetryOn = (typeof RETRY_ON)[number];

/** Limits: retriesSchema; defaults: CLIENT_DEFAULTS.retries. */
export interface RetryConfig {
  /** Retries after the first try. */
  attempts: number;
  /** The default (connect-error and reset) is safe for non-idempotent calls. */
  on: RetryOn[];
}

export interface ServiceClientConfig {
  balancer: BalancerConfig;
  /** No balancer was configured for the service (nor as a default): a source's hint may choose (sessionAffinity: ClientIP -> source_affinity). */
  balancerIsDefault?: boolean;
  hashKey?: { header?: string };
  routing?: RoutingConfig;
  /** Absent or false: off. */
  outlier?: OutlierConfig | false;
  /** Absent or false: off. */
  healthCheck?: HealthCheckConfig | false;
  retries: RetryConfig;
  timeoutMs: number;
}

/** One layer of settings, as written: every section optional, and retries' fields too. */
export type ServiceClientConfigLayer = Partial<Omit<ServiceClientConfig, "retries">> & { retries?: Partial<RetryConfig> };

/**
 * Literals need not go through parseClientConfig (that is for untrusted input),
 * so serviceConfig fills in what a layer leaves out.
 */
export interface ClientConfig {
  defaults?: ServiceClientConfigLayer;
  services?: Record<string, ServiceClientConfigLayer>;
}

/** What a service gets for a section no layer sets. */
export const CLIENT_DEFAULTS: Readonly<Pick<ServiceClientConfig, "balancer" | "retries" | "timeoutMs">> = {
  balancer: { policy: "round_robin" },
  retries: { attempts: 2, on: ["connect-error", "reset"] },
  timeoutMs: 30_000,
};

const disableable = <T extends z.ZodType>(schema: T) => z.union([z.literal(false), schema], { error: "must be false or an object" });

const selectorText = z.string().superRefine((text, ctx) => {
  try {
    parseSelector(text);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : String(err) });
  }
});

const headerPattern = z.string().superRefine((p, ctx) => {
  if (!p.startsWith("~")) return;
  try {
    new RegExp(p.slice(1));
  } catch {
    ctx.addIssue({ code: "custom", message: `invalid regex ${JSON.stringify(p.slice(1))}` });
  }
});

export const routingSchema = z.strictObject({
  tag: z
    .strictObject({
      header: z.string().min(1).optional(),
      metadataKey: z.string().min(1).optional(),
      fallback: z.enum(["untagged", "any", "none"], { error: "must be one of untagged, any, none" }).optional(),
    })
    .optional(),
  rules: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        match: z.strictObject({ headers: z.record(z.string(), headerPattern).optional() }).optional(),
        split: z
          .array(z.strictObject({ subset: selectorText, weight: nonNegative() }))
          .min(1)
          .refine((s) => s.some((x) => x.weight > 0), { error: "weights must not all be 0" }),
      }),
    )
    .superRefine((rules, ctx) => {
      const seen = new Set<string>();
      rules.forEach((r, i) => {
        if (seen.has(r.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate rule name ${JSON.stringify(r.name)}` });
        seen.add(r.name);
      });
    })
    .optional(),
});

export const retriesSchema = z.strictObject({
  attempts: int(0, 10).default(CLIENT_DEFAULTS.retries.attempts),
  on: z.array(z.enum(RETRY_ON, { error: `must be one of ${RETRY_ON.join(", ")}` })).default(() => [...CLIENT_DEFAULTS.retries.on]),
});

/** One layer (defaults or a service): every section optional, none filled in. */
export const partialServiceSchema = z.strictObject({
  balancer: balancerSchema.optional(),
  hashKey: z.strictObject({ header: z.string().min(1).optional() }).optional(),
  routing: routingSchema.optional(),
  outlier: disableable(outlierSchema).optional(),
  healthCheck: disableable(healthCheckSchema).optional(),
  retries: retriesSchema.optional(),
  // A timer waits for it, so it has a timer's bound.
  timeoutMs: delayMs().optional(),
});

export const clientConfigSchema = z.strictObject({
  defaults: partialServiceSchema.optional(),
  services: z.record(z.string().min(1), partialServiceSchema).optional(),
});

// Compile-time checks that the schemas produce exactly the declared shapes (the balancer layer checks its own).
const shapes: [
  Same<z.output<typeof routingSchema>, RoutingConfig>,
  Same<z.input<typeof clientConfigSchema>, ClientConfig>,
  z.output<typeof clientConfigSchema> extends ClientConfig ? true : false,
] = [true, true, true];
void shapes;

function validate(input: unknown, source: string | undefined, locate?: Locate): ClientConfig {
  const result = clientConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw problemsError("client config", source, configProblems(result.error.issues), locate, result.error);
}

/** Validates `input`; ConfigError lists every problem with its path. `source` names it in messages. */
export function parseClientConfig(input: unknown, source?: string): ClientConfig {
  return validate(input, source);
}

/** Reads a YAML (.yaml, .yml) or JSON (.json) file; an empty YAML file is an empty config. */
export async function loadClientConfig(path: string): Promise<ClientConfig> {
  const { data, locate } = readConfigFile(path, "client config");
  return validate(data, path, locate);
}

/** `service`'s settings: its entry over `defaults` over built-in defaults, section by section. */
export function serviceConfig(config: ClientConfig, service: string): ServiceClientConfig {
  const own = config.services !== undefined && Object.prototype.hasOwnProperty.call(config.services, service) ? config.services[service] : undefined;
  const layers: ServiceClientConfigLayer[] = [own ?? {}, config.defaults ?? {}];
  const pick = <K extends keyof ServiceClientConfigLayer>(key: K): ServiceClientConfigLayer[K] => layers.find((l) => l[key] !== undefined)?.[key];
  const builtin = CLIENT_DEFAULTS;
  const retries = pick("retries");
  const out: ServiceClientConfig = {
    balancer: pick("balancer") ?? { ...builtin.balancer },
    ...(pick("balancer") === undefined ? { balancerIsDefault: true } : {}),
    retries: { attempts: retries?.attempts ?? builtin.retries.attempts, on: retries?.on ?? [...builtin.retries.on] },
    timeoutMs: pick("timeoutMs") ?? builtin.timeoutMs,
  };
  const hashKey = pick("hashKey");
  const routing = pick("routing");
  const outlier = pick("outlier");
  const healthCheck = pick("healthCheck");
  if (hashKey !== undefined) out.hashKey = hashKey;
  if (routing !== undefined) out.routing = routing;
  if (outlier !== undefined) out.outlier = outlier;
  if (healthCheck !== undefined) out.healthCheck = healthCheck;
  return out;
}
