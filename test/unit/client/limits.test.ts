/**
 * Each limit and default of the balancer, outlier and healthCheck settings is
 * defined once (in the balancer layer) and holds alike through the client
 * config file and the constructors: the same value is refused by both, with
 * the same code and the same "<path>: <problem>", and the boundaries pass both.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  LEAST_REQUEST_DEFAULTS,
  MAGLEV_DEFAULTS,
  MAX_RING_SIZE,
  MAX_TABLE_SIZE,
  MAX_TIMER_MS,
  resolveConfig,
  RING_HASH_DEFAULTS,
  SLOW_START_DEFAULTS,
  ZONE_DEFAULTS,
} from "../../../src/balancer/config.js";
import { HEALTH_CHECK_DEFAULTS, HealthChecker, type HealthCheckConfig } from "../../../src/balancer/health-check.js";
import { createPicker } from "../../../src/balancer/index.js";
import { OUTLIER_DEFAULTS, OutlierDetector, type OutlierConfig } from "../../../src/balancer/outlier.js";
import type { BalancerConfig } from "../../../src/balancer/types.js";
import { CLIENT_DEFAULTS, parseClientConfig, serviceConfig } from "../../../src/client/config.js";
import { ConfigError } from "../../../src/errors.js";
import { silentLogger } from "../../../src/util/logger.js";

type Section = "balancer" | "outlier" | "healthCheck";

/** What each constructor's message starts with. */
const DIRECT_PREFIX: Record<Section, string> = {
  balancer: "invalid balancer config: ",
  outlier: "invalid outlier detection config: ",
  healthCheck: "invalid health check config: ",
};

/** The ConfigError message of `fn`, or undefined when it does not throw. */
function refusal(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.equal(err.code, "PODREG_CONFIG");
    return err.message;
  }
}

/** The constructor's problems, each as `<path>: <problem>`. */
function direct(section: Section, value: unknown): string[] | undefined {
  const message = refusal(() => {
    if (section === "balancer") createPicker(value as BalancerConfig, []);
    else if (section === "outlier") new OutlierDetector(value as OutlierConfig, { logger: silentLogger }).close();
    else new HealthChecker(value as HealthCheckConfig, { logger: silentLogger }).close();
  });
  if (message === undefined) return undefined;
  assert.ok(message.startsWith(DIRECT_PREFIX[section]), message);
  return message.slice(DIRECT_PREFIX[section].length).split("; ");
}

/** The client config's problems for the same value in services.echo.<section>, the prefix taken off. */
function viaClient(section: Section, value: unknown): string[] | undefined {
  const message = refusal(() => parseClientConfig({ services: { echo: { [section]: value } } }));
  if (message === undefined) return undefined;
  const [head, ...lines] = message.split("\n");
  assert.equal(head, "invalid client config:");
  const prefix = `  services.echo.${section}.`;
  for (const l of lines) assert.ok(l.startsWith(prefix), l);
  return lines.map((l) => l.slice(prefix.length));
}

function sameVerdict(section: Section, value: unknown): string[] | undefined {
  const d = direct(section, value);
  assert.deepEqual(viaClient(section, value), d, `${section} ${JSON.stringify(value)}`);
  return d;
}

const hc = { path: "/healthz", intervalMs: 1000, timeoutMs: 100 };

