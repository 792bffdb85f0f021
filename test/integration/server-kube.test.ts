/**
 * `podreg serve --registry kube-pods` on the real control plane: one watch of
 * the API server, fanned out; consumers of the server follow pods
 * registering and deregistering.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { RemoteRegistry } from "../../src/registry/remote/registry.js";
import { createReadyPod } from "../../testenv/index.js";
import { startCli, type CliProcess } from "../support/cli.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

describe("podreg serve --registry kube-pods (real API server)", () => {
  let ns: string;
  let kubeconfig: string;
  let client: KubeClient;
  let dir: string;
  let serve: CliProcess | undefined;
  before(async () => {
    const c = await testCluster();
    kubeconfig = c.kubeconfigPath;
    client = new KubeClient(loadKubeConfig({ kubeconfig }));
    ns = await testNamespace(c.kc, "serve");
    dir = mkdtempSync(join(tmpdir(), "podreg-serve-kube-"));
  });
  after(() => {
    if (serve?.proc.exitCode === null) serve.proc.kill("SIGKILL");
    client?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("follows pods registering and deregistering; its consumers see the same through the watch API", async () => {
    const c = await testCluster();
    await createReadyPod(c.kc, { namespace: ns, name: "api-0", podIP: "127.0.0.21" });
    const provider = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name: "api-0" }, handleSignals: false });
    const handle = await provider.register({ service: "api", port: 8080, metadata: { version: "v1" } });

    serve = startCli(["serve", "--registry", "kube-pods", "--kubeconfig", kubeconfig, "-n", ns, "--port", "0", "--data-dir", dir, "--log-level", "warn"], {});
    const url = /(http:\S+)/.exec(await serve.line(/^podreg server on http:/, 20_000))![1]!;
    await eventually("ready", async () => (await fetch(`${url}/readyz`)).status === 200, 15_000);
    const consumer = new RemoteRegistry({ url, namespace: ns });
    const events: string[] = [];
    consumer.subscribe("api", (ev) => events.push(ev.type === "snapshot" ? `snapshot ${ev.instances.length}` : `${ev.type} ${ev.instance.host}`));
    await consumer.whenSynced();
    assert.deepEqual(consumer.instances("api").map((i) => [i.host, i.port, i.metadata.version, i.source]), [["127.0.0.21", 8080, "v1", "kube-pods"]]);
    const rest = (await (await fetch(`${url}/v1/services/${encodeURIComponent(`${ns}/api`)}/instances`)).json()) as { instances: { host: string }[] };
    assert.deepEqual(rest.instances.map((i) => i.host), ["127.0.0.21"]);

    await createReadyPod(c.kc, { namespace: ns, name: "api-1", podIP: "127.0.0.22" });
    const second = new KubePodsRegistry({ client, namespaces: [ns], pod: { namespace: ns, name: "api-1" }, handleSignals: false });
    await second.register({ service: "api", port: 8080, metadata: { version: "v2" } });
    await eventually("added through the server", () => consumer.instances("api").length === 2);
    await handle.close();
    await eventually("removed through the server", () => consumer.instances("api").map((i) => i.host).join() === "127.0.0.22");
    assert.deepEqual(events, ["snapshot 1", "added 127.0.0.22", "removed 127.0.0.21"]);

    // The server takes no registrations of its own: kube-pods registrations are written by pods.
    const write = await fetch(`${url}/v1/instances`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ service: "x", port: 1 }) });
    assert.equal(write.status, 400);
    assert.match(((await write.json()) as { message: string }).message, /kube-pods\) takes no registrations/);
    await consumer.close();
    await second.close();
    await provider.close();
    serve.proc.kill("SIGTERM");
    assert.equal((await serve.exited).code, 0, serve.stderr());
  });
});
