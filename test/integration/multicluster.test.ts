/**
 * The aggregate over two real clusters (two testenv control planes at once)
 * and the local registry: one subscription sees annotation registrations,
 * EndpointSlices and local instances, follows changes in each, keeps a lost
 * cluster's instances for a while, drops them, and takes them back.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, DiscoveryV1Api, KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import type { Instance } from "../../src/model/instance.js";
import { AggregateDiscovery } from "../../src/registry/aggregate.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { KubeServicesRegistry } from "../../src/registry/kube-services/registry.js";
import { LocalRegistry } from "../../src/registry/local/registry.js";
import { createNamespace, createReadyPod, loadKubeConfig, startControlPlane, type ControlPlane } from "../../testenv/index.js";
import { runCli } from "../support/cli.js";
import { testCluster } from "../support/cluster.js";
import { startProxy, type Proxy } from "../support/proxy.js";
import { eventually } from "../support/wait.js";

const show = (list: readonly Instance[]) =>
  list.map((i) => `${i.cluster ?? "-"} ${i.host}:${i.port} ${(i.sources ?? [i.source]).join("+")}${i.metadata.version ? ` ${i.metadata.version}` : ""}`).sort();

describe("aggregate over two clusters and the local registry (two real control planes)", () => {
  let west: ControlPlane;
  let proxy: Proxy;
  let eastKc: KubeConfig;
  let westKc: KubeConfig;
  let kubeconfig: string;
  let tmp: string;
  const ns = `multi-${Date.now().toString(36)}`;
  const closers: (() => Promise<unknown> | unknown)[] = [];

  before(async () => {
    eastKc = (await testCluster()).kc;
    west = await startControlPlane();
    closers.push(() => west.stop());
    const westDirect = loadKubeConfig(west.kubeconfigPath);
    const server = new URL(westDirect.getCurrentCluster()!.server);
    proxy = await startProxy({ host: server.hostname, port: Number(server.port) });
    closers.push(() => proxy.close());
    // One kubeconfig, two contexts: east direct, west through the proxy (so the test can take it away).
    const cluster = (kc: KubeConfig, name: string, url?: string) => ({ ...kc.getCurrentCluster()!, name, server: url ?? kc.getCurrentCluster()!.server });
    const user = (kc: KubeConfig, name: string) => ({ ...kc.getCurrentUser()!, name });
    const merged = new KubeConfig();
    merged.loadFromOptions({
      clusters: [cluster(eastKc, "east"), cluster(westDirect, "west", proxy.url)],
      users: [user(eastKc, "east"), user(westDirect, "west")],
      contexts: [
        { name: "east", cluster: "east", user: "east", namespace: ns },
        { name: "west", cluster: "west", user: "west", namespace: ns },
      ],
      currentContext: "east",
    });
    tmp = mkdtempSync(join(tmpdir(), "podreg-multi-"));
    kubeconfig = join(tmp, "kubeconfig");
    writeFileSync(kubeconfig, merged.exportConfig(), { mode: 0o600 });
    closers.push(() => rmSync(tmp, { recursive: true, force: true }));
    westKc = new KubeConfig();
    westKc.loadFromFile(kubeconfig);
    westKc.setCurrentContext("west");
    eastKc = new KubeConfig();
    eastKc.loadFromFile(kubeconfig);
    for (const kc of [eastKc, westKc]) await createNamespace(kc, ns);
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("one subscription: annotations and slices merged per endpoint, each cluster tagged, the local registry beside them", async () => {
    const svc = { metadata: { name: "api" }, spec: { selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } };
    for (const kc of [eastKc, westKc]) await kc.makeApiClient(CoreV1Api).createNamespacedService({ namespace: ns, body: svc });
    await createReadyPod(eastKc, { namespace: ns, name: "api-e", podIP: "10.80.0.41", labels: { app: "api" } });
    await createReadyPod(westKc, { namespace: ns, name: "api-w", podIP: "10.80.0.42", labels: { app: "api" } });
    const eastClient = new KubeClient(eastKc);
    const westClient = new KubeClient(westKc);
    closers.push(() => eastClient.close(), () => westClient.close());
    const provider = new KubePodsRegistry({ client: eastClient, namespaces: [ns], pod: { namespace: ns, name: "api-e" }, handleSignals: false });
    closers.push(() => provider.close());
    const reg = await provider.register({ service: "api", port: 8080, metadata: { version: "v1" } });
    const local = new LocalRegistry({ namespace: ns });
    const db = await local.add({ service: "api", port: 8080, host: "127.0.0.43", kind: "persistent" });

    const agg = new AggregateDiscovery({
      sources: [
        { discovery: new KubePodsRegistry({ client: eastClient, namespaces: [ns], handleSignals: false }), cluster: "east" },
        { discovery: new KubeServicesRegistry({ client: eastClient, namespaces: [ns] }), cluster: "east" },
        { discovery: new KubePodsRegistry({ client: westClient, namespaces: [ns], handleSignals: false, quietRetries: true }), cluster: "west" },
        { discovery: new KubeServicesRegistry({ client: westClient, namespaces: [ns], quietRetries: true }), cluster: "west" },
        local,
      ],
      staleAfterMs: 3000,
    });
    closers.push(() => agg.close());
    const statuses: string[] = [];
    agg.onStatus((s) => statuses.push(s.type));
    const seen: string[] = [];
    agg.subscribe("api", (ev) => seen.push(ev.type));
    await agg.whenSynced();
    const want = ["- 127.0.0.43:8080 local", "east 10.80.0.41:8080 kube-pods+kube-services v1", "west 10.80.0.42:8080 kube-services"].join("|");
    await eventually("all three", () => show(agg.instances("api")).join("|") === want, 20_000).catch(async (err: Error) => {
      const slices = await eastKc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: ns });
      throw new Error(`${err.message}; have ${show(agg.instances("*")).join("|")}; east slices ${JSON.stringify(slices.items.map((s) => [s.metadata?.name, s.endpoints?.map((e) => e.addresses)]))}; statuses ${statuses}`);
    });

    // Changes in each: an annotation update, a pod scaled up in west, a local delete.
    await reg.update({ metadata: { version: "v2" } });
    await createReadyPod(westKc, { namespace: ns, name: "api-w2", podIP: "10.80.0.44", labels: { app: "api" } });
    await local.remove(db.id);
    await eventually(
      "changes followed",
      () => show(agg.instances("api")).join("|") === ["east 10.80.0.41:8080 kube-pods+kube-services v2", "west 10.80.0.42:8080 kube-services", "west 10.80.0.44:8080 kube-services"].join("|"),
      20_000,
    );

    // West goes away: its instances stay (stale) for 3 s, then go; when it answers, they come back.
    proxy.pause();
    proxy.cut();
    await eventually("failing", () => statuses.includes("failing"), 20_000);
    assert.equal(agg.instances("api").filter((i) => i.cluster === "west").length, 2, "kept while stale");
    await eventually("dropped after staleAfterMs", () => agg.instances("api").every((i) => i.cluster !== "west"), 20_000);
    assert.equal(agg.instances("api").length, 1, "east is unaffected");
    proxy.resume();
    await eventually("west back", () => agg.instances("api").filter((i) => i.cluster === "west").length === 2, 40_000);
    await eventually("recovered", () => statuses.includes("recovered"), 10_000);
    assert.equal(seen[0], "snapshot");
  });

  it("the CLI reads the same: ls --registry kube-pods,kube-services --context east --context west", async () => {
    const r = await runCli(["ls", "api", "--json", "--registry", "kube-pods,kube-services", "--context", "east", "--context", "west", "-n", ns, "--stale-after", "60000"], { KUBECONFIG: kubeconfig });
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { host: string; cluster?: string; sources?: string[] }[];
    assert.deepEqual(list.map((i) => `${i.cluster} ${i.host} ${(i.sources ?? []).join("+")}`).sort(), ["east 10.80.0.41 kube-pods+kube-services", "west 10.80.0.42 ", "west 10.80.0.44 "]);
    // The same clusters from a file, named there (not by their contexts), each with its own kubeconfig.
    const clustersFile = join(tmp, "clusters.yaml");
    writeFileSync(clustersFile, `clusters:\n  - name: dc1\n    context: east\n    kubeconfig: ${kubeconfig}\n  - name: dc2\n    context: west\n    kubeconfig: ${kubeconfig}\n    namespaces: [${ns}]\n`);
    const viaFile = await runCli(["ls", "api", "--json", "--registry", "kube-pods,kube-services", "--clusters", clustersFile, "-n", ns], { KUBECONFIG: "/nonexistent" });
    assert.equal(viaFile.code, 0, viaFile.stderr);
    const fromFile = JSON.parse(viaFile.stdout) as { host: string; cluster?: string }[];
    assert.deepEqual(fromFile.map((i) => `${i.cluster} ${i.host}`).sort(), ["dc1 10.80.0.41", "dc2 10.80.0.42", "dc2 10.80.0.44"]);
    const stale = await runCli(["ls", "--stale-after", "soon"], { KUBECONFIG: kubeconfig });
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /^podreg: PODREG_CONFIG: .*--stale-after must be an integer/m);
    const bad = await runCli(["ls", "--registry", "kube-pods,consul"], { KUBECONFIG: kubeconfig });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^podreg: PODREG_CONFIG: --registry: unknown source "consul"/m);
    const write = await runCli(["register", "--service", "x", "--port", "1", "--registry", "kube-services"], { KUBECONFIG: kubeconfig });
    assert.equal(write.code, 1);
    assert.match(write.stderr, /registrations go into one cluster's pods/);
  });
});
