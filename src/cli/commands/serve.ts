import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";
import pino from "pino";
import { KubePodsRegistry } from "../../registry/kube-pods/registry.js";
import { LocalRegistry } from "../../registry/local/registry.js";
import type { Discovery } from "../../registry/registry.js";
import { loadClientConfig } from "../../client/config.js";
import { loadToken } from "../../server/http.js";
import type { XdsServer } from "../../server/xds/server.js";
import { startServer, type PodregServer } from "../../server/server.js";
import { escapeControl } from "../../util/text.js";
import { ConfigError } from "../../errors.js";
import { fail, integerArg, readFlagFile, registryOptions, type RegistryFlags } from "../common.js";
import { openSources, sourceNames } from "../sources.js";

/** The user's data directory, as each platform names it. */
export function defaultDataDir(): string {
  if (process.platform === "win32") return join(process.env.LOCALAPPDATA ?? join(homedir(), "AppData", "Local"), "podreg");
  if (process.platform === "darwin") return join(homedir(), "Library", "Application Support", "podreg");
  return join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "podreg");
}

export type ServeFlags = RegistryFlags & {
  host: string;
  port: number;
  dataDir?: string;
  tokenFile?: string;
  ttl: number;
  logLevel: string;
  xdsPort?: number;
  xdsHost: string;
  xdsDebounce: number;
  config?: string;
  tlsCert?: string;
  tlsKey?: string;
  xdsTlsCert?: string;
  xdsTlsKey?: string;
  xdsClientCa?: string;
};

/** Opens the source and the server; what `serve` and `demo` share. */
export async function openServer(
  o: ServeFlags,
  log: pino.Logger,
): Promise<{ server: PodregServer; xds?: XdsServer; registry: Discovery; dataDir: string; token: string; tokenFile: string; tokenCreated: boolean }> {
  // Configuration first: a bad file fails before anything opens.
  const config = o.config === undefined ? undefined : await loadClientConfig(o.config);
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new ConfigError("--tls-cert and --tls-key go together");
  const tls = o.tlsCert === undefined || o.tlsKey === undefined ? undefined : { cert: readFlagFile("--tls-cert", o.tlsCert), key: readFlagFile("--tls-key", o.tlsKey) };
  if ((o.xdsTlsCert === undefined) !== (o.xdsTlsKey === undefined)) throw new ConfigError("--xds-tls-cert and --xds-tls-key go together");
  if (o.xdsClientCa !== undefined && o.xdsTlsCert === undefined) throw new ConfigError("--xds-client-ca needs --xds-tls-cert and --xds-tls-key");
  if ((o.xdsTlsCert !== undefined || o.xdsClientCa !== undefined) && o.xdsPort === undefined) throw new ConfigError("--xds-tls-cert and --xds-client-ca are for --xds-port");
  const xdsTls =
    o.xdsTlsCert === undefined || o.xdsTlsKey === undefined
      ? undefined
      : {
          cert: readFlagFile("--xds-tls-cert", o.xdsTlsCert),
          key: readFlagFile("--xds-tls-key", o.xdsTlsKey),
          ...(o.xdsClientCa === undefined ? {} : { clientCa: readFlagFile("--xds-client-ca", o.xdsClientCa) }),
        };
  const dataDir = o.dataDir ?? defaultDataDir();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const names = sourceNames(o.registry, true);
  const local = names.includes("local") ? new LocalRegistry({ dataDir, ttlMs: o.ttl, logger: log }) : undefined;
  let registry: Discovery;
  try {
    registry = openSources({ ...o }, { logger: log, quietRetries: true, local, allowLocal: true });
  } catch (err) {
    await local?.close();
    throw err;
  }
  let xds: XdsServer | undefined;
  try {
    const tokenFile = o.tokenFile ?? join(dataDir, "token");
    const { token, created } = loadToken(tokenFile, o.tokenFile === undefined);
    const kube = registry instanceof KubePodsRegistry ? registry : undefined;
    if (o.xdsPort !== undefined) {
      // Loaded only when asked for: its gRPC peers are optional dependencies.
      const { startXdsServer } = await import("../../server/xds/server.js");
      xds = await startXdsServer({ discovery: registry, config, host: o.xdsHost, port: o.xdsPort, debounceMs: o.xdsDebounce, tls: xdsTls, logger: log });
    }
    const server = await startServer({
      discovery: registry,
      registrar: local,
      config,
      host: o.host,
      port: o.port,
      tls,
      token,
      logger: log,
      stats: {
        xds,
        ...(kube
          ? {
              watches: () => {
                const w = kube.stats().watches;
                return { relists: w.reduce((a, s) => a + s.relists, 0), resumes: w.reduce((a, s) => a + s.resumes, 0), errors: w.reduce((a, s) => a + s.errors, 0) };
              },
            }
          : {}),
      },
    });
    return { server, xds, registry, dataDir, token, tokenFile, tokenCreated: created };
  } catch (err) {
    await xds?.close();
    await registry.close().catch(() => {});
    throw err;
  }
}

