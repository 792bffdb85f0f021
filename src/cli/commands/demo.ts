/**
 * `podreg demo` (npm start): podreg working on a machine with nothing else.
 * A server with the local registry; three small HTTP services, each its own
 * process, registering through the server's REST API with leases (echo v1
 * twice, a v2 canary); a consumer calling `http://echo/` through
 * PodregDispatcher with a 90/10 split and slow start, printing once a second
 * which instance served how many calls. Along the way one v1 instance stops
 * and a new one starts, so the output shows a removal and slow start.
 * Ctrl-C stops every part; each service also exits when its pipe to the demo
 * closes, so none outlives it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";
import pino from "pino";
import { createFetch, PodregDispatcher } from "../../client/http.js";
import { KubePodsRegistry } from "../../registry/kube-pods/registry.js";
import { RemoteRegistry } from "../../registry/remote/registry.js";
import type { Registry } from "../../registry/registry.js";
import { joinHostPort } from "../../model/host.js";
import { escapeControl } from "../../util/text.js";
import { fail, integerArg } from "../common.js";
import { DemoPods } from "./demo-kube.js";
import { openServer, type ServeFlags } from "./serve.js";

interface DemoFlags {
  port: number;
  duration?: number;
  rate: number;
  kubeconfig?: string;
  namespace: string;
}

const STORY = [
  { at: 0, start: ["v1-a", "v1"], stop: undefined },
  { at: 0, start: ["v1-b", "v1"], stop: undefined },
  { at: 0, start: ["v2-a", "v2"], stop: undefined },
  { at: 5, start: undefined, stop: "v1-b" },
  { at: 8, start: ["v1-c", "v1"], stop: undefined },
] as const;

export function demoCommand(): Command {
  return new Command("demo")
    .description("run podreg end to end on this machine: a server, three services, a consumer with a 90/10 canary split")
    .addOption(new Option("--port <n>", "server port (taken: any free one)").argParser(integerArg("--port", 0, 65535)).default(7070))
    .addOption(new Option("--duration <s>", "stop after this many seconds (default: until Ctrl-C)").argParser(integerArg("--duration", 1, 86_400)))
    .addOption(new Option("--rate <n>", "calls per second").argParser(integerArg("--rate", 1, 10_000)).default(100))
    .option("--kubeconfig <file>", "run the services as pods of this cluster (e.g. npm run testenv -- up), the server watching its API server")
    .option("-n, --namespace <ns>", "the namespace of the demo pods, with --kubeconfig", "podreg-demo")
    .action(async (o: DemoFlags) => {
      const dataDir = mkdtempSync(join(tmpdir(), "podreg-demo-"));
      const log = pino({ level: "warn", base: { name: "podreg" } }, pino.destination(2));
      const pods = o.kubeconfig ? new DemoPods(o.kubeconfig, o.namespace) : undefined;
      const flags = (port: number): ServeFlags =>
        ({
          registry: pods ? "kube-pods" : "local",
          host: "127.0.0.1",
          port,
          dataDir,
          ttl: 3000,
          logLevel: "warn",
          format: "native",
          verifyHosts: true,
          kubeconfig: o.kubeconfig,
          namespace: pods ? [o.namespace] : undefined,
        }) as ServeFlags;
      let opened: Awaited<ReturnType<typeof openServer>>;
      try {
        await pods?.prepare();
        opened = await openServer(flags(o.port), log).catch((err: { code?: string; message?: string }) => {
          if (o.port !== 0 && /EADDRINUSE/.test(err.message ?? "")) return openServer(flags(0), log);
          throw err;
        });
      } catch (err) {
        rmSync(dataDir, { recursive: true, force: true });
        await pods?.close();
        fail(err);
      }
      const { server, registry, token } = opened;
      const children = new Map<string, ChildProcess>();
      const discovery = new RemoteRegistry({ url: server.url, namespace: pods?.namespace });
      const dispatcher = new PodregDispatcher({
        discovery,
        config: {
          services: {
            echo: {
              balancer: { policy: "weighted_round_robin", slowStart: { windowMs: 8000 } },
              routing: { rules: [{ name: "canary", split: [{ subset: "version=v1", weight: 90 }, { subset: "version=v2", weight: 10 }] }] },
            },
          },
        },
      });
      const fetch = createFetch(dispatcher);
      let stopping = false;
      const timers: NodeJS.Timeout[] = [];

      const stopAll = async (code: number) => {
        if (stopping) return;
        stopping = true;
        for (const t of timers) clearInterval(t);
        await Promise.all([...children.values()].map((c) => stopChild(c)));
        await dispatcher.close().catch(() => {});
        await discovery.close().catch(() => {});
        await server.close();
        await registry.close().catch(() => {});
        await pods?.close();
        rmSync(dataDir, { recursive: true, force: true });
        console.log("demo stopped: every service deregistered, no process left");
        process.exit(code);
      };
      process.on("SIGINT", () => void stopAll(0));
      process.on("SIGTERM", () => void stopAll(0));

      console.log(
        pods
          ? `podreg demo: server ${server.url} (watching pods in namespace ${escapeControl(pods.namespace)} of ${escapeControl(o.kubeconfig ?? "")}; demo pods deleted at exit)`
          : `podreg demo: server ${server.url} (local registry, data in ${escapeControl(dataDir)}, removed at exit)`,
      );
      console.log(`  console   ${server.url}/   (the token for writes: ${escapeControl(opened.tokenFile)})`);
      console.log(`  services  ${server.url}/v1/services`);
      console.log(`  watch     curl -N ${server.url}/v1/watch`);
      console.log(`  metrics   ${server.url}/metrics`);
      console.log(`  api       ${server.url}/openapi.json`);
      console.log("consumer: http://echo/ through PodregDispatcher, 90% version=v1 / 10% version=v2, weighted round robin with 8 s slow start");
      console.log("Ctrl-C stops everything.");

      discovery.subscribe("echo", (ev) => {
        if (ev.type !== "added" && ev.type !== "removed") return;
        // Metadata comes from whoever registered (pods of the namespace, with --kubeconfig): escaped for the terminal.
        const i = ev.instance;
        const what = `echo ${escapeControl(i.metadata.name ?? "?")} (${escapeControl(i.metadata.version ?? "?")}) at ${escapeControl(joinHostPort(i.host, i.port))}`;
        console.log(ev.type === "added" ? `+ added   ${what}` : `- removed ${what}`);
      });

      const start = async (name: string, version: string) => {
        // With a cluster: a Ready pod first, whose IP the service listens on and registers from.
        const where = pods ? await pods.create(name) : undefined;
        if (stopping) return;
        const args = where ? ["--kubeconfig", o.kubeconfig!, "--pod", `${pods!.namespace}/${where.name}`, "--host", where.ip] : ["--server", server.url];
        const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, "demo-service", ...args, "--name", name, "--app-version", version], {
          env: { ...process.env, PODREG_TOKEN: token },
          stdio: ["pipe", "inherit", "inherit"],
        });
        children.set(name, child);
        child.on("exit", () => {
          children.delete(name);
          if (where && !stopping) void pods!.delete(where.name).catch(() => {});
        });
      };
      // The story's clock starts once the first three are registered (a cold start of three processes takes a moment).
      try {
        for (const step of STORY) if (step.at === 0 && step.start) await start(step.start[0], step.start[1]);
      } catch (err) {
        console.error(`podreg: could not start the demo services: ${escapeControl((err as Error).message)}`);
        return void stopAll(1);
      }
      const deadline = Date.now() + 30_000;
      while (discovery.instances("echo").length < 3 && Date.now() < deadline && !stopping) await new Promise((r) => setTimeout(r, 50));
      if (stopping) return;
      const t0 = Date.now();
      for (const step of STORY) {
        if (step.at === 0) continue;
        timers.push(
          setTimeout(() => {
            if (stopping) return;
            if (step.start) void start(step.start[0], step.start[1]).catch((err: Error) => console.error(`podreg: ${escapeControl(err.message)}`));
            const c = step.stop && children.get(step.stop);
            if (c) {
              console.log(`stopping ${step.stop} (SIGTERM: it deregisters at once)`);
              void stopChild(c);
            }
          }, step.at * 1000),
        );
      }

      let counts = new Map<string, number>();
      let failed = 0;
      const tick = 1000 / Math.min(o.rate, 100);
      const perTick = Math.max(1, Math.round(o.rate / (1000 / tick)));
      timers.push(
        setInterval(() => {
          for (let i = 0; i < perTick; i++) {
            fetch("http://echo/")
              .then(async (res) => {
                const who = res.headers.get("x-served-by") ?? "?";
                await res.body?.cancel();
                counts.set(who, (counts.get(who) ?? 0) + 1);
              })
              .catch(() => failed++);
          }
        }, tick),
      );
      timers.push(
        setInterval(() => {
          const s = Math.round((Date.now() - t0) / 1000);
          const total = [...counts.values()].reduce((a, b) => a + b, 0);
          const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${String(n).padStart(3)}`);
          console.log(`[${String(s).padStart(3)}s] echo served ${String(total).padStart(3)} calls: ${parts.join("  ") || "(waiting for instances)"}${failed ? `  failed ${failed}` : ""}`);
          counts = new Map();
          failed = 0;
          if (o.duration !== undefined && s >= o.duration) void stopAll(0);
        }, 1000),
      );
    });
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => c.kill("SIGKILL"), 5000);
    c.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    c.kill("SIGTERM");
  });
}

/** One demo service: an HTTP server that says who it is, registered through the server with a lease, or in its pod. */
export function demoServiceCommand(): Command {
  return new Command("demo-service")
    .description("(used by podreg demo) a small HTTP service registered through a podreg server, or in its pod")
    .option("--server <url>", "the podreg server")
    .option("--kubeconfig <file>", "register in a pod of this cluster instead")
    .option("--pod <ns/name>", "with --kubeconfig: the pod")
    .option("--host <ip>", "address to listen on (and advertise)", "127.0.0.1")
    .requiredOption("--name <name>", "instance name")
    .requiredOption("--app-version <v>", "version metadata")
    .action(async (o: { server?: string; kubeconfig?: string; pod?: string; host: string; name: string; appVersion: string }) => {
      const http = createServer((_req, res) => {
        res.setHeader("x-served-by", `${o.name}`);
        res.end(`${o.name} (${o.appVersion})\n`);
      });
      await new Promise<void>((r) => http.listen(0, o.host, r));
      const [namespace, pod] = (o.pod ?? "/").split("/");
      const registry: Registry = o.kubeconfig
        ? new KubePodsRegistry({ kubeConfig: { kubeconfig: o.kubeconfig }, namespaces: [namespace!], pod: { namespace: namespace!, name: pod! }, handleSignals: false, allowAnyHost: false })
        : new RemoteRegistry({ url: o.server ?? "", token: process.env.PODREG_TOKEN, ttlMs: 3000 });
      try {
        await registry.register({ service: "echo", port: (http.address() as AddressInfo).port, host: o.host, metadata: { version: o.appVersion, name: o.name } });
      } catch (err) {
        http.close();
        fail(err);
      }
      let done = false;
      const stop = async () => {
        if (done) return;
        done = true;
        await registry.close().catch(() => {});
        http.close();
        process.exit(0);
      };
      process.on("SIGTERM", () => void stop());
      process.on("SIGINT", () => void stop());
      // The demo's pipe closes when the demo dies, however it dies: never outlive it.
      process.stdin.on("end", () => void stop());
      process.stdin.resume();
    });
}
