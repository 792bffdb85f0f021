/**
 * Registrations you can trust, on the real API server: what a pod may
 * advertise (its template's declarations), self-healing entries, and
 * deregistration that retries within its deadline and says when it failed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { createNativeCodec } from "../../src/registry/codecs/index.js";
import { KubePodsRegistry, type KubePodsRegistryOptions } from "../../src/registry/kube-pods/registry.js";
import type { Logger } from "../../src/util/logger.js";
import { silentLogger } from "../../src/util/logger.js";
import { createReadyPod, mergePatch } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { startProxy, type Proxy } from "../support/proxy.js";
import { eventually } from "../support/wait.js";

const native = createNativeCodec();
const ANN = native.annotationKey;
const LABEL = native.labelKey;

function recordingLogger(): Logger & { warnings: { obj: object; msg?: string }[]; errors: object[] } {
  const warnings: { obj: object; msg?: string }[] = [];
  const errors: object[] = [];
  return { warnings, errors, debug() {}, info() {}, warn: (obj, msg) => warnings.push({ obj, msg }), error: (obj) => errors.push(obj) };
}

/** The same admin credentials, pointed at the proxy. */
function viaProxy(kc: KubeConfig, proxy: Proxy): KubeClient {
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser()!;
  const k = new KubeConfig();
  k.loadFromOptions({ clusters: [{ ...cluster, server: proxy.url }], users: [user], contexts: [{ name: "proxy", cluster: cluster.name, user: user.name }], currentContext: "proxy" });
  return new KubeClient(k);
}

