import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import type { RegistrationHandle } from "../../src/registry/registry.js";
import { silentLogger } from "../../src/util/logger.js";
import { createNamespace, createReadyPod, loadKubeConfig, startControlPlane, type ControlPlane } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { startProxy, type Proxy } from "../support/proxy.js";
import { eventually } from "../support/wait.js";

/** The same credentials, pointed at the proxy. */
function viaProxy(kc: KubeConfig, proxy: Proxy): KubeClient {
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser()!;
  const k = new KubeConfig();
  k.loadFromOptions({
    clusters: [{ ...cluster, server: proxy.url }],
    users: [user],
    contexts: [{ name: "proxy", cluster: cluster.name, user: user.name }],
    currentContext: "proxy",
  });
  return new KubeClient(k);
}

function summary(r: KubePodsRegistry, svc: string): string {
  return r
    .instances(svc)
    .map((i) => `${i.host}:${i.port}:${i.metadata.v ?? ""}`)
    .sort()
    .join(",");
}

describe("kube-pods registry: broken and compacted watches", () => {
  describe("on the shared control plane", () => {
    let kc: KubeConfig;
    let ns: string;
    let proxy: Proxy;
    let direct: KubeClient;
    const closers: (() => Promise<void> | void)[] = [];

    before(async () => {
      kc = (await testCluster()).kc;
      ns = await testNamespace(kc, "resilience");
      const server = new URL(kc.getCurrentCluster()!.server);
      proxy = await startProxy({ host: server.hostname, port: Number(server.port) });
      direct = new KubeClient(kc);
      closers.push(() => proxy.close(), () => direct.close());
    });
    after(async () => {
      for (const c of closers.reverse()) await c();
    });

    const provider = async (name: string, ip: string, v: string) => {
      await createReadyPod(kc, { namespace: ns, name, podIP: ip });
      const r = new KubePodsRegistry({ client: direct, pod: { namespace: ns, name }, namespaces: [ns], handleSignals: false });
      closers.push(() => r.close());
      return r.register({ service: "svc", port: 80, metadata: { v } });
    };

    it("resumes a cut watch from its resourceVersion, without a relist, and misses nothing", async () => {
      await provider("a", "10.5.0.1", "1");
      await provider("b", "10.5.0.2", "1");
      const client = viaProxy(kc, proxy);
      const consumer = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, logger: silentLogger });
      closers.push(async () => {
        await consumer.close();
        client.close();
      });
      await consumer.whenSynced();
      await eventually("2 instances", () => consumer.instances("svc").length === 2);

      proxy.pause(); // cut every connection and refuse new ones
      await provider("c", "10.5.0.3", "1");
      await kc.makeApiClient(CoreV1Api).deleteNamespacedPod({ name: "a", namespace: ns, gracePeriodSeconds: 0 });
      await new Promise((r) => setTimeout(r, 1500)); // let the reflector fail and back off
      proxy.resume();

      await eventually("changes made while cut", () => summary(consumer, "svc") === "10.5.0.2:80:1,10.5.0.3:80:1");
      const stats = consumer.stats().watches[0]!;
      assert.equal(stats.lists, 1, "no relist");
      assert.equal(stats.relists, 0);
      assert.ok(stats.resumes >= 1, `resumed from its resourceVersion (resumes=${stats.resumes})`);
      assert.ok(stats.errors >= 1, "the cut was seen as an error");
    });

    it("drops a silent (frozen) connection after the inactivity timeout and resumes", async () => {
      const client = viaProxy(kc, proxy);
      const consumer = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, inactivityTimeoutMs: 1500, logger: silentLogger });
      closers.push(async () => {
        await consumer.close();
        client.close();
      });
      await consumer.whenSynced();
      // An event through the watch proves its connection is up before it is frozen.
      await provider("e", "10.5.0.5", "1");
      await eventually("watch live", () => consumer.instances("svc").some((i) => i.host === "10.5.0.5"));
      const before = consumer.stats().watches[0]!;
      const listsBefore = before.lists;
      const resumesBefore = before.resumes;
      proxy.freeze(); // the watch's TCP connection stays open but delivers nothing
      await provider("d", "10.5.0.4", "1");
      await eventually("event from after the freeze", () => consumer.instances("svc").some((i) => i.host === "10.5.0.4"), 15_000);
      const stats = consumer.stats().watches[0]!;
      assert.equal(stats.lists, listsBefore, "no relist");
      assert.ok(stats.resumes > resumesBefore, "resumed on a new connection");
      assert.ok(stats.errors >= 1, "the silence was detected as an error");
    });
  });

  describe("on a control plane without a pod watch cache (so etcd compaction reaches watchers as 410)", () => {
    let cp: ControlPlane;
    let kc: KubeConfig;
    let proxy: Proxy;
    let direct: KubeClient;
    const closers: (() => Promise<void> | void)[] = [];

    before(async () => {
      // With the watch cache, a resume is answered from the cache's window; without it, straight from etcd.
      cp = await startControlPlane({ apiserverArgs: ["--watch-cache-sizes=pods#0"], log: () => {} });
      kc = loadKubeConfig(cp.kubeconfigPath);
      const server = new URL(cp.server);
      proxy = await startProxy({ host: server.hostname, port: Number(server.port) });
      direct = new KubeClient(kc);
    });
    after(async () => {
      for (const c of closers.reverse()) await c();
      direct?.close();
      await proxy?.close();
      await cp?.stop();
    });

    it("relists after 410 Gone and ends equal to the truth: no lost, no phantom instances", async () => {
      const ns = "compaction";
      await createNamespace(kc, ns);
      const handles = new Map<string, RegistrationHandle>();
      const provider = async (name: string, ip: string, v: string) => {
        await createReadyPod(kc, { namespace: ns, name, podIP: ip });
        const r = new KubePodsRegistry({ client: direct, pod: { namespace: ns, name }, namespaces: [ns], handleSignals: false });
        closers.push(() => r.close());
        handles.set(name, await r.register({ service: "svc", port: 80, metadata: { v } }));
      };
      await provider("a", "10.6.0.1", "1");
      await provider("b", "10.6.0.2", "1");
      await provider("c", "10.6.0.3", "1");

      const client = viaProxy(kc, proxy);
      const consumer = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, logger: silentLogger });
      closers.push(async () => {
        await consumer.close();
        client.close();
      });
      await consumer.whenSynced();
      await eventually("3 instances", () => consumer.instances("svc").length === 3);

      proxy.pause();
      await kc.makeApiClient(CoreV1Api).deleteNamespacedPod({ name: "a", namespace: ns, gracePeriodSeconds: 0 }); // deleted
      await handles.get("b")!.close(); // deregistered
      await handles.get("c")!.update({ metadata: { v: "2" } }); // updated
      await provider("d", "10.6.0.4", "1"); // added
      const rev = await etcdRevision(cp.etcdUrl);
      await etcdCompact(cp.etcdUrl, rev);
      proxy.resume();

      await eventually("state after relist", () => summary(consumer, "svc") === "10.6.0.3:80:2,10.6.0.4:80:1", 20_000);
      const stats = consumer.stats().watches[0]!;
      assert.ok(stats.relists >= 1, `relisted after 410 (relists=${stats.relists})`);
      assert.equal(stats.lists, 2);

      const truth = new KubePodsRegistry({ client: direct, namespaces: [ns], handleSignals: false });
      closers.push(() => truth.close());
      await truth.whenSynced();
      const ids = (r: KubePodsRegistry) =>
        r
          .instances("svc")
          .map((i) => `${i.id}|${i.weight}|${JSON.stringify(i.metadata)}`)
          .sort();
      assert.deepEqual(ids(consumer), ids(truth));
    });
  });
});

async function etcdRevision(etcdUrl: string): Promise<string> {
  const res = await fetch(`${etcdUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: Buffer.from("/registry").toString("base64") }) });
  const body = (await res.json()) as { header?: { revision?: string } };
  assert.ok(body.header?.revision, "etcd reports its revision");
  return body.header.revision;
}

async function etcdCompact(etcdUrl: string, revision: string): Promise<void> {
  const res = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: "POST", body: JSON.stringify({ revision, physical: true }) });
  assert.equal(res.status, 200, `etcd compaction: ${await res.text()}`);
}
