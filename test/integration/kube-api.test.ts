import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, DiscoveryV1Api, RbacAuthorizationV1Api, VersionApi, Watch, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { createPod, createReadyPod, loadKubeConfig, mergePatch, requestToken, setPodStatus, writeTokenKubeconfig } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";

const LABEL = "podreg.io/label";

describe("the test control plane (real kube-apiserver)", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  const tmp = mkdtempSync(join(tmpdir(), "podreg-kube-api-"));

  before(async () => {
    kc = (await testCluster()).kc;
    core = kc.makeApiClient(CoreV1Api);
    ns = await testNamespace(kc, "kube-api");
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("reports kube-apiserver v1.34.x", async (t) => {
    const info = await kc.makeApiClient(VersionApi).getCode();
    console.log(`# kube-apiserver ${info.gitVersion} (${info.platform}, ${info.goVersion})`);
    t.diagnostic(`kube-apiserver ${info.gitVersion}`);
    assert.match(info.gitVersion, /^v1\.34\.\d+$/);
    assert.equal(info.major, "1");
    assert.equal(info.minor, "34");
  });

  it("lists and watches pods by label selector and sees a merge-patched annotation as MODIFIED", async () => {
    await createPod(kc, { namespace: ns, name: "labelled", labels: { [LABEL]: "podreg.io-value" } });
    await createPod(kc, { namespace: ns, name: "unlabelled" });

    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL}=podreg.io-value` });
    assert.deepEqual(
      list.items.map((p) => p.metadata?.name),
      ["labelled"],
    );
    const rv = list.metadata?.resourceVersion;
    assert.ok(rv, "LIST returns a resourceVersion to watch from");

    const events: { type: string; pod: V1Pod }[] = [];
    let sawModified!: () => void;
    const modified = new Promise<void>((r) => (sawModified = r));
    const watch = new Watch(kc);
    const req = await watch.watch(
      `/api/v1/namespaces/${ns}/pods`,
      { labelSelector: `${LABEL}=podreg.io-value`, resourceVersion: rv, allowWatchBookmarks: true },
      (type, obj: V1Pod) => {
        events.push({ type, pod: obj });
        if (type === "MODIFIED") sawModified();
      },
      () => {},
    );
    try {
      const value = Buffer.from(JSON.stringify([{ k: "a", v: "b" }])).toString("base64");
      // A JSON merge patch needs its Content-Type set explicitly: client-node's default is JSON Patch.
      const patched = await core.patchNamespacedPod(
        { name: "labelled", namespace: ns, body: { metadata: { annotations: { "podreg.io/annotation": value } } } },
        mergePatch,
      );
      assert.equal(patched.metadata?.annotations?.["podreg.io/annotation"], value);
      // The unlabelled pod's change must not appear on this watch.
      await core.patchNamespacedPod({ name: "unlabelled", namespace: ns, body: { metadata: { annotations: { x: "y" } } } }, mergePatch);
      await withTimeout(modified, 10_000, "MODIFIED event");
      const mod = events.find((e) => e.type === "MODIFIED");
      assert.equal(mod?.pod.metadata?.name, "labelled");
      assert.equal(mod?.pod.metadata?.annotations?.["podreg.io/annotation"], value);
      assert.ok(events.every((e) => e.pod.metadata?.name === "labelled" || e.type === "BOOKMARK"));
    } finally {
      req.abort();
    }
  });

  it("writes pod status without a kubelet: IP, phase and Ready", async () => {
    await createPod(kc, { namespace: ns, name: "status" });
    const pod = await setPodStatus(kc, { namespace: ns, name: "status", podIP: "10.1.0.7", ready: true });
    assert.equal(pod.status?.podIP, "10.1.0.7");
    assert.equal(pod.status?.phase, "Running");
    assert.equal(pod.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.equal(pod.spec?.nodeName, "node-1");
  });

  it("runs the EndpointSlice controller: a Service's slice lists its ready pod", async () => {
    await createReadyPod(kc, { namespace: ns, name: "web-0", labels: { app: "web" }, podIP: "10.1.0.9", ports: [{ name: "http", containerPort: 8080 }] });
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
    });
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const deadline = Date.now() + 20_000;
    let addresses: string[] = [];
    while (Date.now() < deadline) {
      const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: "kubernetes.io/service-name=web" });
      addresses = slices.items.flatMap((s) => s.endpoints.flatMap((e) => e.addresses));
      if (addresses.length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(addresses, ["10.1.0.9"]);
  });

  it("gives 403 to a pod-bound service-account token without rights, and 200 once a Role allows it", async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "nobody" } } });
    const pod = await createPod(kc, { namespace: ns, name: "token-holder", serviceAccountName: "nobody" });
    const token = await requestToken(kc, { namespace: ns, serviceAccount: "nobody", pod: { name: "token-holder", uid: pod.metadata!.uid! } });
    const userKc = loadKubeConfig(writeTokenKubeconfig(kc, join(tmp, "nobody.kubeconfig"), token, ns));
    const userCore = userKc.makeApiClient(CoreV1Api);
    await assert.rejects(userCore.listNamespacedPod({ namespace: ns }), (err: { code?: number }) => err.code === 403);

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: "pod-reader" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "pod-reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-reader" },
        subjects: [{ kind: "ServiceAccount", name: "nobody", namespace: ns }],
      },
    });
    // RBAC changes reach the authorizer through its informer: poll briefly.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const pods = await userCore.listNamespacedPod({ namespace: ns });
        assert.ok(pods.items.some((p) => p.metadata?.name === "token-holder"));
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== 403 || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Still no right to patch.
    await assert.rejects(
      userCore.patchNamespacedPod({ name: "token-holder", namespace: ns, body: { metadata: { labels: { a: "b" } } } }, mergePatch),
      (err: { code?: number }) => err.code === 403,
    );
  });
});

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms))),
  ]);
}
