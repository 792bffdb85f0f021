/**
 * The whole chain on a real API server: processes register in their Pods,
 * a consumer's KubePodsRegistry watches them, and its fetch balances and
 * routes real HTTP calls to loopback servers standing in for the pods
 * (pod IPs 127.0.0.x, each served by a server bound to that address).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { registerPodregGrpc } from "../../src/client/grpc.js";
import { createFetch, PodregDispatcher } from "../../src/client/http.js";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { createReadyPod, setPodStatus } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

describe("HTTP client over the kube-pods registry (real API server, real HTTP servers)", () => {
  let kc: KubeConfig;
  let client: KubeClient;
  let ns: string;
  let port = 0;
  const servers: Server[] = [];
  const hits = new Map<string, number>();
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    client = new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfigPath }));
    ns = await testNamespace(kc, "client");
    // One port on three loopback addresses, as three pods would listen on one containerPort.
    for (const ip of ["127.0.0.2", "127.0.0.3", "127.0.0.4"]) {
      const s = createServer((req, res) => {
        hits.set(ip, (hits.get(ip) ?? 0) + 1);
        res.end(ip);
      });
      await new Promise<void>((r) => s.listen(port, ip, r));
      port = (s.address() as AddressInfo).port;
      servers.push(s);
    }
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    client.close();
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  it("registers three pods, splits 80/20 between versions on real calls, and follows readiness and deregistration", async (t) => {
    const handles = [];
    for (const [k, ip] of ["127.0.0.2", "127.0.0.3", "127.0.0.4"].entries()) {
      const name = `web-${k}`;
      await createReadyPod(kc, { namespace: ns, name, podIP: ip, labels: { app: "web" } });
      const r = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name }, handleSignals: false });
      closers.push(() => r.close());
      handles.push(await r.register({ service: "web", port, metadata: { version: k === 2 ? "v2" : "v1" } }));
    }
    const consumer = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false });
    closers.push(() => consumer.close());
    await consumer.whenSynced();
    const dispatcher = new PodregDispatcher({
      discovery: consumer,
      config: { services: { web: { routing: { rules: [{ name: "canary", split: [{ subset: "version=v1", weight: 80 }, { subset: "version=v2", weight: 20 }] }] } } } },
    });
    closers.push(() => dispatcher.close());
    const fetch = createFetch(dispatcher);
    await eventually("three instances", () => consumer.instances("web").length === 3);

    const N = 500;
    hits.clear();
    for (let i = 0; i < N; i++) assert.equal((await fetch("http://web/")).status, 200);
    const v2 = hits.get("127.0.0.4") ?? 0;
    t.diagnostic(`v2 served ${v2} of ${N} calls (expected 100)`);
    // Binomial(500, 0.2): sd 8.9; 4 sd either side.
    assert.ok(v2 > 64 && v2 < 136, `v2 served ${v2} of ${N}`);
    const [a, b] = [hits.get("127.0.0.2") ?? 0, hits.get("127.0.0.3") ?? 0];
    assert.ok(Math.abs(a - b) <= 1, `v1 round robin: ${a} vs ${b}`);

    // web-0 turns NotReady: it leaves discovery (the default), no new calls go to it.
    await setPodStatus(kc, { namespace: ns, name: "web-0", podIP: "127.0.0.2", ready: false });
    await eventually("web-0 not ready", () => !consumer.instances("web").some((i) => i.host === "127.0.0.2"));
    hits.clear();
    for (let i = 0; i < 50; i++) await fetch("http://web/");
    assert.equal(hits.get("127.0.0.2") ?? 0, 0);

    // web-1 deregisters: no v1 instance is left, so the rule's v1 share goes to what is (v2).
    await handles[1]!.close();
    await eventually("web-1 gone", () => consumer.instances("web").length === 1);
    hits.clear();
    for (let i = 0; i < 50; i++) assert.equal(await (await fetch("http://web/")).text(), "127.0.0.4", "only v2 is left to serve");
  });

  it("a pod whose IP is ::1 registers HTTP and gRPC; a consumer reaches both through the balancer", async () => {
    // Both servers on the IPv6 loopback, as an IPv6-only pod would listen.
    const http6 = createServer((req, res) => res.end(`v6 ${req.headers.host}`));
    await new Promise<void>((r) => http6.listen(0, "::1", r));
    servers.push(http6);
    const Echo = (grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url)))) as unknown as { podreg: { test: { Echo: grpc.ServiceClientConstructor } } }).podreg.test.Echo;
    const grpc6 = new grpc.Server();
    grpc6.addService(Echo.service, { Echo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { server: "six" }) });
    const grpcPort = await new Promise<number>((resolve, reject) => grpc6.bindAsync("[::1]:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    closers.push(async () => void grpc6.forceShutdown());

    await createReadyPod(kc, { namespace: ns, name: "six", podIP: "::1" });
    const provider = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name: "six" }, handleSignals: false });
    closers.push(() => provider.close());
    // No host given: the pod's own IP, ::1, stored without brackets.
    await provider.register({ service: "six", port: (http6.address() as AddressInfo).port });
    await provider.register({ service: "six", port: grpcPort, protocol: "grpc" });

    const consumer = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false });
    closers.push(() => consumer.close());
    await consumer.whenSynced(); // reads start nothing: discovery starts here
    await eventually("both instances", () => consumer.instances("six").length === 2);
    assert.deepEqual(consumer.instances("six").map((i) => i.host), ["::1", "::1"]);

    const dispatcher = new PodregDispatcher({ discovery: consumer });
    closers.push(() => dispatcher.close());
    assert.equal(await (await createFetch(dispatcher)("http://six/")).text(), "v6 six");

    const binding = registerPodregGrpc({ discovery: consumer, authority: "kube-six" });
    closers.push(async () => binding.close());
    const c = new Echo(binding.target("six"), grpc.credentials.createInsecure()) as unknown as grpc.Client & { Echo(req: { message: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { server: string }) => void): void };
    closers.push(async () => c.close());
    const res = await new Promise<{ server: string }>((resolve, reject) => c.Echo({ message: "hi" }, { deadline: Date.now() + 10_000 }, (err, r) => (err ? reject(err) : resolve(r!))));
    assert.equal(res.server, "six");
  });
});
