/**
 * The child processes of the xDS benchmark (bench/lib/xds.ts): `worker`
 * holds grpc-js-xds channels, each with its own bootstrap (so its own xDS
 * client and ADS stream), kept active so they watch the service's endpoints;
 * `backend` is the one real gRPC server the ready instances point at. Both
 * run until their stdin closes; a worker answers each "cpu" line with its
 * CPU seconds so far.
 */
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { register as registerXds } from "@grpc/grpc-js-xds";

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
  // Each "cpu" line is answered with the process's CPU seconds so far: what the channels' xDS clients spend.
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (l) => {
    if (l.trim() !== "cpu") return;
    const u = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuS: (u.user + u.system) / 1e6 })}\n`);
  });
  await new Promise((r) => lines.once("close", r));
  for (const ch of channels) ch.close();
  process.exit(0);
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
else throw new Error(`unknown role ${process.argv[2]}; expected worker or backend`);
