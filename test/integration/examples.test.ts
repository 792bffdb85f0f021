/**
 * Every file under examples/ is type-checked and run as a user runs it,
 * against the real control plane: the docs show these files, so a snippet
 * that doesn't compile or doesn't work fails here.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createReadyPod } from "../../testenv/index.js";
import { startScript, type CliProcess } from "../support/cli.js";
import { testCluster, testNamespace } from "../support/cluster.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const example = (name: string) => `${root}examples/${name}`;
/** Each example compiles through tsx in its own process: bounds for a loaded machine. */
const RUN_MS = 90_000;

async function exitOf(p: CliProcess, ms = RUN_MS): Promise<number | null> {
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), ms);
  const { code } = await p.exited;
  clearTimeout(timer);
  return code;
}

describe("examples/", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let kubeconfig: string;
  let ns: string;
  const procs: CliProcess[] = [];
  const run = (name: string, env: NodeJS.ProcessEnv = {}) => {
    const p = startScript(example(name), [], { KUBECONFIG: kubeconfig, ...env });
    procs.push(p);
    return p;
  };

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    core = kc.makeApiClient(CoreV1Api);
    kubeconfig = c.kubeconfigPath;
    ns = await testNamespace(kc, "examples");
  });
  after(async () => {
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
  });

  it("every example type-checks (strict, as a consumer of the built package)", async () => {
    const files = readdirSync(`${root}examples`).filter((f) => f.endsWith(".ts"));
    assert.ok(files.length >= 5, files.join());
    const tsc = `${root}node_modules/typescript/bin/tsc`;
    await promisify(execFile)(process.execPath, [tsc, "-p", `${root}examples/tsconfig.json`]).catch((err: { stdout?: string }) => {
      assert.fail(`examples do not type-check:\n${err.stdout ?? String(err)}`);
    });
  });

  it("provider.ts registers, consumer.ts sees it and exits, SIGTERM deregisters the provider", async () => {
    await createReadyPod(kc, { namespace: ns, name: "echo-1", podIP: "127.0.0.1" });
    const provider = run("provider.ts", { POD_NAME: "echo-1", POD_NAMESPACE: ns, PORT: "0" });
    await provider.line(/^registered echo on port \d+/, RUN_MS);
    const consumer = run("consumer.ts", { POD_NAMESPACE: ns, POD_NAME: "nobody" });
    assert.equal(await exitOf(consumer), 0, consumer.stderr());
    assert.match(consumer.stdout(), /^echo \(revision \d+\): 127\.0\.0\.1:\d+ \(v1\)$/m);
    provider.proc.kill("SIGTERM");
    const timer = setTimeout(() => provider.proc.kill("SIGKILL"), 30_000);
    const { signal } = await provider.exited;
    clearTimeout(timer);
    assert.equal(signal, "SIGTERM", `ended by the re-raised SIGTERM after deregistering: ${provider.stderr()}`);
    const pod = await core.readNamespacedPod({ name: "echo-1", namespace: ns });
    assert.equal(pod.metadata?.labels?.["podreg.io/label"], undefined, "deregistered before exiting");
  });

  it("http-client.ts balances across two servers and fails fast for an unknown service", async () => {
    const p = run("http-client.ts", { KUBECONFIG: "/nonexistent" });
    assert.equal(await exitOf(p), 0, p.stderr());
    assert.match(p.stdout(), /^answers: (a b a b|b a b a)$/m);
    assert.match(p.stdout(), /^nosuch: PODREG_NO_INSTANCE$/m);
  });

  it("grpc-client.ts calls through podreg:///echo and both instances serve", async () => {
    const p = run("grpc-client.ts", { KUBECONFIG: "/nonexistent" });
    assert.equal(await exitOf(p), 0, p.stderr());
    assert.match(p.stdout(), /^served by: a b$/m);
  });

  it("discovery.ts runs against the contracts, with no cluster", async () => {
    const p = run("discovery.ts", { KUBECONFIG: "/nonexistent" });
    assert.equal(await exitOf(p), 0, p.stderr());
    assert.match(p.stdout(), /^status: synced$/m);
    assert.match(p.stdout(), /^shop\/echo ::1 8080 w=100$/m);
    assert.match(p.stdout(), /^resolve\("echo\.payments\.svc"\) = payments\/echo$/m);
  });
});
