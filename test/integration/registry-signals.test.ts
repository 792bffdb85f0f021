import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createReadyPod } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const registryTs = fileURLToPath(new URL("../../src/registry/kube-pods/registry.ts", import.meta.url));

/** A host process that registers through the library API, optionally with its own SIGTERM handler. */
function host(env: NodeJS.ProcessEnv, ownHandler: boolean) {
  const script = `
    const { KubePodsRegistry } = await import(${JSON.stringify(registryTs)});
    const reg = new KubePodsRegistry({ namespaces: [process.env.POD_NAMESPACE] });
    await reg.register({ service: "sig", port: 8080 });
    ${ownHandler ? `process.on("SIGTERM", () => { setTimeout(() => { console.log("host handled"); process.exit(7); }, 1500); });` : ""}
    console.log("ready");
    setInterval(() => {}, 1000);`;
  const proc = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on("exit", (code, signal) => r({ code, signal })));
  return { proc, exited, out: () => out };
}

describe("kube-pods registry: deregistration on SIGTERM in a host process", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let kubeconfig: string;
  const procs: ReturnType<typeof host>[] = [];

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    kubeconfig = c.kubeconfigPath;
    core = kc.makeApiClient(CoreV1Api);
    ns = await testNamespace(kc, "signals");
  });
  after(() => {
    for (const p of procs) p.proc.kill("SIGKILL");
  });

  const annotation = async (pod: string) => (await core.readNamespacedPod({ name: pod, namespace: ns })).metadata?.annotations?.["podreg.io/annotation"];

  it("deregisters, then lets SIGTERM end the process as it would have", async () => {
    await createReadyPod(kc, { namespace: ns, name: "plain", podIP: "10.7.0.1" });
    const h = host({ KUBECONFIG: kubeconfig, POD_NAME: "plain", POD_NAMESPACE: ns }, false);
    procs.push(h);
    await eventually("host ready", () => h.out().includes("ready"), 20_000);
    assert.ok(await annotation("plain"), "registered");
    const t0 = Date.now();
    h.proc.kill("SIGTERM");
    const { signal } = await h.exited;
    assert.equal(signal, "SIGTERM", `exited by the re-raised signal; output: ${h.out()}`);
    assert.ok(Date.now() - t0 < 6000, "within the deregistration bound");
    assert.equal(await annotation("plain"), undefined, "deregistered before exit");
  });

  it("deregisters and leaves the exit to a host that handles SIGTERM itself", async () => {
    await createReadyPod(kc, { namespace: ns, name: "owned", podIP: "10.7.0.2" });
    const h = host({ KUBECONFIG: kubeconfig, POD_NAME: "owned", POD_NAMESPACE: ns }, true);
    procs.push(h);
    await eventually("host ready", () => h.out().includes("ready"), 20_000);
    h.proc.kill("SIGTERM");
    const { code } = await h.exited;
    assert.equal(code, 7, `the host's handler decided the exit; output: ${h.out()}`);
    assert.ok(h.out().includes("host handled"));
    assert.equal(await annotation("owned"), undefined, "deregistered");
  });
});
