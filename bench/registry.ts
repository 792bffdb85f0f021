/**
 * npm run bench -- registry
 *
 * The registry's costs beside their limit and their peer, from one run on
 * this machine:
 *   1. cache memory per pod (each in a child process: bench/registry-worker.ts):
 *      podreg's slim cache vs @kubernetes/client-node's informer (PEER) vs one
 *      LIST kept as parsed JSON (reference);
 *   2. notification latency PATCH -> consumer, all consumers watching at once:
 *      a bare watch (LIMIT), podreg's subscribe(), client-node's informer (PEER);
 *   3. annotation decode throughput vs JSON.parse of the base64 (LIMIT).
 * It asserts nothing.
 *
 * Environment: PODREG_BENCH_KUBECONFIG (use that cluster; default: start a
 * testenv control plane and stop it at the end), PODREG_BENCH_PODS (N, 1000),
 * PODREG_BENCH_UPDATES (M, 100), PODREG_BENCH_MEM_REPS (child processes per
 * memory mode, 3).
 */
import { BenchCleanup, openBenchCluster } from "./lib/cluster.js";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { CoreV1Api, makeInformer, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { createDubboGoCodec, KubePodsRegistry, silentLogger, type AnnotationCodec } from "../src/index.js";
import { KubeClient } from "../src/kube/index.js";
import { annotationValue, benchNamespace, benchPods, codec, createBenchPod, podsPath, pool, registration, SEQ_ANNOTATION, type BenchPod } from "./lib/fixture.js";
import { median, num, percentile, ratio, table } from "./lib/report.js";
import type { WorkerResult } from "./registry-worker.js";

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw} is not a positive integer`);
  return n;
}

const N = intEnv("PODREG_BENCH_PODS", 1000);
const M = intEnv("PODREG_BENCH_UPDATES", 100);
const MEM_REPS = intEnv("PODREG_BENCH_MEM_REPS", 3);
const CONCURRENCY = 16;
const WARMUP_UPDATES = 5;
const UPDATE_TIMEOUT_MS = 10_000;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WORKER = fileURLToPath(new URL("./registry-worker.ts", import.meta.url));
const MEM_MODES = ["podreg", "client-node", "raw-list"] as const;

// ---------------------------------------------------------------- cleanup

const bench = new BenchCleanup();
const { cleanups, children } = bench;
const cleanup = () => bench.cleanup();

const ms = (x: number) => num(x, x < 10 ? 2 : 1);
const mib = (b: number) => `${num(b / 1024 / 1024, 1)} MiB`;

// ---------------------------------------------------------------- 3. memory

function runWorker(mode: string, kubeconfig: string, ns: string): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", WORKER, mode], {
      cwd: ROOT,
      env: { ...process.env, PODREG_BENCH_WORKER_KUBECONFIG: kubeconfig, PODREG_BENCH_WORKER_NAMESPACE: ns, PODREG_BENCH_WORKER_PODS: String(N) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.add(child);
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) return reject(new Error(`registry-worker ${mode} exited with ${code ?? signal}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as WorkerResult);
      } catch {
        reject(new Error(`registry-worker ${mode} printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

async function memory(kubeconfig: string, ns: string): Promise<void> {
  const results = new Map<string, WorkerResult[]>(MEM_MODES.map((m) => [m, []]));
  for (let rep = 0; rep < MEM_REPS; rep++) {
    for (const mode of MEM_MODES) {
      const r = await runWorker(mode, kubeconfig, ns);
      if (r.held !== N) throw new Error(`${mode}: cache held ${r.held} pods/instances, expected ${N}`);
      results.get(mode)?.push(r);
    }
  }
  const what: Record<string, string> = {
    podreg: "podreg: KubePodsRegistry, slim pods + instances",
    "client-node": "PEER: client-node makeInformer, full V1Pods",
    "raw-list": "reference: one LIST response, parsed JSON",
  };
  const per = (mode: string) => (results.get(mode) ?? []).map((r) => r.bytesPerPod);
  const rows = MEM_MODES.map((mode) => {
    const b = per(mode);
    return [what[mode] ?? mode, num(median(b)), num(Math.min(...b)), num(Math.max(...b)), mib(median(b) * N), ms(median((results.get(mode) ?? []).map((r) => r.syncMs)))];
  });
  console.log(`\n3. Cache memory per pod: N = ${N} pods, ${MEM_REPS} child processes per row (median, min, max)`);
  console.log("   bytes/pod = (heapUsed after gc() with the synced cache - heapUsed after gc() before it) / N,");
  console.log("   in a process that synced and dropped an identical cache first (code, JIT, TLS not counted).\n");
  console.log(table(["cache", "bytes/pod", "min", "max", "total", "sync ms"], rows));
  console.log(`\n   podreg / client-node: ${ratio(median(per("podreg")), median(per("client-node")))}`);
  console.log(`   podreg / raw-list:    ${ratio(median(per("podreg")), median(per("raw-list")))}`);
}

// ---------------------------------------------------------------- 4. latency

type Consumer = "limit" | "podreg" | "peer";
const CONSUMERS: Consumer[] = ["limit", "podreg", "peer"];

interface RawPod {
  metadata?: { annotations?: Record<string, string> };
}

async function latency(kc: KubeConfig, ns: string, pod: BenchPod): Promise<void> {
  const path = podsPath(ns);
  const labelSelector = codec.labelSelector;
  const seen: Record<Consumer, Map<number, number>> = { limit: new Map(), podreg: new Map(), peer: new Map() };
  const failures: string[] = [];
  let waiter: { seq: number; done: () => void } | undefined;
  const allSaw = (seq: number) => CONSUMERS.every((c) => seen[c].has(seq));
  const saw = (c: Consumer, seq: number, t: number) => {
    if (!Number.isInteger(seq) || seen[c].has(seq)) return;
    seen[c].set(seq, t);
    if (waiter?.seq === seq && allSaw(seq)) waiter.done();
  };

  // LIMIT: a bare watch from the current resourceVersion; the time is taken first thing per event.
  const limitClient = new KubeClient(kc, { userAgent: "podreg-bench-limit" });
  const limitAbort = new AbortController();
  cleanups.push({ what: "bare watch", fn: () => (limitAbort.abort(), limitClient.close()) });
  const head = await limitClient.request<{ metadata?: { resourceVersion?: string } }>({ path, query: { labelSelector, limit: 1 } });
  void limitClient
    .watch({
      path,
      query: { labelSelector, resourceVersion: head.metadata?.resourceVersion, allowWatchBookmarks: true },
      signal: limitAbort.signal,
      inactivityTimeoutMs: 600_000,
      onEvent: (ev) => {
        const t = performance.now();
        if (ev.type !== "MODIFIED") return;
        const seq = (ev.object as RawPod).metadata?.annotations?.[SEQ_ANNOTATION];
        if (seq !== undefined) saw("limit", Number(seq), t);
      },
    })
    .then(
      () => !limitAbort.signal.aborted && failures.push("bare watch: ended by the server"),
      (err: Error) => !limitAbort.signal.aborted && failures.push(`bare watch: ${err.message}`),
    );

  // podreg: the registry's own informer and hub; `updated` carries the new registration metadata.
  const registryClient = new KubeClient(kc, { userAgent: "podreg-bench-registry" });
  const registry = new KubePodsRegistry({ client: registryClient, namespaces: [ns], handleSignals: false, logger: silentLogger });
  const sub = registry.subscribe("*", (ev) => {
    const t = performance.now();
    if (ev.type === "updated") saw("podreg", Number(ev.instance.metadata.rev), t);
  });
  cleanups.push({ what: "podreg registry", fn: async () => (sub.close(), await registry.close(), registryClient.close()) });

  // PEER: client-node's informer, as its README shows it.
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Pod>(kc, path, () => core.listNamespacedPod({ namespace: ns, labelSelector }), labelSelector);
  let informerStopped = false;
  cleanups.push({ what: "client-node informer", fn: () => ((informerStopped = true), informer.stop()) });
  informer.on("update", (p) => {
    const t = performance.now();
    const seq = p.metadata?.annotations?.[SEQ_ANNOTATION];
    if (seq !== undefined) saw("peer", Number(seq), t);
  });
  informer.on("error", (err) => !informerStopped && failures.push(`client-node informer: ${err instanceof Error ? err.message : String(err)}`));

  await Promise.all([registry.whenSynced(), informer.start()]);

  const patcher = new KubeClient(kc, { userAgent: "podreg-bench-patcher" });
  cleanups.push({ what: "patch client", fn: () => patcher.close() });
  const samples: Record<Consumer, number[]> = { limit: [], podreg: [], peer: [] };
  const missed: Record<Consumer, number> = { limit: 0, podreg: 0, peer: 0 };
  let patchMs = 0;
  for (let seq = 1; seq <= WARMUP_UPDATES + M; seq++) {
    const body = { metadata: { annotations: { [codec.annotationKey]: annotationValue(pod, seq), [SEQ_ANNOTATION]: String(seq) } } };
    const all = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), UPDATE_TIMEOUT_MS);
      waiter = { seq, done: () => (clearTimeout(timer), resolve(true)) };
    });
    const t0 = performance.now();
    await patcher.request({ method: "PATCH", path: `${path}/${pod.name}`, body, contentType: "application/merge-patch+json" });
    const tPatch = performance.now();
    const complete = allSaw(seq) || (await all);
    waiter?.done();
    waiter = undefined;
    if (failures.length > 0) throw new Error(failures.join("; "));
    if (seq <= WARMUP_UPDATES) {
      if (!complete) throw new Error(`warm-up update ${seq} not seen by ${CONSUMERS.filter((c) => !seen[c].has(seq)).join(", ")} in ${UPDATE_TIMEOUT_MS} ms`);
      continue;
    }
    patchMs += tPatch - t0;
    for (const c of CONSUMERS) {
      const t = seen[c].get(seq);
      if (t === undefined) missed[c]++;
      else samples[c].push(t - t0);
    }
  }

  const names: Record<Consumer, string> = {
    limit: "LIMIT: bare KubeClient.watch",
    podreg: 'podreg: subscribe("*") updated',
    peer: 'PEER: client-node informer "update"',
  };
  const lim = samples.limit;
  const rows = CONSUMERS.map((c) => {
    const s = samples[c];
    return [
      names[c],
      ms(percentile(s, 50)),
      ms(percentile(s, 90)),
      ms(percentile(s, 99)),
      ms(Math.max(...s)),
      ratio(percentile(s, 50), percentile(lim, 50)),
      ratio(percentile(s, 99), percentile(lim, 99)),
      String(missed[c]),
    ];
  });
  console.log(`\n4. Notification latency, PATCH -> consumer notified: M = ${M} sequential merge-patches (after ${WARMUP_UPDATES} warm-up ones)`);
  console.log(`   of one pod's registration (metadata "rev" = counter; the same counter in the plain annotation ${SEQ_ANNOTATION}),`);
  console.log(`   t0 just before the PATCH; the three consumers watch the same ${N}-pod namespace at once, in this process;`);
  console.log("   each patch waits until all three saw it. Milliseconds; percentiles are nearest-rank. The consumers share");
  console.log("   one event loop: whichever socket is read first can delay the others by its handling time (well under 1 ms).\n");
  console.log(table(["consumer", "p50", "p90", "p99", "max", "p50/LIMIT", "p99/LIMIT", "missed"], rows));
  const vsPeer = (p: number) => ratio(percentile(samples.podreg, p), percentile(samples.peer, p));
  console.log(`\n   podreg / PEER: p50 ${vsPeer(50)}, p99 ${vsPeer(99)}`);
  console.log(`   PATCH round trip (response to the patcher): mean ${ms(patchMs / M)} ms`);
}

// ---------------------------------------------------------------- 5. decode

function decodeBench(): void {
  const nativeCodec = codec;
  const dubbo = createDubboGoCodec();
  const nativeValue = annotationValue(benchPods(1, "decode")[0] as BenchPod, 42);
  const dubboValue = dubbo.encode(
    dubbo.apply([], {
      drop: new Set(),
      add: [
        {
          service: "com.example.shop.UserService",
          protocol: "tri",
          host: "10.244.1.17",
          port: 20000,
          weight: 100,
          metadata: {
            application: "user-service",
            group: "shop",
            version: "1.0.0",
            methods: "CreateUser,DeleteUser,GetUser,ListUsers,UpdateUser",
            release: "3.2.0",
            serialization: "hessian2",
          },
          registeredAt: Date.now(),
        },
      ],
    }),
  );
  const check = (c: AnnotationCodec, v: string) => {
    const eps = c.endpoints(c.decode(v));
    if (eps.length !== 1) throw new Error(`${c.name}: decoded ${eps.length} endpoints, expected 1`);
    return Object.keys(eps[0]?.metadata ?? {}).length;
  };
  const nativeKeys = check(nativeCodec, nativeValue);
  const dubboKeys = check(dubbo, dubboValue);

  let sink = 0;
  const limitParse = (v: string) => JSON.parse(Buffer.from(v, "base64").toString()) as { k: string; v: string }[];
  /** `limit`: index of the row this one is compared with. */
  const cases: { name: string; limit: number; fn: () => number }[] = [
    { name: "native: LIMIT JSON.parse(base64)", limit: 0, fn: () => limitParse(nativeValue).length },
    { name: "native: codec.endpoints(codec.decode(v))", limit: 0, fn: () => nativeCodec.endpoints(nativeCodec.decode(nativeValue)).length },
    // The native format nests JSON: no reader gets an endpoint without parsing each entry's `v` too.
    { name: "native: reference, JSON.parse of entries + each v", limit: 0, fn: () => limitParse(nativeValue).reduce((n, e) => n + Object.keys(JSON.parse(e.v) as object).length, 0) },
    { name: "dubbo-go: LIMIT JSON.parse(base64)", limit: 3, fn: () => limitParse(dubboValue).length },
    { name: "dubbo-go: codec.endpoints(codec.decode(v))", limit: 3, fn: () => dubbo.endpoints(dubbo.decode(dubboValue)).length },
  ];
  const timeFor = (fn: () => number, budgetMs: number): number => {
    let ops = 0;
    const start = performance.now();
    let now = start;
    do {
      for (let i = 0; i < 64; i++) sink += fn();
      ops += 64;
      now = performance.now();
    } while (now - start < budgetMs);
    return ops / ((now - start) / 1000);
  };
  const ROUNDS = 5;
  const SLICE_MS = 200;
  for (const c of cases) timeFor(c.fn, 300); // warm-up
  const rates = cases.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) cases.forEach((c, i) => rates[i]?.push(timeFor(c.fn, SLICE_MS)));
  if (sink === 0) throw new Error("nothing decoded");
  const ops = rates.map((r) => median(r));
  const rows = cases.map((c, i) => [c.name, num(ops[i] ?? NaN), num(1e6 / (ops[i] ?? NaN), 2), ratio(ops[i] ?? NaN, ops[c.limit] ?? NaN)]);
  console.log(`\n5. Annotation decode throughput (in process, no cluster): ${ROUNDS} interleaved rounds of ${SLICE_MS} ms per row after a 300 ms warm-up; median ops/s`);
  console.log(`   native value: ${nativeValue.length} chars, 1 registration, ${nativeKeys} metadata keys;`);
  console.log(`   dubbo-go value: ${dubboValue.length} chars, folder + 1 provider URL, ${dubboKeys} URL params.\n`);
  console.log(table(["operation", "ops/s", "us/op", "ops/s vs LIMIT"], rows));
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = performance.now();
  const { kc, kubeconfig, where, admin, version, machine } = await openBenchCluster("podreg-bench-admin", cleanups);
  console.log("podreg registry benchmark");
  console.log(`  machine:        ${machine}`);
  console.log(`  node:           ${process.version}`);
  console.log(`  kube-apiserver: ${version} (${where}; on this machine it shares the CPUs)`);
  console.log(`  load average:   ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (1, 5, 15 min) at start`);
  console.log(`  N = ${N} pods (PODREG_BENCH_PODS), M = ${M} updates (PODREG_BENCH_UPDATES), ${MEM_REPS} memory repetitions (PODREG_BENCH_MEM_REPS)`);

  // 2. population
  const suffix = randomBytes(3).toString("hex");
  const ns = await benchNamespace(kc, admin, cleanups, "podreg-bench", suffix);
  const pods = benchPods(N, suffix);
  const tPop = performance.now();
  await pool(pods, CONCURRENCY, (p) => createBenchPod(admin, ns, p));
  const popMs = performance.now() - tPop;
  const list = await admin.request<{ items: { metadata?: { annotations?: Record<string, string> } }[] }>({ path: podsPath(ns), query: { labelSelector: codec.labelSelector } });
  if (list.items.length !== N) throw new Error(`namespace ${ns} lists ${list.items.length} pods, expected ${N}`);
  const jsonPerPod = Buffer.byteLength(JSON.stringify(list.items)) / N;
  const annPerPod = list.items.reduce((s, p) => s + (p.metadata?.annotations?.[codec.annotationKey]?.length ?? 0), 0) / N;
  console.log(`\n2. Population: ${N} pods in namespace ${ns} in ${num(popMs / 1000, 1)} s (${num((N * 1000) / popMs)} pods/s; ${CONCURRENCY} in flight;`);
  console.log("   per pod: POST the pod (full spec, podreg label + annotation), PATCH pods/status (Running, Ready, IP, container status)).");
  console.log(`   A pod is ${num(jsonPerPod)} bytes of JSON as listed; its podreg annotation value ${num(annPerPod)} bytes of that.`);
  console.log(`   registration: ${JSON.stringify(registration(pods[0] as BenchPod, 0))}`);

  await memory(kubeconfig, ns);
  await latency(kc, ns, pods[0] as BenchPod);
  decodeBench();

  await cleanup();
  console.log(`\ntotal ${num((performance.now() - t0) / 1000, 1)} s (cleanup included); load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
}

await bench.run(main);
