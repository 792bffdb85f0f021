/**
 * npm run bench -- xds
 *
 * A registry change reaching PODREG_BENCH_CHANNELS (100) real grpc-js-xds
 * channels through podreg's xDS server, with PODREG_BENCH_ENDPOINTS (1,000)
 * endpoints in the service's EDS resource. The channels live in
 * PODREG_BENCH_WORKERS (2) child processes, apart from the server as they
 * would be. Each channel has its own bootstrap, so its own xDS client and ADS
 * stream (grpc-js-xds's per-channel bootstrap option; in production the
 * channels of one process share one stream), and is kept active so it
 * watches the service's endpoints.
 *
 * Measured per change and channel: the change (a new ready instance
 * registered) → the server sent the new EDS version → the channel's xDS
 * client ACKed it (it validated the 1,000 endpoints and handed them to its
 * load balancer). The floor is the debounce window (100 ms, Istio's);
 * Istio's own figure: convergence usually under 1 s.
 *
 * The instances the changes add point at a real gRPC server in a process of
 * its own, so the channels' new connections don't load the xDS server's.
 * All but the changed instances are not ready (EDS UNHEALTHY): their bytes
 * are in every push and every client parses them, but no channel opens 1,000
 * connections each (100 x 1,000 sockets would measure the kernel, not xDS).
 * It asserts nothing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { register as registerXds } from "@grpc/grpc-js-xds";
import type { Instance } from "../src/model/instance.js";
import { MemoryRegistry } from "../src/registry/memory.js";
import { startXdsServer } from "../src/server/xds/server.js";
import { num, percentile, table } from "./lib/report.js";

const CHANNELS = Number(process.env.PODREG_BENCH_CHANNELS ?? 100);
const ENDPOINTS = Number(process.env.PODREG_BENCH_ENDPOINTS ?? 1000);
const CHANGES = Number(process.env.PODREG_BENCH_CHANGES ?? 20);
const WORKERS = Number(process.env.PODREG_BENCH_WORKERS ?? 2);
const DEBOUNCE = 100;
const SELF = fileURLToPath(import.meta.url);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child process holding channels `from`..`from + count - 1`, until its stdin closes. */
async function worker(address: string, from: number, count: number): Promise<void> {
  registerXds();
  const channels: grpc.Channel[] = [];
  for (let i = from; i < from + count; i++) {
    const bootstrap = JSON.stringify({ xds_servers: [{ server_uri: address, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }], node: { id: `bench-${i}`, locality: {} } });
    const ch = new grpc.Channel("xds:///echo", grpc.credentials.createInsecure(), { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": bootstrap });
    ch.getConnectivityState(true);
    channels.push(ch);
  }
  process.stdin.resume();
  await new Promise((r) => process.stdin.on("end", r));
  for (const ch of channels) ch.close();
  process.exit(0);
}

async function main(): Promise<void> {
  const reg = new MemoryRegistry({ namespace: "default" });
  const bulk: Instance[] = Array.from({ length: ENDPOINTS - 1 }, (_, i) => ({
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
  // One real server, in a process of its own, answers on every loopback address: each change adds a ready instance at a new one.
  const backend = spawn(process.execPath, ["--import", "tsx", SELF, "backend"], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => backend.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
  const base = await reg.register({ service: "echo", host: "127.2.0.1", port, protocol: "grpc" });
  const xds = await startXdsServer({ discovery: reg, debounceMs: DEBOUNCE });

  const workers: ChildProcess[] = [];
  const per = Math.ceil(CHANNELS / WORKERS);
  for (let w = 0; w * per < CHANNELS; w++) {
    workers.push(spawn(process.execPath, ["--import", "tsx", SELF, "worker", xds.address, String(w * per), String(Math.min(per, CHANNELS - w * per))], { stdio: ["pipe", "inherit", "inherit"] }));
  }
  const edsReady = () => xds.clients().filter((c) => c.types.eds?.acked && c.types.eds.acked.version === c.types.eds.sent?.version).length;
  const t0 = Date.now();
  while (edsReady() < CHANNELS) {
    if (Date.now() - t0 > 120_000) throw new Error(`only ${edsReady()} of ${CHANNELS} channels got their endpoints in 120 s`);
    await sleep(20);
  }
  process.stderr.write(`${CHANNELS} channels subscribed in ${Date.now() - t0} ms (${ENDPOINTS} endpoints each)\n`);

  /** Runs `change` CHANGES times; per channel, when the server sent the new EDS and when the channel ACKed it. */
  const measure = async (change: (k: number) => Promise<unknown>) => {
    const sent: number[] = [];
    const acked: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const before = new Map(xds.clients().map((c) => [c.id, c.types.eds!.sent!.version]));
      const at = Date.now();
      await change(k);
      for (;;) {
        const done = xds.clients().filter((c) => c.types.eds!.sent!.version !== before.get(c.id) && c.types.eds!.acked?.version === c.types.eds!.sent!.version);
        if (done.length === CHANNELS) {
          for (const c of done) {
            sent.push(c.types.eds!.sent!.at - at);
            acked.push(c.types.eds!.acked!.at - at);
          }
          break;
        }
        if (Date.now() - at > 30_000) throw new Error(`change ${k}: ${done.length} of ${CHANNELS} channels ACKed in 30 s`);
        await sleep(5);
      }
      await sleep(300);
    }
    return { sent, acked };
  };
  // A new ready instance: every channel also opens a connection to it. A weight change: nothing to connect.
  const added = await measure((k) => reg.register({ service: "echo", host: `127.2.1.${k + 1}`, port, protocol: "grpc" }));
  const weighted = await measure((k) => base.update({ weight: k % 2 ? 100 : 50 }));
  const row = (name: string, xs: number[]) => [name, num(percentile(xs, 50)), num(percentile(xs, 99)), num(Math.max(...xs))];
  console.log(`\nxds: ${CHANGES} changes of each kind x ${CHANNELS} grpc-js-xds channels (own ADS stream each, in ${workers.length} processes), ${ENDPOINTS} endpoints in the EDS resource\n`);
  console.log(
    table(
      ["from the change to", "p50 ms", "p99 ms", "max ms"],
      [
        ["FLOOR: the debounce window", String(DEBOUNCE), String(DEBOUNCE), String(DEBOUNCE)],
        row("instance added: the server sent the new EDS", added.sent),
        row("instance added: the channel ACKed it", added.acked),
        row("weight changed: the server sent the new EDS", weighted.sent),
        row("weight changed: the channel ACKed it", weighted.acked),
      ],
    ),
  );
  console.log(`\n   ACK p99 / debounce floor: added ${(percentile(added.acked, 99) / DEBOUNCE).toFixed(2)}x, weight ${(percentile(weighted.acked, 99) / DEBOUNCE).toFixed(2)}x; Istio: 100 ms debounce, convergence usually under 1 s`);
  await Promise.all(workers.map((w) => new Promise((r) => (w.once("exit", r), w.stdin!.end()))));
  await xds.close();
  backend.stdin!.end();
  await reg.close();
}

/** The gRPC server the ready instances point at, until stdin closes. */
async function backendProcess(): Promise<void> {
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("0.0.0.0:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  process.stdout.write(`${port}\n`);
  process.stdin.resume();
  await new Promise((r) => process.stdin.on("end", r));
  server.forceShutdown();
  process.exit(0);
}

if (process.argv[2] === "backend") await backendProcess();
else if (process.argv[2] === "worker") await worker(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
else {
  await main();
  process.exit(0);
}
