/**
 * A registry change reaching `channels` real grpc-js-xds channels through
 * podreg's xDS server, with `endpoints` endpoints in the service's EDS
 * resource. The channels live in `workers` child processes
 * (bench/lib/xds-worker.ts), apart from the server as they would be; each
 * has its own bootstrap, so its own xDS client and ADS stream (in production
 * the channels of one process share one), and is kept active so it watches
 * the service's endpoints.
 *
 * Measured per change and channel: the change -> the server sent the new
 * EDS version -> the channel's xDS client ACKed it (it decoded and validated
 * every endpoint and handed them to its load balancer). The floor is the
 * debounce window (100 ms, Istio's). The workers' CPU seconds per channel
 * and update say when the clients, not the server, are the bottleneck.
 *
 * The instances the changes add point at one real gRPC server in a process
 * of its own. All but the changed instances are not ready (EDS UNHEALTHY):
 * their bytes are in every push and every client parses them, but no channel
 * opens a connection to each (channels x endpoints sockets would measure the
 * kernel, not xDS). Used by `bench xds` and `bench scale`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Instance } from "../../src/model/instance.js";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { startXdsServer } from "../../src/server/xds/server.js";

const WORKER = fileURLToPath(new URL("./xds-worker.ts", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface XdsBenchOptions {
  endpoints: number;
  channels: number;
  /** Changes of each kind. */
  changes: number;
  workers: number;
  debounceMs: number;
  progress?: (line: string) => void;
}

export interface XdsChangeResult {
  /** ms from the change to the server sending the new EDS, one sample per change and channel. */
  sent: number[];
  /** ms from the change to the channel's ACK of it. */
  acked: number[];
  /** The workers' CPU seconds over these changes, per channel and change. */
  clientCpuMsPerUpdate: number;
}

export interface XdsBenchResult {
  endpoints: number;
  channels: number;
  workers: number;
  debounceMs: number;
  /** Channels created -> every one ACKed its endpoints. */
  subscribeMs: number;
  /** A new ready instance (every channel also connects to it). */
  added: XdsChangeResult;
  /** A weight changed (nothing to connect). */
  weighted: XdsChangeResult;
}

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", WORKER, ...args], { stdio: ["pipe", "pipe", "inherit"] });
}

/** Each worker's CPU seconds so far, summed. */
async function workersCpu(workers: readonly ChildProcess[]): Promise<number> {
  const each = await Promise.all(
    workers.map(
      (w) =>
        new Promise<number>((resolve) => {
          let buf = "";
          const on = (d: Buffer) => {
            buf += d.toString();
            const k = buf.indexOf("\n");
            if (k < 0) return;
            w.stdout!.off("data", on);
            resolve((JSON.parse(buf.slice(0, k)) as { cpuS: number }).cpuS);
          };
          w.stdout!.on("data", on);
          w.stdin!.write("cpu\n");
        }),
    ),
  );
  return each.reduce((a, b) => a + b, 0);
}

