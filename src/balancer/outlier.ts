/**
 * Passive outlier detection, after Envoy's outlier_detection_impl.cc and
 * grpc-js's load-balancer-outlier-detection.ts: callers report each call's
 * outcome; an instance that fails too often is ejected (left out of picking)
 * for a while, longer each time it is ejected again.
 *
 * - Consecutive failures: the Nth failure in a row ejects at once; a success
 *   resets the count.
 * - Failure rate (optional): every intervalMs, an instance with at least
 *   minRequests outcomes in the interval and a failure share >= threshold is
 *   ejected (worst first).
 * - Ejection lasts baseEjectionMs * (times ejected), capped by maxEjectionMs.
 *   Every interval an instance spends entirely uneject, its times-ejected
 *   count decays by one (Envoy). The interval is failureRate.intervalMs, or
 *   10s (Envoy's default) without failure-rate detection.
 * - At most maxEjectionPercent of the known instances are ejected at once,
 *   rounded down. Unlike Envoy there is no "at least one" exception: the
 *   limit is never exceeded, so with few instances and a low percentage
 *   nothing is ejected.
 * - filter() drops ejected instances, but returns them all when all would go
 *   (panic mode, like Envoy's healthy panic threshold): spreading load over
 *   failing instances beats failing every call locally.
 */
import { z } from "zod";
import { type Clock, systemClock, unref } from "../util/clock.js";
import { type Logger, stderrLogger } from "../util/logger.js";
import { type Defaults, delayMs, int, parseConfig, type Same, withDefaults } from "./config.js";

/** Limits: outlierSchema; defaults: OUTLIER_DEFAULTS. */
export interface OutlierConfig {
  /** Failures in a row that eject. */
  consecutiveFailures?: number;
  failureRate?: {
    /** Failure share at or above which an instance is ejected. */
    threshold: number;
    /** Outcomes in the interval below which the rate is not judged. */
    minRequests: number;
    intervalMs: number;
  };
  baseEjectionMs?: number;
  maxEjectionMs?: number;
  /** Share of the known instances that may be ejected at once. */
  maxEjectionPercent?: number;
}

/** The limits of OutlierConfig, for the constructor and the client config file alike. */
export const outlierSchema = z.strictObject({
  consecutiveFailures: int(1).optional(),
  failureRate: z.strictObject({ threshold: z.number().min(0).max(1), minRequests: int(1), intervalMs: delayMs() }).optional(),
  baseEjectionMs: delayMs().optional(),
  maxEjectionMs: delayMs().optional(),
  maxEjectionPercent: z.number().min(10).max(100).optional(),
});
const shape: Same<z.output<typeof outlierSchema>, OutlierConfig> = true;
void shape;

export const OUTLIER_DEFAULTS: Defaults<Omit<OutlierConfig, "failureRate">> = { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 };

export interface OutlierDetectorOptions {
  clock?: Clock;
  /** Fires after an instance is ejected or returns, so the caller can rebuild its picker. */
  onChange?: () => void;
  /** Ejections and returns (debug), an onChange that throws (warn). Default: warnings on stderr. */
  logger?: Logger;
}

/** Decay interval without failure-rate detection: Envoy's default interval. */
const DEFAULT_INTERVAL_MS = 10_000;

interface HostState {
  consecutive: number;
  ok: number;
  failed: number;
  timesEjected: number;
  ejected: boolean;
  /** Ejected at any time since the last sweep: no decay for this interval. */
  ejectedThisInterval: boolean;
  returnTimer?: unknown;
}

export class OutlierDetector {
  private readonly consecutiveFailures: number;
  private readonly failureRate: OutlierConfig["failureRate"];
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly maxPercent: number;
  /** times-ejected stops growing once the duration reaches the cap (Envoy). */
  private readonly maxTimes: number;
  private readonly intervalMs: number;
  private readonly clock: Clock;
  private readonly onChange: () => void;
  private readonly logger: Logger;
  private readonly hosts = new Map<string, HostState>();
  /** Set by setInstances; until then, the instances seen in record(). */
  private known: Set<string> | undefined;
  private sweepTimer: unknown;
  private closed = false;

  constructor(config: OutlierConfig = {}, opts: OutlierDetectorOptions = {}) {
    const parsed = parseConfig(outlierSchema, config, "outlier detection config");
    const c = withDefaults(OUTLIER_DEFAULTS, parsed);
    const fr = parsed.failureRate;
    this.consecutiveFailures = c.consecutiveFailures;
    this.failureRate = fr;
    this.baseMs = c.baseEjectionMs;
    // A cap below the base is read as "no growth", not refused.
    this.maxMs = Math.max(this.baseMs, c.maxEjectionMs);
    this.maxPercent = c.maxEjectionPercent;
    this.maxTimes = Math.ceil(this.maxMs / this.baseMs);
    this.intervalMs = fr?.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.clock = opts.clock ?? systemClock;
    this.onChange = opts.onChange ?? (() => {});
    this.logger = opts.logger ?? stderrLogger;
    this.scheduleSweep();
  }

