import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { HealthChecker, type HealthCheckConfig, probeUrl } from "../../../src/balancer/health-check.js";
import { ConfigError } from "../../../src/errors.js";
import { eventually } from "../../support/wait.js";

interface Backend {
  id: string;
  host: string;
  port: number;
  /** Requests seen, by path. */
  seen: string[];
  server: Server;
}

const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function backend(id: string, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Backend> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? "");
    handle(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push(server);
  return { id, host: "127.0.0.1", port: (server.address() as AddressInfo).port, seen, server };
}

const fast: HealthCheckConfig = { path: "/healthz", intervalMs: 15, timeoutMs: 500 };
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A checker that records each transition with how many probes the backend had seen at that moment. */
function checker(config: HealthCheckConfig, backends: Backend[]) {
  const changes: string[] = [];
  const last = new Map(backends.map((b) => [b.id, true]));
  const hc: HealthChecker = new HealthChecker(config, {
    logger: quiet,
    onChange: () => {
      for (const b of backends) {
        if (hc.isHealthy(b.id) === last.get(b.id)) continue;
        last.set(b.id, hc.isHealthy(b.id));
        changes.push(`${b.id}:${hc.isHealthy(b.id) ? "up" : "down"}@${b.seen.length}`);
      }
    },
  });
  hc.setInstances(backends);
  return { hc, changes };
}

