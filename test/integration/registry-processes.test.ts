/**
 * The podreg command across real OS processes: providers (`podreg register`)
 * and consumers (`podreg watch`, `podreg ls`) are separate node processes
 * that only share the API server, the way they run in pods.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { createDubboGoCodec, createNativeCodec, goQueryEscape, goQueryUnescape } from "../../src/registry/codecs/index.js";
import { createPod, createReadyPod, requestToken, writeKubeconfig, writeTokenKubeconfig } from "../../testenv/index.js";
import { startCli, runCli, type CliProcess } from "../support/cli.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const LABEL_KEY = "podreg.io/label";
const ANNOTATION = "podreg.io/annotation";
const native = createNativeCodec();
/** Each CLI process compiles the sources through tsx (seconds of CPU): bounds for starts on a loaded machine. */
const START_MS = 60_000;
const RUN_MS = 90_000;
const dubbo = createDubboGoCodec();

interface JsonInstance {
  id: string;
  service: string;
  host: string;
  port: number;
  protocol: string;
  metadata: Record<string, string>;
}
interface WatchLine {
  type: "added" | "updated" | "removed";
  instance: JsonInstance;
}

const watchLines = (p: CliProcess): WatchLine[] =>
  p
    .stdout()
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as WatchLine);

/** The instances a watch process currently shows, replaying its lines. */
function watchState(p: CliProcess): Map<string, JsonInstance> {
  const state = new Map<string, JsonInstance>();
  for (const { type, instance } of watchLines(p)) {
    if (type === "removed") state.delete(instance.id);
    else state.set(instance.id, instance);
  }
  return state;
}

