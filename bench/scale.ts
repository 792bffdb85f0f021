/**
 * npm run bench -- scale [--pods N] [--reps R] [--churn-seconds S] [--churn-rate R]
 *
 * The pods registry at scale, on a real control plane (testenv), beside its
 * LIMIT and its PEER:
 *   1. population: labelled pods (podreg label + native annotation, full
 *      spec and kubelet-like status) created under names of their own
 *      (`scale-<i>`), bounded concurrency, 409/429/5xx retried with backoff;
 *      the creation rate;
 *   2. cold sync at 1,000 and 10,000 pods (and N with --pods N): time to a
 *      synced snapshot of KubePodsRegistry, beside one bare paginated LIST
 *      (500 a page, parsed and dropped: the LIMIT) and client-node's informer
 *      (the PEER); each in a child process of its own (bench/lib/scale-worker.ts),
 *      R repetitions (3), median;
 *   3. heap per cached instance at each size (heapUsed after gc() with the
 *      cache minus before it, in the child), beside client-node's informer;
 *   4. churn at 10,000 pods (or the largest size below): S seconds (60) of
 *      R annotation patches a second (100) over all pods; lag PATCH ->
 *      consumer p50/p99 and the consumer's CPU seconds, podreg's subscribe()
 *      beside a bare watch (the LIMIT), both consumers at once, each a child;
 *      the API server's CPU and its PATCH/WATCH figures alongside;
 *   5. fan-out at 1,000 pods (--fanout-pods, one of the sizes): C consumers
 *      (--consumers, 200) through one `podreg serve` vs each watching the API
 *      server: the control plane's CPU seconds and peak RSS (/proc), pod
 *      watches held, LISTs and their mean duration (apiserver metrics),
 *      PATCH -> every consumer p50/p99 (bench/lib/fanout.ts);
 *   6. xDS: a change -> 100 grpc-js-xds channels (--channels) ACKed, p50/p99,
 *      at 1,000 and 10,000 endpoints, with the clients' CPU per update
 *      (bench/lib/xds.ts).
 * Results are printed as tables and written to bench-results/scale-<time>.json.
 * It asserts nothing. Not part of npm test.
 *
 * Environment: PODREG_BENCH_KUBECONFIG (use that cluster; default: start a
 * testenv control plane and stop it at the end).
 */
import { BenchCleanup, openBenchCluster } from "./lib/cluster.js";
import { spawn, type ChildProcess } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeApiError, KubeUnreachableError } from "../src/errors.js";
import type { KubeClient, KubeRequest } from "../src/kube/index.js";
import { annotationValue, benchNamespace, benchPods, codec, createBenchPod, podsPath, SEQ_ANNOTATION, type BenchPod } from "./lib/fixture.js";
import { fanoutTable, kubeFanout, serveCommand, type FanoutResult } from "./lib/fanout.js";
import { apiMetrics, durationsBetween, findControlPlane, podRequestDurations, watchProcs, type ProcWindow } from "./lib/proc.js";
import { median, num, percentile, ratio, table } from "./lib/report.js";
import { xdsBench, xdsRows, XDS_HEADERS, type XdsBenchResult } from "./lib/xds.js";
import type { ChurnResult, SyncResult } from "./lib/scale-worker.js";

// ---------------------------------------------------------------- options

