/**
 * podreg's xDS server with three real clients no one here wrote, on a
 * registry fed by the real control plane (kube-pods: pods registered through
 * their annotations): @grpc/grpc-js-xds, gRPC-Go's xDS client and Envoy.
 * Each follows a registration and a removal; a bad resource is NACKed,
 * counted, shown in /v1/xds/clients, not resent, and the previous config
 * keeps serving.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import type { KubeConfig } from "@kubernetes/client-node";
import { request } from "undici";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import type { RegistrationHandle } from "../../src/registry/registry.js";
import { startServer, type PodregServer } from "../../src/server/server.js";
import { TYPE } from "../../src/server/xds/protos.js";
import { startXdsServer, type XdsServer } from "../../src/server/xds/server.js";
import type { StreamStatus } from "../../src/server/xds/stream.js";
import { createReadyPod } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";
import { envoyBootstrap, freePort, grpcBootstrap, startEnvoy, startGoXdsClient } from "../support/xds.js";

const Echo = (grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url)))) as unknown as { podreg: { test: { Echo: grpc.ServiceClientConstructor } } }).podreg.test.Echo;
type EchoClient = grpc.Client & { Echo(req: { message: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { server: string }) => void): void };

describe("xDS: real grpc-js-xds, gRPC-Go and Envoy clients on a registry fed by the control plane", () => {
  let kc: KubeConfig;
  let client: KubeClient;
  let ns: string;
  let consumer: KubePodsRegistry;
  let xds: XdsServer;
  let rest: PodregServer;
  let tmp: string;
  /** Set by the NACK test: gRPC clients' listeners lose their API listener. */
  let breakListeners = false;
  const closers: (() => Promise<unknown> | unknown)[] = [];
  const grpcServers = new Map<string, { port: number; ip: string }>();
  const httpServers = new Map<string, { port: number; ip: string }>();
  const handles = new Map<string, RegistrationHandle>();

  /** A pod (its own loopback IP) that registers `service` at `port` through its annotation. */
  async function registerPod(name: string, ip: string, service: string, port: number, protocol: string): Promise<RegistrationHandle> {
    await createReadyPod(kc, { namespace: ns, name, podIP: ip });
    const r = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name }, handleSignals: false });
    closers.push(() => r.close());
    const h = await r.register({ service, port, protocol });
    handles.set(name, h);
    return h;
  }

  async function grpcBackend(name: string, ip: string): Promise<void> {
    const s = new grpc.Server();
    s.addService(Echo.service, { Echo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { server: name }) });
    const port = await new Promise<number>((resolve, reject) => s.bindAsync(`${ip}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    closers.push(() => s.forceShutdown());
    grpcServers.set(name, { port, ip });
  }

  async function httpBackend(name: string, ip: string): Promise<void> {
    const s: HttpServer = createServer((_q, res) => res.end(name));
    await new Promise<void>((r) => s.listen(0, ip, r));
    closers.push(() => new Promise((r) => s.close(r)));
    httpServers.set(name, { port: (s.address() as AddressInfo).port, ip });
  }

  const clientsOf = (kind: string): StreamStatus[] => xds.clients().filter((c) => c.kind === kind);

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    client = new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfigPath }));
    closers.push(() => client.close());
    ns = await testNamespace(kc, "xds");
    tmp = mkdtempSync(join(tmpdir(), "podreg-xds-"));
    closers.push(() => rmSync(tmp, { recursive: true, force: true }));
    for (const [n, ip] of [["a", "127.0.0.21"], ["b", "127.0.0.22"]] as const) await grpcBackend(n, ip);
    for (const [n, ip] of [["h1", "127.0.0.31"], ["h2", "127.0.0.32"], ["s1", "127.0.0.33"], ["s2", "127.0.0.34"]] as const) await httpBackend(n, ip);
    for (const n of ["h1", "h2"]) await registerPod(`web-${n}`, httpServers.get(n)!.ip, "web", httpServers.get(n)!.port, "http");
    for (const n of ["s1", "s2"]) await registerPod(`sticky-${n}`, httpServers.get(n)!.ip, "sticky", httpServers.get(n)!.port, "http");
    await registerPod("echo-a", "127.0.0.21", "echo", grpcServers.get("a")!.port, "grpc");

    consumer = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false });
    closers.push(() => consumer.close());
    await consumer.whenSynced();
    await eventually("registrations seen", () => consumer.instances("*").length === 5);
    xds = await startXdsServer({
      discovery: consumer,
      // The configured policy Envoy must follow: ring hash on a header for `sticky`.
      config: { services: { sticky: { balancer: { policy: "ring_hash" }, hashKey: { header: "x-user" } } } },
      patch: (ctx, r) => (breakListeners && ctx.type === TYPE.listener && ctx.kind === "grpc" ? { name: r.name } : r),
    });
    closers.push(() => xds.close());
    rest = await startServer({ discovery: consumer, stats: { xds } });
    closers.push(() => rest.close());
    // grpc-js-xds reads its bootstrap once per process, at the first xds: channel.
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = grpcBootstrap(xds.address, "grpc-js-test");
    (await import("@grpc/grpc-js-xds")).register();
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("grpc-js-xds and gRPC-Go on xds:///echo reach the registered servers and follow one added and one removed", async (t) => {
    const js = new Echo("xds:///echo", grpc.credentials.createInsecure()) as unknown as EchoClient;
    closers.push(() => js.close());
    const callJs = () => new Promise<string>((resolve) => js.Echo({ message: "x" }, { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? `error ${err.code}` : res!.server)));
    const go = await startGoXdsClient({ target: "xds:///echo", bootstrap: grpcBootstrap(xds.address, "grpc-go-test") });
    closers.push(() => go.stop());
    const recentGo = (since: number) => new Set(go.calls.filter((c) => c.at >= since).map((c) => (c.ok ? c.server : c.error)));

    await eventually("grpc-js reaches a", async () => (await callJs()) === "a", 20_000);
    await eventually("gRPC-Go reaches a", () => go.calls.some((c) => c.ok && c.server === "a"), 20_000);
    const kinds = xds.clients().map((c) => `${c.kind} ${c.node?.userAgent}`).sort();
    assert.deepEqual(kinds, ["grpc gRPC Go", "grpc gRPC Node Pure JS"]);

    const t0 = Date.now();
    const handle = await registerPod("echo-b", "127.0.0.22", "echo", grpcServers.get("b")!.port, "grpc");
    const registered = Date.now();
    let jsSawB = 0;
    await eventually("grpc-js reaches b", async () => (await callJs()) === "b" && (jsSawB = Date.now()) > 0, 20_000);
    await eventually("gRPC-Go reaches b", () => go.calls.some((c) => c.ok && c.server === "b" && c.at >= t0), 20_000);
    const goSawB = go.calls.find((c) => c.ok && c.server === "b" && c.at >= t0)!.at;
    t.diagnostic(`added: annotation written in ${registered - t0} ms; grpc-js-xds reached it ${jsSawB - registered} ms later, gRPC-Go ${goSawB - registered} ms later`);
    const both = new Set<string>();
    for (let i = 0; i < 20; i++) both.add(await callJs());
    assert.deepEqual([...both].sort(), ["a", "b"], "grpc-js round robin over both");
    const since = Date.now();
    await eventually("gRPC-Go spreads over both", () => recentGo(since).size === 2 && recentGo(since).has("a") && recentGo(since).has("b"), 10_000);

    const r0 = Date.now();
    await handle.close();
    await eventually("grpc-js leaves b", async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) seen.add(await callJs());
      return seen.size === 1 && seen.has("a");
    }, 20_000);
    const jsLeft = Date.now();
    await eventually("gRPC-Go leaves b", () => {
      const calls = go.calls.filter((c) => c.at >= jsLeft);
      return calls.length >= 20 && calls.every((c) => c.ok && c.server === "a");
    }, 20_000);
    t.diagnostic(`removed: grpc-js-xds stopped calling it within ${jsLeft - r0} ms of the deregistration`);
    assert.equal(go.calls.filter((c) => !c.ok && c.at >= t0).length, 0, `gRPC-Go saw no failed call while instances came and went: ${go.stderr()}`);
  });

  it("Envoy routes by host to the registered HTTP servers, spread by the configured policy, and follows a removal", async () => {
    const listenerPort = await freePort();
    const envoy = await startEnvoy({ bootstrap: envoyBootstrap({ xdsPort: xds.port, nodeId: "envoy-test", listenerPort, adminPort: 0 }), dir: tmp, id: listenerPort });
    closers.push(() => envoy.stop());
    const get = async (host: string, headers: Record<string, string> = {}) => {
      try {
        const r = await request(`http://127.0.0.1:${listenerPort}/`, { headers: { host, ...headers } });
        return `${r.statusCode} ${await r.body.text()}`;
      } catch (err) {
        return `error ${(err as Error).message}`;
      }
    };
    await eventually("Envoy serves web", async () => (await get("web")).startsWith("200"), 30_000);
    assert.equal(clientsOf("envoy").length, 1);
    const counts = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await get(i % 2 ? "web" : `web.${ns}.svc.cluster.local:8080`);
      counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), ["200 h1", "200 h2"], `round robin over both: ${JSON.stringify([...counts])}; log: ${envoy.log()}`);
    assert.ok(Math.abs((counts.get("200 h1") ?? 0) - (counts.get("200 h2") ?? 0)) <= 2, `round robin with equal weights: even (${JSON.stringify([...counts])})`);
    assert.equal(await get("nope"), "404 ", "an unknown host has no route");

    // ring_hash on x-user: one user always lands on one server; many users spread over both.
    const byUser = new Map<string, Set<string>>();
    for (let u = 0; u < 16; u++) for (let k = 0; k < 3; k++) {
      const r = await get("sticky", { "x-user": `user-${u}` });
      if (!byUser.has(r)) byUser.set(r, new Set());
      byUser.get(r)!.add(`user-${u}`);
    }
    const homes = [...byUser.values()].flatMap((s) => [...s]);
    assert.equal(homes.length, 16, `each user on exactly one server: ${JSON.stringify([...byUser].map(([k, v]) => [k, [...v]]))}`);
    assert.deepEqual([...byUser.keys()].sort(), ["200 s1", "200 s2"], "users spread over both");

    // Removal: h2's pod deregisters.
    await handles.get("web-h2")!.close();
    await eventually("Envoy leaves h2", async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) seen.add(await get("web"));
      return seen.size === 1 && seen.has("200 h1");
    }, 20_000);
  });

  it("a bad resource is NACKed: counted, shown in /v1/xds/clients and metrics, not resent, and the previous config keeps serving", async () => {
    const js = new Echo("xds:///echo", grpc.credentials.createInsecure()) as unknown as EchoClient;
    closers.push(() => js.close());
    const callJs = () => new Promise<string>((resolve) => js.Echo({ message: "x" }, { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? `error ${err.code}` : res!.server)));
    await eventually("serving", async () => (await callJs()) === "a", 20_000);
    const before = xds.stats.nacks.lds;
    breakListeners = true;
    // A change anywhere makes a push; the patched listener (no api_listener) goes out with it.
    const t = await registerPod("other-1", "127.0.0.41", "other", 9999, "grpc");
    closers.push(() => t.close().catch(() => {}));
    await eventually("NACKed by the gRPC clients", () => xds.stats.nacks.lds > before, 20_000);
    const status = (await (await request(`${rest.url}/v1/xds/clients`)).body.json()) as { clients: StreamStatus[]; stats: { nacks: { lds: number } } };
    await eventually("both gRPC clients NACKed", () => clientsOf("grpc").every((c) => c.types.lds?.nacked), 10_000);
    const nacked = Object.fromEntries(status.clients.filter((c) => c.types.lds?.nacked).map((c) => [c.node!.userAgent, c.types.lds!]));
    // Each client's own words, kept as it sent them.
    assert.match(nacked["gRPC Node Pure JS"]?.nacked?.error ?? "", /api_listener/i, JSON.stringify(status.clients));
    assert.match(xds.clients().find((c) => c.node?.userAgent === "gRPC Go")!.types.lds!.nacked!.error, /no address field in LDS response/);
    for (const c of clientsOf("grpc")) assert.notEqual(c.types.lds!.acked!.version, c.types.lds!.nacked!.version, "the client keeps its last accepted version");
    const metrics = await (await request(`${rest.url}/metrics`)).body.text();
    assert.match(metrics, new RegExp(`podreg_xds_nacks_total\\{type="lds"\\} ${status.stats.nacks.lds}`));
    // The previous config still serves, and the refused version is not pushed again.
    const count = xds.stats.nacks.lds;
    for (let i = 0; i < 10; i++) assert.equal(await callJs(), "a");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(xds.stats.nacks.lds, count, "no resend loop: the NACK count stays");
    // Fixed: the next change carries a good listener, and it is ACKed.
    breakListeners = false;
    await t.close();
    await eventually("ACKed again", () => clientsOf("grpc").every((c) => c.types.lds?.acked?.version === c.types.lds?.sent?.version), 20_000);
    assert.equal(await callJs(), "a");
  });

  it("Envoy over delta xDS (DELTA_GRPC) routes to the registered servers and follows an addition and a removal", async () => {
    for (const [n, ip] of [["d1", "127.0.0.51"], ["d2", "127.0.0.52"]] as const) await httpBackend(n, ip);
    const d1 = await registerPod("delta-d1", "127.0.0.51", "delta-web", httpServers.get("d1")!.port, "http");
    const listenerPort = await freePort();
    const envoy = await startEnvoy({ bootstrap: envoyBootstrap({ xdsPort: xds.port, nodeId: "envoy-delta", listenerPort, adminPort: 0, api: "DELTA_GRPC" }), dir: tmp, id: listenerPort });
    closers.push(() => envoy.stop());
    const get = async () => {
      try {
        const r = await request(`http://127.0.0.1:${listenerPort}/`, { headers: { host: "delta-web" } });
        return `${r.statusCode} ${await r.body.text()}`;
      } catch (err) {
        return `error ${(err as Error).message}`;
      }
    };
    const seen = async (n = 12) => {
      const out = new Set<string>();
      for (let i = 0; i < n; i++) out.add(await get());
      return [...out].sort().join(", ");
    };
    await eventually("Envoy (delta) serves delta-web", async () => (await get()) === "200 d1", 30_000);
    const status = () => xds.clients().find((c) => c.node?.id === "envoy-delta");
    await eventually("every type ACKed", () => ["cds", "eds", "lds", "rds"].every((t) => status()?.types[t as "cds"]?.acked !== undefined), 10_000);
    assert.equal(status()!.types.cds!.subscribed, "*", `wildcard CDS: ${JSON.stringify(status())}`);
    await registerPod("delta-d2", "127.0.0.52", "delta-web", httpServers.get("d2")!.port, "http");
    await eventually("the addition reached Envoy", async () => (await seen()) === "200 d1, 200 d2", 20_000);
    await d1.close();
    await eventually("the removal reached Envoy", async () => (await seen()) === "200 d2", 20_000);
    assert.equal(status()!.types.eds!.nacked, undefined, `no NACK: ${envoy.log().slice(-2000)}`);
  });
});