describe("kube-pods registry: registrations you can trust", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let client: KubeClient;
  let proxy: Proxy;
  const closers: (() => Promise<void> | void)[] = [];
  const open = (opts: KubePodsRegistryOptions) => {
    const r = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, logger: silentLogger, ...opts });
    closers.push(() => r.close().catch(() => {}));
    return r;
  };
  const readPod = (name: string) => core.readNamespacedPod({ name, namespace: ns });
  const entriesOf = async (name: string) => {
    const v = (await readPod(name)).metadata?.annotations?.[ANN];
    return v === undefined ? [] : native.endpoints(native.decode(v));
  };
  /** What an attacker, or a tool, writes around podreg: the admin client stands in for a direct PATCH. */
  const writeEntries = (name: string, regs: { service: string; host?: string; port: number; weight?: number }[]) =>
    core.patchNamespacedPod(
      {
        name,
        namespace: ns,
        body: {
          metadata: {
            labels: { [LABEL]: native.labelValue },
            annotations: {
              [ANN]: native.encode(
                native.apply([], { drop: new Set(), add: regs.map((r) => ({ protocol: "http", weight: 100, metadata: {}, registeredAt: 0, host: "", ...r })) }),
              ),
            },
          },
        },
      },
      mergePatch,
    );

  before(async () => {
    kc = (await testCluster()).kc;
    core = kc.makeApiClient(CoreV1Api);
    ns = await testNamespace(kc, "trust");
    client = new KubeClient(kc);
    const server = new URL(kc.getCurrentCluster()!.server);
    proxy = await startProxy({ host: server.hostname, port: Number(server.port) });
    closers.push(() => client.close(), () => proxy.close());
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("a pod's declarations bound what it may advertise: register() refuses, and consumers drop what was written around podreg", async () => {
    const declared = { "podreg.io/services": "echo", "podreg.io/hosts": "203.0.113.7" };
    await createReadyPod(kc, { namespace: ns, name: "declared", podIP: "10.71.0.1", annotations: declared });
    await createReadyPod(kc, { namespace: ns, name: "undeclared", podIP: "10.71.0.2" });
    await createReadyPod(kc, { namespace: ns, name: "hijacked", podIP: "10.71.0.3", annotations: declared });

    const provider = open({ pod: { namespace: ns, name: "declared" } });
    await assert.rejects(provider.register({ service: "payments", port: 8080 }), (e: Error & { code?: string }) => e.code === "PODREG_REGISTRATION" && /payments is not among them/.test(e.message));
    await assert.rejects(provider.register({ service: "echo", port: 8082, host: "198.51.100.9" }), (e: Error & { code?: string }) => e.code === "PODREG_REGISTRATION" && /not an IP of pod/.test(e.message));
    await provider.register({ service: "echo", port: 8080 });
    await provider.register({ service: "echo", port: 8081, host: "203.0.113.7" });
    const other = open({ pod: { namespace: ns, name: "undeclared" }, allowAnyHost: true });
    await other.register({ service: "echo", port: 8080, host: "198.51.100.20" }); // allowed by the provider's own option...

    // ...and around podreg: a pod that declares only echo "advertises" payments, another a foreign host.
    await writeEntries("hijacked", [{ service: "payments", port: 443, weight: 1_000_000 }, { service: "echo", port: 8080 }]);

    const logger = recordingLogger();
    const consumer = open({ logger });
    await consumer.whenSynced();
    const view = () => consumer.instances("echo").map((i) => `${i.host}:${i.port}`).sort();
    await eventually("echo from the declared pods", () => view().length === 3);
    assert.deepEqual(view(), ["10.71.0.1:8080", "10.71.0.3:8080", "203.0.113.7:8081"], "the foreign host of the undeclared pod is dropped");
    assert.deepEqual(consumer.instances("payments"), [], "an undeclared service is dropped");
    assert.equal(consumer.stats().refused, 2);
    const reasons = logger.warnings.map((w) => (w.obj as { reason?: string }).reason ?? "");
    assert.ok(reasons.some((r) => /"payments" is not among the pod's podreg.io\/services/.test(r)), JSON.stringify(reasons));
    assert.ok(reasons.some((r) => /198\.51\.100\.20/.test(r)), JSON.stringify(reasons));

    const strict = open({ requireDeclaredServices: true });
    await strict.whenSynced();
    await eventually("strict view", () => strict.instances("echo").length === 3);
    assert.ok(strict.instances("echo").every((i) => !i.id.includes("/undeclared/")));
    const lax = open({ verifyHosts: false });
    await lax.whenSynced();
    await eventually("host checks off: the foreign host is kept", () => lax.instances("echo").some((i) => i.host === "198.51.100.20"));
  });

  it("restores its entry and label when someone else removes or changes them, counted, and stops once closed", async () => {
    await createReadyPod(kc, { namespace: ns, name: "healer", podIP: "10.71.1.1" });
    const logger = recordingLogger();
    const reg = open({ pod: { namespace: ns, name: "healer" }, logger });
    const handle = await reg.register({ service: "heal", port: 8080, weight: 30 });

    await core.patchNamespacedPod({ name: "healer", namespace: ns, body: { metadata: { labels: { [LABEL]: null }, annotations: { [ANN]: null } } } }, mergePatch);
    await eventually("entry and label restored", async () => (await readPod("healer")).metadata?.labels?.[LABEL] === native.labelValue && (await entriesOf("healer")).length === 1, 20_000);
    assert.equal((await entriesOf("healer"))[0]?.weight, 30);
    assert.ok(reg.stats().restored >= 1);
    assert.ok(logger.warnings.some((w) => /restored this process's registration/.test(w.msg ?? "")));
    // Settled first: a restoring write still in flight would otherwise undo the next tampering uncounted.
    let settled = -1;
    await eventually("restoration settled", async () => {
      const now = reg.stats().restored;
      await new Promise((r) => setTimeout(r, 500));
      const same = now === reg.stats().restored && now === settled;
      settled = now;
      return same;
    }, 20_000);
    const first = reg.stats().restored;

    await writeEntries("healer", [{ service: "heal", port: 8080, weight: 1_000_000 }]);
    await eventually("weight restored", async () => (await entriesOf("healer"))[0]?.weight === 30, 20_000);
    await eventually("counted", () => reg.stats().restored > first, 10_000);
    const restored = reg.stats().restored;

    await handle.close();
    assert.deepEqual(await entriesOf("healer"), []);
    await writeEntries("healer", [{ service: "heal", port: 8080 }]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await entriesOf("healer")).length, 1, "a closed registration no longer fights what others write");
    assert.equal(reg.stats().restored, restored);
  });

  it("deregistration retries within its deadline, and rejects with PODREG_DEREGISTRATION when the API server stays away", async () => {
    await createReadyPod(kc, { namespace: ns, name: "down", podIP: "10.71.2.1" });
    const viaP = viaProxy(kc, proxy);
    closers.push(() => viaP.close());
    const reg = new KubePodsRegistry({ client: viaP, pod: { namespace: ns, name: "down" }, namespaces: [ns], handleSignals: false, logger: silentLogger, deregisterTimeoutMs: 2000, selfHeal: false });
    await reg.register({ service: "down", port: 8080 });
    proxy.pause();
    const t0 = Date.now();
    try {
      await assert.rejects(reg.close(), (e: Error & { code?: string; cause?: { code?: string } }) => {
        assert.equal(e.code, "PODREG_DEREGISTRATION", e.message);
        assert.equal(e.cause?.code, "PODREG_KUBE_UNREACHABLE");
        const attempts = Number(/(\d+) attempts/.exec(e.message)?.[1]);
        assert.ok(attempts >= 3, `retried: ${e.message}`);
        assert.match(e.message, /down http:8080 may still be registered in pod/);
        return true;
      });
      const took = Date.now() - t0;
      assert.ok(took >= 1800 && took < 4000, `used its 2 s budget: ${took} ms`);
      assert.equal(await reg.close().catch((e: { code?: string }) => e.code), "PODREG_DEREGISTRATION", "a second close gives the same answer");
    } finally {
      proxy.resume();
    }
    assert.equal((await entriesOf("down")).length, 1, "the entry is still there, as the error said");
  });

  it("deregistration completes when the API server comes back within the deadline", async () => {
    await createReadyPod(kc, { namespace: ns, name: "blip", podIP: "10.71.2.2" });
    const viaP = viaProxy(kc, proxy);
    closers.push(() => viaP.close());
    const blip = new KubePodsRegistry({ client: viaP, pod: { namespace: ns, name: "blip" }, namespaces: [ns], handleSignals: false, logger: silentLogger, deregisterTimeoutMs: 5000, selfHeal: false });
    await blip.register({ service: "blip", port: 8080 });
    proxy.pause();
    const closing = blip.close();
    await new Promise((r) => setTimeout(r, 800));
    proxy.resume();
    await closing;
    assert.deepEqual(await entriesOf("blip"), []);
  });

  it("deregistration against a stalled API server gives up each request in time and reports after its deadline", async () => {
    await createReadyPod(kc, { namespace: ns, name: "stall", podIP: "10.71.2.3" });
    const viaP = viaProxy(kc, proxy);
    closers.push(() => viaP.close());
    const stall = new KubePodsRegistry({ client: viaP, pod: { namespace: ns, name: "stall" }, namespaces: [ns], handleSignals: false, logger: silentLogger, deregisterTimeoutMs: 3000, selfHeal: false });
    await stall.register({ service: "stall", port: 8080 });
    proxy.stall();
    const t0 = Date.now();
    try {
      await assert.rejects(stall.close(), (e: Error & { code?: string; cause?: Error }) => e.code === "PODREG_DEREGISTRATION" && /no answer in 2500ms/.test(e.cause?.message ?? ""));
      const took = Date.now() - t0;
      assert.ok(took >= 2900 && took < 4500, `bounded by its 3 s deadline: ${took} ms`);
    } finally {
      proxy.resume();
    }
    assert.equal((await entriesOf("stall")).length, 1);
  });

  it("deregistration fails at once, with the reason, when a neighbour corrupted the annotation", async () => {
    await createReadyPod(kc, { namespace: ns, name: "corrupt", podIP: "10.71.3.1" });
    const reg = new KubePodsRegistry({ client, pod: { namespace: ns, name: "corrupt" }, namespaces: [ns], handleSignals: false, logger: silentLogger, selfHeal: false });
    await reg.register({ service: "c", port: 8080 });
    await core.patchNamespacedPod({ name: "corrupt", namespace: ns, body: { metadata: { annotations: { [ANN]: "%%% not base64" } } } }, mergePatch);
    const t0 = Date.now();
    await assert.rejects(reg.close(), (e: Error & { code?: string; cause?: { code?: string } }) => e.code === "PODREG_DEREGISTRATION" && e.cause?.code === "PODREG_ANNOTATION_CORRUPT");
    assert.ok(Date.now() - t0 < 2000, "no retries: retrying can't fix it");
    assert.equal((await readPod("corrupt")).metadata?.annotations?.[ANN], "%%% not base64", "never overwritten");
  });

  it("a request's timeout bounds the whole exchange on the wall clock", async () => {
    const viaP = viaProxy(kc, proxy);
    closers.push(() => viaP.close());
    proxy.stall();
    const t0 = Date.now();
    try {
      await assert.rejects(viaP.request({ path: `/api/v1/namespaces/${ns}`, timeoutMs: 1000 }), (e: Error & { code?: string }) => e.code === "PODREG_KUBE_UNREACHABLE" && /no answer in 1000ms/.test(e.message));
    } finally {
      proxy.resume();
    }
    const took = Date.now() - t0;
    assert.ok(took >= 950 && took < 1800, `fired after ${took} ms`);
  });

  it("status events: failing when the watch loses the API server, recovered when it answers again", async () => {
    const viaP = viaProxy(kc, proxy);
    closers.push(() => viaP.close());
    const reg = new KubePodsRegistry({ client: viaP, namespaces: [ns], handleSignals: false, logger: silentLogger });
    closers.push(() => reg.close());
    const seen: string[] = [];
    reg.onStatus((e) => seen.push(e.type === "failing" ? `failing ${e.error.code}` : e.type));
    await reg.whenSynced();
    await eventually("synced event", () => seen.includes("synced"));
    proxy.pause();
    await eventually("failing event", () => seen.some((s) => s.startsWith("failing")));
    proxy.resume();
    await eventually("recovered event", () => seen.includes("recovered"), 20_000);
    assert.deepEqual(seen, ["synced", "failing PODREG_KUBE_UNREACHABLE", "recovered"]);
  });
});