function flag(name: string, fallback: number): number {
  const args = process.argv.slice(process.argv.indexOf("scale") + 1);
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${args[i + 1]} is not a positive integer`);
  return n;
}

const MAX_PODS = flag("pods", 10_000);
const SIZES = [...new Set([1000, 10_000, MAX_PODS].filter((n) => n <= MAX_PODS))].sort((a, b) => a - b);
const REPS = flag("reps", 3);
const CHURN_PODS = Math.max(...SIZES.filter((n) => n <= 10_000));
const CHURN_SECONDS = flag("churn-seconds", 60);
const CHURN_RATE = flag("churn-rate", 100);
const CONSUMERS = flag("consumers", 200);
const FANOUT_PODS = flag("fanout-pods", 1000);
const CHANNELS = flag("channels", 100);
if (!SIZES.includes(FANOUT_PODS)) throw new Error(`--fanout-pods ${FANOUT_PODS} is not one of the sizes run: ${SIZES.join(", ")}`);
const XDS_ENDPOINTS = [1000, 10_000];
const XDS_CHANGES: Record<number, number> = { 1000: flag("xds-changes", 10), 10_000: Math.max(1, Math.round(flag("xds-changes", 10) / 2.5)) };
const CONCURRENCY = 24; // testenv's kube-apiserver: default --max-mutating-requests-inflight 200, 2 CPUs shared with etcd
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WORKER = fileURLToPath(new URL("./lib/scale-worker.ts", import.meta.url));
const SYNC_MODES = ["limit", "podreg", "peer"] as const;
const now = () => performance.timeOrigin + performance.now();
const ms = (x: number) => num(x, x < 10 ? 2 : 1);

// ---------------------------------------------------------------- cleanup

const bench = new BenchCleanup();
const { cleanups, children } = bench;
const cleanup = () => bench.cleanup();

// ---------------------------------------------------------------- 1. population

const retryable = (err: unknown): boolean =>
  err instanceof KubeUnreachableError || (err instanceof KubeApiError && (err.status === 409 || err.status === 429 || (err.status ?? 0) >= 500));

/** KubeClient.request retried on 409/429/5xx/no answer with exponential backoff and jitter; a POST answered 409 created the object earlier (names are the bench's own). */
function retrying(client: KubeClient, stats: { retries: number }): Pick<KubeClient, "request"> {
  return {
    async request<T>(req: KubeRequest): Promise<T> {
      for (let attempt = 0; ; attempt++) {
        try {
          return await client.request<T>(req);
        } catch (err) {
          if (req.method === "POST" && attempt > 0 && err instanceof KubeApiError && err.status === 409) return undefined as T;
          if (!retryable(err) || attempt >= 10) throw err;
          stats.retries++;
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random())));
        }
      }
    },
  };
}

async function populate(admin: KubeClient, ns: string, pods: readonly BenchPod[], from: number, to: number) {
  const stats = { retries: 0 };
  const client = retrying(admin, stats);
  let next = from;
  let done = 0;
  const t0 = performance.now();
  const progress = () => {
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(`\r  created ${from + done} of ${to} pods, ${num(done / s)} pods/s, ${stats.retries} retries   `);
  };
  const timer = setInterval(progress, 1000);
  try {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < to; i = next++) {
          await createBenchPod(client, ns, pods[i] as BenchPod);
          done++;
        }
      }),
    );
  } finally {
    clearInterval(timer);
  }
  progress();
  process.stderr.write("\n");
  const seconds = (performance.now() - t0) / 1000;
  return { created: to - from, seconds, podsPerSecond: (to - from) / seconds, retries: stats.retries };
}

// ---------------------------------------------------------------- children

function spawnWorker(args: string[], gc: boolean): ChildProcess {
  const child = spawn(process.execPath, [...(gc ? ["--expose-gc"] : []), "--import", "tsx", WORKER, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  children.add(child);
  child.on("close", () => children.delete(child));
  return child;
}

/** Lines of a child's stdout, parsed as JSON, one callback each. */
function onJson(child: ChildProcess, fn: (v: unknown) => void): void {
  let buf = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    buf += d;
    let k: number;
    while ((k = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, k).trim();
      buf = buf.slice(k + 1);
      if (line.startsWith("{")) fn(JSON.parse(line));
    }
  });
}

function runSync(mode: string, kubeconfig: string, ns: string, pods: number): Promise<SyncResult> {
  return new Promise((resolve, reject) => {
    const child = spawnWorker(["sync", mode, kubeconfig, ns, String(pods)], true);
    let result: SyncResult | undefined;
    onJson(child, (v) => (result = v as SyncResult));
    child.on("close", (code, signal) => (result ? resolve(result) : reject(new Error(`scale-worker sync ${mode} exited with ${code ?? signal}`))));
  });
}

// ---------------------------------------------------------------- 2, 3. cold sync and memory

interface SizeResult {
  pods: number;
  runs: Record<string, SyncRun[]>;
}

/** A sync run, with the API server's own time on its pod LISTs (apiserver_request_duration_seconds, every page summed) per sync. */
type SyncRun = SyncResult & { apiListMs: number };

async function coldSync(kc: KubeConfig, kubeconfig: string, ns: string, pods: number): Promise<SizeResult> {
  const runs: Record<string, SyncRun[]> = { limit: [], podreg: [], peer: [] };
  for (let rep = 0; rep < REPS; rep++) {
    for (const mode of SYNC_MODES) {
      process.stderr.write(`  cold sync ${pods} pods: ${mode}, repetition ${rep + 1} of ${REPS}\n`);
      const before = podRequestDurations(await apiMetrics(kc));
      const r = await runSync(mode, kubeconfig, ns, pods);
      const list = durationsBetween(before, podRequestDurations(await apiMetrics(kc))).LIST;
      if (r.held !== pods) throw new Error(`${mode}: held ${r.held}, expected ${pods}`);
      // The worker syncs twice (a warm-up, then the measured one): half of the LIST time is one sync's.
      runs[mode]?.push({ ...r, apiListMs: list ? (list.count * list.meanMs) / 2 : NaN });
    }
  }
  return { pods, runs };
}

const med = (rs: readonly SyncRun[] | undefined, f: (r: SyncRun) => number) => median((rs ?? []).map(f));

function printSync(results: SizeResult[]): void {
  const names: Record<string, string> = {
    limit: "LIMIT: paginated LIST (500/page), parsed, dropped",
    podreg: "podreg: KubePodsRegistry whenSynced()",
    peer: "PEER: client-node makeInformer",
  };
  const rows = results.flatMap(({ pods, runs }) =>
    SYNC_MODES.map((m) => {
      const t = med(runs[m], (r) => r.syncMs);
      const times = (runs[m] ?? []).map((r) => r.syncMs);
      return [`${num(pods)}  ${names[m]}`, ms(t), ms(Math.min(...times)), ms(Math.max(...times)), num((t * 1000) / pods, 1), ratio(t, med(runs.limit, (r) => r.syncMs)), ratio(t, med(runs.peer, (r) => r.syncMs)), ms(med(runs[m], (r) => r.apiListMs))];
    }),
  );
  console.log(`\n2. Cold sync: construction -> synced snapshot, ms; ${REPS} child processes per row (median, min, max); each synced once before (dropped)\n`);
  console.log(table(["pods  consumer", "median", "min", "max", "us/pod", "vs LIMIT", "vs PEER", "API server LIST ms"], rows));
  if (results.length > 1) {
    const first = results[0] as SizeResult;
    const last = results[results.length - 1] as SizeResult;
    const growth = (m: string) => ratio(med(last.runs[m], (r) => r.syncMs), med(first.runs[m], (r) => r.syncMs));
    console.log(`\n   growth ${num(first.pods)} -> ${num(last.pods)} pods (x${num(last.pods / first.pods)}): ${SYNC_MODES.map((m) => `${m} ${growth(m)}`).join(", ")}`);
  }
  const bytes = results.map((r) => `${num(r.pods)}: ${num(med(r.runs.limit, (x) => x.listBytes ?? NaN) / r.pods)} B/pod`);
  console.log(`   JSON listed per pod: ${bytes.join(", ")}`);
  const share = results.map((r) => `${num(r.pods)}: ${ratio(med(r.runs.limit, (x) => x.apiListMs), med(r.runs.limit, (x) => x.syncMs))}`);
  console.log(`   API server LIST ms = its own time serving the LIST pages of one sync (apiserver_request_duration_seconds); share of the LIMIT's sync spent in the API server: ${share.join(", ")}`);
}

