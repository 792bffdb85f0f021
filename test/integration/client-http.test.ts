import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, describe, it } from "node:test";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { request } from "undici";
import { createFetch, PodregDispatcher } from "../../src/client/http.js";
import type { Instance } from "../../src/model/instance.js";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { eventually } from "../support/wait.js";

interface Backend {
  name: string;
  port: number;
  hits: number;
  hosts: string[];
  bodies: string[];
  /** What to answer; default 200 with the name. */
  behaviour: "ok" | "fail" | "hang" | "slow" | "unhealthy";
  server: Server;
}

async function backend(name: string): Promise<Backend> {
  const b = { name, port: 0, hits: 0, hosts: [] as string[], bodies: [] as string[], behaviour: "ok" as Backend["behaviour"], server: undefined as unknown as Server };
  b.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== "/healthz") b.hits++;
    b.hosts.push(req.headers.host ?? "");
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      if (req.url === "/healthz") {
        res.statusCode = b.behaviour === "unhealthy" ? 503 : 200;
        res.end();
        return;
      }
      b.bodies.push(body);
      if (b.behaviour === "hang") return;
      if (b.behaviour === "slow") {
        setTimeout(() => res.end(name), 100);
        return;
      }
      res.statusCode = b.behaviour === "fail" ? 500 : 200;
      res.end(b.behaviour === "fail" ? "boom" : name);
    });
  });
  await new Promise<void>((r) => b.server.listen(0, "127.0.0.1", r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

function inst(service: string, b: { name: string; port: number }, metadata: Record<string, string> = {}): Instance {
  return { id: `t:${b.name}`, key: service, service, host: "127.0.0.1", port: b.port, protocol: "http", weight: 100, metadata, labels: {}, ready: true, source: "test" };
}

describe("HTTP client through the registry (real loopback servers)", () => {
  const backends: Backend[] = [];
  const dispatchers: PodregDispatcher[] = [];
  let exporter: InMemorySpanExporter;
  let provider: BasicTracerProvider;

  before(async () => {
    for (const n of ["a", "b", "c", "v2", "gray"]) backends.push(await backend(n));
    exporter = new InMemorySpanExporter();
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
  });
  after(async () => {
    for (const d of dispatchers) await d.close();
    for (const b of backends) b.server.closeAllConnections();
    for (const b of backends) await new Promise((r) => b.server.close(r));
    trace.disable();
    await provider.shutdown();
  });
  afterEach(() => {
    for (const b of backends) {
      b.hits = 0;
      b.hosts = [];
      b.bodies = [];
      b.behaviour = "ok";
    }
    exporter.reset();
  });
  const get = (name: string) => backends.find((b) => b.name === name)!;
  const client = (registry: MemoryRegistry, config: ConstructorParameters<typeof PodregDispatcher>[0]["config"] = {}) => {
    const d = new PodregDispatcher({ discovery: registry, config });
    dispatchers.push(d);
    return { d, fetch: createFetch(d) };
  };

  it("resolves http://echo through the registry, round robin, keeping Host: echo", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("a")), inst("echo", get("b")), inst("echo", get("c"))]);
    const { fetch } = client(reg);
    const seen: string[] = [];
    for (let i = 0; i < 30; i++) seen.push(await (await fetch("http://echo/hello")).text());
    assert.deepEqual(["a", "b", "c"].map((n) => seen.filter((s) => s === n).length), [10, 10, 10]);
    assert.ok(get("a").hosts.every((h) => h === "echo"));
    const span = exporter.getFinishedSpans().at(-1)!;
    assert.equal(span.attributes["podreg.service"], "echo");
    assert.equal(span.attributes["podreg.policy"], "round_robin");
    assert.equal(span.attributes["podreg.route"], "default");
    assert.match(String(span.attributes["podreg.instance.id"]), /^t:[abc]$/);
    assert.equal(span.attributes["server.address"], "127.0.0.1");
    assert.equal(exporter.getFinishedSpans().length, 30);
  });

  it("ejects a failing instance, keeps serving from the others, and takes it back after the ejection time", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("a")), inst("echo", get("b")), inst("echo", get("c"))]);
    get("c").behaviour = "fail";
    const { d, fetch } = client(reg, {
      defaults: { retries: { attempts: 0 }, outlier: { consecutiveFailures: 3, baseEjectionMs: 400, maxEjectionPercent: 50 } },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await fetch("http://echo/")).status);
    assert.equal(get("c").hits, 3, "ejected after 3 consecutive failures");
    assert.equal(statuses.filter((s) => s === 500).length, 3);
    assert.deepEqual(d.balancer("echo").usable().map((i) => i.id).sort(), ["t:a", "t:b"]);
    get("c").behaviour = "ok";
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(d.balancer("echo").usable().length, 3, "returned after the ejection time");
    for (let i = 0; i < 9; i++) assert.equal((await fetch("http://echo/")).status, 200);
    assert.ok(get("c").hits >= 3 + 2, "serves traffic again");
  });

  it("retries an idempotent request on another instance after a 5xx or a refused connection", async () => {
    const reg = new MemoryRegistry();
    const closed = await backend("closed");
    await new Promise((r) => closed.server.close(r)); // its port now refuses connections
    reg.set("g", [inst("echo", get("a")), inst("echo", get("b")), inst("echo", closed)]);
    get("a").behaviour = "fail";
    const { fetch } = client(reg, { defaults: { retries: { attempts: 2, on: ["connect-error", "reset", "5xx"] } } });
    for (let i = 0; i < 12; i++) {
      const res = await fetch("http://echo/");
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "b");
    }
    const span = exporter.getFinishedSpans().find((s) => Number(s.attributes["podreg.attempt"]) > 1);
    assert.ok(span, "a retried call records its attempt count");
    assert.equal(span.attributes["podreg.instance.id"], "t:b", "the span names the instance that served it");
    // A POST is not retried after a 5xx (it may have had an effect) ...
    reg.set("g", [inst("echo", get("a"))]);
    assert.equal((await fetch("http://echo/", { method: "POST", body: "x" })).status, 500);
    assert.equal(get("a").hits > 0, true);
    // ... but is after a refused connection (it never left).
    reg.set("g", [inst("echo", closed), inst("echo", get("b"))]);
    get("b").bodies = [];
    for (let i = 0; i < 4; i++) assert.equal(await (await fetch("http://echo/", { method: "POST", body: `x${i}` })).text(), "b");
    assert.deepEqual(get("b").bodies, ["x0", "x1", "x2", "x3"], "the retried POST's body arrives whole");
  });

  it("splits canary traffic by weight on real calls (90% v1 / 10% v2)", async (t) => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("shop", get("a"), { version: "v1" }), inst("shop", get("b"), { version: "v1" }), inst("shop", get("v2"), { version: "v2" })]);
    const { fetch } = client(reg, {
      services: { shop: { routing: { rules: [{ name: "canary", split: [{ subset: "version=v1", weight: 90 }, { subset: "version=v2", weight: 10 }] }] } } },
    });
    const N = 1000;
    let v2 = 0;
    for (let i = 0; i < N; i++) if ((await (await fetch("http://shop/")).text()) === "v2") v2++;
    // Binomial(1000, 0.1): sd 9.5 calls; allow 4 sd.
    t.diagnostic(`v2 served ${v2} of ${N} calls (expected 100)`);
    assert.ok(v2 > 62 && v2 < 138, `v2 got ${v2} of ${N}`);
    assert.equal(get("a").hits + get("b").hits + v2, N);
    const routes = new Set(exporter.getFinishedSpans().map((s) => s.attributes["podreg.route"]));
    assert.ok([...routes].every((r) => String(r).startsWith("rule:canary")), `routes: ${[...routes].join(",")}`);
  });

  it("routes by request tag to tagged instances, untagged traffic avoids them", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("api", get("a")), inst("api", get("gray"), { tag: "gray" })]);
    const { fetch } = client(reg, { services: { api: { routing: { tag: {} } } } });
    for (let i = 0; i < 6; i++) assert.equal(await (await fetch("http://api/", { headers: { "x-podreg-tag": "gray" } })).text(), "gray");
    for (let i = 0; i < 6; i++) assert.equal(await (await fetch("http://api/")).text(), "a");
  });

  it("times out a hanging instance and reports no instance when there is none", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("slow", get("a"))]);
    get("a").behaviour = "hang";
    const { fetch } = client(reg, { defaults: { timeoutMs: 300, retries: { attempts: 0 } } });
    const t0 = Date.now();
    await assert.rejects(fetch("http://slow/"), (err: Error) => /timeout/i.test(String((err.cause as Error | undefined)?.message ?? err.message)));
    assert.ok(Date.now() - t0 < 3000, "gave up at the timeout");
    await assert.rejects(fetch("http://nothing/"), { code: "PODREG_NO_INSTANCE" });
  });

  it("active health check: an instance whose /healthz fails gets no calls, and gets them again once it passes", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("hc", get("a")), inst("hc", get("b"))]);
    get("b").behaviour = "unhealthy";
    const { d, fetch } = client(reg, { defaults: { healthCheck: { path: "/healthz", intervalMs: 50, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 2 } } });
    await fetch("http://hc/"); // creates the balancer, which starts probing
    await eventually("b marked unhealthy", () => d.balancer("hc").usable().length === 1);
    get("a").hits = get("b").hits = 0;
    for (let i = 0; i < 10; i++) assert.equal(await (await fetch("http://hc/")).text(), "a");
    assert.equal(get("b").hits, 0);
    get("b").behaviour = "ok";
    await eventually("b healthy again", () => d.balancer("hc").usable().length === 2);
    for (let i = 0; i < 10; i++) await fetch("http://hc/");
    assert.equal(get("b").hits, 5, "round robin again");
  });

  it("least_request steers concurrent calls away from a slow instance", async (t) => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("lr", get("a")), inst("lr", get("b")), inst("lr", get("c"))]);
    get("c").behaviour = "slow"; // 100 ms per call; a and b answer at once
    const { fetch } = client(reg, { defaults: { balancer: { policy: "least_request" } } });
    // 8 workers, 200 calls: c holds calls in flight, so power-of-two choices mostly avoid it.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next++ < 200) await (await fetch("http://lr/")).text();
      }),
    );
    const [a, b, c] = ["a", "b", "c"].map((n) => get(n).hits);
    t.diagnostic(`least_request: a ${a}, b ${b}, slow c ${c} of 200`);
    assert.equal(a! + b! + c!, 200);
    assert.ok(c! < 200 / 3 / 2, `the slow instance got ${c} (round robin would give it ~67)`);
  });

  it("rejects an invalid configuration given in code when the dispatcher is made, naming the field", () => {
    const reg = new MemoryRegistry();
    assert.throws(
      () => new PodregDispatcher({ discovery: reg, config: { services: { echo: { balancer: { policy: "fastest" as "random" } } } } }),
      (err: Error & { code?: string }) => err.code === "PODREG_CONFIG" && /services\.echo\.balancer\.policy/.test(err.message),
    );
  });

  it("serves undici's request API and passes other hosts through", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("b"))]);
    const { d } = client(reg);
    const res = await request("http://echo/x", { dispatcher: d });
    assert.equal(await res.body.text(), "b");
    const direct = await request(`http://127.0.0.1:${get("c").port}/`, { dispatcher: d });
    assert.equal(await direct.body.text(), "c", "an IP address is not a service");
  });
});
