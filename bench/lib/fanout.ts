/**
 * Fan-out of the pods registry: N consumers through one `podreg serve
 * --registry kube-pods` (RemoteRegistry, one API-server watch in all) against
 * N consumers each watching the API server (KubePodsRegistry, one client
 * each), on pods that already carry registrations. Per mode: the API
 * server's and etcd's CPU seconds and peak RSS (/proc), pod watches held,
 * its LIST/WATCH requests and their mean duration (its own metrics), the
 * consumers' sync time, and PATCH -> every consumer notified, p50/p99.
 * Used by `bench fanout` and `bench scale`.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubePodsRegistry, RemoteRegistry, silentLogger, type Discovery } from "../../src/index.js";
import { KubeClient } from "../../src/kube/index.js";
import { annotationValue, codec, podsPath, SEQ_ANNOTATION, type BenchPod } from "./fixture.js";
import { apiMetrics, durationsBetween, findControlPlane, podRequestDurations, podWatches, watchProcs, type ProcWindow } from "./proc.js";
import { percentile } from "./report.js";

const DIST_MAIN = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));
const SRC = fileURLToPath(new URL("../../src", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) t = Math.max(t, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs);
  return t;
}

/**
 * How `podreg serve` is started: the built CLI, as users run it (tsx's loader
 * would add its own memory to the RSS measured). dist/ is built first (tsc,
 * about 20 s) when it is missing or older than src/.
 */
export function serveCommand(): { args: string[]; what: string } {
  if (!existsSync(DIST_MAIN) || statSync(DIST_MAIN).mtimeMs < newest(SRC)) {
    process.stderr.write("  building dist/ for podreg serve (tsc -p tsconfig.build.json) ...\n");
    execFileSync(process.execPath, [TSC, "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
  }
  return { args: [DIST_MAIN], what: "dist/src/cli/main.js" };
}
const now = () => performance.timeOrigin + performance.now();

export type FanoutMode = "serve" | "direct";

export interface FanoutOptions {
  kc: KubeConfig;
  kubeconfig: string;
  admin: KubeClient;
  ns: string;
  /** Registered pods in `ns`: the changes patch these, each consumer holds all of them. */
  pods: readonly BenchPod[];
  consumers: number;
  changes: number;
  /** Added to the change counter so it never repeats one of another phase's. */
  seqBase: number;
  progress?: (line: string) => void;
}

export interface FanoutResult {
  mode: FanoutMode;
  consumers: number;
  pods: number;
  /** Pod watches the API server held for these consumers. */
  watches: number;
  /** Consumers created -> every one synced. */
  syncMs: number;
  /** PATCH sent -> consumer notified, one sample per change and consumer. */
  p50: number;
  p99: number;
  max: number;
  /** Control-plane processes over sync + changes (undefined: not on this machine). */
  apiserver?: ProcWindow;
  etcd?: ProcWindow;
  /** The podreg serve process, in serve mode, from when it listens (its own sync included). */
  serve?: ProcWindow;
  /** CPU seconds of the process holding the consumers. */
  consumerCpuS: number;
  /** The API server's pod requests during sync + changes, per verb. */
  requests: Record<string, { count: number; meanMs: number }>;
}

function startServe(kubeconfig: string, ns: string, dir: string): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...serveCommand().args, "serve", "--registry", "kube-pods", "--kubeconfig", kubeconfig, "-n", ns, "--port", "0", "--data-dir", dir, "--log-level", "warn"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.on("exit", (code) => reject(new Error(`podreg serve exited with ${code}: ${out}`)));
  });
}

