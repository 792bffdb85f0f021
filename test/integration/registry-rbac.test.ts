/**
 * deploy/rbac.yaml on a real API server with RBAC: a pod-bound token of its
 * service account can do everything podreg needs in its own namespace, and
 * nothing more.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CoreV1Api, loadAllYaml, RbacAuthorizationV1Api, type KubeConfig, type V1Role, type V1RoleBinding, type V1ServiceAccount } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { silentLogger } from "../../src/util/logger.js";
import { createReadyPod, requestToken, writeTokenKubeconfig } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const RBAC_YAML = fileURLToPath(new URL("../../deploy/rbac.yaml", import.meta.url));
const ANNOTATION = "podreg.io/annotation";
const LABEL_KEY = "podreg.io/label";

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

/** RBAC objects reach the authorizer's cache shortly after they are created: retry a first call on 403 only. */
async function onceAllowed<T>(what: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (codeOf(err) !== "PODREG_KUBE_FORBIDDEN" || Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("deploy/rbac.yaml: the Role grants what podreg needs (admission-policy.yaml narrows writes to the own pod)", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let other: string;
  let tmp: string;
  let client: KubeClient;
  const closers: (() => Promise<void> | void)[] = [];

  before(async () => {
    kc = (await testCluster()).kc;
    core = kc.makeApiClient(CoreV1Api);
    ns = await testNamespace(kc, "rbac");
    other = await testNamespace(kc, "rbac-other");
    tmp = mkdtempSync(join(tmpdir(), "podreg-rbac-"));

    // What `kubectl apply -n <ns> -f deploy/rbac.yaml` does, with the admin client.
    const docs = loadAllYaml(readFileSync(RBAC_YAML, "utf8")) as { kind?: string }[];
    assert.deepEqual(
      docs.map((d) => d.kind),
      ["ServiceAccount", "Role", "RoleBinding"],
      "namespaced objects only",
    );
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    for (const doc of docs) {
      if (doc.kind === "ServiceAccount") await core.createNamespacedServiceAccount({ namespace: ns, body: doc as V1ServiceAccount });
      if (doc.kind === "Role") await rbac.createNamespacedRole({ namespace: ns, body: doc as V1Role });
      if (doc.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace: ns, body: doc as V1RoleBinding });
    }
    // Someone else's pod in another namespace, registered there by the admin.
    await createReadyPod(kc, { namespace: other, name: "elsewhere", podIP: "10.63.1.1", labels: { [LABEL_KEY]: "podreg.io-value" } });

    const pod = await createReadyPod(kc, { namespace: ns, name: "app", podIP: "10.63.0.1", serviceAccountName: "podreg" });
    assert.equal(pod.spec?.serviceAccountName, "podreg");
    const token = await requestToken(kc, { namespace: ns, serviceAccount: "podreg", pod: { name: "app", uid: pod.metadata!.uid! } });
    client = new KubeClient(loadKubeConfig({ kubeconfig: writeTokenKubeconfig(kc, join(tmp, "kubeconfig"), token, ns) }));
    closers.push(() => client.close());
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a pod-bound token of the podreg service account registers, discovers, updates and deregisters", async () => {
    const reg = new KubePodsRegistry({ client, pod: { namespace: ns, name: "app" }, namespaces: [ns], handleSignals: false, logger: silentLogger });
    closers.push(() => reg.close());
    const handle = await onceAllowed("register with the podreg service account", () => reg.register({ service: "echo", port: 8080, weight: 30, metadata: { version: "v1" } }));

    await reg.whenSynced(AbortSignal.timeout(10_000));
    await eventually("own instance discovered", () => reg.instances("echo").length === 1);
    const [inst] = reg.instances("echo");
    assert.equal(`${inst!.host}:${inst!.port} ${inst!.weight} ${inst!.metadata.version}`, "10.63.0.1:8080 30 v1");
    assert.equal(reg.stats().lastError, undefined);

    await handle.update({ weight: 60, metadata: { version: "v2" } });
    await eventually("update discovered", () => reg.instances("echo")[0]?.metadata.version === "v2");
    assert.equal(reg.instances("echo")[0]?.weight, 60);

    await handle.close();
    await eventually("deregistration discovered", () => reg.instances("echo").length === 0);
    const pod = await core.readNamespacedPod({ name: "app", namespace: ns });
    assert.equal(pod.metadata?.annotations?.[ANNOTATION], undefined, "annotation removed");
    assert.equal(pod.metadata?.labels?.[LABEL_KEY], undefined, "label removed");
    assert.equal(reg.stats().lastError, undefined, "no failed list or watch on the way");
  });

  it("the same token is refused everything else: other namespaces, secrets, deleting pods", async () => {
    // Allowed in its own namespace (and the binding has reached the authorizer): the refusals below are RBAC's.
    await onceAllowed("list own pods", () => client.request({ path: `/api/v1/namespaces/${ns}/pods` }));
    const refused: [string, Parameters<KubeClient["request"]>[0]][] = [
      ["list pods in another namespace", { path: `/api/v1/namespaces/${other}/pods` }],
      ["list pods cluster-wide", { path: "/api/v1/pods" }],
      ["list secrets", { path: `/api/v1/namespaces/${ns}/secrets` }],
      ["delete a pod", { method: "DELETE", path: `/api/v1/namespaces/${ns}/pods/app` }],
      ["create a pod", { method: "POST", path: `/api/v1/namespaces/${ns}/pods`, body: { metadata: { name: "x" }, spec: { containers: [{ name: "c", image: "x" }] } } }],
      ["patch a pod in another namespace", { method: "PATCH", path: `/api/v1/namespaces/${other}/pods/elsewhere`, contentType: "application/merge-patch+json", body: { metadata: { labels: { x: "y" } } } }],
    ];
    for (const [what, req] of refused) {
      await assert.rejects(client.request(req), (err: unknown) => {
        assert.equal(codeOf(err), "PODREG_KUBE_FORBIDDEN", `${what}: ${(err as Error).message}`);
        assert.equal((err as { status?: number }).status, 403);
        return true;
      }, what);
    }
    const pod = await core.readNamespacedPod({ name: "app", namespace: ns });
    assert.equal(pod.metadata?.deletionTimestamp, undefined, "the pod was not deleted");
  });

  it("a registry watching a namespace it may not read reports PODREG_KUBE_FORBIDDEN in stats and keeps running", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on("unhandledRejection", onUnhandled);
    process.on("uncaughtException", onUnhandled);
    try {
      const reg = new KubePodsRegistry({ client, pod: { namespace: ns, name: "app" }, namespaces: [other], handleSignals: false, logger: silentLogger });
      closers.push(() => reg.close());
      const events: unknown[] = [];
      reg.subscribe("*", (e) => events.push(e));
      assert.deepEqual(reg.instances("echo"), [], "no throw: an empty view until it syncs");
      await eventually("lastError is forbidden", () => codeOf(reg.stats().lastError) === "PODREG_KUBE_FORBIDDEN");
      assert.match(reg.stats().lastError!.message, /cannot list resource "pods"/);
      assert.equal(reg.synced, false);
      await assert.rejects(reg.whenSynced(AbortSignal.timeout(300)), { code: "PODREG_ABORTED" });

      // It keeps retrying (with backoff) rather than giving up or crashing; its other calls keep working.
      const errors = reg.stats().watches[0]!.errors;
      await eventually("another attempt, refused again", () => reg.stats().watches[0]!.errors > errors, 10_000);
      assert.equal(codeOf(reg.stats().lastError), "PODREG_KUBE_FORBIDDEN");
      assert.equal(reg.stats().watches[0]!.lists, 0, "no LIST succeeded");
      assert.deepEqual(reg.services(), []);
      assert.deepEqual(events, [], "no snapshot for a namespace it cannot read: the other namespace's pod stays unseen");
      assert.deepEqual(unhandled, []);
      await reg.close();
    } finally {
      process.off("unhandledRejection", onUnhandled);
      process.off("uncaughtException", onUnhandled);
    }
  });
});
