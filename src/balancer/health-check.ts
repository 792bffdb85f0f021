/**
 * Optional active HTTP health checking, after Envoy's HTTP health checker:
 * each instance is probed with GET http://host:port/path every intervalMs; it
 * turns unhealthy after unhealthyThreshold failed probes in a row and healthy
 * again after healthyThreshold good ones. A probe is good when it answers
 * with a status in expectedStatus (inclusive) within timeoutMs.
 *
 * Unlike Envoy, a new instance counts as healthy until probes prove otherwise:
 * the registry already reports readiness, and holding traffic back until a
 * first probe would make every rollout wait an interval.
 */
import { z } from "zod";
import { authority } from "../model/host.js";
import { type Clock, systemClock, unref } from "../util/clock.js";
import { scopedSignal } from "../util/signal.js";
import { type Logger, stderrLogger } from "../util/logger.js";
import { type Defaults, delayMs, int, parseConfig, type Same, withDefaults } from "./config.js";

/** Limits: healthCheckSchema; defaults: HEALTH_CHECK_DEFAULTS. */
export interface HealthCheckConfig {
  /** Request path, starting with "/". */
  path: string;
  intervalMs: number;
  /** Per probe. */
  timeoutMs: number;
  /** Failed probes in a row that make a healthy instance unhealthy. */
  unhealthyThreshold?: number;
  /** Good probes in a row that make an unhealthy instance healthy again. */
  healthyThreshold?: number;
  /** Good statuses, inclusive. */
  expectedStatus?: [min: number, max: number];
}

const status = int(100, 599);
/** The limits of HealthCheckConfig, for the constructor and the client config file alike. */
export const healthCheckSchema = z.strictObject({
  path: z.string().startsWith("/", { error: 'must start with "/"' }),
  intervalMs: delayMs(),
  timeoutMs: delayMs(),
  unhealthyThreshold: int(1).optional(),
  healthyThreshold: int(1).optional(),
  expectedStatus: z.tuple([status, status]).refine(([a, b]) => a <= b, { error: "must be [min, max] with min <= max" }).optional(),
});
const shape: Same<z.output<typeof healthCheckSchema>, HealthCheckConfig> = true;
void shape;

type OptionalFields = Omit<HealthCheckConfig, "path" | "intervalMs" | "timeoutMs">;
export const HEALTH_CHECK_DEFAULTS: Defaults<OptionalFields> = { unhealthyThreshold: 3, healthyThreshold: 2, expectedStatus: [200, 399] };

export interface HealthCheckerOptions {
  clock?: Clock;
  /** Injectable for tests; default the global fetch. */
  fetch?: typeof fetch;
  /** Fires after an instance turns healthy or unhealthy. */
  onChange?: () => void;
  /** Failed probes (debug), state changes (info), an onChange that throws (warn). Default: warnings on stderr. */
  logger?: Logger;
}

/** What the checker needs of an instance. */
export interface HealthCheckTarget {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

interface Probed {
  url: string;
  healthy: boolean;
  /** Consecutive results against the current state. */
  streak: number;
  timer?: unknown;
  /** Aborts the probe in flight when the instance goes or the checker closes. */
  abort: AbortController;
}

/** http://host:port/path, IPv6 literals in brackets (a zone as %25). */
export function probeUrl(host: string, port: number, path: string): string {
  return `http://${authority(host, port)}${path.startsWith("/") ? path : `/${path}`}`;
}

export class HealthChecker {
  private readonly config: Required<HealthCheckConfig>;
  private readonly clock: Clock;
  private readonly fetch: typeof fetch;
  private readonly onChange: () => void;
  private readonly logger: Logger;
  private readonly probed = new Map<string, Probed>();
  private closed = false;

  constructor(config: HealthCheckConfig, opts: HealthCheckerOptions = {}) {
    const c = parseConfig(healthCheckSchema, config, "health check config");
    this.config = { path: c.path, intervalMs: c.intervalMs, timeoutMs: c.timeoutMs, ...withDefaults(HEALTH_CHECK_DEFAULTS, c) };
    this.clock = opts.clock ?? systemClock;
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.onChange = opts.onChange ?? (() => {});
    this.logger = opts.logger ?? stderrLogger;
  }

  /** Starts probing new instances (at once) and stops probing the ones not listed. */
  setInstances(instances: readonly HealthCheckTarget[]): void {
    if (this.closed) return;
    const next = new Map(instances.map((i) => [i.id, probeUrl(i.host, i.port, this.config.path)] as const));
    for (const [id, p] of this.probed) {
      // Gone, or moved to another address: the old state says nothing about the new one.
      if (next.get(id) !== p.url) this.stop(id, p);
    }
    for (const [id, url] of next) {
      if (this.probed.has(id)) continue;
      const p: Probed = { url, healthy: true, streak: 0, abort: new AbortController() };
      this.probed.set(id, p);
      void this.probe(id, p);
    }
  }

  /** Unknown and newly added instances are healthy until probes say otherwise. */
  isHealthy(id: string): boolean {
    return this.probed.get(id)?.healthy ?? true;
  }

  /** Ids of the instances currently unhealthy, sorted. */
  unhealthy(): string[] {
    return [...this.probed].filter(([, p]) => !p.healthy).map(([id]) => id).sort();
  }

  /** Stops every timer and aborts the probes in flight. */
  close(): void {
    this.closed = true;
    for (const [id, p] of this.probed) this.stop(id, p);
  }

  private stop(id: string, p: Probed): void {
    this.clock.clearTimeout(p.timer);
    p.abort.abort();
    this.probed.delete(id);
  }

  private async probe(id: string, p: Probed): Promise<void> {
    const [min, max] = this.config.expectedStatus;
    let good: boolean;
    const bounded = scopedSignal([p.abort.signal], this.config.timeoutMs);
    try {
      const res = await this.fetch(p.url, {
        signal: bounded.signal,
        redirect: "manual", // a redirect is an answer (3xx counts as good by default), not somewhere to go
        headers: { "user-agent": "podreg-health-check" },
      });
      good = res.status >= min && res.status <= max;
      // Drop the body so the connection can be reused.
      await res.body?.cancel().catch(() => {});
    } catch (err) {
      if (p.abort.signal.aborted) return; // stopped, not a failure of the instance
      this.logger.debug({ instance: id, url: p.url, err }, "health check probe failed");
      good = false;
    } finally {
      bounded.dispose();
    }
    if (p.abort.signal.aborted || this.probed.get(id) !== p) return;
    this.judge(id, p, good);
    p.timer = this.clock.setTimeout(() => void this.probe(id, p), this.config.intervalMs);
    unref(p.timer);
  }

  private judge(id: string, p: Probed, good: boolean): void {
    if (good === p.healthy) {
      p.streak = 0;
      return;
    }
    p.streak++;
    const needed = p.healthy ? this.config.unhealthyThreshold : this.config.healthyThreshold;
    if (p.streak < needed) return;
    p.healthy = good;
    p.streak = 0;
    this.logger.info({ instance: id, url: p.url, healthy: good }, "health check state changed");
    try {
      this.onChange();
    } catch (err) {
      this.logger.warn({ err }, "health check: onChange threw");
    }
  }
}