/** One mode of the fan-out: consumers created, synced, `changes` PATCHes followed to every consumer, everything closed. */
export async function kubeFanout(o: FanoutOptions, mode: FanoutMode): Promise<FanoutResult> {
  const log = o.progress ?? (() => {});
  const pids = findControlPlane(o.kc.getCurrentCluster()!.server);
  const base = await apiMetrics(o.kc);
  const watchesBefore = podWatches(base);
  const durationsBefore = podRequestDurations(base);
  const dir = mkdtempSync(join(tmpdir(), "podreg-bench-fanout-"));
  let serve: { proc: ChildProcess; url: string } | undefined;
  const consumers: Discovery[] = [];
  const clients: KubeClient[] = [];
  const listeners = new Set<(i: number, rev: string) => void>();
  try {
    // The control plane is watched from before podreg serve starts (its LIST counts); serve itself from when it is up.
    const cp = watchProcs({ apiserver: pids.apiserver, etcd: pids.etcd });
    if (mode === "serve") serve = await startServe(o.kubeconfig, o.ns, dir);
    const own = watchProcs({ serve: serve?.proc.pid });
    const cpu0 = process.cpuUsage();
    const t0 = now();
    for (let i = 0; i < o.consumers; i++) {
      let reg: Discovery;
      if (serve) reg = new RemoteRegistry({ url: serve.url, namespace: o.ns, logger: silentLogger });
      else {
        const client = new KubeClient(o.kc, { userAgent: `podreg-bench-fanout-${i}` });
        clients.push(client);
        reg = new KubePodsRegistry({ client, namespaces: [o.ns], handleSignals: false, logger: silentLogger });
      }
      reg.subscribe("*", (ev) => {
        if (ev.type !== "updated") return;
        const rev = ev.instance.metadata.rev;
        if (rev !== undefined) for (const l of listeners) l(i, rev);
      });
      consumers.push(reg);
    }
    let synced = 0;
    const progress = setInterval(() => log(`fan-out ${mode}: ${synced} of ${o.consumers} consumers synced`), 2000);
    await Promise.all(consumers.map((c) => c.whenSynced().then(() => void synced++))).finally(() => clearInterval(progress));
    const syncMs = now() - t0;
    for (const c of consumers) if (c.instances("*").length < o.pods.length) throw new Error(`a ${mode} consumer holds ${c.instances("*").length} instances, expected ${o.pods.length}`);
    await new Promise((r) => setTimeout(r, 1000)); // watches opened after the snapshot settle
    const watches = podWatches(await apiMetrics(o.kc)) - watchesBefore;

    const samples: number[] = [];
    const WARMUP = 3;
    for (let k = 0; k < o.changes + WARMUP; k++) {
      const seq = o.seqBase + k;
      const rev = String(seq);
      const pod = o.pods[(k * 7919) % o.pods.length] as BenchPod;
      const got = new Promise<number[]>((resolve, reject) => {
        const t = new Array<number>(o.consumers).fill(NaN);
        let n = 0;
        const timer = setTimeout(() => reject(new Error(`${mode}: change ${k} reached ${n} of ${o.consumers} consumers in 60 s`)), 60_000);
        const l = (i: number, v: string) => {
          if (v !== rev || !Number.isNaN(t[i]!)) return;
          t[i] = now();
          if (++n === o.consumers) {
            clearTimeout(timer);
            listeners.delete(l);
            resolve(t);
          }
        };
        listeners.add(l);
      });
      const body = { metadata: { annotations: { [codec.annotationKey]: annotationValue(pod, seq), [SEQ_ANNOTATION]: rev } } };
      const sent = now();
      await o.admin.request({ method: "PATCH", path: `${podsPath(o.ns)}/${pod.name}`, body, contentType: "application/merge-patch+json" });
      const times = await got;
      if (k >= WARMUP) samples.push(...times.map((x) => x - sent));
      await new Promise((r) => setTimeout(r, 100)); // changes apart, as a deploy's are
    }
    const cpu = process.cpuUsage(cpu0);
    const used = { ...cp.stop(), ...own.stop() };
    const requests = durationsBetween(durationsBefore, podRequestDurations(await apiMetrics(o.kc)));
    return {
      mode,
      consumers: o.consumers,
      pods: o.pods.length,
      watches,
      syncMs,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      max: Math.max(...samples),
      apiserver: used.apiserver,
      etcd: used.etcd,
      serve: used.serve,
      consumerCpuS: (cpu.user + cpu.system) / 1e6,
      requests,
    };
  } finally {
    await Promise.allSettled(consumers.map((c) => c.close()));
    for (const c of clients) c.close();
    if (serve) {
      const exited = new Promise((r) => serve!.proc.once("exit", r));
      serve.proc.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (b: number | undefined) => (b === undefined || !Number.isFinite(b) ? "-" : (b / 2 ** 20).toFixed(0));

/** The fan-out table: one row per mode, then the ratios direct / serve. */
export function fanoutTable(results: readonly FanoutResult[], fmt: { num(x: number, d?: number): string; ratio(a: number, b: number): string; table(h: readonly string[], r: readonly (readonly string[])[]): string }): string {
  const names: Record<FanoutMode, string> = { serve: "through podreg serve (RemoteRegistry)", direct: "each to the API server (KubePodsRegistry)" };
  const rows = results.map((r) => [
    names[r.mode],
    fmt.num(r.watches),
    `${fmt.num(r.requests.LIST?.count ?? 0)} / ${fmt.num(r.requests.LIST?.meanMs ?? NaN, 1)}`,
    fmt.num(r.apiserver?.cpuS ?? NaN, 1),
    `${mib(r.apiserver?.rssStart)} -> ${mib(r.apiserver?.rssPeak)}`,
    fmt.num(r.etcd?.cpuS ?? NaN, 1),
    r.serve ? `${fmt.num(r.serve.cpuS, 1)} s, ${mib(r.serve.rssPeak)} MiB` : "-",
    fmt.num(r.consumerCpuS, 1),
    fmt.num(r.syncMs),
    fmt.num(r.p50, 1),
    fmt.num(r.p99, 1),
  ]);
  const out = [
    fmt.table(["consumers", "pod watches", "LISTs / mean ms", "apiserver CPU s", "apiserver RSS MiB", "etcd CPU s", "podreg serve", "consumers CPU s", "sync ms", "p50 ms", "p99 ms"], rows),
  ];
  const s = results.find((r) => r.mode === "serve");
  const d = results.find((r) => r.mode === "direct");
  if (s && d) {
    out.push(
      `\n   direct / serve: API-server CPU ${fmt.ratio(d.apiserver?.cpuS ?? NaN, s.apiserver?.cpuS ?? NaN)}, its peak RSS growth +${mib((d.apiserver?.rssPeak ?? NaN) - (d.apiserver?.rssStart ?? NaN))} MiB against +${mib((s.apiserver?.rssPeak ?? NaN) - (s.apiserver?.rssStart ?? NaN))} MiB, sync ${fmt.ratio(d.syncMs, s.syncMs)}, watches ${fmt.ratio(d.watches, s.watches)}, p99 ${fmt.ratio(d.p99, s.p99)}`,
    );
  }
  return out.join("\n");
}
