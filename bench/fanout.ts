/**
 * npm run bench -- fanout
 *
 * 1. One change -> 200 SSE subscribers of `podreg serve` (a child process),
 *    time from the write to each subscriber's receipt, p50/p99, beside the
 *    LIMIT: a bare node:http loop (also a child process) writing the same
 *    bytes to 200 held sockets when told to. Same machine, same client code.
 * 2. 200 consumers of PODREG_BENCH_PODS (100) registered pods: through
 *    `podreg serve --registry kube-pods` (RemoteRegistry) vs each watching
 *    the API server (KubePodsRegistry, one client each): the control plane's
 *    CPU and memory, API-server watches held, and PATCH-to-notification
 *    p50/p99 across all 200 (bench/lib/fanout.ts; `bench scale` runs the
 *    same at 1,000 pods and more).
 * It asserts nothing.
 *
 * Environment: PODREG_BENCH_KUBECONFIG (use that cluster; default: start a
 * testenv control plane), PODREG_BENCH_SUBSCRIBERS (200),
 * PODREG_BENCH_CHANGES (50).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { setMaxListeners } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { openBenchCluster, type Cleanups } from "./lib/cluster.js";
import { kubeFanout, fanoutTable } from "./lib/fanout.js";
import { benchNamespace, benchPods, createBenchPod, pool } from "./lib/fixture.js";
import { num, percentile, ratio, table } from "./lib/report.js";

const SUBS = Number(process.env.PODREG_BENCH_SUBSCRIBERS ?? 200);
const CHANGES = Number(process.env.PODREG_BENCH_CHANGES ?? 50);
const PODS = Number(process.env.PODREG_BENCH_PODS ?? 100);
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const BARE = fileURLToPath(new URL("./fanout-bare.ts", import.meta.url));
const children = new Set<ChildProcess>();
const cleanups: Cleanups = [];
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
  cleanups.push({ what: "data dir", fn: () => rmSync(dir, { recursive: true, force: true }) });
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

async function kubeFanoutBench(): Promise<void> {
  const cluster = await openBenchCluster("podreg-bench-fanout", cleanups);
  const suffix = Date.now().toString(36);
  const ns = await benchNamespace(cluster.kc, cluster.admin, cleanups, "podreg-bench-fanout", suffix);
  const pods = benchPods(PODS, suffix);
  await pool(pods, 16, (p) => createBenchPod(cluster.admin, ns, p));
  const opts = { ...cluster, ns, pods, consumers: SUBS, changes: Math.min(CHANGES, 20), seqBase: 1_000_000, progress: (l: string) => process.stderr.write(`  ${l}\n`) };
  const results = [await kubeFanout(opts, "serve"), await kubeFanout({ ...opts, seqBase: 2_000_000 }, "direct")];
  console.log(`\n2. ${SUBS} consumers of the pods registry, ${PODS} registered pods: control-plane cost over sync + changes (/proc), and PATCH -> every consumer notified\n`);
  console.log(fanoutTable(results, { num, ratio, table }));
}

try {
  await sseFanout();
  await kubeFanoutBench();
} finally {
  for (const c of children) c.kill("SIGKILL");
  for (const { fn } of cleanups.reverse()) await fn();
}
process.exit(0);
