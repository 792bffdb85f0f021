/**
 * The HTTP client's contract with real loopback servers (IPv4 and IPv6):
 * undici's lifecycle, only HTTP-family instances, an unknown service failing
 * at once with its code where users look, IPv6 instances reached through the
 * balancer.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { createFetch, PodregDispatcher } from "../../src/client/http.js";
import type { RegistryListener, ServiceSelector } from "../../src/model/events.js";
import { MemoryRegistry } from "../../src/registry/memory.js";

async function listen(host: string, handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe("HTTP client contract (real loopback servers)", () => {
  const servers: Server[] = [];
  const dispatchers: PodregDispatcher[] = [];
  after(async () => {
    for (const d of dispatchers) await d.destroy();
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
  const serve = async (host: string, handler: Parameters<typeof createServer>[1]) => {
    const s = await listen(host, handler);
    servers.push(s.server);
    return s.port;
  };
  const dispatcher = (reg: MemoryRegistry, config: ConstructorParameters<typeof PodregDispatcher>[0]["config"] = {}) => {
    const d = new PodregDispatcher({ discovery: reg, config });
    dispatchers.push(d);
    return d;
  };

  it("sends calls only to HTTP instances when a service also has gRPC ones", async () => {
    let http = 0;
    let grpc = 0;
    const httpPort = await serve("127.0.0.1", (_q, s) => s.end(String(++http)));
    const grpcPort = await serve("127.0.0.1", (_q, s) => s.end(String(++grpc)));
    const reg = new MemoryRegistry();
    await reg.register({ service: "echo", port: httpPort, protocol: "http" });
    await reg.register({ service: "echo", port: grpcPort, protocol: "grpc" });
    const fetch = createFetch(dispatcher(reg));
    for (let i = 0; i < 24; i++) assert.equal((await fetch("http://echo/")).status, 200);
    assert.equal(http, 24);
    assert.equal(grpc, 0, "none to the gRPC port");
  });

  it("fails at once after sync for a service with no HTTP instance, with PODREG_NO_INSTANCE where users look", async () => {
    const reg = new MemoryRegistry();
    await reg.register({ service: "rpc-only", port: 9090, protocol: "grpc" });
    const fetch = createFetch(dispatcher(reg, { defaults: { timeoutMs: 10_000 } }));
    for (const svc of ["nosuch", "rpc-only"]) {
      const t0 = performance.now();
      const err = await fetch(`http://${svc}/`).then(
        () => assert.fail("should fail"),
        (e: unknown) => e as Error & { code?: string; protocol?: string; service?: string },
      );
      const ms = performance.now() - t0;
      console.log(`${svc}: failed in ${ms.toFixed(1)} ms (timeout 10000 ms)`);
      assert.ok(ms < 1000, `not after the timeout: ${ms} ms`);
      assert.equal(err.code, "PODREG_NO_INSTANCE");
      assert.equal(err.service, svc);
      assert.match(err.message, new RegExp(`^no instance of ${svc} \\(http\\|https\\)`));
      assert.ok(!(err instanceof TypeError), "the podreg error itself, not fetch's TypeError around it");
    }
  });

  it("reaches an instance registered on ::1 through the balancer (IPv6 bracketed once, in the URL only)", async (t) => {
    let port: number;
    try {
      port = await serve("::1", (q, s) => s.end(`v6 ${q.headers.host}`));
    } catch (err) {
      // No IPv6 loopback is a property of the machine, not of podreg: say so loudly.
      t.diagnostic(`no ::1 here: ${(err as Error).message}`);
      throw err;
    }
    const reg = new MemoryRegistry();
    await reg.register({ service: "six", port, host: "[::1]" });
    assert.equal(reg.instances("six")[0]!.host, "::1", "stored without brackets");
    const res = await createFetch(dispatcher(reg))("http://six/");
    assert.equal(await res.text(), "v6 six");
  });

  it("after close() or destroy(), dispatch fails with PODREG_CLOSED / PODREG_DESTROYED and creates nothing", async () => {
    const subscribed: string[] = [];
    const reg = new MemoryRegistry();
    const spy = Object.assign(Object.create(reg) as MemoryRegistry, {
      subscribe: (s: ServiceSelector, l: RegistryListener) => {
        subscribed.push(s);
        return reg.subscribe(s, l);
      },
    });
    for (const [end, code] of [
      ["close", "PODREG_CLOSED"],
      ["destroy", "PODREG_DESTROYED"],
    ] as const) {
      const d = dispatcher(spy);
      const first = d[end]();
      assert.equal(d[end](), first, "idempotent: the same promise");
      await first;
      await assert.rejects(request("http://echo/", { dispatcher: d }), { code });
      await assert.rejects(createFetch(d)("http://echo/"), { code });
    }
    assert.deepEqual(subscribed, [], "no balancer, no subscription");
  });

  it("close() waits for calls in flight; destroy() aborts them", async () => {
    const release: (() => void)[] = [];
    const port = await serve("127.0.0.1", (_q, s) => release.push(() => s.end("late")));
    const reg = new MemoryRegistry();
    await reg.register({ service: "slow", port });
    const d1 = dispatcher(reg);
    const call = request("http://slow/", { dispatcher: d1 }).then((r) => r.body.text());
    while (release.length === 0) await new Promise((r) => setTimeout(r, 5));
    let closed = false;
    const closing = d1.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, false, "close() waits for the call in flight");
    release.shift()!();
    assert.equal(await call, "late");
    await closing;

    const d2 = dispatcher(reg);
    const doomed = request("http://slow/", { dispatcher: d2 }).then((r) => r.body.text());
    while (release.length === 0) await new Promise((r) => setTimeout(r, 5));
    await d2.destroy();
    await assert.rejects(doomed);
    release.shift()!();
  });
});
