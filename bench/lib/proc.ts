/**
 * What the control plane spends while a benchmark runs: CPU seconds and RSS of
 * kube-apiserver and etcd read from /proc (Linux), and the API server's own
 * request metrics. The processes are found by their command lines, so this
 * works for testenv's control plane and for any local one given by kubeconfig.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTck = 100; // Linux's USER_HZ everywhere it matters
    }
  }
  return clkTck;
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) and resident bytes of one process; undefined once it is gone. */
export function procUsage(pid: number): { cpuS: number; rssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may hold spaces and parentheses: it ends at the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuS = (Number(f[11]) + Number(f[12])) / ticksPerSecond(); // utime, stime (fields 14, 15)
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return { cpuS, rssBytes: rss ? Number(rss[1]) * 1024 : NaN };
  } catch {
    return undefined;
  }
}

export interface ControlPlanePids {
  apiserver?: number;
  etcd?: number;
}

/** kube-apiserver serving `server` (its --secure-port) and the etcd behind it (its --etcd-servers); either may be missing (remote clusters). */
export function findControlPlane(server: string): ControlPlanePids {
  const port = new URL(server).port || "443";
  const procs = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map((d) => ({ pid: Number(d), args: cmdline(Number(d)) }));
  const api = procs.find((p) => /kube-apiserver$/.test(p.args[0] ?? "") && p.args.includes(`--secure-port=${port}`));
  const etcdUrl = api?.args.find((a) => a.startsWith("--etcd-servers="))?.slice("--etcd-servers=".length);
  const etcd = etcdUrl ? procs.find((p) => /etcd$/.test(p.args[0] ?? "") && p.args.some((a) => a === `--listen-client-urls=${etcdUrl}`)) : undefined;
  return { apiserver: api?.pid, etcd: etcd?.pid };
}

export interface ProcWindow {
  cpuS: number;
  rssStart: number;
  rssPeak: number;
}

/** Samples each pid's RSS every `everyMs` until stop(); stop() gives CPU seconds spent and RSS at start and at peak. */
export function watchProcs(pids: Record<string, number | undefined>, everyMs = 200): { stop(): Record<string, ProcWindow | undefined> } {
  const start = new Map<string, { cpuS: number; rssBytes: number }>();
  const peak = new Map<string, number>();
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const u = pid === undefined ? undefined : procUsage(pid);
      if (!u) continue;
      if (!start.has(name)) start.set(name, u);
      peak.set(name, Math.max(peak.get(name) ?? 0, u.rssBytes));
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const out: Record<string, ProcWindow | undefined> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const s = start.get(name);
        const end = pid === undefined ? undefined : procUsage(pid);
        out[name] = s && end ? { cpuS: end.cpuS - s.cpuS, rssStart: s.rssBytes, rssPeak: peak.get(name) ?? NaN } : undefined;
      }
      return out;
    },
  };
}

/** The API server's /metrics text, with the kubeconfig's credentials (client-node's TLS options). */
export async function apiMetrics(kc: KubeConfig): Promise<string> {
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
}

/** Pod WATCH requests held now, over every scope (apiserver_longrunning_requests has one line per scope). */
export function podWatches(metrics: string): number {
  let n = 0;
  for (const m of metrics.matchAll(/^apiserver_longrunning_requests\{[^}]*resource="pods"[^}]*verb="WATCH"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

/** apiserver_request_duration_seconds for pods, per verb: requests and seconds summed over every label set. */
export function podRequestDurations(metrics: string): Map<string, { count: number; sumS: number }> {
  const out = new Map<string, { count: number; sumS: number }>();
  for (const m of metrics.matchAll(/^apiserver_request_duration_seconds_(sum|count)\{([^}]*)\} ([0-9.e+-]+)/gm)) {
    const labels = m[2] ?? "";
    if (!/resource="pods"/.test(labels) || /subresource="[^"]/.test(labels)) continue;
    const verb = /verb="([A-Z]+)"/.exec(labels)?.[1];
    if (!verb) continue;
    const e = out.get(verb) ?? { count: 0, sumS: 0 };
    if (m[1] === "sum") e.sumS += Number(m[3]);
    else e.count += Number(m[3]);
    out.set(verb, e);
  }
  return out;
}

/** Per verb: requests and mean seconds between two readings of podRequestDurations. */
export function durationsBetween(a: Map<string, { count: number; sumS: number }>, b: Map<string, { count: number; sumS: number }>): Record<string, { count: number; meanMs: number }> {
  const out: Record<string, { count: number; meanMs: number }> = {};
  for (const [verb, e] of b) {
    const s = a.get(verb) ?? { count: 0, sumS: 0 };
    const count = e.count - s.count;
    if (count > 0) out[verb] = { count, meanMs: ((e.sumS - s.sumS) / count) * 1000 };
  }
  return out;
}