/** [section, value, the single problem expected, or undefined when accepted]. */
const cases: [Section, unknown, string | undefined][] = [
  ["balancer", { policy: "fastest" }, "policy: must be one of round_robin, weighted_round_robin, random, least_request, ring_hash, maglev, source_affinity, least_connection, shortest_expected_delay, never_queue"],
  ["balancer", { policy: "maglev", maglev: { tableSize: 65_536 } }, "maglev.tableSize: must be a prime"],
  ["balancer", { policy: "maglev", maglev: { tableSize: 2 } }, undefined],
  ["balancer", { policy: "maglev", maglev: { tableSize: MAX_TABLE_SIZE } }, undefined],
  ["balancer", { policy: "maglev", maglev: { tableSize: 5_000_077 } }, `maglev.tableSize: Too big: expected number to be <=${MAX_TABLE_SIZE}`],
  ["balancer", { policy: "least_request", leastRequest: { choiceCount: 1 } }, "leastRequest.choiceCount: Too small: expected number to be >=2"],
  ["balancer", { policy: "least_request", leastRequest: { choiceCount: 2 } }, undefined],
  ["balancer", { policy: "least_request", leastRequest: { choiceCount: 64 } }, undefined],
  ["balancer", { policy: "least_request", leastRequest: { choiceCount: 65 } }, "leastRequest.choiceCount: Too big: expected number to be <=64"],
  ["balancer", { policy: "ring_hash", ringHash: { maxRingSize: MAX_RING_SIZE } }, undefined],
  ["balancer", { policy: "ring_hash", ringHash: { maxRingSize: MAX_RING_SIZE + 1 } }, `ringHash.maxRingSize: Too big: expected number to be <=${MAX_RING_SIZE}`],
  ["balancer", { policy: "ring_hash", ringHash: { pointsPerInstance: 65_536, maxRingSize: 64 } }, undefined],
  ["balancer", { policy: "ring_hash", ringHash: { pointsPerInstance: 65_537 } }, "ringHash.pointsPerInstance: Too big: expected number to be <=65536"],
  ["balancer", { policy: "ring_hash", ringHash: { minRingSize: 1024 } }, "ringHash.minRingSize: unknown key"],
  ["balancer", { policy: "random", slowStart: { windowMs: 1, minWeightPercent: 0 } }, undefined],
  ["balancer", { policy: "random", slowStart: { windowMs: 1, minWeightPercent: 100 } }, undefined],
  ["balancer", { policy: "random", slowStart: { windowMs: 1, minWeightPercent: 100.5 } }, "slowStart.minWeightPercent: Too big: expected number to be <=100"],
  ["balancer", { policy: "random", slowStart: {} }, "slowStart.windowMs: expected number, received undefined"],
  ["balancer", { policy: "random", zone: { local: "a", minLocalInstances: 0 } }, "zone.minLocalInstances: Too small: expected number to be >=1"],
  ["balancer", { policy: "random", zone: { local: "a", minLocalInstances: 1 } }, undefined],
  ["outlier", { maxEjectionPercent: 9.9 }, "maxEjectionPercent: Too small: expected number to be >=10"],
  ["outlier", { maxEjectionPercent: 10 }, undefined],
  ["outlier", { maxEjectionPercent: 100 }, undefined],
  ["outlier", { maxEjectionPercent: 100.1 }, "maxEjectionPercent: Too big: expected number to be <=100"],
  ["outlier", { consecutiveFailures: 1 }, undefined],
  ["outlier", { consecutiveFailures: 1.5 }, "consecutiveFailures: expected int, received number"],
  ["outlier", { failureRate: { threshold: 0, minRequests: 1, intervalMs: 1 } }, undefined],
  ["outlier", { failureRate: { threshold: 1, minRequests: 1, intervalMs: MAX_TIMER_MS } }, undefined],
  ["outlier", { failureRate: { threshold: 1.01, minRequests: 1, intervalMs: 1 } }, "failureRate.threshold: Too big: expected number to be <=1"],
  ["outlier", { baseEjectionMs: MAX_TIMER_MS, maxEjectionMs: MAX_TIMER_MS }, undefined],
  ["outlier", { maxEjectionMs: MAX_TIMER_MS + 1 }, `maxEjectionMs: Too big: expected number to be <=${MAX_TIMER_MS}`],
  ["outlier", { baseEjectionMs: 0 }, "baseEjectionMs: Too small: expected number to be >0"],
  ["outlier", { typo: 1 }, "typo: unknown key"],
  ["healthCheck", hc, undefined],
  ["healthCheck", { ...hc, path: "healthz" }, 'path: must start with "/"'],
  ["healthCheck", { ...hc, intervalMs: 0 }, "intervalMs: Too small: expected number to be >0"],
  ["healthCheck", { ...hc, timeoutMs: MAX_TIMER_MS + 1 }, `timeoutMs: Too big: expected number to be <=${MAX_TIMER_MS}`],
  ["healthCheck", { ...hc, healthyThreshold: 1, unhealthyThreshold: 1 }, undefined],
  ["healthCheck", { ...hc, unhealthyThreshold: 0 }, "unhealthyThreshold: Too small: expected number to be >=1"],
  ["healthCheck", { ...hc, expectedStatus: [100, 599] }, undefined],
  ["healthCheck", { ...hc, expectedStatus: [99, 200] }, "expectedStatus.0: Too small: expected number to be >=100"],
  ["healthCheck", { ...hc, expectedStatus: [300, 200] }, "expectedStatus: must be [min, max] with min <= max"],
];