/** The process's exit, or a failure once `ms` have passed: a process that hangs fails its test instead of stalling it. */
async function exitWithin(p: CliProcess, ms: number, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms; stdout: ${p.stdout()} stderr: ${p.stderr()}`)), ms)));
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The assertion every CLI failure must pass: non-zero exit, exactly one stderr line, no stack trace. */
function assertOneLineError(r: { code: number | null; stderr: string }, code: RegExp, what: string): string {
  assert.notEqual(r.code, 0, `${what}: exit code`);
  assert.notEqual(r.code, null, `${what}: exited by itself, not killed by the timeout`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: one stderr line, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, `${what}: no stack trace`);
  assert.match(lines[0]!, code, what);
  return lines[0]!;
}

describe("podreg CLI: registration and discovery across processes", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let kubeconfig: string;
  let tmp: string;
  const procs: CliProcess[] = [];
  const start = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const p = startCli(args, { KUBECONFIG: kubeconfig, ...env });
    procs.push(p);
    return p;
  };
  const inPod = (pod: string): NodeJS.ProcessEnv => ({ POD_NAME: pod, POD_NAMESPACE: ns, KUBECONFIG: kubeconfig });
  const register = (pod: string, args: string[]) => start(["register", ...args], inPod(pod));
  const readPod = (name: string): Promise<V1Pod> => core.readNamespacedPod({ name, namespace: ns });
  const entries = async (name: string) => {
    const value = (await readPod(name)).metadata?.annotations?.[ANNOTATION];
    return value === undefined ? [] : native.decode(value);
  };
  const ls = async (args: string[]): Promise<JsonInstance[]> => {
    const r = await runCli(["ls", ...args, "--json", "-n", ns], { KUBECONFIG: kubeconfig }, RUN_MS);
    assert.equal(r.code, 0, `ls failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as JsonInstance[];
  };

  let watcher: CliProcess;
  const providers = new Map<string, CliProcess>();

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    kubeconfig = c.kubeconfigPath;
    core = kc.makeApiClient(CoreV1Api);
    ns = await testNamespace(kc, "processes");
    tmp = mkdtempSync(join(tmpdir(), "podreg-processes-"));
  });
  after(async () => {
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    rmSync(tmp, { recursive: true, force: true });
  });

  it("three register processes and a watch process: the watcher and ls see all three with metadata", async () => {
    for (let i = 1; i <= 3; i++) await createReadyPod(kc, { namespace: ns, name: `echo-${i}`, podIP: `10.61.0.${i}` });
    watcher = start(["watch", "echo", "--json", "-n", ns]);
    for (let i = 1; i <= 3; i++) providers.set(`echo-${i}`, register(`echo-${i}`, ["--service", "echo", "--port", "8080", "--meta", `version=v${i}`]));
    await Promise.all([...providers.values()].map((p) => p.line(/^registered echo http:8080/, START_MS)));

    await eventually("the watcher printed three added instances", () => watchLines(watcher).filter((l) => l.type === "added").length === 3, START_MS);
    const added = watchLines(watcher).filter((l) => l.type === "added");
    assert.deepEqual(added.map((l) => `${l.instance.host}:${l.instance.port}`).sort(), ["10.61.0.1:8080", "10.61.0.2:8080", "10.61.0.3:8080"]);
    for (const { instance } of added) {
      assert.equal(instance.service, "echo");
      assert.equal(instance.protocol, "http");
      assert.deepEqual(instance.metadata, { version: `v${instance.host.slice(-1)}` });
    }

    const listed = await ls(["echo"]);
    assert.deepEqual(
      listed.map((i) => `${i.host}:${i.port} ${i.metadata.version}`).sort(),
      ["10.61.0.1:8080 v1", "10.61.0.2:8080 v2", "10.61.0.3:8080 v3"],
    );
  });

  it("SIGTERM deregisters: exit 0 within 10 s, a removed line on the watcher, label and annotation gone", async () => {
    const p = providers.get("echo-2")!;
    const t0 = Date.now();
    p.proc.kill("SIGTERM");
    const { code, signal } = await exitWithin(p, 10_000, "SIGTERM");
    const took = Date.now() - t0;
    assert.equal(signal, null);
    assert.equal(code, 0, `exit code; stderr: ${p.stderr()}`);
    assert.ok(took < 10_000, `exited after ${took} ms`);
    assert.match(p.stdout(), /^deregistered echo \(SIGTERM\)$/m);

    await eventually("the watcher printed removed for echo-2", () => watchLines(watcher).some((l) => l.type === "removed" && l.instance.host === "10.61.0.2"));
    const pod = await readPod("echo-2");
    assert.equal(pod.metadata?.annotations?.[ANNOTATION], undefined, "annotation removed");
    assert.equal(pod.metadata?.labels?.[LABEL_KEY], undefined, "label removed");
    assert.deepEqual([...watchState(watcher).values()].map((i) => i.host).sort(), ["10.61.0.1", "10.61.0.3"]);
  });

  it("a process killed with SIGKILL leaves its entry; its successor in the same pod replaces it (one entry, one instance)", async () => {
    const old = providers.get("echo-3")!;
    old.proc.kill("SIGKILL");
    assert.equal((await exitWithin(old, 10_000, "SIGKILL")).signal, "SIGKILL");
    const left = await entries("echo-3");
    assert.equal(left.length, 1, "the killed process could not deregister");
    assert.match(left[0]!.v, /"version":"v3"/);

    const successor = register("echo-3", ["--service", "echo", "--port", "8080", "--meta", "version=v3b"]);
    providers.set("echo-3", successor);
    await successor.line(/^registered echo http:8080/, START_MS);
    const now = await entries("echo-3");
    assert.equal(now.length, 1, `exactly one entry after the restart: ${JSON.stringify(now)}`);
    assert.deepEqual(native.endpoints(now).map((e) => `${e.service} ${e.protocol}:${e.port} ${e.metadata.version}`), ["echo http:8080 v3b"]);

    await eventually("the watcher shows the successor", () => [...watchState(watcher).values()].find((i) => i.host === "10.61.0.3")?.metadata.version === "v3b");
    assert.equal([...watchState(watcher).values()].filter((i) => i.host === "10.61.0.3").length, 1, "one instance for echo-3 on the watcher");
    const listed = (await ls(["echo"])).filter((i) => i.host === "10.61.0.3");
    assert.deepEqual(listed.map((i) => `${i.port} ${i.metadata.version}`), ["8080 v3b"], "one instance for echo-3 in ls");
  });

  it("two processes registering into the same pod at the same moment both land (409 + retry), in every round", async () => {
    for (let round = 1; round <= 3; round++) {
      const pod = `race-${round}`;
      await createReadyPod(kc, { namespace: ns, name: pod, podIP: `10.61.1.${round}` });
      const pair = [9001, 9002].map((port) => register(pod, ["--service", "race", "--port", String(port)]));
      await Promise.all(pair.map((p) => p.line(/^registered race/, START_MS)));
      const ports = native
        .endpoints(await entries(pod))
        .map((e) => e.port)
        .sort();
      assert.deepEqual(ports, [9001, 9002], `round ${round}: both registrations present`);

      // Deregistering at the same moment races the same way: nothing may be left behind.
      for (const p of pair) p.proc.kill("SIGTERM");
      for (const p of pair) assert.equal((await exitWithin(p, 10_000, `round ${round}`)).code, 0, `round ${round}: ${p.stderr()}`);
      const after = await readPod(pod);
      assert.equal(after.metadata?.annotations?.[ANNOTATION], undefined, `round ${round}: annotation removed`);
      assert.equal(after.metadata?.labels?.[LABEL_KEY], undefined, `round ${round}: label removed`);
    }
  });

  it("reports missing configuration, an unreachable server, 403 and bad arguments as one line and a non-zero exit", async () => {
    const emptyHome = mkdtempSync(join(tmp, "home-"));
    const noConfig: NodeJS.ProcessEnv = { KUBECONFIG: "", HOME: emptyHome, KUBERNETES_SERVICE_HOST: undefined, POD_NAME: "echo-1", POD_NAMESPACE: ns };

    const caPem = Buffer.from(kc.getCurrentCluster()!.caData!, "base64").toString();
    const unreachable = writeKubeconfig(join(tmp, "unreachable"), { server: "https://127.0.0.1:1", caPem, user: { token: "x" }, namespace: ns });

    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "nobody" } } });
    const pod = await createPod(kc, { namespace: ns, name: "nobody", serviceAccountName: "nobody" });
    const token = await requestToken(kc, { namespace: ns, serviceAccount: "nobody", pod: { name: "nobody", uid: pod.metadata!.uid! } });
    const forbidden = writeTokenKubeconfig(kc, join(tmp, "forbidden"), token, ns);

    const reg = ["register", "--service", "echo", "--port", "8080"];
    const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
      ["ls without configuration", ["ls", "echo", "-n", ns], noConfig, /^podreg: PODREG_KUBE_CONFIG: no Kubernetes configuration/],
      ["register without configuration", reg, noConfig, /^podreg: PODREG_KUBE_CONFIG: /],
      ["ls, unreachable server", ["ls", "echo", "-n", ns, "--timeout", "20000"], { KUBECONFIG: unreachable }, /^podreg: PODREG_KUBE_UNREACHABLE: .*127\.0\.0\.1:1/],
      ["register, unreachable server", reg, { KUBECONFIG: unreachable, POD_NAME: "echo-1", POD_NAMESPACE: ns }, /^podreg: PODREG_KUBE_UNREACHABLE: /],
      ["ls, forbidden", ["ls", "echo", "-n", ns, "--timeout", "20000"], { KUBECONFIG: forbidden }, /^podreg: PODREG_KUBE_FORBIDDEN: .*cannot list resource "pods"/],
      ["register, forbidden", reg, { KUBECONFIG: forbidden, POD_NAME: "nobody", POD_NAMESPACE: ns }, /^podreg: PODREG_KUBE_FORBIDDEN: .*cannot get resource "pods"/],
      ["register --port abc", ["register", "--service", "echo", "--port", "abc"], { KUBECONFIG: kubeconfig }, /^podreg: PODREG_CONFIG: .*--port must be an integer in 1\.\.65535 \(see podreg register --help\)$/],
    ];
    // Two at a time: more would only queue for the CPU (each start compiles the sources).
    const results: Awaited<ReturnType<typeof runCli>>[] = [];
    for (let i = 0; i < cases.length; i += 2) results.push(...(await Promise.all(cases.slice(i, i + 2).map(([, args, env]) => runCli(args, env, RUN_MS)))));
    cases.forEach(([what, , , re], i) => assertOneLineError(results[i]!, re, what));
    // Nothing was written by the failing register commands.
    assert.equal((await readPod("nobody")).metadata?.annotations?.[ANNOTATION], undefined);
  });

  it("register --format dubbo-go writes dubbo-go's label and annotation, and ls --format dubbo-go lists it", async () => {
    await createReadyPod(kc, { namespace: ns, name: "greeter", podIP: "10.61.2.1" });
    const iface = "com.example.Greeter";
    const pad = "x";
    const p = register("greeter", ["--format", "dubbo-go", "--service", iface, "--port", "20000", "--protocol", "tri", "--meta", "methods=SayHello,SayHi", "--meta", `pad=${pad}`]);
    await p.line(/^registered com\.example\.Greeter tri:20000/, START_MS);

    const pod = await readPod("greeter");
    assert.equal(pod.metadata?.labels?.["dubbo.io/label"], "dubbo.io.provider");
    assert.equal(pod.metadata?.labels?.[LABEL_KEY], undefined, "no native label");
    const value = pod.metadata?.annotations?.["dubbo.io/annotation"];
    assert.ok(value);
    // The pid param makes the length vary; whenever the JSON is not a multiple of 3 bytes, Go pads with `=`.
    assert.match(value, /^[A-Za-z0-9_-]+={0,2}$/, "URL-alphabet base64");
    if (Buffer.from(value, "base64url").length % 3 !== 0) assert.match(value, /=$/, "with = padding, as Go's URLEncoding writes");
    assert.equal(value.length % 4, 0);
    assert.equal(Buffer.from(value, "base64url").toString("base64url"), value.replace(/=+$/, ""), "canonical base64");

    const decoded = dubbo.decode(value);
    assert.equal(decoded.length, 2, JSON.stringify(decoded));
    assert.deepEqual(decoded[0], { k: `/dubbo/${iface}/providers`, v: "" });
    const prefix = `/dubbo/${iface}/providers/`;
    assert.ok(decoded[1]!.k.startsWith(prefix));
    assert.equal(decoded[1]!.v, "");
    const escaped = decoded[1]!.k.slice(prefix.length);
    const url = goQueryUnescape(escaped);
    assert.equal(goQueryEscape(url), escaped, "the URL is query-escaped the way Go's url.QueryEscape does");
    assert.ok(url.startsWith(`tri://10.61.2.1:20000/${iface}?`), url);
    const params = new URLSearchParams(url.slice(url.indexOf("?") + 1));
    assert.equal(params.get("interface"), iface);
    assert.equal(params.get("side"), "provider");
    assert.equal(params.get("methods"), "SayHello,SayHi");
    assert.match(params.get("timestamp") ?? "", /^[0-9]{10}$/, "seconds, as dubbo-go writes");

    const listed = await ls(["--format", "dubbo-go"]);
    assert.deepEqual(
      listed.map((i) => `${i.service} ${i.protocol}://${i.host}:${i.port} ${i.metadata.methods} ${i.metadata.side}`),
      [`${iface} tri://10.61.2.1:20000 SayHello,SayHi provider`],
      "only the dubbo-go registration, none of the native ones",
    );
    p.proc.kill("SIGTERM");
    assert.equal((await exitWithin(p, 10_000, "SIGTERM")).code, 0, p.stderr());
    const gone = await readPod("greeter");
    assert.equal(gone.metadata?.annotations?.["dubbo.io/annotation"], undefined);
    assert.equal(gone.metadata?.labels?.["dubbo.io/label"], undefined);
  });
});
