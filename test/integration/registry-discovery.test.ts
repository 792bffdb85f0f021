import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import fc from "fast-check";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { informerCount } from "../../src/kube/shared.js";
import type { RegistryEvent } from "../../src/model/events.js";
import { createNativeCodec } from "../../src/registry/codecs/index.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import type { Logger } from "../../src/util/logger.js";
import { createPod, createReadyPod, mergePatch, setPodStatus } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const LABEL = { "podreg.io/label": "podreg.io-value" };
const ANNOTATION = "podreg.io/annotation";

function recordingLogger(): Logger & { warnings: object[] } {
  const warnings: object[] = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (obj) => warnings.push(obj) };
}

describe("kube-pods registry: discovery on a real API server", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let client: KubeClient;
  let ns: string;
  const registries: KubePodsRegistry[] = [];
  const open = (opts: ConstructorParameters<typeof KubePodsRegistry>[0]) => {
    const r = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, ...opts });
    registries.push(r);
    return r;
  };
  const hosts = (r: KubePodsRegistry, svc: string) =>
    r
      .instances(svc)
      .map((i) => `${i.host}:${i.port}`)
      .sort()
      .join(",");

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    core = kc.makeApiClient(CoreV1Api);
    client = new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfigPath }));
    ns = await testNamespace(kc, "discovery");
  });
  after(async () => {
    for (const r of registries) await r.close();
    client.close();
  });

  it("several pods register and a consumer sees snapshot then ordered deltas, with metadata", async () => {
    for (let i = 1; i <= 3; i++) await createReadyPod(kc, { namespace: ns, name: `echo-${i}`, podIP: `10.3.0.${i}`, labels: { app: "echo" } });
    const consumer = open({ pod: { namespace: ns, name: "echo-1" } });
    const events: RegistryEvent[] = [];
    consumer.subscribe("echo", (e) => events.push(e));
    await consumer.whenSynced();
    const handles = [];
    for (let i = 1; i <= 3; i++) {
      handles.push(await open({ pod: { namespace: ns, name: `echo-${i}` } }).register({ service: "echo", port: 8080, weight: 10 * i, metadata: { version: `v${i}` } }));
    }
    await eventually("3 instances", () => consumer.instances("echo").length === 3);
    assert.equal(hosts(consumer, "echo"), "10.3.0.1:8080,10.3.0.2:8080,10.3.0.3:8080");
    const two = consumer.instances("echo").find((i) => i.host === "10.3.0.2")!;
    assert.equal(two.weight, 20);
    assert.deepEqual(two.metadata, { version: "v2" });
    assert.equal(two.labels.app, "echo");
    assert.equal(two.node, "node-1");
    assert.equal(two.namespace, ns);
    assert.ok(two.startTime && two.startTime > 0);
    assert.equal(events[0]?.type, "snapshot");
    assert.deepEqual(
      events.slice(1).map((e) => e.type),
      ["added", "added", "added"],
    );

    await handles[1]!.update({ weight: 5, metadata: { version: "v2.1" } });
    await eventually("update delivered", () => events.some((e) => e.type === "updated"));
    const upd = events.find((e) => e.type === "updated");
    assert.ok(upd && upd.type === "updated");
    assert.equal(upd.instance.weight, 5);
    assert.equal(upd.previous.weight, 20);
    assert.equal(consumer.instances("echo").find((i) => i.host === "10.3.0.2")?.metadata.version, "v2.1");
  });

  it("removes instances of pods that are deleted, NotReady, terminating or Failed, and restores Ready ones", async () => {
    const consumer = open({ pod: { namespace: ns, name: "echo-1" } });
    await consumer.whenSynced();
    await eventually("3 instances", () => consumer.instances("echo").length === 3);

    await setPodStatus(kc, { namespace: ns, name: "echo-2", podIP: "10.3.0.2", ready: false });
    await eventually("NotReady removed", () => hosts(consumer, "echo") === "10.3.0.1:8080,10.3.0.3:8080");
    await setPodStatus(kc, { namespace: ns, name: "echo-2", podIP: "10.3.0.2", ready: true });
    await eventually("Ready again", () => consumer.instances("echo").length === 3);

    // Terminating: a finalizer holds the pod while deletionTimestamp is set.
    await core.patchNamespacedPod({ name: "echo-3", namespace: ns, body: { metadata: { finalizers: ["podreg.io/test"] } } }, mergePatch);
    await core.deleteNamespacedPod({ name: "echo-3", namespace: ns });
    await eventually("terminating removed", () => hosts(consumer, "echo") === "10.3.0.1:8080,10.3.0.2:8080");
    await core.patchNamespacedPod({ name: "echo-3", namespace: ns, body: { metadata: { finalizers: null } } }, mergePatch);

    await setPodStatus(kc, { namespace: ns, name: "echo-2", podIP: "10.3.0.2", phase: "Failed", ready: false });
    await eventually("Failed removed", () => hosts(consumer, "echo") === "10.3.0.1:8080");

    await core.deleteNamespacedPod({ name: "echo-1", namespace: ns, gracePeriodSeconds: 0 });
    await eventually("deleted removed", () => consumer.instances("echo").length === 0);
    assert.deepEqual(consumer.services(), []);
  });

  it("keeps not-ready pods when asked, marked ready: false", async () => {
    await createReadyPod(kc, { namespace: ns, name: "slow-1", podIP: "10.3.1.1" });
    await open({ pod: { namespace: ns, name: "slow-1" } }).register({ service: "slow", port: 9000 });
    await setPodStatus(kc, { namespace: ns, name: "slow-1", podIP: "10.3.1.1", ready: false });
    const all = open({ pod: { namespace: ns, name: "slow-1" }, includeNotReady: true });
    await all.whenSynced();
    await eventually("not-ready instance kept", () => all.instances("slow")[0]?.ready === false);
    const strict = open({ pod: { namespace: ns, name: "slow-1" } });
    await strict.whenSynced();
    assert.equal(strict.instances("slow").length, 0);
  });

  it("shares one watch per namespace among the registries of a process", async () => {
    assert.equal(informerCount(client), 2, "every registry above watches the same namespace through one informer (and the Nodes through another)");
    const other = await testNamespace(kc, "discovery-other");
    const r = open({ namespaces: [other] });
    await r.whenSynced();
    assert.equal(informerCount(client), 3);
    await r.close();
    assert.equal(informerCount(client), 2, "released when its last user closes");
  });

  it("registers concurrently in one process without losing any", async () => {
    await createReadyPod(kc, { namespace: ns, name: "multi", podIP: "10.3.2.1" });
    const reg = open({ pod: { namespace: ns, name: "multi" } });
    const handles = await Promise.all(Array.from({ length: 12 }, (_, i) => reg.register({ service: `svc-${i % 3}`, port: 7000 + i })));
    const consumer = open({});
    await consumer.whenSynced();
    await eventually("12 instances", () => ["svc-0", "svc-1", "svc-2"].reduce((n, s) => n + consumer.instances(s).length, 0) === 12);
    await Promise.all(handles.slice(0, 6).map((h) => h.close()));
    await eventually("6 left", () => ["svc-0", "svc-1", "svc-2"].reduce((n, s) => n + consumer.instances(s).length, 0) === 6);
    await Promise.all(handles.slice(6).map((h) => h.close()));
    const pod = await core.readNamespacedPod({ name: "multi", namespace: ns });
    assert.equal(pod.metadata?.annotations?.[ANNOTATION], undefined, "annotation removed with the last registration");
    assert.equal(pod.metadata?.labels?.["podreg.io/label"], undefined, "label removed with the last registration");
  });

  it("refuses a registration that would exceed the 256 KiB annotation limit, before any PATCH", async () => {
    await createReadyPod(kc, { namespace: ns, name: "fat", podIP: "10.3.3.1", annotations: { "example.com/blob": "x".repeat(250 * 1024) } });
    const reg = open({ pod: { namespace: ns, name: "fat" } });
    const before = await core.readNamespacedPod({ name: "fat", namespace: ns });
    await assert.rejects(reg.register({ service: "fat", port: 1, metadata: { big: "y".repeat(8 * 1024) } }), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, "PODREG_ANNOTATION_TOO_LARGE");
      assert.match(err.message ?? "", /262144/);
      return true;
    });
    const afterPod = await core.readNamespacedPod({ name: "fat", namespace: ns });
    assert.equal(afterPod.metadata?.resourceVersion, before.metadata?.resourceVersion, "no PATCH was sent");
    const ok = await reg.register({ service: "fat", port: 1, metadata: { small: "z" } });
    await ok.close();
  });

  it("skips malformed annotations (fuzzed) with one warning and a counter, leaving other pods' instances intact", async () => {
    const fns = await testNamespace(kc, "fuzz");
    await createReadyPod(kc, { namespace: fns, name: "good", podIP: "10.4.0.1" });
    const logger = recordingLogger();
    const codec = createNativeCodec({ maxBytes: 4096 });
    const goodReg = new KubePodsRegistry({ client, namespaces: [fns], pod: { namespace: fns, name: "good" }, handleSignals: false, codec, logger });
    registries.push(goodReg);
    await goodReg.register({ service: "good", port: 80 });
    await goodReg.whenSynced();
    await eventually("good instance", () => goodReg.instances("good").length === 1);

    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const bad = fc.oneof(
      fc.string({ minLength: 1, maxLength: 40 }).map((s) => `!${s}`), // not base64
      fc.string({ maxLength: 60 }).map((s) => b64(`{${s}`)), // not JSON
      fc.jsonValue().filter((v) => !Array.isArray(v)).map((v) => b64(JSON.stringify(v))), // not an array
      fc.array(fc.record({ k: fc.integer(), v: fc.string() }), { minLength: 1, maxLength: 3 }).map((a) => b64(JSON.stringify(a))), // k not a string
      fc.constant(b64(JSON.stringify([{ k: "/podreg/x/providers/http:80", v: JSON.stringify({ v: 2, service: "x", protocol: "http", port: 80 }) }]))), // unknown version
      fc.constant(b64(JSON.stringify([{ k: "/podreg/x/providers/http:80", v: "not json" }]))), // bad entry
      fc.constant(b64(JSON.stringify([{ k: "a", v: "b".repeat(5000) }]))), // over this codec's 4 KiB
    );
    const values = [...new Set(fc.sample(bad, { numRuns: 24, seed: 4242 }))];
    await Promise.all(
      values.map((value, i) => createReadyPod(kc, { namespace: fns, name: `bad-${i}`, podIP: `10.4.1.${i + 1}`, labels: LABEL, annotations: { [ANNOTATION]: value } })),
    );
    await eventually("every bad pod seen", () => goodReg.stats().malformed === values.length, 20_000);
    assert.deepEqual(
      goodReg.instances("good").map((i) => i.host),
      ["10.4.0.1"],
    );
    assert.deepEqual(goodReg.services(), [`${fns}/good`]);
    assert.equal(logger.warnings.length, values.length, "one warning per bad annotation");
    // Re-delivery of the same bad pod (a status change) warns no more.
    await setPodStatus(kc, { namespace: fns, name: "bad-0", podIP: "10.4.1.1", ready: true });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(logger.warnings.length, values.length);
    // A bad pod fixed later is picked up.
    const fixed = codec.encode(codec.apply([], { drop: new Set(), add: [{ service: "good", protocol: "http", host: "", port: 81, weight: 100, metadata: {}, registeredAt: 0 }] }));
    await core.patchNamespacedPod({ name: "bad-0", namespace: fns, body: { metadata: { annotations: { [ANNOTATION]: fixed } } } }, mergePatch);
    await eventually("fixed pod discovered", () => goodReg.instances("good").length === 2);
  });

  it("does not register into a pod whose annotation it cannot decode", async () => {
    await createPod(kc, { namespace: ns, name: "corrupt", annotations: { [ANNOTATION]: "%%%not-base64" } });
    await setPodStatus(kc, { namespace: ns, name: "corrupt", podIP: "10.3.4.1" });
    const reg = open({ pod: { namespace: ns, name: "corrupt" } });
    await assert.rejects(reg.register({ service: "x", port: 1 }), { code: "PODREG_ANNOTATION_CORRUPT" });
    const pod = await core.readNamespacedPod({ name: "corrupt", namespace: ns });
    assert.equal(pod.metadata?.annotations?.[ANNOTATION], "%%%not-base64", "left as it was");
  });
});