describe("configuration limits, defined once", () => {
  it("refuses a bad value with the same code and problem through the client config and the constructor; accepts the boundaries", () => {
    for (const [section, value, problem] of cases) {
      assert.deepEqual(sameVerdict(section, value), problem === undefined ? undefined : [problem], `${section} ${JSON.stringify(value)}`);
    }
  });

  it("reports every problem of one value, in the same words both ways", () => {
    const problems = sameVerdict("outlier", { consecutiveFailures: 0, failureRate: { threshold: -1, minRequests: 1, intervalMs: 1 }, extra: true });
    assert.deepEqual([...(problems ?? [])].sort(), ["consecutiveFailures: Too small: expected number to be >=1", "extra: unknown key", "failureRate.threshold: Too small: expected number to be >=0"]);
  });

  it("property: outlier and healthCheck values get the same verdict and message both ways", () => {
    const n = fc.oneof(fc.integer({ min: -1, max: 700 }), fc.constantFrom(0.5, 1.5, MAX_TIMER_MS, MAX_TIMER_MS + 1));
    const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
    const outlier = fc.record(
      {
        consecutiveFailures: opt(n),
        failureRate: opt(fc.record({ threshold: fc.constantFrom(-0.1, 0, 0.5, 1, 1.1), minRequests: n, intervalMs: n })),
        baseEjectionMs: opt(n),
        maxEjectionMs: opt(n),
        maxEjectionPercent: opt(n),
      },
      { requiredKeys: [] },
    );
    const healthCheck = fc.record(
      {
        path: fc.constantFrom("/h", "h", ""),
        intervalMs: n,
        timeoutMs: n,
        unhealthyThreshold: opt(n),
        healthyThreshold: opt(n),
        expectedStatus: opt(fc.tuple(n, n)),
      },
      { requiredKeys: ["path", "intervalMs", "timeoutMs"] },
    );
    const clean = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
    fc.assert(
      fc.property(outlier, healthCheck, (o, h) => {
        sameVerdict("outlier", clean(o));
        sameVerdict("healthCheck", clean(h));
      }),
      { numRuns: 500 },
    );
  });

  it("fills in the defaults from the one table of each section", () => {
    const resolved = resolveConfig({ policy: "least_request", slowStart: { windowMs: 1000 }, zone: { local: "a" } });
    assert.deepEqual(resolved, {
      policy: "least_request",
      slowStart: { windowMs: 1000, ...SLOW_START_DEFAULTS },
      zone: { local: "a", ...ZONE_DEFAULTS },
      ...LEAST_REQUEST_DEFAULTS,
      ...RING_HASH_DEFAULTS,
      ...MAGLEV_DEFAULTS,
    });
    // A field given as undefined takes its default too.
    assert.equal(resolveConfig({ policy: "least_request", leastRequest: { choiceCount: undefined } }).choiceCount, LEAST_REQUEST_DEFAULTS.choiceCount);
    assert.deepEqual(serviceConfig({}, "x"), { ...CLIENT_DEFAULTS, balancerIsDefault: true });
    assert.deepEqual(serviceConfig(parseClientConfig({ defaults: { retries: {} } }), "x").retries, CLIENT_DEFAULTS.retries);
    // Defaults are copied out, never shared: changing a service's settings leaves them be.
    serviceConfig({}, "x").retries.on.push("5xx");
    assert.deepEqual(CLIENT_DEFAULTS.retries.on, ["connect-error", "reset"]);
  });

  it("the outlier detector and health checker act on their defaults", async () => {
    const od = new OutlierDetector({ maxEjectionPercent: 100 }, { logger: silentLogger });
    for (let k = 1; k < OUTLIER_DEFAULTS.consecutiveFailures; k++) od.record("a", false);
    assert.equal(od.isEjected("a"), false);
    od.record("a", false);
    assert.equal(od.isEjected("a"), true);
    od.close();

    let probes = 0;
    let down = -1;
    const hcx: HealthChecker = new HealthChecker(
      { path: "/h", intervalMs: 1, timeoutMs: 1000 },
      {
        logger: silentLogger,
        fetch: async () => {
          probes++;
          return new Response(null, { status: HEALTH_CHECK_DEFAULTS.expectedStatus[1] + 1 });
        },
        onChange: () => {
          if (down < 0) down = probes;
        },
      },
    );
    hcx.setInstances([{ id: "x", host: "10.0.0.1", port: 80 }]);
    for (let t = 0; t < 500 && down < 0; t++) await new Promise((r) => setTimeout(r, 2));
    hcx.close();
    assert.equal(down, HEALTH_CHECK_DEFAULTS.unhealthyThreshold, "unhealthy after exactly the default number of failed probes");
  });
});
