/**
 * npm run bench -- fanout
 *
 * 1. One change -> 200 SSE subscribers of `podreg serve` (a child process),
 *    time from the write to each subscriber's receipt, p50/p99, beside the
 *    LIMIT: a bare node:http loop (also a child process) writing the same
 *    bytes to 200 held sockets when told to. Same machine, same client code.
 * 2. 200 consumers of the pods registry: through `podreg serve --registry
 *    kube-pods` (RemoteRegistry) vs each watching the API server
 *    (KubePodsRegistry, one client each): API-server watches held, and
 *    PATCH-to-notification p50/p99 across all 200.
 * It asserts nothing.
 *
 * Environment: PODREG_BENCH_KUBECONFIG (use that cluster; default: start a
 * testenv control plane), PODREG_BENCH_SUBSCRIBERS (200),
 * PODREG_BENCH_CHANGES (50).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { setMaxListeners } from "node:events";
import https from "node:https";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { KubePodsRegistry, RemoteRegistry, silentLogger } from "../src/index.js";
import { KubeClient, loadKubeConfig as loadPodregKubeConfig } from "../src/kube/index.js";
import { createNamespace, createReadyPod, loadKubeConfig, startControlPlane } from "../testenv/index.js";
import { num, percentile, ratio, table } from "./lib/report.js";

const SUBS = Number(process.env.PODREG_BENCH_SUBSCRIBERS ?? 200);
const CHANGES = Number(process.env.PODREG_BENCH_CHANGES ?? 50);
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const BARE = fileURLToPath(new URL("./fanout-bare.ts", import.meta.url));
const children = new Set<ChildProcess>();
const cleanups: (() => unknown)[] = [];
const ms = (x: number) => num(x, 2);
const now = () => performance.timeOrigin + performance.now();

function child(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
    children.add(proc);
    let out = "";
    proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}: ${out}`)));
  });
}

/** Holds `n` SSE streams of `url`; `waitAll(pred)` resolves with each stream's receipt time of the first frame matching pred. */
async function subscribers(url: string, n: number) {
  const agent = new Agent({ connections: n + 10 });
  const listeners = new Set<(i: number, frame: string) => void>();
  const ctl = new AbortController();
  setMaxListeners(n + 10, ctl.signal); // one AbortSignal for every stream
  let ready = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const res = await request(url, { dispatcher: agent, signal: ctl.signal, bodyTimeout: 0 });
      ready++;
      void (async () => {
        let buf = "";
        try {
          for await (const chunk of res.body) {
            buf += String(chunk);
            let k: number;
            while ((k = buf.indexOf("\n\n")) >= 0) {
              const frame = buf.slice(0, k);
              buf = buf.slice(k + 2);
              for (const l of listeners) l(i, frame);
            }
          }
        } catch {
          // aborted at the end
        }
      })();
    }),
  );
  return {
    ready: () => ready,
    /** Receipt time (ms, absolute) per subscriber of the first frame containing `marker`. */
    waitAll(marker: string): Promise<number[]> {
      return new Promise((resolve) => {
        const times = new Array<number>(n).fill(NaN);
        let got = 0;
        const l = (i: number, frame: string) => {
          if (!Number.isNaN(times[i]!) || !frame.includes(marker)) return;
          times[i] = now();
          if (++got === n) {
            listeners.delete(l);
            resolve(times);
          }
        };
        listeners.add(l);
      });
    },
    close: async () => {
      ctl.abort();
      await agent.destroy();
    },
  };
}

async function sseFanout(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "podreg-bench-fanout-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const server = await child([MAIN, "serve", "--port", "0", "--data-dir", dir, "--log-level", "warn"]);
  const token = readFileSync(join(dir, "token"), "utf8").trim();
  const bare = await child([BARE, String(SUBS)]);
  const rows: string[][] = [];
  const results: Record<string, number[]> = {};
  for (const [name, url, change] of [
    [
      "podreg serve: POST /v1/instances -> SSE `added`",
      `${server.url}/v1/watch?service=bench`,
      (k: number) =>
        request(`${server.url}/v1/instances`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ service: "bench", port: 10000 + k, host: "127.0.0.1", metadata: { k: `m${k}` } }),
        }),
    ],
    ["LIMIT: bare loop, POST /fire -> same bytes to every socket", `${bare.url}/watch`, (k: number) => request(`${bare.url}/fire?k=m${k}`, { method: "POST" })],
  ] as const) {
    const subs = await subscribers(url, SUBS);
    const samples: number[] = [];
    for (let k = 0; k < CHANGES + 5; k++) {
      const marker = `"k":"m${k}"`;
      const all = subs.waitAll(marker);
      const t0 = now();
      const res = await change(k);
      await res.body.dump();
      const times = await all;
      if (k >= 5) samples.push(...times.map((t) => t - t0)); // 5 warm-up changes
    }
    await subs.close();
    results[name] = samples;
    rows.push([name, ms(percentile(samples, 50)), ms(percentile(samples, 99)), ms(Math.max(...samples))]);
  }
  const [podreg, limit] = Object.values(results) as [number[], number[]];
  console.log(`\n1. One change -> ${SUBS} SSE subscribers (${CHANGES} changes, ms from the write to each subscriber's receipt)\n`);
  console.log(table(["path", "p50", "p99", "max"], rows));
  console.log(`\n   podreg / LIMIT: p50 ${ratio(percentile(podreg, 50), percentile(limit, 50))}, p99 ${ratio(percentile(podreg, 99), percentile(limit, 99))}`);
  console.log("   (podreg's includes the REST write: JSON parse, validation, the registry, serialising the event once)");
}