  /** The instances that count for maxEjectionPercent; state of the others is forgotten. */
  setInstances(ids: Iterable<string>): void {
    this.known = new Set(ids);
    for (const [id, h] of this.hosts) {
      if (this.known.has(id)) continue;
      // Gone: the caller rebuilds for the removal anyway, so no onChange.
      this.clock.clearTimeout(h.returnTimer);
      this.hosts.delete(id);
    }
  }

  /** Reports one call's outcome on `instanceId`; ignored for instances outside setInstances' set and while ejected. */
  record(instanceId: string, ok: boolean): void {
    if (this.closed || (this.known !== undefined && !this.known.has(instanceId))) return;
    let h = this.hosts.get(instanceId);
    if (h === undefined) {
      h = { consecutive: 0, ok: 0, failed: 0, timesEjected: 0, ejected: false, ejectedThisInterval: false };
      this.hosts.set(instanceId, h);
    }
    // Calls that were in flight when it was ejected say nothing new.
    if (h.ejected) return;
    if (ok) {
      h.ok++;
      h.consecutive = 0;
      return;
    }
    h.failed++;
    h.consecutive++;
    // Blocked by the percentage, the count stays high: the next failure tries again.
    if (h.consecutive >= this.consecutiveFailures) this.eject(instanceId, h);
  }

  isEjected(id: string): boolean {
    return this.hosts.get(id)?.ejected === true;
  }

  /** `instances` without the ejected ones; all of them when none would remain (panic mode). */
  filter<T extends { id: string }>(instances: readonly T[]): T[] {
    const kept = instances.filter((i) => !this.isEjected(i.id));
    return kept.length > 0 ? kept : [...instances];
  }

  /** Ids of the ejected instances, sorted. */
  ejected(): string[] {
    return [...this.hosts].filter(([, h]) => h.ejected).map(([id]) => id).sort();
  }

  /** Stops the timers; ejected instances stay ejected and nothing changes after. */
  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.sweepTimer);
    for (const h of this.hosts.values()) this.clock.clearTimeout(h.returnTimer);
  }

  private knownCount(): number {
    return this.known?.size ?? this.hosts.size;
  }

  private eject(id: string, h: HostState): boolean {
    let ejectedNow = 0;
    for (const x of this.hosts.values()) if (x.ejected) ejectedNow++;
    if ((ejectedNow + 1) * 100 > this.knownCount() * this.maxPercent) return false;
    h.timesEjected = Math.min(h.timesEjected + 1, this.maxTimes);
    const ms = Math.min(this.baseMs * h.timesEjected, this.maxMs);
    h.ejected = true;
    h.ejectedThisInterval = true;
    h.consecutive = 0;
    h.returnTimer = this.clock.setTimeout(() => this.unEject(id, h), ms);
    unref(h.returnTimer);
    this.changed({ instance: id, ejectedMs: ms, timesEjected: h.timesEjected });
    return true;
  }

  private unEject(id: string, h: HostState): void {
    if (this.closed || this.hosts.get(id) !== h) return;
    h.ejected = false;
    h.returnTimer = undefined;
    h.consecutive = 0;
    h.ok = h.failed = 0;
    this.changed({ instance: id, returned: true });
  }

  private changed(fields: object): void {
    this.logger.debug(fields, "outlier detection");
    try {
      this.onChange();
    } catch (err) {
      this.logger.warn({ err }, "outlier detection: onChange threw");
    }
  }

  private scheduleSweep(): void {
    this.sweepTimer = this.clock.setTimeout(() => this.sweep(), this.intervalMs);
    unref(this.sweepTimer);
  }

  /** Every interval: failure-rate ejections, then decay, then fresh counters. */
  private sweep(): void {
    if (this.closed) return;
    const fr = this.failureRate;
    if (fr !== undefined) {
      const outliers: [string, HostState, number][] = [];
      for (const [id, h] of this.hosts) {
        const total = h.ok + h.failed;
        if (!h.ejected && total >= fr.minRequests && h.failed / total >= fr.threshold) outliers.push([id, h, h.failed / total]);
      }
      outliers.sort((a, b) => b[2] - a[2]); // worst first, since the percentage may stop us
      for (const [id, h] of outliers) this.eject(id, h);
    }
    for (const h of this.hosts.values()) {
      if (!h.ejected && !h.ejectedThisInterval && h.timesEjected > 0) h.timesEjected--;
      h.ejectedThisInterval = h.ejected;
      h.ok = h.failed = 0;
    }
    this.scheduleSweep();
  }
}
