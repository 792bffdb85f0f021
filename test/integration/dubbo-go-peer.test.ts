/**
 * The real dubbo-go v1.5.9 as podreg's peer on a real API server: the
 * testenv/go/dubbogo program registers and subscribes through dubbo-go's own
 * Kubernetes registry, each process "in" a pod of its own (private mount
 * namespace with the service-account files; see testenv/peers.ts), and the
 * podreg command runs as users run it. Checks that each side sees the other,
 * and that both write the same annotation for the same registration.
 *
 * dubbo-go's own defects are worked around, never relied on: a consumer is
 * started with at most one provider in place (on start it notices only the
 * first provider of the first batch it reads), and removals are not expected
 * to reach dubbo-go consumers (they never do in v1.5.9).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createDubboGoCodec } from "../../src/registry/codecs/dubbo-go.js";
import { createReadyPod, grantDubboGoPodAccess, inClusterCredentials, startDubboGoPeer, type DubboGoPeer, type PeerEvent } from "../../testenv/index.js";
import { runCli, startCli, type CliProcess } from "../support/cli.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { dubboGoPeerBinary } from "../support/dubbo-go.js";
import { eventually } from "../support/wait.js";

/** Not podreg*: registry-admission.test.ts installs a policy scoped to service accounts named so. */
const SA = "dubbo-go";
const ECHO = "com.example.Echo";
const ANNOTATION = "dubbo.io/annotation";
const LABEL = "dubbo.io/label";
/** dubbo-go starts in well under a second here; generous for a loaded machine. */
const PEER_MS = 60_000;
/** `podreg` under tsx takes seconds to start on 2 busy cores. */
const CLI_MS = 60_000;

interface PodRef {
  namespace: string;
  name: string;
  ip: string;
  uid: string;
}

interface WatchLine {
  type: string;
  instance: { service: string; host: string; port: number; protocol: string; metadata: Record<string, string> };
}

const isAdd = (ip: string) => (e: PeerEvent) => e.event === "service" && e.action === "add" && e.ip === ip && e.interface === ECHO;

