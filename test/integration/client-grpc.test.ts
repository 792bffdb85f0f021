import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, afterEach, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { podregTracing, registerPodregGrpc } from "../../src/client/grpc.js";
import type { Instance } from "../../src/model/instance.js";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { ManualClock } from "../support/clock.js";
import { eventually } from "../support/wait.js";

/** Retries `check` (assertions) until it passes. */
const until = (what: string, check: () => Promise<void>) =>
  eventually(what, async () => {
    await check();
    return true;
  });

const proto = grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url)))) as unknown as {
  podreg: { test: { Echo: grpc.ServiceClientConstructor } };
};
const Echo = proto.podreg.test.Echo;

interface Backend {
  name: string;
  port: number;
  hits: number;
  /** Answer UNAVAILABLE instead of OK. */
  failing: boolean;
  server: grpc.Server;
}

async function backend(name: string): Promise<Backend> {
  const b: Backend = { name, port: 0, hits: 0, failing: false, server: new grpc.Server() };
  b.server.addService(Echo.service, {
    Echo: (call: grpc.ServerUnaryCall<{ message: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      b.hits++;
      if (b.failing) cb({ code: grpc.status.UNAVAILABLE, details: `${name} is failing` });
      else cb(null, { server: name, message: call.request.message });
    },
  });
  b.port = await new Promise<number>((resolve, reject) => b.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  return b;
}

function inst(service: string, b: Backend, metadata: Record<string, string> = {}, weight = 100): Instance {
  return { id: `t:${b.name}`, key: service, service, host: "127.0.0.1", port: b.port, protocol: "grpc", weight, metadata, labels: {}, ready: true, source: "test" };
}

type EchoClient = grpc.Client & { Echo(req: { message: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { server: string }) => void): void };

function call(client: EchoClient, md = new grpc.Metadata()): Promise<{ server?: string; code: number }> {
  return new Promise((resolve) =>
    client.Echo({ message: "hi" }, md, { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? { code: err.code } : { server: res?.server, code: 0 })),
  );
}

describe("gRPC through the registry (real @grpc/grpc-js servers, podreg:/// resolver and policy)", () => {
  const backends: Backend[] = [];
  const clients: grpc.Client[] = [];
  let exporter: InMemorySpanExporter;
  let provider: BasicTracerProvider;
  const get = (name: string) => backends.find((b) => b.name === name)!;

  before(async () => {
    for (const n of ["a", "b", "c", "v2"]) backends.push(await backend(n));
    exporter = new InMemorySpanExporter();
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const b of backends) b.server.forceShutdown();
    trace.disable();
    await provider.shutdown();
  });
  afterEach(() => {
    for (const b of backends) {
      b.hits = 0;
      b.failing = false;
    }
    exporter.reset();
  });

  const client = (service: string) => {
    const c = new Echo(`podreg:///${service}`, grpc.credentials.createInsecure(), { interceptors: [podregTracing()] }) as unknown as EchoClient;
    clients.push(c);
    return c;
  };

  it("resolves podreg:///echo and balances round robin across the instances, tracing each call", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("a")), inst("echo", get("b")), inst("echo", get("c"))]);
    const binding = registerPodregGrpc({ discovery: reg });
    try {
      const c = client("echo");
      // Subchannels connect one by one; once all three are READY, rotation is exact.
      await until("all three subchannels ready", async () => {
        const r = await call(c);
        assert.equal(r.code, 0);
        for (const b of backends) b.hits = 0;
        const seen = new Set<string | undefined>();
        for (let i = 0; i < 3; i++) seen.add((await call(c)).server);
        assert.equal(seen.size, 3);
      });
      for (const b of backends) b.hits = 0;
      exporter.reset();
      for (let i = 0; i < 30; i++) assert.equal((await call(c)).code, 0);
      assert.deepEqual(["a", "b", "c"].map((n) => get(n).hits), [10, 10, 10]);
      const spans = exporter.getFinishedSpans();
      assert.equal(spans.length, 30);
      const span = spans.at(-1)!;
      assert.equal(span.attributes["podreg.policy"], "round_robin");
      assert.equal(span.attributes["podreg.route"], "default");
      assert.match(String(span.attributes["podreg.instance.id"]), /^t:[abc]$/);
      assert.equal(span.attributes["server.address"], "127.0.0.1");
      const served = spans.map((s) => String(s.attributes["podreg.instance.id"]).slice(2));
      assert.deepEqual(["a", "b", "c"].map((n) => served.filter((s) => s === n).length), [10, 10, 10], "spans name the instances that served");
    } finally {
      binding.close();
    }
  });

  it("ejects an instance answering UNAVAILABLE, keeps serving, and takes it back after the ejection time", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("a")), inst("echo", get("b")), inst("echo", get("c"))]);
    // The ejection's clock is the test's: 30 calls on a loaded machine can take longer than the ejection itself.
    const clock = new ManualClock();
    const binding = registerPodregGrpc({ discovery: reg, clock, config: { defaults: { outlier: { consecutiveFailures: 3, baseEjectionMs: 600 } } } });
    try {
      const c = client("echo");
      await until("all three subchannels ready", async () => {
        const seen = new Set<string | undefined>();
        for (let i = 0; i < 3; i++) seen.add((await call(c)).server);
        assert.equal(seen.size, 3);
      });
      for (const b of backends) b.hits = 0;
      get("c").failing = true;
      const codes: number[] = [];
      for (let i = 0; i < 30; i++) codes.push((await call(c)).code);
      assert.equal(get("c").hits, 3, "ejected after 3 consecutive failures");
      assert.equal(codes.filter((x) => x === grpc.status.UNAVAILABLE).length, 3);
      assert.equal(get("a").hits + get("b").hits, 27);
      get("c").failing = false;
      clock.advance(700);
      for (let i = 0; i < 9; i++) assert.equal((await call(c)).code, 0);
      assert.ok(get("c").hits >= 3 + 2, `back in rotation (c served ${get("c").hits - 3} of 9)`);
    } finally {
      binding.close();
    }
  });

  it("follows the registry: a removed instance gets no more calls, an added one gets its share", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("a")), inst("echo", get("b"))]);
    const binding = registerPodregGrpc({ discovery: reg });
    try {
      const c = client("echo");
      await until("a first call", async () => assert.equal((await call(c)).code, 0));
      reg.set("g", [inst("echo", get("b"))]);
      for (const b of backends) b.hits = 0;
      for (let i = 0; i < 10; i++) assert.equal((await call(c)).server, "b");
      assert.equal(get("a").hits, 0);
      reg.set("g", [inst("echo", get("b")), inst("echo", get("c"))]);
      await until("c in rotation", async () => assert.equal((await call(c)).server, "c"));
    } finally {
      binding.close();
    }
  });

  it("routes by the x-podreg-tag metadata key and splits weighted traffic by the configured policy", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("a"), {}, 300), inst("echo", get("b"), {}, 100), inst("echo", get("v2"), { tag: "v2" }, 100)]);
    const binding = registerPodregGrpc({ discovery: reg, config: { services: { echo: { balancer: { policy: "weighted_round_robin" }, routing: { tag: {} } } } } });
    try {
      const c = client("echo");
      const tagged = new grpc.Metadata();
      tagged.set("x-podreg-tag", "v2");
      await until("the tagged instance", async () => assert.equal((await call(c, tagged)).server, "v2"));
      await until("a and b ready", async () => {
        const seen = new Set<string | undefined>();
        for (let i = 0; i < 4; i++) seen.add((await call(c)).server);
        assert.deepEqual([...seen].sort(), ["a", "b"]);
      });
      for (const b of backends) b.hits = 0;
      for (let i = 0; i < 40; i++) await call(c);
      assert.deepEqual([get("a").hits, get("b").hits, get("v2").hits], [30, 10, 0], "3:1 exactly, untagged traffic avoids the tagged instance");
      for (let i = 0; i < 5; i++) assert.equal((await call(c, tagged)).server, "v2");
      const span = exporter.getFinishedSpans().at(-1)!;
      assert.equal(span.attributes["podreg.route"], "tag:v2");
      assert.equal(span.attributes["podreg.policy"], "weighted_round_robin");
    } finally {
      binding.close();
    }
  });

  it("skips an instance whose server is down (connection refused) without failing calls", async () => {
    const dead = await backend("dead");
    dead.server.forceShutdown();
    const reg = new MemoryRegistry();
    reg.set("g", [inst("echo", get("a")), inst("echo", dead)]);
    const binding = registerPodregGrpc({ discovery: reg });
    try {
      const c = client("echo");
      for (let i = 0; i < 10; i++) assert.deepEqual(await call(c), { server: "a", code: 0 });
    } finally {
      binding.close();
    }
  });
});
