/**
 * The Discovery contract on the real API server: no hidden side effects, no
 * loose ends. Reads start nothing; snapshots arrive before whenSynced()
 * resolves; close() settles waits; shared informers and writers are shared
 * only between users whose options agree, and released by the last one.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { informerCount } from "../../src/kube/shared.js";
import type { RegistryEvent } from "../../src/model/events.js";
import { subscribeBatches, type BatchEvent } from "../../src/registry/batch.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { createReadyPod } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

describe("the Discovery contract, kube-pods on a real API server", () => {
  let kc: KubeConfig;
  let kubeconfigPath: string;
  let ns: string;
  const clients: KubeClient[] = [];
  let provider: KubePodsRegistry;
  const newClient = () => {
    const c = new KubeClient(loadKubeConfig({ kubeconfig: kubeconfigPath }));
    clients.push(c);
    return c;
  };

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    kubeconfigPath = c.kubeconfigPath;
    ns = await testNamespace(kc, "contract");
    await createReadyPod(kc, { namespace: ns, name: "p1", podIP: "10.81.0.1" });
    await createReadyPod(kc, { namespace: ns, name: "p2", podIP: "10.81.0.2" });
    const client = newClient();
    provider = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name: "p1" }, handleSignals: false });
    await provider.register({ service: "echo", port: 8080 });
  });
  after(async () => {
    await provider.close();
    for (const c of clients) c.close();
  });

  it("instances() and services() read the cache and start nothing; subscribe starts discovery", async () => {
    const client = newClient();
    const r = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false });
    assert.deepEqual(r.instances("echo"), []);
    assert.deepEqual(r.services(), []);
    assert.equal(informerCount(client), 0, "a read opened no watch");
    r.subscribe("echo", () => {});
    assert.equal(informerCount(client), 2, "the namespace's pods and the Nodes (zones)");
    await r.whenSynced();
    assert.deepEqual(r.services(), [`${ns}/echo`]);
    await r.close();
    assert.equal(informerCount(client), 0, "released by its last user");
  });

  it("delivers the snapshot before whenSynced() resolves", async () => {
    const r = new KubePodsRegistry({ client: newClient(), namespaces: [ns], handleSignals: false });
    const events: RegistryEvent[] = [];
    r.subscribe("echo", (ev) => events.push(ev));
    await r.whenSynced();
    assert.equal(events[0]?.type, "snapshot", "the documented consumer example can close right after whenSynced()");
    assert.equal(events[0]?.type === "snapshot" && events[0].instances.length, 1);
    await r.close();
  });

  it("after close(), whenSynced() rejects with PODREG_CLOSED, also a wait that was pending", async () => {
    const r = new KubePodsRegistry({ client: newClient(), namespaces: [ns], handleSignals: false });
    const pending = r.whenSynced(); // the LIST takes a round trip: still pending when close() runs
    await r.close();
    await assert.rejects(pending, { code: "PODREG_CLOSED" });
    await assert.rejects(r.whenSynced(), { code: "PODREG_CLOSED" });
  });

  it("shares an informer only between users whose options agree", async () => {
    const client = newClient();
    const a = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false });
    const b = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false });
    const c = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, inactivityTimeoutMs: 60_000 });
    await Promise.all([a.whenSynced(), b.whenSynced()]);
    assert.equal(informerCount(client), 2, "same options: one pod watch (and one Nodes watch for every registry)");
    await c.whenSynced();
    assert.equal(informerCount(client), 3, "another inactivity timeout: a pod watch of its own, the same Nodes watch");
    await Promise.all([a.close(), b.close(), c.close()]);
    assert.equal(informerCount(client), 0);
  });

  it("a writer released by the last registry using it is not handed to the next one stopped", async () => {
    const client = newClient();
    const first = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name: "p2" }, handleSignals: false });
    await first.register({ service: "pooled", port: 81 });
    await first.close();
    const second = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name: "p2" }, handleSignals: false });
    await second.register({ service: "pooled", port: 82 });
    await second.whenSynced();
    await eventually("the second registration is advertised", () => second.instances("pooled").map((i) => i.port).join() === "82");
    await second.close();
  });

  it("batches a burst of changes into one batch per service, with the last revision", async () => {
    const client = newClient();
    for (let i = 0; i < 8; i++) await createReadyPod(kc, { namespace: ns, name: `burst-${i}`, podIP: `10.81.1.${i + 1}` });
    const consumer = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false });
    const out: BatchEvent[] = [];
    subscribeBatches(consumer, "*", (ev) => out.push(ev), { debounceMs: 300, maxDelayMs: 5000 });
    await consumer.whenSynced();
    const providers = Array.from({ length: 8 }, (_, i) => new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name: `burst-${i}` }, handleSignals: false }));
    await Promise.all(providers.map((p, i) => p.register({ service: i % 2 === 0 ? "even" : "odd", port: 9000 + i })));
    await eventually("both batches", () => out.filter((e) => e.type === "batch").length >= 2);
    const batches = out.filter((e): e is Extract<BatchEvent, { type: "batch" }> => e.type === "batch");
    const total = (svc: string) => batches.filter((b) => b.service === svc).reduce((n, b) => n + b.changes.length, 0);
    assert.equal(total(`${ns}/even`), 4);
    assert.equal(total(`${ns}/odd`), 4);
    assert.ok(batches.length <= 4, `8 changes in at most a few windows, not one event each: ${batches.length} batches`);
    for (const b of batches) assert.equal(b.revision, b.changes.at(-1)!.revision);
    await Promise.all([...providers, consumer].map((p) => p.close()));
  });
});