function printMemory(results: SizeResult[]): void {
  const rows = results.flatMap(({ pods, runs }) =>
    (["podreg", "peer"] as const).map((m) => {
      const per = (runs[m] ?? []).map((r) => r.heapBytes / r.held);
      return [
        `${num(pods)}  ${m === "podreg" ? "podreg: KubePodsRegistry (slim pods + instances)" : "PEER: client-node informer (full V1Pods)"}`,
        num(median(per)),
        num(Math.min(...per)),
        num(Math.max(...per)),
        `${num((median(per) * pods) / 2 ** 20, 1)} MiB`,
      ];
    }),
  );
  console.log(`\n3. Heap per cached instance (one registration per pod): (heapUsed after gc() with the cache - before) / instances, bytes; ${REPS} children per row\n`);
  console.log(table(["pods  cache", "bytes", "min", "max", "total"], rows));
  for (const { pods, runs } of results) {
    const p = median((runs.podreg ?? []).map((r) => r.heapBytes / r.held));
    console.log(`   ${num(pods)}: podreg / PEER ${ratio(p, median((runs.peer ?? []).map((r) => r.heapBytes / r.held)))}${pods === 10_000 ? `; goal <= 1,024 B/instance: ${p <= 1024 ? "met" : "NOT met"}` : ""}`);
  }
}

