/**
 * kube-pods instances take their zone from their pod's Node when the
 * registration and the pod name none, on a real API server: with an admin
 * client, and with a pod-bound token before and after deploy/rbac-nodes.yaml.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CoreV1Api, loadAllYaml, RbacAuthorizationV1Api, type KubeConfig, type V1ClusterRole, type V1ClusterRoleBinding, type V1Role, type V1RoleBinding, type V1ServiceAccount } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import type { RegistryEvent } from "../../src/model/events.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import type { Logger } from "../../src/util/logger.js";
import { createNode, createReadyPod, mergePatch, requestToken, writeTokenKubeconfig } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const deployDocs = (file: string) => loadAllYaml(readFileSync(fileURLToPath(new URL(`../../deploy/${file}`, import.meta.url)), "utf8")) as { kind?: string; metadata?: { name?: string } }[];

describe("kube-pods: zones from Nodes", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let admin: KubeClient;
  let ns: string;
  const closers: (() => Promise<unknown> | unknown)[] = [];
  const suffix = Date.now().toString(36);
  const nodeA = `zones-a-${suffix}`;
  const nodeB = `zones-b-${suffix}`;
  const nodeC = `zones-c-${suffix}`;

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    core = kc.makeApiClient(CoreV1Api);
    admin = new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfigPath }));
    closers.push(() => admin.close());
    ns = await testNamespace(kc, "zones");
    await createNode(kc, nodeA, { zone: "zone-a" });
    await createNode(kc, nodeB);
    await createReadyPod(kc, { namespace: ns, name: "on-a", podIP: "10.90.0.1", nodeName: nodeA, serviceAccountName: "podreg" });
    await createReadyPod(kc, { namespace: ns, name: "labelled", podIP: "10.90.0.2", nodeName: nodeA, labels: { "topology.kubernetes.io/zone": "pod-zone" }, serviceAccountName: "podreg" });
    await createReadyPod(kc, { namespace: ns, name: "on-b", podIP: "10.90.0.3", nodeName: nodeB, serviceAccountName: "podreg" });
    for (const name of ["on-a", "labelled", "on-b"]) {
      const r = new KubePodsRegistry({ client: admin, namespaces: [ns], pod: { namespace: ns, name }, handleSignals: false, selfHeal: false });
      await r.register({ service: "api", port: 8080 });
      closers.push(() => r.close());
    }
    const meta = new KubePodsRegistry({ client: admin, namespaces: [ns], pod: { namespace: ns, name: "on-b" }, handleSignals: false, selfHeal: false });
    await meta.register({ service: "meta", port: 9090, metadata: { zone: "meta-zone" } });
    closers.push(() => meta.close());
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    for (const n of [nodeA, nodeB, nodeC]) await core.deleteNode({ name: n }).catch(() => {});
  });

  const zones = (r: KubePodsRegistry, svc: string) =>
    r
      .instances(svc)
      .map((i) => `${i.host} ${i.zone ?? "-"}`)
      .sort();

  it("metadata, then pod label, then the Node's zone; the first snapshot has them; a Node relabelled updates its pods", async () => {
    const reg = new KubePodsRegistry({ client: admin, namespaces: [ns], handleSignals: false });
    closers.push(() => reg.close());
    const events: RegistryEvent[] = [];
    reg.subscribe("api", (e) => events.push(e));
    await reg.whenSynced();
    await eventually("3 instances", () => reg.instances("api").length === 3);
    assert.deepEqual(zones(reg, "api"), ["10.90.0.1 zone-a", "10.90.0.2 pod-zone", "10.90.0.3 -"]);
    assert.deepEqual(zones(reg, "meta"), ["10.90.0.3 meta-zone"]);
    const first = events.find((e) => e.type === "snapshot");
    assert.ok(first && first.type === "snapshot");
    assert.deepEqual(first.instances.map((i) => `${i.host} ${i.zone ?? "-"}`).sort(), ["10.90.0.1 zone-a", "10.90.0.2 pod-zone", "10.90.0.3 -"], "zones are in the first snapshot");

    await core.patchNode({ name: nodeB, body: { metadata: { labels: { "topology.kubernetes.io/zone": "zone-b" } } } }, mergePatch);
    await eventually("node relabelled", () => zones(reg, "api").includes("10.90.0.3 zone-b"), 10_000);
    const upd = events.filter((e): e is Extract<RegistryEvent, { type: "updated" }> => e.type === "updated");
    assert.ok(upd.some((e) => e.instance.host === "10.90.0.3" && e.instance.zone === "zone-b"), "an updated event carries the new zone");
    assert.deepEqual(zones(reg, "meta"), ["10.90.0.3 meta-zone"], "metadata still wins");
    assert.equal(zones(reg, "api").filter((z) => z.startsWith("10.90.0.1 ")).join(), "10.90.0.1 zone-a", "other nodes' pods untouched");

    const off = new KubePodsRegistry({ client: admin, namespaces: [ns], handleSignals: false, zonesFromNodes: false });
    closers.push(() => off.close());
    await off.whenSynced();
    await eventually("3 instances", () => off.instances("api").length === 3);
    assert.deepEqual(zones(off, "api"), ["10.90.0.1 -", "10.90.0.2 pod-zone", "10.90.0.3 -"], "zonesFromNodes: false reads pods only");
  });

  it("localZone(): the pod's own label, else its Node's; undefined on a Node without one or an unscheduled pod; a missing pod rejects", async () => {
    await createNode(kc, nodeC);
    await createReadyPod(kc, { namespace: ns, name: "on-c", podIP: "10.90.0.8", nodeName: nodeC });
    await createReadyPod(kc, { namespace: ns, name: "unscheduled", podIP: "10.90.0.9" });
    const zoneOf = async (name: string) => {
      const r = new KubePodsRegistry({ client: admin, namespaces: [ns], pod: { namespace: ns, name }, handleSignals: false });
      try {
        return await r.localZone();
      } finally {
        await r.close();
      }
    };
    assert.equal(await zoneOf("on-a"), "zone-a");
    assert.equal(await zoneOf("labelled"), "pod-zone", "the pod's label wins over its Node's");
    assert.equal(await zoneOf("on-c"), undefined, "a Node without a zone label");
    assert.equal(await zoneOf("unscheduled"), undefined);
    await assert.rejects(zoneOf("no-such-pod"), { code: "PODREG_KUBE_NOT_FOUND" });
    const closed = new KubePodsRegistry({ client: admin, namespaces: [ns], pod: { namespace: ns, name: "on-a" }, handleSignals: false });
    await closed.close();
    await assert.rejects(closed.localZone(), { code: "PODREG_CLOSED" });
  });

  it("a pod-bound token under deploy/rbac.yaml: Nodes refused, logged once, synced without node zones; with deploy/rbac-nodes.yaml, zones", async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    for (const doc of deployDocs("rbac.yaml")) {
      if (doc.kind === "ServiceAccount") await core.createNamespacedServiceAccount({ namespace: ns, body: doc as V1ServiceAccount });
      else if (doc.kind === "Role") await rbac.createNamespacedRole({ namespace: ns, body: doc as V1Role });
      else if (doc.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace: ns, body: doc as V1RoleBinding });
    }
    const pod = await core.readNamespacedPod({ namespace: ns, name: "on-a" });
    const token = await requestToken(kc, { namespace: ns, serviceAccount: "podreg", pod: { name: "on-a", uid: pod.metadata!.uid! } });
    const tmp = mkdtempSync(join(tmpdir(), "podreg-zones-"));
    const limited = new KubeClient(loadKubeConfig({ kubeconfig: writeTokenKubeconfig(kc, join(tmp, "kubeconfig"), token, ns) }));
    closers.push(() => {
      limited.close();
      rmSync(tmp, { recursive: true, force: true });
    });
    const lines: { level: string; msg: string }[] = [];
    const logger: Logger = {
      debug: () => {},
      info: (_o, m) => void lines.push({ level: "info", msg: m ?? "" }),
      warn: (_o, m) => void lines.push({ level: "warn", msg: m ?? "" }),
      error: (_o, m) => void lines.push({ level: "error", msg: m ?? "" }),
    };
    await eventually("synced with the limited token", async () => {
      const reg = new KubePodsRegistry({ client: limited, namespaces: [ns], handleSignals: false, logger, quietRetries: true });
      try {
        await reg.whenSynced(AbortSignal.timeout(5000));
        assert.deepEqual(zones(reg, "api"), ["10.90.0.1 -", "10.90.0.2 pod-zone", "10.90.0.3 -"]);
        return true;
      } finally {
        await reg.close();
      }
    }, 30_000);
    // Its own zone: the pod may be read (rbac.yaml), its Node may not: unknown, said at info.
    const own = new KubePodsRegistry({ client: limited, namespaces: [ns], pod: { namespace: ns, name: "on-a" }, handleSignals: false, logger });
    assert.equal(await own.localZone(), undefined);
    await own.close();
    assert.ok(lines.some((l) => l.level === "info" && /local zone is unknown/.test(l.msg)), JSON.stringify(lines));
    const refusals = lines.filter((l) => /Nodes may not be read/.test(l.msg));
    assert.ok(refusals.length >= 1 && refusals.every((l) => l.level === "info"), JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.level !== "info").length, 0, `nothing louder than info: ${JSON.stringify(lines)}`);

    // deploy/rbac-nodes.yaml, its binding pointed at this namespace as its comment says.
    const docs = deployDocs("rbac-nodes.yaml");
    assert.deepEqual(docs.map((d) => d.kind), ["ClusterRole", "ClusterRoleBinding"]);
    const name = `podreg-node-zones-${suffix}`;
    const role = { ...(docs[0] as V1ClusterRole), metadata: { name } };
    const binding = docs[1] as V1ClusterRoleBinding;
    await rbac.createClusterRole({ body: role });
    await rbac.createClusterRoleBinding({ body: { ...binding, metadata: { name }, roleRef: { ...binding.roleRef, name }, subjects: binding.subjects!.map((s) => ({ ...s, namespace: ns })) } });
    closers.push(async () => {
      await rbac.deleteClusterRoleBinding({ name }).catch(() => {});
      await rbac.deleteClusterRole({ name }).catch(() => {});
    });
    assert.deepEqual(JSON.parse(JSON.stringify(role.rules)), [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] }], "read-only, nodes only");
    await eventually("zones with rbac-nodes.yaml", async () => {
      const reg = new KubePodsRegistry({ client: limited, namespaces: [ns], handleSignals: false, logger, quietRetries: true });
      try {
        await reg.whenSynced(AbortSignal.timeout(5000));
        return zones(reg, "api").includes("10.90.0.1 zone-a");
      } finally {
        await reg.close();
      }
    }, 30_000);
    await eventually("local zone with rbac-nodes.yaml", async () => {
      const reg = new KubePodsRegistry({ client: limited, namespaces: [ns], pod: { namespace: ns, name: "on-a" }, handleSignals: false, logger });
      try {
        return (await reg.localZone()) === "zone-a";
      } finally {
        await reg.close();
      }
    }, 30_000);
    await assert.rejects(limited.request({ method: "PATCH", path: `/api/v1/nodes/${nodeA}`, body: { metadata: { labels: { x: "y" } } }, contentType: "application/merge-patch+json" }), { code: "PODREG_KUBE_FORBIDDEN" });
  });
});
