import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { Informer } from "../../src/kube/informer.js";
import { podKey, slimPodTransform, type SlimPod } from "../../src/kube/pods.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { silentLogger } from "../../src/util/logger.js";
import { createPod, createReadyPod } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

describe("informer on a real API server", () => {
  let kc: KubeConfig;
  let client: KubeClient;
  before(async () => {
    kc = (await testCluster()).kc;
    client = new KubeClient(kc);
  });
  after(() => client.close());

  it("pages a LIST with limit/continue and keeps slim objects only", async () => {
    const ns = await testNamespace(kc, "paging");
    for (let i = 0; i < 7; i++) {
      await createPod(kc, { namespace: ns, name: `p${i}`, labels: { sel: "yes" }, annotations: { keep: `k${i}`, drop: "x".repeat(100) } });
    }
    await createPod(kc, { namespace: ns, name: "other", labels: { sel: "no" } });
    const seen: string[] = [];
    const inf = new Informer<SlimPod>({ client, path: `/api/v1/namespaces/${ns}/pods`, labelSelector: "sel=yes", pageSize: 3, transform: slimPodTransform(["keep"]), key: podKey });
    inf.addHandler({ onAdd: (p) => seen.push(p.name) });
    inf.start();
    try {
      await inf.whenSynced();
      assert.equal(inf.stats.pages, 3, "7 objects at 3 a page");
      assert.equal(inf.stats.lists, 1);
      assert.deepEqual(seen.sort(), ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
      const p3 = inf.store.get(`${ns}/p3`)!;
      assert.deepEqual(p3.annotations, { keep: "k3" }, "only the named annotations are kept");
      assert.equal((p3 as unknown as { spec?: unknown }).spec, undefined, "no spec kept");
      assert.equal(p3.nodeName, "node-1");
      // A handler added after sync is told of what is cached.
      const late: string[] = [];
      inf.addHandler({ onAdd: (p) => late.push(p.name) });
      assert.equal(late.length, 7);
    } finally {
      await inf.stop();
    }
  });

  it("discovers in every namespace with namespaces: 'all'; the same name in two namespaces is two services unless scope is global", async () => {
    const a = await testNamespace(kc, "all-a");
    const b = await testNamespace(kc, "all-b");
    await createReadyPod(kc, { namespace: a, name: "x", podIP: "10.8.0.1" });
    await createReadyPod(kc, { namespace: b, name: "y", podIP: "10.8.0.2" });
    const regs = [
      new KubePodsRegistry({ client, pod: { namespace: a, name: "x" }, namespaces: [a], handleSignals: false }),
      new KubePodsRegistry({ client, pod: { namespace: b, name: "y" }, namespaces: [b], handleSignals: false }),
    ];
    const svc = `everywhere-${a}`;
    for (const r of regs) await r.register({ service: svc, port: 80 });
    // Other tests' deliberately malformed pods are in view too: their warnings are not this test's subject.
    const all = new KubePodsRegistry({ client, namespaces: "all", handleSignals: false, logger: silentLogger });
    const merged = new KubePodsRegistry({ client, namespaces: "all", scope: "global", handleSignals: false, logger: silentLogger });
    const onlyA = new KubePodsRegistry({ client, namespaces: [a], handleSignals: false });
    try {
      await all.whenSynced();
      await merged.whenSynced();
      await onlyA.whenSynced();
      await eventually("both namespaces", () => all.instances(`${a}/${svc}`).length === 1 && all.instances(`${b}/${svc}`).length === 1);
      assert.deepEqual(all.instances(`${svc}.${b}.svc`).map((i) => i.namespace), [b], "Kubernetes DNS's form names the namespace");
      assert.ok(all.services().includes(`${a}/${svc}`) && all.services().includes(`${b}/${svc}`), "two services, never merged");
      await eventually("merged on purpose", () => merged.instances(svc).length === 2);
      assert.deepEqual(merged.instances(svc).map((i) => i.namespace).sort(), [a, b].sort());
      assert.deepEqual(merged.instances(svc).map((i) => i.key), [svc, svc]);
      assert.deepEqual(onlyA.instances(svc).map((i) => i.namespace), [a], "a bare name is the only namespace watched");
    } finally {
      for (const r of [all, merged, onlyA, ...regs]) await r.close();
    }
  });
});
