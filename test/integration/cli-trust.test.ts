/**
 * The podreg command as operators and attackers meet it, across real OS
 * processes on the real API server: shared entries between processes of one
 * pod, deregistration failures that are reported, outages that are visible,
 * untrusted text that stays text, flags checked before configuration.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createNativeCodec } from "../../src/registry/codecs/index.js";
import { createReadyPod, mergePatch, writeKubeconfig } from "../../testenv/index.js";
import { runCli, startCli, type CliProcess } from "../support/cli.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { startProxy, type Proxy } from "../support/proxy.js";
import { eventually } from "../support/wait.js";

const native = createNativeCodec();
const ANN = native.annotationKey;
/** Each CLI process compiles the sources through tsx: bounds for a loaded machine. */
const START_MS = 60_000;
const RUN_MS = 90_000;

const exitOf = async (p: CliProcess, ms: number): Promise<number | null> => {
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), ms);
  const { code } = await p.exited;
  clearTimeout(timer);
  return code;
};

describe("podreg CLI: trust, failures and outages", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let kubeconfig: string;
  let proxied: string;
  let proxy: Proxy;
  let tmp: string;
  const procs: CliProcess[] = [];
  const start = (args: string[], env: NodeJS.ProcessEnv) => {
    const p = startCli(args, env);
    procs.push(p);
    return p;
  };
  const inPod = (pod: string, config = kubeconfig): NodeJS.ProcessEnv => ({ POD_NAME: pod, POD_NAMESPACE: ns, KUBECONFIG: config });
  const entries = async (name: string) => {
    const v = (await core.readNamespacedPod({ name, namespace: ns })).metadata?.annotations?.[ANN];
    return v === undefined ? [] : native.decode(v);
  };

  before(async () => {
    const c = await testCluster();
    kc = c.kc;
    kubeconfig = c.kubeconfigPath;
    core = kc.makeApiClient(CoreV1Api);
    ns = await testNamespace(kc, "clitrust");
    tmp = mkdtempSync(join(tmpdir(), "podreg-clitrust-"));
    const server = new URL(kc.getCurrentCluster()!.server);
    proxy = await startProxy({ host: server.hostname, port: Number(server.port) });
    const user = kc.getCurrentUser()!;
    const pem = (b64?: string) => Buffer.from(b64 ?? "", "base64").toString();
    proxied = writeKubeconfig(join(tmp, "proxied"), {
      server: proxy.url,
      caPem: pem(kc.getCurrentCluster()!.caData),
      user: { clientCertPem: pem(user.certData), clientKeyPem: pem(user.keyData) },
      namespace: ns,
    });
  });
  after(async () => {
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    await proxy.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("two live processes of one pod share an entry: it goes when the last one goes, also when the other was SIGKILLed", async () => {
    await createReadyPod(kc, { namespace: ns, name: "shared", podIP: "10.73.0.1" });
    await createReadyPod(kc, { namespace: ns, name: "killed", podIP: "10.73.0.2" });
    const args = ["--service", "echo", "--port", "8080"];
    const [a, b, c, d] = [
      start(["register", ...args], inPod("shared")),
      start(["register", ...args], inPod("shared")),
      start(["register", ...args], inPod("killed")),
      start(["register", ...args], inPod("killed")),
    ];
    await Promise.all([a, b, c, d].map((p) => p.line(/^registered echo http:8080/, START_MS)));
    assert.equal((await entries("shared")).length, 1, "one entry for both");

    a.proc.kill("SIGTERM");
    assert.equal(await exitOf(a, 15_000), 0, a.stderr());
    assert.equal((await entries("shared")).length, 1, "the other process still serves: its entry stays");
    b.proc.kill("SIGTERM");
    assert.equal(await exitOf(b, 15_000), 0, b.stderr());
    assert.deepEqual(await entries("shared"), [], "the last owner took it");
    assert.equal((await core.readNamespacedPod({ name: "shared", namespace: ns })).metadata?.labels?.[native.labelKey], undefined);

    c.proc.kill("SIGKILL");
    await c.exited;
    d.proc.kill("SIGTERM");
    assert.equal(await exitOf(d, 15_000), 0, d.stderr());
    assert.deepEqual(await entries("killed"), [], "a SIGKILLed co-owner (provably dead) does not keep it");
  });

  it("register exits non-zero with one line when it can't deregister; a second SIGTERM does not abandon it", async () => {
    await createReadyPod(kc, { namespace: ns, name: "stuck-1", podIP: "10.73.1.1" });
    await createReadyPod(kc, { namespace: ns, name: "stuck-2", podIP: "10.73.1.2" });
    const args = ["register", "--service", "stuck", "--port", "8080", "--deregister-timeout", "3000"];
    const once = start(args, inPod("stuck-1", proxied));
    const twice = start(args, inPod("stuck-2", proxied));
    await Promise.all([once, twice].map((p) => p.line(/^registered stuck/, START_MS)));
    proxy.pause();
    try {
      const t0 = Date.now();
      once.proc.kill("SIGTERM");
      twice.proc.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      twice.proc.kill("SIGTERM");
      const [c1, c2] = await Promise.all([exitOf(once, 20_000), exitOf(twice, 20_000)]);
      const took = Date.now() - t0;
      assert.equal(c1, 1);
      assert.equal(c2, 1);
      assert.ok(took >= 2500, `waited for its deadline: ${took} ms`);
      const lines1 = once.stderr().trimEnd().split("\n");
      assert.equal(lines1.length, 1, once.stderr());
      assert.match(lines1[0]!, /^podreg: PODREG_DEREGISTRATION: stuck http:8080 may still be registered in pod .*stuck-1.*gave up after 3\.\ds, \d+ attempts/);
      assert.doesNotMatch(once.stdout(), /deregistered/);
      const lines2 = twice.stderr().trimEnd().split("\n");
      assert.equal(lines2.length, 2, twice.stderr());
      assert.match(lines2[0]!, /^podreg: still deregistering stuck http:8080 \(at most \d\.\ds more\); a third signal abandons it$/);
      assert.match(lines2[1]!, /^podreg: PODREG_DEREGISTRATION: /);
    } finally {
      proxy.resume();
    }
    assert.equal((await entries("stuck-1")).length, 1, "still registered, as it said");
  });

  it("watch prints one line when the API server is lost and one when it answers again", async () => {
    await createReadyPod(kc, { namespace: ns, name: "seen", podIP: "10.73.2.1" });
    await core.patchNamespacedPod(
      {
        name: "seen",
        namespace: ns,
        body: { metadata: { labels: { [native.labelKey]: native.labelValue }, annotations: { [ANN]: native.encode(native.apply([], { drop: new Set(), add: [{ service: "seen", protocol: "http", host: "", port: 80, weight: 1, metadata: {}, registeredAt: 0 }] })) } } },
      },
      mergePatch,
    );
    const w = start(["watch", "seen", "-n", ns], { KUBECONFIG: proxied });
    await w.line(/^added +seen 10\.73\.2\.1:80 http weight=1 pod=.*\/seen$/, START_MS);
    proxy.pause();
    await eventually("a lost line", () => /lost the API server/.test(w.stderr()), 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    proxy.resume();
    await eventually("an answers-again line", () => /answers again after \d+\.\ds/.test(w.stderr()), 30_000);
    const lines = w.stderr().trimEnd().split("\n");
    assert.equal(lines.length, 2, w.stderr());
    assert.match(lines[0]!, /^podreg: lost the API server \(PODREG_KUBE_UNREACHABLE: .*\); retrying/);
    w.proc.kill("SIGTERM");
    assert.equal(await exitOf(w, 15_000), 0);
  });

  it("prints neighbours' data as text: no escape sequences, no forged rows; JSON stays exact", async () => {
    await createReadyPod(kc, { namespace: ns, name: "evil", podIP: "10.73.3.1" });
    const service = "evil\u001b]0;pwned\u0007\u001b[31m";
    const metadata = { "k\u001b[2J": "v1\nFAKE-LINE 10.9.9.9:1", bidi: "abc\u202edcba", c1: "\u009b2J" };
    await core.patchNamespacedPod(
      {
        name: "evil",
        namespace: ns,
        body: { metadata: { labels: { [native.labelKey]: native.labelValue }, annotations: { [ANN]: native.encode(native.apply([], { drop: new Set(), add: [{ service, protocol: "http", host: "", port: 80, weight: 1, metadata, registeredAt: 0 }] })) } } },
      },
      mergePatch,
    );
    const human = await runCli(["ls", "-n", ns], { KUBECONFIG: kubeconfig }, RUN_MS);
    assert.equal(human.code, 0, human.stderr);
    // eslint-disable-next-line no-control-regex -- nothing raw may reach the terminal
    assert.doesNotMatch(human.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    assert.ok(!human.stdout.split("\n").some((l) => l.startsWith("FAKE-LINE")), human.stdout);
    assert.match(human.stdout, /evil\\x1b\]0;pwned\\x07\\x1b\[31m/);
    assert.match(human.stdout, /k\\x1b\[2J=v1\\nFAKE-LINE 10\.9\.9\.9:1/);

    const json = await runCli(["ls", "-n", ns, "--json"], { KUBECONFIG: kubeconfig }, RUN_MS);
    assert.equal(json.code, 0, json.stderr);
    // eslint-disable-next-line no-control-regex -- JSON escapes them too
    assert.doesNotMatch(json.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    const listed = (JSON.parse(json.stdout) as { service: string; metadata: Record<string, string> }[]).find((i) => i.service.startsWith("evil"));
    assert.equal(listed?.service, service, "exact");
    assert.deepEqual(listed?.metadata, metadata, "exact");
  });

  it("checks flags before any configuration, refuses control characters at register, and never prints credentials", async () => {
    const emptyHome = mkdtempSync(join(tmp, "home-"));
    const noConfig: NodeJS.ProcessEnv = { KUBECONFIG: "", HOME: emptyHome, KUBERNETES_SERVICE_HOST: undefined, POD_NAME: "x", POD_NAMESPACE: ns };
    const caPem = Buffer.from(kc.getCurrentCluster()!.caData!, "base64").toString();
    const leaky = writeKubeconfig(join(tmp, "leaky"), { server: "https://admin:s3cretpw@127.0.0.1:1", caPem, user: { token: "tok-abcdef" }, namespace: ns });
    const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
      ["ls --timeout abc", ["ls", "--timeout", "abc"], noConfig, /^podreg: PODREG_CONFIG: option '--timeout <ms>' argument 'abc' is invalid\. --timeout must be an integer/],
      ["watch --timeout -5", ["watch", "--timeout", "-5"], noConfig, /^podreg: PODREG_CONFIG: .*--timeout must be an integer/],
      ["register --weight abc", ["register", "--service", "e", "--port", "80", "--weight", "abc"], noConfig, /^podreg: PODREG_CONFIG: .*--weight must be a finite number/],
      ["register, control character in the service", ["register", "--service", "e\u001b[31m", "--port", "80"], noConfig, /^podreg: PODREG_REGISTRATION: .*control characters/],
      ["register, control character in a metadata key", ["register", "--service", "e", "--port", "80", "--meta", "k\u0007=v"], noConfig, /^podreg: PODREG_REGISTRATION: .*control characters/],
      ["register --host a/b", ["register", "--service", "e", "--port", "80", "--host", "a/b"], noConfig, /^podreg: PODREG_REGISTRATION: .*host "a\/b" is neither an IP address nor a DNS name/],
      ["ls with credentials in the server URL", ["ls", "-n", ns, "--timeout", "20000"], { KUBECONFIG: leaky }, /^podreg: PODREG_KUBE_UNREACHABLE: .*https:\/\/\*\*\*@127\.0\.0\.1:1/],
    ];
    const results: Awaited<ReturnType<typeof runCli>>[] = [];
    for (let i = 0; i < cases.length; i += 2) results.push(...(await Promise.all(cases.slice(i, i + 2).map(([, args, env]) => runCli(args, env, RUN_MS)))));
    cases.forEach(([what, , , re], i) => {
      const r = results[i]!;
      assert.notEqual(r.code, 0, what);
      assert.notEqual(r.code, null, `${what}: exited by itself`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.match(lines[0] ?? "", re, `${what}: ${r.stderr}`);
      assert.equal(lines.length, 1, `${what}: one style for every error, one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /PODREG_KUBE_CONFIG/, `${what}: flags are checked before configuration`);
      assert.doesNotMatch(r.stderr + r.stdout, /s3cretpw|tok-abcdef/, `${what}: no credentials`);
      // eslint-disable-next-line no-control-regex -- the refused text is not echoed raw
      assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f]/, `${what}: escaped`);
    });
  });
});