describe("dubbo-go v1.5.9 as a peer (real dubbo-go processes)", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let kubeconfig: string;
  let binary: string;
  const peers: DubboGoPeer[] = [];
  const clis: CliProcess[] = [];

  before(async () => {
    const cluster = await testCluster();
    kc = cluster.kc;
    kubeconfig = cluster.kubeconfigPath;
    core = kc.makeApiClient(CoreV1Api);
    binary = await dubboGoPeerBinary();
  });

  after(async () => {
    await Promise.all([...peers.map((p) => p.stop()), ...clis.map(stopCli)]);
  });

  async function namespace(prefix: string): Promise<string> {
    const ns = await testNamespace(kc, prefix);
    await grantDubboGoPodAccess(kc, ns, SA);
    return ns;
  }

  async function pod(ns: string, name: string, ip: string): Promise<PodRef> {
    const p = await createReadyPod(kc, { namespace: ns, name, podIP: ip, serviceAccountName: SA });
    const uid = p.metadata?.uid;
    assert.ok(uid, `pod ${ns}/${name} has no uid`);
    return { namespace: ns, name, ip, uid };
  }

  /** A dubbo-go process in `p`, with the pod-bound token a kubelet would mount. */
  async function dubboGo(mode: "provider" | "consumer", p: PodRef, args: string[]): Promise<DubboGoPeer> {
    const credentials = await inClusterCredentials(kc, { namespace: p.namespace, name: p.name, uid: p.uid, serviceAccount: SA });
    const peer = startDubboGoPeer({ binary, mode, args, pod: { namespace: p.namespace, name: p.name, ip: p.ip }, credentials });
    peers.push(peer);
    return peer;
  }

  async function provider(p: PodRef, args: string[] = []): Promise<{ peer: DubboGoPeer; pid: number }> {
    const peer = await dubboGo("provider", p, ["--interface", ECHO, "--port", "20000", "--methods", "Echo,Ping", ...args]);
    const registered = await peer.waitFor("the dubbo-go provider's registered line", (e) => e.event === "registered", { timeoutMs: PEER_MS });
    return { peer, pid: registered.pid as number };
  }

  async function consumer(p: PodRef): Promise<DubboGoPeer> {
    const peer = await dubboGo("consumer", p, ["--interface", ECHO]);
    await peer.waitFor("the dubbo-go consumer's ready line", (e) => e.event === "ready", { timeoutMs: PEER_MS });
    return peer;
  }

  /** `podreg register --format dubbo-go` "in" pod `p` (its identity from the Downward API variables), admin credentials. */
  async function podregRegister(p: PodRef): Promise<CliProcess> {
    const cli = startCli(["register", "--format", "dubbo-go", "--service", ECHO, "--port", "20000", "--meta", "methods=Echo,Ping"], {
      KUBECONFIG: kubeconfig,
      POD_NAME: p.name,
      POD_NAMESPACE: p.namespace,
    });
    clis.push(cli);
    await cli.line(/^registered /, CLI_MS);
    return cli;
  }

  async function podregLs(ns: string): Promise<WatchLine["instance"][]> {
    const r = await runCli(["ls", "--format", "dubbo-go", "-n", ns, "--json"], { KUBECONFIG: kubeconfig }, CLI_MS);
    assert.equal(r.code, 0, `podreg ls failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as WatchLine["instance"][];
  }

  async function annotation(p: PodRef): Promise<{ value: string | undefined; label: string | undefined }> {
    const pod = await core.readNamespacedPod({ name: p.name, namespace: p.namespace });
    return { value: pod.metadata?.annotations?.[ANNOTATION], label: pod.metadata?.labels?.[LABEL] };
  }

  it("podreg sees a dubbo-go provider (ls, watch) as one instance, also after dubbo-go restarts in the same pod", async () => {
    const ns = await namespace("dg-provider");
    const goPod = await pod(ns, "go-provider", "10.70.0.11");
    const first = await provider(goPod, ["--param", "release=dubbo-golang-1.5.9"]);

    const listed = await podregLs(ns);
    assert.equal(listed.length, 1, JSON.stringify(listed));
    const [echo] = listed;
    assert.deepEqual(
      { service: echo?.service, protocol: echo?.protocol, host: echo?.host, port: echo?.port, methods: echo?.metadata.methods, side: echo?.metadata.side },
      { service: ECHO, protocol: "dubbo", host: "10.70.0.11", port: 20000, methods: "Echo,Ping", side: "provider" },
    );
    assert.equal(echo?.metadata.pid, String(first.pid), "the pid dubbo-go wrote");
    assert.equal(echo?.metadata.release, "dubbo-golang-1.5.9");

    const watch = startCli(["watch", "--format", "dubbo-go", "--json", "-n", ns], { KUBECONFIG: kubeconfig });
    clis.push(watch);
    const watched = (): WatchLine[] =>
      watch
        .stdout()
        .split("\n")
        .slice(0, -1) // complete lines only: the last piece is "" or a line still being written
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as WatchLine)
        .filter((l) => l.instance.service === ECHO);
    const added = JSON.parse(await watch.line(/"type":"added"/, CLI_MS)) as WatchLine;
    assert.equal(`${added.instance.protocol}://${added.instance.host}:${added.instance.port}`, "dubbo://10.70.0.11:20000");
    assert.equal(added.instance.metadata.methods, "Echo,Ping");

    // A restart: dubbo-go has no deregistration, so the old URL stays and the new process appends its own.
    await first.peer.stop();
    const second = await provider(goPod, ["--param", "release=dubbo-golang-1.5.9"]);
    assert.notEqual(second.pid, first.pid);
    const { value } = await annotation(goPod);
    assert.ok(value);
    const urls = createDubboGoCodec()
      .decode(value)
      .filter((e) => e.k.includes("/providers/"));
    assert.equal(urls.length, 2, "dubbo-go appended a second URL for the same address (its restart defect), so the test exercises it");

    const afterRestart = await podregLs(ns);
    assert.equal(afterRestart.length, 1, `one instance, not one per URL: ${JSON.stringify(afterRestart)}`);
    assert.equal(afterRestart[0]?.metadata.pid, String(second.pid), "the newest URL wins");
    await eventually("watch shows the restarted provider", () => watched().at(-1)?.instance.metadata.pid === String(second.pid), CLI_MS);
    const types = watched().map((l) => l.type);
    assert.equal(types.filter((t) => t === "added").length, 1, `one instance, updated in place: ${watch.stdout()}`);
    assert.ok(!types.includes("removed"), `never removed: ${watch.stdout()}`);
  });

  it("dubbo-go consumers see a podreg registration: one running before it, one started after it", async () => {
    const ns = await namespace("dg-consumer");
    const nodePod = await pod(ns, "node-provider", "10.70.1.10");
    const early = await consumer(await pod(ns, "go-consumer-early", "10.70.1.21"));

    await podregRegister(nodePod);
    const seen = await early.waitFor("the running consumer's add event for the podreg provider", isAdd(nodePod.ip), { timeoutMs: PEER_MS });
    assert.equal(seen.protocol, "dubbo");
    assert.equal(seen.port, 20000);
    const params = seen.params as Record<string, string>;
    assert.equal(params.methods, "Echo,Ping");
    assert.equal(params.side, "provider");

    // One provider in place when it starts: dubbo-go's own startup defect can't hide it.
    const late = await consumer(await pod(ns, "go-consumer-late", "10.70.1.22"));
    const lateSeen = await late.waitFor("the late consumer's add event for the podreg provider", isAdd(nodePod.ip), { timeoutMs: PEER_MS });
    assert.equal(`${String(lateSeen.protocol)}://${String(lateSeen.ip)}:${String(lateSeen.port)}`, "dubbo://10.70.1.10:20000");
  });

  it("a running dubbo-go consumer sees a podreg re-registration after a deregistration", async () => {
    const ns = await namespace("dg-rereg");
    const nodePod = await pod(ns, "node-provider", "10.70.2.10");
    const go = await consumer(await pod(ns, "go-consumer", "10.70.2.21"));

    const first = await podregRegister(nodePod);
    await go.waitFor("the consumer's add event for the first registration", isAdd(nodePod.ip), { timeoutMs: PEER_MS });

    first.proc.kill("SIGTERM");
    const { code, signal } = await first.exited;
    // Killed by the signal itself (no "deregistered" line) means the command had printed "registered" before its handler was in place.
    assert.equal(code, 0, `podreg register exits 0 after deregistering (got ${signal ?? "no signal"}; stdout: ${first.stdout()}; stderr: ${first.stderr()})`);
    assert.match(first.stdout(), /^deregistered /m);
    assert.deepEqual(await annotation(nodePod), { value: undefined, label: undefined }, "the pod left dubbo-go's selector");

    const mark = go.events().length;
    await podregRegister(nodePod);
    // dubbo-go dropped the shared folder key when the pod left; only a folder and its URL in separate writes reach it again.
    await go.waitFor("the consumer's add event for the re-registration", isAdd(nodePod.ip), { timeoutMs: PEER_MS, from: mark });
  });

  it("podreg writes the annotation dubbo-go writes for the same registration, up to pid, timestamp and ip", async () => {
    const ns = await namespace("dg-bytes");
    // One address for both pods (nothing dials it): the URLs can then be compared whole.
    const ip = "10.70.3.10";
    const nodePod = await pod(ns, "node-provider", ip);
    const goPod = await pod(ns, "go-provider", ip);
    await podregRegister(nodePod); // no --protocol: dubbo is the dubbo-go format's default
    // podreg always writes weight (100 by default); a dubbo-go service sets it as one of its params.
    await provider(goPod, ["--param", "weight=100"]);

    const codec = createDubboGoCodec();
    const ours = await annotation(nodePod);
    const theirs = await annotation(goPod);
    assert.ok(ours.value && theirs.value, "both pods carry an annotation");
    assert.equal(ours.label, theirs.label, "the same label");
    // Both values are Go's encoding of their entries: podreg's encoder reproduces dubbo-go's bytes.
    assert.equal(codec.encode(codec.decode(theirs.value)), theirs.value);
    assert.equal(codec.encode(codec.decode(ours.value)), ours.value);
    // pid and timestamp differ per process; dubbo-go writes the machine's address as ip=, podreg the advertised one.
    const mask = (k: string) => k.replace(/((?:%3F|%26)(?:pid|timestamp|ip)%3D)[^%]*/g, "$1*");
    const masked = (value: string) => codec.decode(value).map((e) => ({ k: mask(e.k), v: e.v }));
    assert.deepEqual(masked(ours.value), masked(theirs.value));
  });
});

async function stopCli(p: CliProcess): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill("SIGTERM");
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), 10_000);
  await p.exited;
  clearTimeout(timer);
}