async function apiWatches(metrics: () => Promise<string>): Promise<number> {
  const text = await metrics();
  // One line per scope (the controller-manager's cluster-wide watch, the consumers' namespaced ones): summed.
  let n = 0;
  for (const m of text.matchAll(/^apiserver_longrunning_requests\{[^}]*resource="pods"[^}]*verb="WATCH"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function kubeFanout(): Promise<void> {
  let kubeconfig = process.env.PODREG_BENCH_KUBECONFIG;
  if (!kubeconfig) {
    const cp = await startControlPlane();
    cleanups.push(() => cp.stop());
    kubeconfig = cp.kubeconfigPath;
  }
  const kc = loadKubeConfig(kubeconfig);
  const ns = `podreg-bench-fanout-${Date.now().toString(36)}`;
  await createNamespace(kc, ns);
  await createReadyPod(kc, { namespace: ns, name: "provider", podIP: "127.0.0.31" });
  const admin = new KubeClient(loadPodregKubeConfig({ kubeconfig }));
  cleanups.push(() => admin.close());
  // The API server's own metrics (text, not JSON): with client-node's TLS options.
  const metrics = async (): Promise<string> => {
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const url = new URL("/metrics", kc.getCurrentCluster()!.server);
    return new Promise((resolve, reject) => {
      https
        .get(url, opts, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (d: string) => (body += d));
          res.on("end", () => resolve(body));
        })
        .on("error", reject);
    });
  };
  const provider = new KubePodsRegistry({ client: admin, namespaces: [ns], pod: { namespace: ns, name: "provider" }, handleSignals: false, logger: silentLogger });
  cleanups.push(() => provider.close());
  const handle = await provider.register({ service: "bench", port: 8080, metadata: { k: "m-1" } });
  const dir = mkdtempSync(join(tmpdir(), "podreg-bench-fanout-kube-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const base = await apiWatches(metrics);
  const rows: string[][] = [];
  for (const mode of ["through podreg serve (RemoteRegistry)", "each to the API server (KubePodsRegistry)"]) {
    const consumers: { close(): Promise<void> }[] = [];
    let server: { proc: ChildProcess; url: string } | undefined;
    const listeners: ((i: number, k: string) => void)[] = [];
    for (let i = 0; i < SUBS; i++) {
      let reg: RemoteRegistry | KubePodsRegistry;
      if (mode.startsWith("through")) {
        server ??= await child([MAIN, "serve", "--registry", "kube-pods", "--kubeconfig", kubeconfig, "-n", ns, "--port", "0", "--data-dir", dir, "--log-level", "warn"]);
        reg = new RemoteRegistry({ url: server.url, namespace: ns });
      } else {
        reg = new KubePodsRegistry({ client: new KubeClient(loadPodregKubeConfig({ kubeconfig })), namespaces: [ns], handleSignals: false, logger: silentLogger });
      }
      reg.subscribe("bench", (ev) => {
        if (ev.type === "updated") for (const l of listeners) l(i, ev.instance.metadata.k ?? "");
      });
      consumers.push(reg);
    }
    await Promise.all(consumers.map((c) => (c as RemoteRegistry).whenSynced()));
    await new Promise((r) => setTimeout(r, 1000));
    const watches = (await apiWatches(metrics)) - base;
    const samples: number[] = [];
    for (let k = 0; k < Math.min(CHANGES, 20) + 3; k++) {
      const marker = `m${k}`;
      const got = new Promise<number[]>((resolve) => {
        const t = new Array<number>(SUBS).fill(NaN);
        let n = 0;
        listeners.push((i, v) => {
          if (v === marker && Number.isNaN(t[i]!)) {
            t[i] = now();
            if (++n === SUBS) resolve(t);
          }
        });
      });
      const t0 = now();
      await handle.update({ metadata: { k: marker } });
      const t = await got;
      listeners.length = 0;
      if (k >= 3) samples.push(...t.map((x) => x - t0));
    }
    rows.push([mode, num(watches), ms(percentile(samples, 50)), ms(percentile(samples, 99))]);
    for (const c of consumers) await c.close();
    if (server) {
      server.proc.kill("SIGTERM");
      await new Promise((r) => server!.proc.once("exit", r));
    }
  }
  console.log(`\n2. ${SUBS} consumers of the pods registry: API-server pod watches held, and PATCH -> every consumer notified (ms)\n`);
  console.log(table(["consumers", "API watches", "p50", "p99"], rows));
}

try {
  await sseFanout();
  await kubeFanout();
} finally {
  for (const c of children) c.kill("SIGKILL");
  for (const c of cleanups.reverse()) await c();
}
process.exit(0);