// ---------------------------------------------------------------- 4. churn

interface ChurnSummary {
  pods: number;
  seconds: number;
  rate: number;
  patches: number;
  achievedRate: number;
  patchErrors: number;
  consumers: { mode: string; p50: number; p90: number; p99: number; max: number; missed: number; cpuS: number; cpuPerChange: number }[];
  /** The control plane over the churn (undefined: not on this machine). */
  apiserver?: ProcWindow;
  etcd?: ProcWindow;
  /** The API server's pod requests over the churn, per verb (its PATCHes: their mean duration). */
  requests: Record<string, { count: number; meanMs: number }>;
}

async function churn(cluster: { kc: KubeConfig; kubeconfig: string; admin: KubeClient }, ns: string, pods: readonly BenchPod[], n: number): Promise<ChurnSummary> {
  const { kc, kubeconfig, admin } = cluster;
  const modes = ["bare", "podreg"];
  const kids = modes.map((mode) => {
    const child = spawnWorker(["churn", mode, kubeconfig, ns, String(n)], false);
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    let done!: (r: ChurnResult) => void;
    const doneP = new Promise<ChurnResult>((resolve, reject) => {
      done = resolve;
      child.on("close", (code) => reject(new Error(`scale-worker churn ${mode} exited with ${code}`)));
    });
    onJson(child, (v) => ((v as { ready?: boolean }).ready ? ready() : done(v as ChurnResult)));
    return { mode, child, readyP, doneP };
  });
  await Promise.all(kids.map((k) => k.readyP));
  const pids = findControlPlane(kc.getCurrentCluster()!.server);
  const durations0 = podRequestDurations(await apiMetrics(kc));
  const procs = watchProcs({ apiserver: pids.apiserver, etcd: pids.etcd });
  const sent = new Map<number, number>();
  const total = CHURN_SECONDS * CHURN_RATE;
  const interval = 1000 / CHURN_RATE;
  let errors = 0;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  for (let seq = 1; seq <= total; seq++) {
    const due = t0 + (seq - 1) * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (inflight.size >= 32) await Promise.race(inflight);
    const pod = pods[(seq * 7919) % n] as BenchPod;
    const body = { metadata: { annotations: { [codec.annotationKey]: annotationValue(pod, seq), [SEQ_ANNOTATION]: String(seq) } } };
    sent.set(seq, now());
    const p = admin
      .request({ method: "PATCH", path: `${podsPath(ns)}/${pod.name}`, body, contentType: "application/merge-patch+json" })
      .then(
        () => undefined,
        () => void errors++,
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
    if (seq % CHURN_RATE === 0) process.stderr.write(`\r  churn: ${seq} of ${total} patches, ${num((seq * 1000) / (performance.now() - t0))}/s   `);
  }
  await Promise.all(inflight);
  const sendSeconds = (performance.now() - t0) / 1000;
  process.stderr.write("\n");
  await new Promise((r) => setTimeout(r, 3000)); // stragglers
  const cp = procs.stop();
  const requests = durationsBetween(durations0, podRequestDurations(await apiMetrics(kc)));
  for (const k of kids) k.child.stdin!.end("stop\n");
  const results = await Promise.all(kids.map((k) => k.doneP));
  return {
    pods: n,
    seconds: CHURN_SECONDS,
    rate: CHURN_RATE,
    patches: total,
    achievedRate: total / sendSeconds,
    patchErrors: errors,
    apiserver: cp.apiserver,
    etcd: cp.etcd,
    requests,
    consumers: results.map((r) => {
      const seen = new Map(r.seen);
      const lags: number[] = [];
      let missed = 0;
      for (const [seq, t] of sent) {
        const at = seen.get(seq);
        if (at === undefined) missed++;
        else lags.push(at - t);
      }
      const cpuS = r.cpuUserS + r.cpuSystemS;
      return { mode: r.mode, p50: percentile(lags, 50), p90: percentile(lags, 90), p99: percentile(lags, 99), max: Math.max(...lags), missed, cpuS, cpuPerChange: (cpuS * 1e6) / total };
    }),
  };
}

function printChurn(c: ChurnSummary): void {
  const names: Record<string, string> = { bare: "LIMIT: bare watch, parsed", podreg: 'podreg: subscribe("*") updated' };
  const bare = c.consumers.find((x) => x.mode === "bare");
  const rows = c.consumers.map((x) => [names[x.mode] ?? x.mode, ms(x.p50), ms(x.p90), ms(x.p99), ms(x.max), String(x.missed), num(x.cpuS, 2), num(x.cpuPerChange, 1), ratio(x.cpuS, bare?.cpuS ?? NaN)]);
  console.log(`\n4. Churn: ${num(c.pods)} pods, ${c.rate} annotation patches/s for ${c.seconds} s (${num(c.patches)} patches, sent at ${num(c.achievedRate, 1)}/s, ${c.patchErrors} failed);`);
  console.log("   lag = PATCH sent -> consumer notified (ms, nearest-rank); CPU = the consumer process's user+system seconds during the churn; both consumers at once\n");
  console.log(table(["consumer", "p50", "p90", "p99", "max", "missed", "CPU s", "CPU us/change", "CPU vs LIMIT"], rows));
  const patch = c.requests.PATCH;
  const cpu = (w: ProcWindow | undefined) => (w ? `${num(w.cpuS, 1)} CPU s (${num((w.cpuS * 1e6) / c.patches)} us per change), peak RSS ${num(w.rssPeak / 2 ** 20)} MiB` : "not on this machine");
  console.log(`\n   the control plane meanwhile: kube-apiserver ${cpu(c.apiserver)}; etcd ${cpu(c.etcd)}`);
  console.log(`   apiserver_request_duration_seconds: ${patch ? `${num(patch.count)} pod PATCHes, mean ${num(patch.meanMs, 1)} ms` : "no PATCH counted"}; the lag is the API server's when both consumers see the same`);
}

// ---------------------------------------------------------------- 5, 6. fan-out and xDS

function printFanout(results: readonly FanoutResult[]): void {
  const r = results[0];
  if (!r) return;
  console.log(`\n5. Fan-out: ${r.consumers} consumers of ${num(r.pods)} registered pods, through one podreg serve (${serveCommand().what}) vs each watching the API server;`);
  console.log(`   control-plane CPU and peak RSS over sync + ${r.consumers} x changes (/proc), LISTs from apiserver_request_duration_seconds, PATCH -> every consumer (ms)\n`);
  console.log(fanoutTable(results, { num, ratio, table }));
}

function printXds(results: readonly XdsBenchResult[]): void {
  const r = results[0];
  if (!r) return;
  console.log(`\n6. xDS: a change -> ${r.channels} grpc-js-xds channels (own ADS stream each, in ${r.workers} processes) ACKed the new EDS; subscribed in ${results.map((x) => `${num(x.subscribeMs)} ms at ${num(x.endpoints)}`).join(", ")}\n`);
  console.log(table(XDS_HEADERS, results.flatMap((x) => xdsRows(x, { num, percentile }))));
  const last = results[results.length - 1] as XdsBenchResult;
  const cores = availableParallelism();
  console.log(`\n   at ${num(last.endpoints)} endpoints the clients need ${num((last.added.clientCpuMsPerUpdate * last.channels) / 1000, 1)} CPU s per change in all, on ${cores} cores shared with the server: ACK times above ${num((last.added.clientCpuMsPerUpdate * last.channels) / cores / 1000, 1)} s are the clients' CPU, not the server's`);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = performance.now();
  const { kc, kubeconfig, where, admin, version, machine } = await openBenchCluster("podreg-bench-scale", cleanups);
  console.log("podreg scale benchmark");
  console.log(`  machine:        ${machine}`);
  console.log(`  node:           ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(", ")} (1, 5, 15 min) at the start`);
  console.log(`  kube-apiserver: ${version} (${where}; it shares the CPUs)`);
  console.log(`  sizes:          ${SIZES.map((s) => num(s)).join(", ")} pods (--pods), ${REPS} repetitions (--reps); churn ${CHURN_RATE}/s for ${CHURN_SECONDS} s at ${num(CHURN_PODS)} pods`);
  console.log(`  fan-out:        ${CONSUMERS} consumers (--consumers) at ${num(FANOUT_PODS)} pods (--fanout-pods); xDS: ${CHANNELS} channels (--channels) at ${XDS_ENDPOINTS.map((e) => `${num(e)} endpoints, ${XDS_CHANGES[e]} changes of each kind`).join("; ")} (--xds-changes)`);

  const suffix = Date.now().toString(36);
  const ns = await benchNamespace(kc, admin, cleanups, "podreg-bench-scale", suffix);
  // Names of the bench's own, never generateName (10,000 generated names collided, 409 AlreadyExists).
  const pods = benchPods(MAX_PODS, suffix).map((p, i) => ({ ...p, name: `scale-${i}` }));

  const population: Awaited<ReturnType<typeof populate>>[] = [];
  const sizes: SizeResult[] = [];
  let churnResult: ChurnSummary | undefined;
  const fanout: FanoutResult[] = [];
  let have = 0;
  for (const size of SIZES) {
    console.error(`\n1. creating pods ${have} .. ${size} in ${ns} (${CONCURRENCY} in flight; POST pod + PATCH status each)`);
    population.push({ ...(await populate(admin, ns, pods, have, size)) });
    have = size;
    sizes.push(await coldSync(kc, kubeconfig, ns, size));
    if (size === CHURN_PODS) churnResult = await churn({ kc, kubeconfig, admin }, ns, pods, size);
    if (size === FANOUT_PODS) {
      const opts = { kc, kubeconfig, admin, ns, pods: pods.slice(0, size), consumers: CONSUMERS, changes: 20, progress: (l: string) => process.stderr.write(`  ${l}\n`) };
      fanout.push(await kubeFanout({ ...opts, seqBase: 1_000_000 }, "serve"), await kubeFanout({ ...opts, seqBase: 2_000_000 }, "direct"));
    }
  }
  const xds: XdsBenchResult[] = [];
  for (const endpoints of XDS_ENDPOINTS) {
    process.stderr.write(`\n6. xDS at ${num(endpoints)} endpoints, ${CHANNELS} channels\n`);
    xds.push(await xdsBench({ endpoints, channels: CHANNELS, changes: XDS_CHANGES[endpoints] ?? 5, workers: 2, debounceMs: 100, progress: (l) => process.stderr.write(`  ${l}\n`) }));
  }

  const created = population.reduce((n, p) => n + p.created, 0);
  const seconds = population.reduce((n, p) => n + p.seconds, 0);
  console.log(`\n1. Population: ${num(created)} pods in ${num(seconds, 1)} s = ${num(created / seconds, 1)} pods/s (${CONCURRENCY} in flight, POST + PATCH status each; ${population.reduce((n, p) => n + p.retries, 0)} retries)`);
  console.log(table(["step", "pods", "seconds", "pods/s", "retries"], population.map((p, i) => [`to ${num(SIZES[i] ?? 0)}`, num(p.created), num(p.seconds, 1), num(p.podsPerSecond, 1), String(p.retries)])));
  printSync(sizes);
  printMemory(sizes);
  if (churnResult) printChurn(churnResult);
  printFanout(fanout);
  printXds(xds);

  mkdirSync(join(ROOT, "bench-results"), { recursive: true });
  const file = join(ROOT, "bench-results", `scale-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const json = {
    bench: "scale",
    date: new Date().toISOString(),
    loadAverageAtEnd: loadavg(),
    machine,
    node: process.version,
    kubeApiserver: version,
    options: { sizes: SIZES, reps: REPS, concurrency: CONCURRENCY, churnPods: CHURN_PODS, churnSeconds: CHURN_SECONDS, churnRate: CHURN_RATE, consumers: CONSUMERS, fanoutPods: FANOUT_PODS, channels: CHANNELS, xdsChanges: XDS_CHANGES },
    population,
    coldSync: sizes.map(({ pods: n, runs }) => ({
      pods: n,
      medianMs: Object.fromEntries(SYNC_MODES.map((m) => [m, med(runs[m], (r) => r.syncMs)])),
      bytesPerInstance: { podreg: median((runs.podreg ?? []).map((r) => r.heapBytes / r.held)), peer: median((runs.peer ?? []).map((r) => r.heapBytes / r.held)) },
      runs,
    })),
    churn: churnResult,
    fanout,
    xds,
  };
  writeFileSync(file, JSON.stringify(json, null, 2) + "\n");
  console.log(`\nresults written to ${file}`);
  await cleanup();
  console.log(`total ${num((performance.now() - t0) / 1000, 1)} s (cleanup included); load average at the end ${loadavg().map((x) => x.toFixed(2)).join(", ")}`);
}

await bench.run(main);
process.exit(0);
