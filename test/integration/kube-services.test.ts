/**
 * The kube-services source on a real API server with the real EndpointSlice
 * controller (testenv's kube-controller-manager): Services, Pods made Ready
 * through pods/status, slices written by the controller or by hand.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CoreV1Api,
  DiscoveryV1Api,
  loadAllYaml,
  NetworkingV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1Role,
  type V1RoleBinding,
  type V1ServiceAccount,
} from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import type { Instance } from "../../src/model/instance.js";
import { KubeServicesRegistry } from "../../src/registry/kube-services/registry.js";
import { createNode, createReadyPod, mergePatch, requestToken, setPodStatus, writeTokenKubeconfig } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const view = (list: readonly Instance[]) => list.map((i) => `${i.host}:${i.port}/${i.protocol}${i.ready ? "" : " (not ready)"}`).sort();

describe("kube-services source (real API server, real EndpointSlice controller)", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let client: KubeClient;
  let ns: string;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    core = kc.makeApiClient(CoreV1Api);
    client = new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfigPath }));
    ns = await testNamespace(kc, "ksvc");
    await createNode(kc, "ksvc-node-a", { zone: "zone-a" });
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    client.close();
  });
  const open = (o: Partial<ConstructorParameters<typeof KubeServicesRegistry>[0]> = {}) => {
    const r = new KubeServicesRegistry({ client, namespaces: [ns], ...o });
    closers.push(() => r.close());
    return r;
  };

  it("follows scale up, scale down, readiness, a renamed port and a deleted Service", async () => {
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http-web", port: 80, targetPort: 8080 }] } } });
    for (const [k, ip] of ["10.70.0.1", "10.70.0.2"].entries()) await createReadyPod(kc, { namespace: ns, name: `web-${k}`, podIP: ip, nodeName: "ksvc-node-a", labels: { app: "web", version: `v${k + 1}` } });
    const reg = open();
    const events: string[] = [];
    reg.subscribe("web", (ev) => events.push(ev.type));
    await reg.whenSynced();
    await eventually("two endpoints", () => reg.instances("web").length === 2, 20_000);
    assert.deepEqual(view(reg.instances("web")), ["10.70.0.1:8080/http", "10.70.0.2:8080/http"]);
    const first = reg.instances("web").find((i) => i.host === "10.70.0.1")!;
    assert.equal(first.key, `${ns}/web`);
    assert.equal(first.zone, "zone-a", "zone from the slice (the controller copies the node's)");
    assert.equal(first.labels.version, "v1", "labels of the pod behind the endpoint");
    assert.equal(first.source, "kube-services");

    await createReadyPod(kc, { namespace: ns, name: "web-2", podIP: "10.70.0.3", nodeName: "ksvc-node-a", labels: { app: "web", version: "v3" } });
    await eventually("scaled up", () => reg.instances("web").length === 3, 20_000);
    await core.deleteNamespacedPod({ namespace: ns, name: "web-0", gracePeriodSeconds: 0 });
    await eventually("scaled down", () => view(reg.instances("web")).join() === "10.70.0.2:8080/http,10.70.0.3:8080/http", 20_000);

    await setPodStatus(kc, { namespace: ns, name: "web-1", podIP: "10.70.0.2", ready: false });
    await eventually("not ready", () => view(reg.instances("web")).includes("10.70.0.2:8080/http (not ready)"), 20_000);
    await setPodStatus(kc, { namespace: ns, name: "web-1", podIP: "10.70.0.2", ready: true });
    await eventually("ready again", () => view(reg.instances("web")).includes("10.70.0.2:8080/http"), 20_000);

    await core.patchNamespacedService(
      { namespace: ns, name: "web", body: [{ op: "replace", path: "/spec/ports/0/name", value: "grpc-web" }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    await eventually("port renamed: grpc-web", () => reg.instances("web").every((i) => i.protocol === "grpc-web") && reg.instances("web").length === 2, 20_000);

    await core.deleteNamespacedService({ namespace: ns, name: "web" });
    await eventually("service gone", () => reg.instances("web").length === 0, 20_000);
    assert.equal(events[0], "snapshot");
    assert.ok(events.includes("removed") && events.includes("updated") && events.includes("added"));
  });

  it("a Service without a selector and slices written by hand; ExternalName as a DNS name", async () => {
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "legacy" }, spec: { ports: [{ name: "tcp-pg", port: 5432 }] } } });
    await kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
      namespace: ns,
      body: {
        metadata: { name: "legacy-manual", labels: { "kubernetes.io/service-name": "legacy", "endpointslice.kubernetes.io/managed-by": "podreg-test" } },
        addressType: "IPv4",
        ports: [{ name: "tcp-pg", port: 5432, protocol: "TCP" }],
        endpoints: [{ addresses: ["203.0.113.10"], conditions: { ready: true } }, { addresses: ["203.0.113.11"], conditions: { ready: false } }],
      },
    });
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "payments" }, spec: { type: "ExternalName", externalName: "api.payments.example.com", ports: [{ name: "https", port: 443 }] } } });
    const reg = open();
    await reg.whenSynced();
    await eventually("manual endpoints", () => reg.instances("legacy").length === 2, 20_000);
    assert.deepEqual(view(reg.instances("legacy")), ["203.0.113.10:5432/tcp", "203.0.113.11:5432/tcp (not ready)"]);
    assert.deepEqual(view(reg.instances("payments")), ["api.payments.example.com:443/https"]);
  });

  it("external addresses: NodePort on node addresses, LoadBalancer ingress, Ingress rules", async () => {
    await core.createNode({ body: { metadata: { name: "ksvc-node-ext", labels: { "topology.kubernetes.io/zone": "zone-b" } } } });
    await core.patchNodeStatus({ name: "ksvc-node-ext", body: { status: { addresses: [{ type: "InternalIP", address: "192.168.70.1" }, { type: "ExternalIP", address: "198.51.100.70" }] } } }, mergePatch);
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "edge" }, spec: { type: "LoadBalancer", selector: { app: "edge" }, ports: [{ name: "http", port: 80, nodePort: 30170 }] } } });
    await core.patchNamespacedServiceStatus({ namespace: ns, name: "edge", body: { status: { loadBalancer: { ingress: [{ ip: "203.0.113.70" }] } } } }, mergePatch);
    const net = kc.makeApiClient(NetworkingV1Api);
    await net.createNamespacedIngress({
      namespace: ns,
      body: {
        metadata: { name: "front" },
        spec: { rules: [{ host: "edge.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "edge", port: { number: 80 } } } }] } }] },
      },
    });
    await net.patchNamespacedIngressStatus({ namespace: ns, name: "front", body: { status: { loadBalancer: { ingress: [{ ip: "203.0.113.71" }] } } } }, mergePatch);
    const reg = open({ address: "external" });
    await reg.whenSynced();
    // Nodes are not part of sync (they are optional): node ports may follow the first snapshot.
    await eventually("external addresses", () => ["198.51.100.70:", "203.0.113.70:", "203.0.113.71:"].every((p) => view(reg.instances("edge")).some((v) => v.startsWith(p))), 20_000);
    const got = view(reg.instances("edge"));
    assert.ok(got.includes("198.51.100.70:30170/http"), `node port on the node's external address: ${got}`);
    assert.ok(got.includes("203.0.113.70:80/http"), `load balancer: ${got}`);
    assert.ok(got.includes("203.0.113.71:80/http"), `ingress: ${got}`);
  });

  it("works with deploy/rbac.yaml + deploy/rbac-kube-services.yaml and a pod-bound token: reads, nodes refused without failing, writes refused", async () => {
    const rbacNs = await testNamespace(kc, "ksvc-rbac");
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    for (const file of ["rbac.yaml", "rbac-kube-services.yaml"]) {
      for (const doc of loadAllYaml(readFileSync(fileURLToPath(new URL(`../../deploy/${file}`, import.meta.url)), "utf8")) as { kind?: string }[]) {
        if (doc.kind === "ServiceAccount") await core.createNamespacedServiceAccount({ namespace: rbacNs, body: doc as V1ServiceAccount });
        else if (doc.kind === "Role") await rbac.createNamespacedRole({ namespace: rbacNs, body: doc as V1Role });
        else if (doc.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace: rbacNs, body: doc as V1RoleBinding });
        else assert.fail(`deploy/${file} ships a ${doc.kind}: namespaced objects only`);
      }
    }
    await core.createNamespacedService({ namespace: rbacNs, body: { metadata: { name: "svc" }, spec: { selector: { app: "svc" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } } });
    const pod = await createReadyPod(kc, { namespace: rbacNs, name: "svc-0", podIP: "10.71.0.1", nodeName: "ksvc-node-a", labels: { app: "svc" }, serviceAccountName: "podreg" });
    const token = await requestToken(kc, { namespace: rbacNs, serviceAccount: "podreg", pod: { name: "svc-0", uid: pod.metadata!.uid! } });
    const tmp = mkdtempSync(join(tmpdir(), "podreg-ksvc-rbac-"));
    const limited = new KubeClient(loadKubeConfig({ kubeconfig: writeTokenKubeconfig(kc, join(tmp, "kubeconfig"), token, rbacNs) }));
    closers.push(async () => {
      limited.close();
      rmSync(tmp, { recursive: true, force: true });
    });
    const warnings: string[] = [];
    const logger = { debug: () => {}, info: () => {}, warn: (_o: object, m?: string) => void warnings.push(m ?? ""), error: () => {} };
    // RBAC objects reach the authorizer shortly after creation: retry the whole open on a first refusal.
    await eventually("synced with the limited token", async () => {
      const reg = new KubeServicesRegistry({ client: limited, namespaces: [rbacNs], logger, quietRetries: true });
      try {
        await reg.whenSynced(AbortSignal.timeout(3000));
        await eventually("endpoint", () => reg.instances("svc").length === 1, 10_000);
        assert.equal(reg.instances("svc")[0]!.host, "10.71.0.1");
        // The Nodes informer fails on its own schedule: refused, logged once, and the source still synced.
        await eventually("nodes refused, logged", () => warnings.some((w) => /cannot watch Nodes/.test(w)), 10_000);
        assert.equal(reg.synced, true);
        return true;
      } finally {
        await reg.close();
      }
    }, 30_000);
    await assert.rejects(limited.request({ method: "DELETE", path: `/api/v1/namespaces/${rbacNs}/services/svc` }), { code: "PODREG_KUBE_FORBIDDEN" });
  });
});