describe("HealthChecker", () => {
  it("turns a failing instance unhealthy after exactly unhealthyThreshold failed probes", async () => {
    const ok = await backend("ok", (_req, res) => res.end("ok"));
    const sick = await backend("sick", (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const closing = await backend("closing", (req) => req.socket.destroy());
    const { hc, changes } = checker(fast, [ok, sick, closing]);
    assert.equal(hc.isHealthy("sick"), true, "healthy until proven otherwise");
    assert.equal(hc.isHealthy("never-seen"), true);
    await eventually("sick and closing unhealthy", () => changes.length === 2, 5000, 5);
    // Probes are sequential per instance, so the count at the flip is exact.
    assert.deepEqual([...changes].sort(), ["closing:down@3", "sick:down@3"]);
    await eventually("ok probed several times", () => ok.seen.length >= 6, 5000, 5);
    assert.equal(hc.isHealthy("ok"), true);
    assert.deepEqual(hc.unhealthy(), ["closing", "sick"]);
    assert.ok(ok.seen.every((p) => p === "/healthz"));
    hc.close();
  });

  it("reports each transition once via onChange, after the thresholds both ways", async () => {
    let status = 500;
    const flip = await backend("flip", (_req, res) => {
      res.statusCode = status;
      res.end();
    });
    const { hc, changes } = checker({ ...fast, unhealthyThreshold: 2, healthyThreshold: 3 }, [flip]);
    await eventually("down", () => changes.length === 1, 5000, 5);
    assert.deepEqual(changes, ["flip:down@2"]);
    const before = flip.seen.length;
    status = 302; // redirects count as good by default (200-399) and are not followed
    await eventually("up", () => changes.length === 2, 5000, 5);
    assert.equal(changes[1], `flip:up@${before + 3}`);
    hc.close();
  });

  it("fails probes that take longer than timeoutMs, and expectedStatus narrows what is good", async () => {
    const slow = await backend("slow", () => {});
    const redirect = await backend("redirect", (_req, res) => {
      res.writeHead(302, { location: "/elsewhere" });
      res.end();
    });
    // A backend that never answers fails on the timeout. On a loaded machine a timed-out probe may
    // not even have reached it, so its own count says nothing: only that it went down.
    const timed = checker({ path: "/healthz", intervalMs: 10, timeoutMs: 40, unhealthyThreshold: 2 }, [slow]);
    await eventually("slow down", () => timed.hc.unhealthy().length === 1, 5000, 5);
    assert.match(timed.changes.join(), /^slow:down@[0-2]$/);
    timed.hc.close();
    // A 302 answered in time is bad when expectedStatus is 200-299: down after exactly two probes it saw.
    const narrowed = checker({ path: "/healthz", intervalMs: 10, timeoutMs: 5000, unhealthyThreshold: 2, expectedStatus: [200, 299] }, [redirect]);
    await eventually("redirect down", () => narrowed.hc.unhealthy().length === 1, 5000, 5);
    assert.deepEqual(narrowed.changes, ["redirect:down@2"]);
    assert.ok(redirect.seen.every((p) => p === "/healthz"), "the redirect is not followed");
    narrowed.hc.close();
  });

  it("stops probing removed instances and forgets them; close() aborts probes in flight", async () => {
    const ok = await backend("ok", (_req, res) => res.end());
    const hang = await backend("hang", () => {});
    const aborted = new Promise<void>((resolve) => hang.server.once("request", (req: IncomingMessage) => req.once("close", () => resolve())));
    const { hc, changes } = checker({ ...fast, timeoutMs: 60_000 }, [ok, hang]);
    await eventually("ok probed", () => ok.seen.length >= 2, 5000, 5);
    hc.setInstances([hang]);
    const n = ok.seen.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(ok.seen.length <= n + 1, "at most the probe already in flight");
    assert.equal(hang.seen.length, 1, "one probe, still waiting");
    hc.close();
    await aborted; // the server sees the client give up
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(hang.seen.length, 1);
    assert.deepEqual(changes, []);
    hc.setInstances([ok]); // ignored after close
    assert.deepEqual(hc.unhealthy(), []);
  });

  it("starts over when an instance moves to another address", async () => {
    const urls: string[] = [];
    const fakeFetch: typeof fetch = async (input) => {
      urls.push(String(input));
      return new Response(null, { status: String(input).includes(":1/") ? 503 : 200 });
    };
    const hc = new HealthChecker({ ...fast, unhealthyThreshold: 1 }, { fetch: fakeFetch, logger: quiet });
    hc.setInstances([{ id: "x", host: "10.0.0.1", port: 1 }]);
    await eventually("x down", () => !hc.isHealthy("x"), 5000, 5);
    hc.setInstances([{ id: "x", host: "fd00::1", port: 2 }]);
    assert.equal(hc.isHealthy("x"), true, "new address, fresh state");
    await eventually("probed at the new address", () => urls.includes("http://[fd00::1]:2/healthz"), 5000, 5);
    assert.equal(hc.isHealthy("x"), true);
    hc.close();
  });

  it("builds probe URLs with IPv6 literals in brackets", () => {
    assert.equal(probeUrl("10.1.2.3", 8080, "/healthz"), "http://10.1.2.3:8080/healthz");
    assert.equal(probeUrl("::1", 8080, "/h?x=1"), "http://[::1]:8080/h?x=1");
    assert.equal(probeUrl("[::1]", 80, "ready"), "http://[::1]:80/ready");
    assert.equal(probeUrl("pod.example", 80, "/"), "http://pod.example:80/");
  });

  it("rejects bad config", () => {
    const bad: HealthCheckConfig[] = [
      { ...fast, intervalMs: 0 },
      { ...fast, timeoutMs: -1 },
      { ...fast, unhealthyThreshold: 0 },
      { ...fast, healthyThreshold: 1.5 },
      { ...fast, expectedStatus: [300, 200] },
      { ...fast, expectedStatus: [200, 600] },
      { ...fast, path: "healthz" },
      { ...fast, intervalMs: 2 ** 31 }, // setTimeout would fire it after 1 ms
    ];
    for (const c of bad) assert.throws(() => new HealthChecker(c), ConfigError, JSON.stringify(c));
    assert.throws(() => new HealthChecker({ ...fast, healthyThreshold: 0 }), { code: "PODREG_CONFIG", message: "invalid health check config: healthyThreshold: Too small: expected number to be >=1" });
  });
});
