/**
 * deploy/admission-policy.yaml on a real API server, tried as an attacker
 * would: pod A's pod-bound token, with the Role of deploy/rbac.yaml, against
 * pod B and against A itself. Every attempt must be refused by the policy and
 * leave the pod exactly as it was; A's own registration must still work.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { KubeClient, type KubeRequest } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { createNativeCodec } from "../../src/registry/codecs/index.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { silentLogger } from "../../src/util/logger.js";
import { createReadyPod, requestToken, writeTokenKubeconfig } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const RBAC_YAML = fileURLToPath(new URL("../../deploy/rbac.yaml", import.meta.url));
const POLICY_YAML = fileURLToPath(new URL("../../deploy/admission-policy.yaml", import.meta.url));
const ANNOTATION = "podreg.io/annotation";
const LABEL_KEY = "podreg.io/label";
const MERGE = "application/merge-patch+json";

interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}
type Pod = KubeObject & { spec?: { containers?: { image?: string }[] } };

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;
const loadYaml = (path: string) => parseAllDocuments(readFileSync(path, "utf8")).map((d) => d.toJS() as KubeObject);

describe("deploy/admission-policy.yaml: a pod may write only its own registration", () => {
  let ns: string;
  let tmp: string;
  let admin: KubeClient;
  /** The shipped policy's name with this namespace appended (see before()). */
  let policyName: string;
  const uids: Record<string, string> = {};
  const clients = {} as Record<"a" | "b" | "unbound" | "wide" | "bystander", KubeClient>;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  const podPath = (name: string) => `/api/v1/namespaces/${ns}/pods/${name}`;
  const readPod = (name: string) => admin.request<Pod>({ path: podPath(name) });
  const mergePatch = (name: string, body: unknown): KubeRequest => ({ method: "PATCH", path: podPath(name), contentType: MERGE, body });

  /** A request the policy refuses: 403, the server's text naming the policy, then `why`; the pod is left exactly as it was. */
  async function refusedByPolicy(what: string, client: KubeClient, target: string, req: KubeRequest, why: RegExp): Promise<void> {
    const snapshot = await readPod(target);
    await assert.rejects(client.request(req), (err: unknown) => {
      const message = (err as Error).message;
      assert.equal(codeOf(err), "PODREG_KUBE_FORBIDDEN", `${what}: ${message}`);
      assert.equal((err as { status?: number }).status, 403, what);
      assert.ok(message.includes(`ValidatingAdmissionPolicy '${policyName}' with binding '${policyName}' denied request: `), `${what}: ${message}`);
      assert.match(message, why, what);
      return true;
    }, what);
    // resourceVersion included: not even a no-op write went through.
    assert.deepEqual(await readPod(target), snapshot, `${what}: pod ${target} unchanged`);
  }

  before(async () => {
    const cluster = await testCluster();
    const kc = cluster.kc;
    admin = new KubeClient(loadKubeConfig({ kubeconfig: cluster.kubeconfigPath }));
    cleanups.push(() => admin.close());
    ns = await testNamespace(kc, "admission");
    tmp = mkdtempSync(join(tmpdir(), "podreg-admission-"));

    // What `kubectl apply -n <ns> -f deploy/rbac.yaml` does.
    for (const doc of loadYaml(RBAC_YAML)) {
      const path = doc.kind === "ServiceAccount" ? `/api/v1/namespaces/${ns}/serviceaccounts` : `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/${doc.kind!.toLowerCase()}s`;
      await admin.request({ method: "POST", path, body: doc });
    }
    // podreg-<suffix> is covered too; this one's Role also grants update, create and delete,
    // as an operator might widen it: the policy, not RBAC, must refuse those.
    await admin.request({ method: "POST", path: `/api/v1/namespaces/${ns}/serviceaccounts`, body: { metadata: { name: "podreg-wide" } } });
    await admin.request({
      method: "POST",
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
      body: { metadata: { name: "podreg-wide" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "patch", "update", "create", "delete"] }] },
    });
    // Bind the wider Role to podreg-wide, and podreg's own Role to `default` as well (the policy must not care about `default`).
    for (const [name, role, sa] of [["podreg-wide", "podreg-wide", "podreg-wide"], ["default-podreg", "podreg", "default"]] as const) {
      await admin.request({
        method: "POST",
        path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
        body: { metadata: { name }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role }, subjects: [{ kind: "ServiceAccount", name: sa }] },
      });
    }

    // The shipped policy, applied as `kubectl apply` would, except that the names get this
    // namespace appended and the binding covers only this namespace: other test files share
    // the control plane, and the file's own shape is checked in the first test.
    const [policy, binding] = loadYaml(POLICY_YAML) as [KubeObject, KubeObject & { spec: Record<string, unknown> }];
    policyName = `${policy.metadata!.name}-${ns}`;
    const vap = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
    const vapb = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";
    await admin.request({ method: "POST", path: vap, body: { ...policy, metadata: { name: policyName } } });
    cleanups.push(() => admin.request({ method: "DELETE", path: `${vap}/${policyName}` }));
    await admin.request({
      method: "POST",
      path: vapb,
      body: {
        ...binding,
        metadata: { name: policyName },
        spec: { ...binding.spec, policyName, matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } } },
      },
    });
    cleanups.push(() => admin.request({ method: "DELETE", path: `${vapb}/${policyName}` }));

    const labels = { app: "shop", tier: "web" };
    const pods: { name: string; ip: string; sa: string; annotations: Record<string, string> }[] = [
      { name: "a", ip: "10.64.0.1", sa: "podreg", annotations: { "podreg.io/services": "echo, com.example.*", "team.example.com/owner": "shop" } },
      { name: "b", ip: "10.64.0.2", sa: "podreg", annotations: { "podreg.io/services": "payments" } },
      { name: "w", ip: "10.64.0.3", sa: "podreg-wide", annotations: {} },
      { name: "c", ip: "10.64.0.4", sa: "default", annotations: {} },
      { name: "bystander", ip: "10.64.0.5", sa: "default", annotations: {} },
    ];
    for (const p of pods) {
      const pod = await createReadyPod(kc, { namespace: ns, name: p.name, podIP: p.ip, serviceAccountName: p.sa, labels, annotations: p.annotations });
      uids[p.name] = pod.metadata!.uid!;
    }
    const clientFor = async (name: string, sa: string, pod?: string) => {
      const token = await requestToken(kc, { namespace: ns, serviceAccount: sa, pod: pod ? { name: pod, uid: uids[pod]! } : undefined });
      const client = new KubeClient(loadKubeConfig({ kubeconfig: writeTokenKubeconfig(kc, join(tmp, `${name}.kubeconfig`), token, ns) }));
      cleanups.push(() => client.close());
      return client;
    };
    clients.a = await clientFor("a", "podreg", "a");
    clients.b = await clientFor("b", "podreg", "b");
    clients.unbound = await clientFor("unbound", "podreg");
    clients.wide = await clientFor("wide", "podreg-wide", "w");
    clients.bystander = await clientFor("bystander", "default", "c");

    // A new policy (and the RoleBinding) take a moment to reach the API server's caches:
    // wait until a known-bad write is refused by the policy. A dry run goes through
    // admission but is never stored, so nothing changes should it still be let through.
    const probe = { metadata: { labels: { app: "probe" }, finalizers: ["attacker.example/probe"] }, spec: { activeDeadlineSeconds: 1 } };
    await eventually(
      "the policy refuses a known-bad write",
      async () => {
        try {
          await clients.a.request({ ...mergePatch("b", probe), query: { dryRun: "All" } });
          return false;
        } catch (err) {
          return (err as Error).message.includes(`ValidatingAdmissionPolicy '${policyName}'`);
        }
      },
      20_000,
      100,
    );

    // B is a legitimate payments provider, registered with its own token under the policy.
    const regB = new KubePodsRegistry({ client: clients.b, pod: { namespace: ns, name: "b" }, namespaces: [ns], handleSignals: false, logger: silentLogger });
    cleanups.push(() => regB.close());
    await regB.register({ service: "payments", port: 8443, weight: 10 });
  });

  after(async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        console.error(`registry-admission cleanup: ${(err as Error).message}`);
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it("ships one policy and a Deny binding for every namespace, failing closed, scoped to podreg service accounts", () => {
    const docs = loadYaml(POLICY_YAML) as (KubeObject & { spec: Record<string, unknown> })[];
    assert.deepEqual(
      docs.map((d) => `${d.apiVersion} ${d.kind}`),
      ["admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy", "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding"],
    );
    const [policy, binding] = docs as [(typeof docs)[0], (typeof docs)[0]];
    assert.equal(binding.spec.policyName, policy.metadata?.name);
    assert.deepEqual(binding.spec.validationActions, ["Deny"]);
    assert.equal(binding.spec.matchResources, undefined, "as shipped, the binding covers every namespace");
    assert.equal(policy.spec.failurePolicy, "Fail");
    const conditions = policy.spec.matchConditions as { expression: string }[];
    assert.equal(conditions.length, 1);
    assert.match(conditions[0]!.expression, /\^system:serviceaccount:\[\^:\]\+:podreg\(-\[a-z0-9\.-\]\+\)\?\$/);
  });

  it("A's own registration, update and deregistration still work (native and dubbo-go formats)", async () => {
    const reg = new KubePodsRegistry({ client: clients.a, pod: { namespace: ns, name: "a" }, namespaces: [ns], handleSignals: false, logger: silentLogger });
    cleanups.push(() => reg.close());
    const handle = await reg.register({ service: "echo", port: 8080, weight: 30, metadata: { version: "v1" } });
    await reg.whenSynced(AbortSignal.timeout(10_000));
    await eventually("own instance discovered", () => reg.instances("echo").length === 1);
    await handle.update({ weight: 60, metadata: { version: "v2" } });
    await eventually("update discovered", () => reg.instances("echo")[0]?.metadata.version === "v2");
    assert.equal(reg.instances("echo")[0]?.weight, 60);
    // Under the policy B's registration is still there for A to discover, untouched.
    await eventually("B's payments discovered", () => reg.instances("payments").length === 1);
    assert.equal(`${reg.instances("payments")[0]!.host} ${reg.instances("payments")[0]!.weight}`, "10.64.0.2 10");

    const dubbo = new KubePodsRegistry({ client: clients.a, codec: "dubbo-go", pod: { namespace: ns, name: "a" }, namespaces: [ns], handleSignals: false, logger: silentLogger });
    cleanups.push(() => dubbo.close());
    const dubboHandle = await dubbo.register({ service: "com.example.Echo", port: 20000 });
    let pod = await readPod("a");
    assert.equal(pod.metadata?.labels?.["dubbo.io/label"], "dubbo.io.provider");
    assert.ok(pod.metadata?.annotations?.["dubbo.io/annotation"]);

    await dubboHandle.close();
    await handle.close();
    await eventually("deregistration discovered", () => reg.instances("echo").length === 0);
    pod = await readPod("a");
    assert.equal(pod.metadata?.annotations?.[ANNOTATION], undefined, "annotation removed");
    assert.equal(pod.metadata?.labels?.[LABEL_KEY], undefined, "label removed");
    assert.equal(pod.metadata?.labels?.["dubbo.io/label"], undefined, "dubbo label removed");
    assert.deepEqual(pod.metadata?.labels, { app: "shop", tier: "web" }, "the operator's labels are as they were");
    assert.equal(reg.stats().lastError, undefined);
  });

  it("A's token cannot change pod B: not its registration, label, image, finalizers or deadline, by any kind of write", async () => {
    const b = await readPod("b");
    const registered = b.metadata?.annotations?.[ANNOTATION];
    assert.ok(registered, "B is registered");
    assert.equal(b.metadata?.labels?.[LABEL_KEY], "podreg.io-value");
    // Payments traffic to an address of the attacker's choosing, with an overwhelming weight.
    const codec = createNativeCodec();
    const forged = codec.encode(
      codec.apply(codec.decode(registered), {
        drop: new Set(),
        add: [{ service: "payments", protocol: "http", host: "203.0.113.66", port: 8443, weight: 1_000_000, metadata: {}, registeredAt: Date.now() }],
      }),
    );
    const notOwnPod = /may change only the pod its token is bound to; this token is bound to pod a$/;
    const attacks: [string, KubeRequest][] = [
      ["rewrite B's registry annotation", mergePatch("b", { metadata: { annotations: { [ANNOTATION]: forged } } })],
      ["remove B's registry label", mergePatch("b", { metadata: { labels: { [LABEL_KEY]: null } } })],
      ["change B's container image", mergePatch("b", { spec: { containers: [{ name: "app", image: "attacker.example/payments:evil" }] } })],
      ["add a finalizer to B", mergePatch("b", { metadata: { finalizers: ["attacker.example/hold"] } })],
      ["set B's activeDeadlineSeconds", mergePatch("b", { spec: { activeDeadlineSeconds: 1 } })],
      [
        "JSON patch of B's image and annotation",
        {
          method: "PATCH",
          path: podPath("b"),
          contentType: "application/json-patch+json",
          body: [
            { op: "replace", path: "/spec/containers/0/image", value: "attacker.example/payments:evil" },
            { op: "replace", path: `/metadata/annotations/${ANNOTATION.replace("/", "~1")}`, value: forged },
          ],
        },
      ],
      [
        "strategic-merge patch of B's image",
        { method: "PATCH", path: podPath("b"), contentType: "application/strategic-merge-patch+json", body: { spec: { containers: [{ name: "app", image: "attacker.example/payments:evil" }] } } },
      ],
      [
        "server-side apply of B's registry annotation",
        {
          method: "PATCH",
          path: podPath("b"),
          query: { fieldManager: "attacker", force: true },
          contentType: "application/apply-patch+yaml",
          body: { apiVersion: "v1", kind: "Pod", metadata: { name: "b", annotations: { [ANNOTATION]: forged } } },
        },
      ],
    ];
    for (const [what, req] of attacks) await refusedByPolicy(what, clients.a, "b", req, notOwnPod);

    // A PUT needs `update`, which rbac.yaml does not grant: RBAC refuses it before admission.
    const whole = await readPod("b");
    await assert.rejects(
      clients.a.request({ method: "PUT", path: podPath("b"), body: { ...whole, metadata: { ...whole.metadata, annotations: { ...whole.metadata?.annotations, [ANNOTATION]: forged } } } }),
      (err: unknown) => codeOf(err) === "PODREG_KUBE_FORBIDDEN" && /cannot update resource "pods"/.test((err as Error).message),
    );
    assert.deepEqual(await readPod("b"), whole, "PUT: pod b unchanged");
  });

  it("A's token cannot change A itself beyond its registration", async () => {
    const a = (why: RegExp) => (what: string, body: unknown) => refusedByPolicy(what, clients.a, "a", mergePatch("a", body), why);
    const spec = a(/may not change a pod's spec$/);
    await spec("change A's image", { spec: { containers: [{ name: "app", image: "attacker.example/app:evil" }] } });
    await spec("set A's activeDeadlineSeconds", { spec: { activeDeadlineSeconds: 1 } });
    const metadata = a(/may not change pod metadata other than the registry's labels and annotations/);
    await metadata("add a finalizer to A", { metadata: { finalizers: ["attacker.example/hold"] } });
    await metadata("give A an owner", { metadata: { ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "b", uid: uids.b }] } });
    // The operator's declarations: what A may advertise is not A's to decide.
    const annotations = a(/may change only the annotations podreg\.io\/annotation, dubbo\.io\/annotation and podreg\.io\/owners$/);
    await annotations("widen A's podreg.io/services", { metadata: { annotations: { "podreg.io/services": "echo, com.example.*, payments" } } });
    await annotations("remove A's podreg.io/services", { metadata: { annotations: { "podreg.io/services": null } } });
    await annotations("add podreg.io/hosts to A", { metadata: { annotations: { "podreg.io/hosts": "203.0.113.66" } } });
    await annotations("change an unrelated annotation of A", { metadata: { annotations: { "team.example.com/owner": "attacker" } } });
    const labels = a(/may change only the labels podreg\.io\/label and dubbo\.io\/label$/);
    await labels("change an unrelated label of A", { metadata: { labels: { app: "payments" } } });
    await labels("remove an unrelated label of A", { metadata: { labels: { tier: null } } });
    await labels("add a label to A", { metadata: { labels: { "payments.example.com/backend": "true" } } });
    await a(/the label podreg\.io\/label, when present, must be podreg\.io-value$/)("set podreg.io/label to another value", { metadata: { labels: { [LABEL_KEY]: "other" } } });
    await a(/the label dubbo\.io\/label, when present, must be dubbo\.io\.provider or dubbo\.io\.consumer$/)("set dubbo.io/label to another value", {
      metadata: { labels: { "dubbo.io/label": "dubbo.io.admin" } },
    });
    // A registration write together with something else is refused as a whole.
    await labels("register and relabel in one patch", { metadata: { labels: { [LABEL_KEY]: "podreg.io-value", app: "payments" }, annotations: { [ANNOTATION]: "W10=" } } });
  });

  it("a podreg token bound to no pod is refused, even on pod A and even for a registration write", async () => {
    const register = { metadata: { labels: { [LABEL_KEY]: "podreg.io-value" } } };
    for (const target of ["a", "b"]) {
      await refusedByPolicy(`unbound token: label ${target}`, clients.unbound, target, mergePatch(target, register), /this token is bound to no pod$/);
    }
    // What a registrar run with such a token sees.
    const reg = new KubePodsRegistry({ client: clients.unbound, pod: { namespace: ns, name: "a" }, namespaces: [ns], handleSignals: false, logger: silentLogger });
    cleanups.push(() => reg.close());
    const snapshot = await readPod("a");
    await assert.rejects(reg.register({ service: "echo", port: 8080 }), (err: unknown) => {
      assert.equal(codeOf(err), "PODREG_KUBE_FORBIDDEN");
      assert.match((err as Error).message, new RegExp(`ValidatingAdmissionPolicy '${policyName}' .* this token is bound to no pod$`));
      return true;
    });
    assert.deepEqual(await readPod("a"), snapshot);
  });

  it("podreg-<suffix> accounts are covered, and the policy holds where RBAC was widened: no PUT of another pod, no create, no delete", async () => {
    // Wait for the podreg-wide RoleBinding: until it is in the authorizer's cache, RBAC refuses instead.
    await eventually("podreg-wide's RoleBinding in effect", async () => {
      try {
        await clients.wide.request({ path: podPath("w") });
        return true;
      } catch {
        return false;
      }
    });
    const b = await readPod("b");
    const notOwnPod = /may change only the pod its token is bound to; this token is bound to pod w$/;
    await refusedByPolicy("PUT of B with activeDeadlineSeconds", clients.wide, "b", { method: "PUT", path: podPath("b"), body: { ...b, spec: { ...b.spec, activeDeadlineSeconds: 1 } } }, notOwnPod);
    const neverCreateOrDelete = /podreg service accounts may not (DELETE|CREATE) pods/;
    await refusedByPolicy("delete B", clients.wide, "b", { method: "DELETE", path: podPath("b") }, neverCreateOrDelete);
    await refusedByPolicy("delete its own pod", clients.wide, "w", { method: "DELETE", path: podPath("w") }, neverCreateOrDelete);
    await assert.rejects(
      clients.wide.request({
        method: "POST",
        path: `/api/v1/namespaces/${ns}/pods`,
        body: {
          metadata: { name: "spoof", labels: { [LABEL_KEY]: "podreg.io-value" }, annotations: { "podreg.io/services": "payments" } },
          spec: { nodeName: "node-1", serviceAccountName: "podreg-wide", automountServiceAccountToken: false, containers: [{ name: "app", image: "attacker.example/payments:evil" }] },
        },
      }),
      (err: unknown) => codeOf(err) === "PODREG_KUBE_FORBIDDEN" && (err as Error).message.includes(`ValidatingAdmissionPolicy '${policyName}'`) && neverCreateOrDelete.test((err as Error).message),
    );
    await assert.rejects(readPod("spoof"), (err: unknown) => codeOf(err) === "PODREG_KUBE_NOT_FOUND");

    // A PUT of its own pod that changes only the registry label is a registration write: allowed.
    const w = await readPod("w");
    const res = await clients.wide.request<Pod>({ method: "PUT", path: podPath("w"), body: { ...w, metadata: { ...w.metadata, labels: { ...w.metadata?.labels, [LABEL_KEY]: "podreg.io-value" } } } });
    assert.equal(res.metadata?.labels?.[LABEL_KEY], "podreg.io-value");
  });

  it("other identities are not affected: the default service account, with the same Role, still patches any pod", async () => {
    // Not a recommendation: it shows what the policy covers (podreg service accounts only).
    await eventually("default's RoleBinding in effect", async () => {
      try {
        await clients.bystander.request({ path: podPath("bystander") });
        return true;
      } catch {
        return false;
      }
    });
    const res = await clients.bystander.request<Pod>(
      mergePatch("bystander", { metadata: { labels: { app: "changed" }, finalizers: [] }, spec: { containers: [{ name: "app", image: "example.invalid/other:1" }] } }),
    );
    assert.equal(res.metadata?.labels?.app, "changed");
    assert.equal(res.spec?.containers?.[0]?.image, "example.invalid/other:1");
  });
});
