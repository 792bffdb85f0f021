/**
 * The Logger interface is pino's method shape: a real pino logger type-checks
 * as one and, passed to OutlierDetector, HealthChecker and ServiceBalancer,
 * receives their records (object first, message second).
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import pino from "pino";
import { HealthChecker, type HealthCheckerOptions } from "../../../src/balancer/health-check.js";
import { OutlierDetector, type OutlierDetectorOptions } from "../../../src/balancer/outlier.js";
import { serviceConfig } from "../../../src/client/config.js";
import { ServiceBalancer, type ServiceBalancerOptions } from "../../../src/client/service-balancer.js";
import type { Instance } from "../../../src/model/instance.js";
import { MemoryRegistry } from "../../../src/registry/memory.js";
import type { Logger } from "../../../src/util/logger.js";
import { eventually } from "../../support/wait.js";

// Type level: pino's logger (and a child) is a Logger, and every logger option takes it.
type Takes<Option, T = pino.Logger> = [T] extends [NonNullable<Option>] ? true : false;
const takesPino: [
  Takes<Logger>,
  Takes<Logger, ReturnType<pino.Logger["child"]>>,
  Takes<OutlierDetectorOptions["logger"]>,
  Takes<HealthCheckerOptions["logger"]>,
  Takes<ServiceBalancerOptions["logger"]>,
] = [true, true, true, true, true];
void takesPino;

interface PinoRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A debug-level pino logger writing into `records`. */
function capture(): { logger: Logger; records: PinoRecord[] } {
  const records: PinoRecord[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") records.push(JSON.parse(line) as PinoRecord);
      done();
    },
  });
  const logger: Logger = pino({ level: "debug" }, stream);
  return { logger, records };
}

const LEVEL = { debug: 20, info: 30, warn: 40 } as const;

function inst(id: string): Instance {
  return { id, key: "echo", service: "echo", host: "10.0.0.1", port: 8080, protocol: "http", weight: 100, metadata: {}, labels: {}, ready: true, source: "memory" };
}

describe("a pino logger as the Logger", () => {
  it("OutlierDetector logs ejections and an onChange that throws", () => {
    const { logger, records } = capture();
    const od = new OutlierDetector({ consecutiveFailures: 1, maxEjectionPercent: 100 }, { logger, onChange: () => { throw new Error("boom"); } });
    od.record("a", false);
    od.close();
    assert.equal(od.isEjected("a"), true, "the throwing listener did not stop the ejection");
    const ejected = records.find((r) => r.msg === "outlier detection");
    assert.equal(ejected?.level, LEVEL.debug);
    assert.equal(ejected?.instance, "a");
    assert.equal(ejected?.timesEjected, 1);
    const threw = records.find((r) => r.msg === "outlier detection: onChange threw");
    assert.equal(threw?.level, LEVEL.warn);
    // pino's err serializer: the object came first, as pino expects.
    assert.equal((threw?.err as { message?: string } | undefined)?.message, "boom");
  });

  it("HealthChecker logs failed probes and state changes", async () => {
    const { logger, records } = capture();
    const fetchFails: typeof fetch = async () => {
      throw new TypeError("fetch failed");
    };
    const hc = new HealthChecker({ path: "/healthz", intervalMs: 1, timeoutMs: 1000, unhealthyThreshold: 1 }, { logger, fetch: fetchFails });
    hc.setInstances([{ id: "x", host: "fe80::1", port: 8080 }]);
    await eventually("x unhealthy", () => !hc.isHealthy("x"), 5000, 2);
    hc.close();
    const failed = records.find((r) => r.msg === "health check probe failed");
    assert.equal(failed?.level, LEVEL.debug);
    assert.equal(failed?.url, "http://[fe80::1]:8080/healthz");
    assert.equal((failed?.err as { message?: string } | undefined)?.message, "fetch failed");
    const changed = records.find((r) => r.msg === "health check state changed");
    assert.equal(changed?.level, LEVEL.info);
    assert.deepEqual([changed?.instance, changed?.healthy], ["x", false]);
  });

  it("ServiceBalancer passes its logger down to outlier detection", async () => {
    const { logger, records } = capture();
    const reg = new MemoryRegistry();
    reg.set("g", [inst("a"), inst("b")]);
    const b = new ServiceBalancer({ discovery: reg, service: "echo", logger, config: serviceConfig({ defaults: { outlier: { consecutiveFailures: 1, maxEjectionPercent: 50 } } }, "echo") });
    try {
      await b.whenReady();
      b.begin("a");
      b.end("a", false);
      assert.deepEqual(b.usable().map((i) => i.id), ["b"]);
      const ejected = records.find((r) => r.msg === "outlier detection");
      assert.equal(ejected?.instance, "a");
    } finally {
      b.close();
    }
  });
});