export function serveOptions(cmd: Command): Command {
  return registryOptions(cmd, { default: "local", what: "what the server serves, strongest first: local, kube-pods, kube-services" })
    .option("--host <address>", "address to bind (anything but loopback exposes the API)", "127.0.0.1")
    .addOption(new Option("--port <n>", "port (0: any free one)").argParser(integerArg("--port", 0, 65535)).default(7070))
    .option("--data-dir <dir>", `persistent instances and the token (default: ${defaultDataDir()})`)
    .addOption(new Option("--ttl <ms>", "default lease of ephemeral instances").argParser(integerArg("--ttl", 1000, 3_600_000)).default(10_000))
    .addOption(new Option("--log-level <level>", "pino log level on stderr").choices(["debug", "info", "warn", "error", "silent"]).default("info"))
    .addOption(new Option("--xds-port <n>", "serve xDS (ADS) to Envoy and proxyless gRPC clients on this port (0: any free one); off unless given").argParser(integerArg("--xds-port", 0, 65535)))
    .option("--xds-host <address>", "address the xDS port binds (anything but loopback exposes it)", "127.0.0.1")
    .addOption(new Option("--xds-debounce <ms>", "quiet period before an xDS push").argParser(integerArg("--xds-debounce", 0, 60_000)).default(100))
    .option("--config <file>", "per-service policy (the client configuration format: balancer, hashKey, outlier), served over xDS")
    .option("--tls-cert <file>", "serve HTTPS with this certificate chain (PEM); with --tls-key")
    .option("--tls-key <file>", "the certificate's private key (PEM)")
    .option("--xds-tls-cert <file>", "serve xDS over TLS with this certificate chain (PEM); with --xds-tls-key")
    .option("--xds-tls-key <file>", "the xDS certificate's private key (PEM)")
    .option("--xds-client-ca <file>", "mutual TLS on the xDS port: only clients with a certificate this CA (PEM) signed may connect");
}

export function serveCommand(): Command {
  return serveOptions(new Command("serve"))
    .description("run the registry server: REST, SSE watch, /metrics, on one port (docs/server.md)")
    .action(async (o: ServeFlags) => {
      const log = pino({ level: o.logLevel, base: { name: "podreg" } }, pino.destination(2));
      let opened: Awaited<ReturnType<typeof openServer>>;
      try {
        opened = await openServer(o, log);
      } catch (err) {
        fail(err);
      }
      const { server, xds, registry, dataDir, tokenFile, tokenCreated } = opened;
      console.log(`podreg server on ${server.url} (registry ${registry.name}, data ${escapeControl(dataDir)})`);
      if (xds) console.log(`xDS (ADS) on ${xds.address}${o.xdsTlsCert ? (o.xdsClientCa ? " over mutual TLS" : " over TLS") : ""}: Envoy and gRPC xds:/// clients (docs/xds.md)`);
      console.log(`token for writes in ${escapeControl(tokenFile)}${tokenCreated ? " (new)" : ""}: podreg register --server ${server.url} --token-file ${escapeControl(tokenFile)} ...`);
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal: sig }, "shutting down");
        await xds?.close();
        await server.close();
        await registry.close().catch((err: Error) => log.warn({ err }, "closing the registry failed"));
        process.exit(0);
      };
      process.on("SIGTERM", () => void stop("SIGTERM"));
      process.on("SIGINT", () => void stop("SIGINT"));
    });
}