export async function xdsBench(o: XdsBenchOptions): Promise<XdsBenchResult> {
  const log = o.progress ?? (() => {});
  const reg = new MemoryRegistry({ namespace: "default" });
  const bulk: Instance[] = Array.from({ length: o.endpoints - 1 }, (_, i) => ({
    id: `bulk:${i}`,
    key: "default/echo",
    service: "echo",
    host: `127.1.${(i >> 8) & 255}.${i & 255}`,
    port: 9,
    protocol: "grpc",
    weight: 100,
    metadata: {},
    labels: {},
    ready: false,
    source: "bench",
  }));
  reg.set("bulk", bulk);
  const children: ChildProcess[] = [];
  const xds = await startXdsServer({ discovery: reg, debounceMs: o.debounceMs });
  try {
    // One real server, in a process of its own, answers on every loopback address: each change adds a ready instance at a new one.
    const backend = start(["backend"]);
    children.push(backend);
    const port = await new Promise<number>((resolve) => backend.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
    const base = await reg.register({ service: "echo", host: "127.2.0.1", port, protocol: "grpc" });
    const workers: ChildProcess[] = [];
    const per = Math.ceil(o.channels / o.workers);
    const t0 = Date.now();
    for (let w = 0; w * per < o.channels; w++) workers.push(start(["worker", xds.address, String(w * per), String(Math.min(per, o.channels - w * per))]));
    children.push(...workers);
    const edsReady = () => xds.clients().filter((c) => c.types.eds?.acked && c.types.eds.acked.version === c.types.eds.sent?.version).length;
    while (edsReady() < o.channels) {
      if (Date.now() - t0 > 180_000) throw new Error(`only ${edsReady()} of ${o.channels} channels got their endpoints in 180 s`);
      await sleep(20);
    }
    const subscribeMs = Date.now() - t0;
    log(`xds ${o.endpoints} endpoints: ${o.channels} channels subscribed in ${subscribeMs} ms`);

    /** Runs `change` o.changes times; per channel, when the server sent the new EDS and when the channel ACKed it. */
    const measure = async (what: string, change: (k: number) => Promise<unknown>): Promise<XdsChangeResult> => {
      const sent: number[] = [];
      const acked: number[] = [];
      const cpu0 = await workersCpu(workers);
      for (let k = 0; k < o.changes; k++) {
        const before = new Map(xds.clients().map((c) => [c.id, c.types.eds!.sent!.version]));
        const at = Date.now();
        await change(k);
        for (;;) {
          const done = xds.clients().filter((c) => c.types.eds!.sent!.version !== before.get(c.id) && c.types.eds!.acked?.version === c.types.eds!.sent!.version);
          if (done.length === o.channels) {
            for (const c of done) {
              sent.push(c.types.eds!.sent!.at - at);
              acked.push(c.types.eds!.acked!.at - at);
            }
            break;
          }
          if (Date.now() - at > 120_000) throw new Error(`change ${k}: ${done.length} of ${o.channels} channels ACKed in 120 s`);
          await sleep(5);
        }
        log(`xds ${o.endpoints} endpoints: ${what} ${k + 1} of ${o.changes}`);
        await sleep(300);
      }
      const cpu = (await workersCpu(workers)) - cpu0;
      return { sent, acked, clientCpuMsPerUpdate: (cpu * 1000) / (o.changes * o.channels) };
    };
    const added = await measure("instance added", (k) => reg.register({ service: "echo", host: `127.2.${1 + (k >> 8)}.${(k & 255) + 1}`, port, protocol: "grpc" }));
    const weighted = await measure("weight changed", (k) => base.update({ weight: k % 2 ? 100 : 50 }));
    return { endpoints: o.endpoints, channels: o.channels, workers: workers.length, debounceMs: o.debounceMs, subscribeMs, added, weighted };
  } finally {
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(undefined) : (c.once("exit", r), c.stdin!.end())))));
    await xds.close();
    await reg.close();
  }
}

/** The table rows of one run: the floor, then sent and ACKed for each kind of change. */
export function xdsRows(r: XdsBenchResult, fmt: { num(x: number, d?: number): string; percentile(xs: readonly number[], p: number): number }): string[][] {
  const n = (x: number) => fmt.num(x);
  const row = (name: string, xs: number[], cpu: string) => [name, n(fmt.percentile(xs, 50)), n(fmt.percentile(xs, 99)), n(Math.max(...xs)), `${fmt.num(fmt.percentile(xs, 99) / r.debounceMs, 1)}x`, cpu];
  const p = `${fmt.num(r.endpoints)}  `;
  return [
    [`${p}FLOOR: the debounce window`, n(r.debounceMs), n(r.debounceMs), n(r.debounceMs), "1.0x", ""],
    row(`${p}instance added: server sent the EDS`, r.added.sent, ""),
    row(`${p}instance added: channel ACKed it`, r.added.acked, fmt.num(r.added.clientCpuMsPerUpdate, 1)),
    row(`${p}weight changed: server sent the EDS`, r.weighted.sent, ""),
    row(`${p}weight changed: channel ACKed it`, r.weighted.acked, fmt.num(r.weighted.clientCpuMsPerUpdate, 1)),
  ];
}

export const XDS_HEADERS = ["endpoints  from the change to", "p50 ms", "p99 ms", "max ms", "p99 / FLOOR", "client CPU ms per channel update"];
