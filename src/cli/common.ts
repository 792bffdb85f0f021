/** What the podreg commands share: flag parsing, registry construction, status lines and error reporting. */
import { InvalidArgumentError, Option, type Command } from "commander";
import type { StatusEvent } from "../model/events.js";
import { PodregError, TimeoutError } from "../errors.js";
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.js";
import { KubePodsRegistry } from "../registry/kube-pods/registry.js";
import { RemoteRegistry } from "../registry/remote/registry.js";
import { openSources, sourceNames } from "./sources.js";
import type { Discovery, Registry } from "../registry/registry.js";
import { stderrLogger, type Logger } from "../util/logger.js";
import { escapeControl, redactCredentials } from "../util/text.js";

export interface RegistryFlags {
  registry: string;
  kubeconfig?: string;
  context?: string[];
  clusters?: string;
  address?: "internal" | "external";
  staleAfter?: number;
  namespace?: string[];
  allNamespaces?: boolean;
  format: "native" | "dubbo-go";
  requireDeclared?: boolean;
  verifyHosts: boolean;
  /** A podreg server instead of the API server. */
  server?: string;
  tokenFile?: string;
  /** CA certificates (PEM) for an https:// --server. */
  caFile?: string;
}

/** Commander argument parsers: a bad value is a flag error, reported before any configuration is read. */
export function integerArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
}

export function numberArg(name: string, min: number) {
  return (v: string): number => {
    const n = v.trim() === "" ? NaN : Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a finite number >= ${min}`);
    return n;
  };
}

export const timeoutOption = (what: string, ms: number): Option =>
  new Option("--timeout <ms>", what).argParser(integerArg("--timeout", 1, 86_400_000)).default(ms);

export function registryOptions(cmd: Command, registries: { default: string; what: string } = { default: "kube-pods", what: "sources, strongest first: kube-pods, kube-services" }): Command {
  return cmd
    .addOption(new Option("--registry <list>", registries.what).default(registries.default))
    .option("--kubeconfig <file>", "kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    .option("--context <name>", "kubeconfig context; repeat for several clusters (each tagged with its context)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--clusters <file>", "a YAML or JSON file listing clusters (name, kubeconfig, context, namespaces), instead of --context")
    .addOption(new Option("--stale-after <ms>", "with several sources or clusters: how long a failing one's instances are kept").argParser(integerArg("--stale-after", 0, 86_400_000)).default(300_000))
    .addOption(new Option("--address <kind>", "kube-services: endpoint addresses, or addresses reachable from outside the cluster").choices(["internal", "external"]).default("internal"))
    .option("-n, --namespace <ns...>", "namespace(s) to discover in (default: the pod's own or the context's)")
    .option("-A, --all-namespaces", "discover in every namespace")
    .addOption(new Option("--format <format>", "annotation format").choices(["native", "dubbo-go"]).default("native"))
    .option("--require-declared", "drop entries of pods whose template declares no podreg.io/services")
    .option("--no-verify-hosts", "keep entries advertising hosts that are neither a pod IP nor in podreg.io/hosts")
    .option("--server <url>", "a podreg server (podreg serve) instead of the API server")
    .option("--token-file <file>", "the server's token, for --server writes (default: PODREG_TOKEN)")
    .option("--ca-file <file>", "CA certificate(s), PEM, to trust for an https:// --server (podreg serve --tls-cert)");
}

/** A file named by a flag (a PEM, a token), read as a configuration error: its name and errno, never its content. */
export function readFlagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/** The token for --server writes: --token-file, else PODREG_TOKEN. */
export function serverToken(f: Pick<RegistryFlags, "tokenFile">): string | undefined {
  if (f.tokenFile) return readFlagFile("--token-file", f.tokenFile).trim();
  return process.env.PODREG_TOKEN?.trim() || undefined;
}

function openRemote(f: RegistryFlags, logger: Logger): RemoteRegistry {
  let url: URL;
  try {
    url = new URL(f.server!);
  } catch {
    throw new ConfigError(`--server must be a URL such as http://127.0.0.1:7070, not ${JSON.stringify(f.server).slice(0, 80)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError("--server must be an http:// or https:// URL");
  if (f.caFile !== undefined && url.protocol !== "https:") throw new ConfigError("--ca-file is for an https:// --server");
  const ca = f.caFile === undefined ? undefined : readFlagFile("--ca-file", f.caFile);
  return new RemoteRegistry({ url: url.href, token: serverToken(f), namespace: f.namespace?.[0], logger, ca });
}

/** Logs warnings except the reflector's retry notices, which the commands report as status lines. */
export function openRegistry(
  f: RegistryFlags,
  extra: { handleSignals?: boolean; logger?: Logger; allowAnyHost?: boolean; deregisterTimeoutMs?: number; quietRetries?: boolean } = {},
): Registry {
  if (f.server) return openRemote(f, extra.logger ?? stderrLogger);
  if (sourceNames(f.registry, false).join() !== "kube-pods" || (f.context?.length ?? 0) > 1 || f.clusters !== undefined) {
    throw new ConfigError("registrations go into one cluster's pods: --registry kube-pods and at most one --context (or --server URL)");
  }
  return new KubePodsRegistry({
    kubeConfig: { kubeconfig: f.kubeconfig, context: f.context?.[0] },
    codec: f.format,
    namespaces: f.allNamespaces ? "all" : f.namespace,
    requireDeclaredServices: f.requireDeclared,
    verifyHosts: f.verifyHosts,
    allowAnyHost: extra.allowAnyHost,
    deregisterTimeoutMs: extra.deregisterTimeoutMs,
    handleSignals: extra.handleSignals ?? false,
    quietRetries: extra.quietRetries,
    logger: extra.logger ?? stderrLogger,
  });
}

/** A registry for the read-only commands (ls, watch): bad flags or kubeconfig end the command with one line. */
export function openForReading(f: RegistryFlags): Discovery {
  try {
    // Outages reach the user as status lines (statusLine), not as one warning per retry.
    if (f.server) return openRemote(f, stderrLogger);
    return openSources(f, { logger: stderrLogger, quietRetries: true });
  } catch (err) {
    fail(err);
  }
}

/** Failures that retrying won't fix soon: the command ends with them instead of waiting out its timeout. */
const FATAL = new Set(["PODREG_UNAUTHORIZED", "PODREG_KUBE_FORBIDDEN", "PODREG_KUBE_UNAUTHORIZED", "PODREG_KUBE_UNREACHABLE", "PODREG_KUBE_CONFIG", "PODREG_KUBE_NOT_FOUND", "PODREG_KUBE_INVALID"]);

/** Waits for the first sync; rejects with the first fatal failure, or PODREG_TIMEOUT. */
export function syncOrFail(reg: Discovery, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new TimeoutError(`the registry did not sync within ${timeoutMs}ms`)), timeoutMs);
    const sub = reg.onStatus((ev) => {
      if (ev.type === "synced") done();
      else if (ev.type === "failing" && FATAL.has(ev.error.code ?? "")) done(ev.error);
    });
    function done(err?: Error): void {
      clearTimeout(timer);
      sub.close();
      if (err) reject(err);
      else resolve();
    }
    if (reg.synced) done();
  });
}

/** The one stderr line a status change gives, after the first sync (`watch` runs for hours). */
export function statusLine(ev: StatusEvent, what = "API server"): string | undefined {
  if (ev.type === "failing") {
    return `podreg: lost the ${what} (${ev.error.code ?? ev.error.name}: ${firstLine(ev.error.message)}); retrying, instances shown may be stale`;
  }
  if (ev.type === "recovered") return `podreg: ${what} answers again after ${(ev.downMs / 1000).toFixed(1)}s; instances are current`;
  return undefined;
}

const firstLine = (s: string): string => escapeControl(redactCredentials(s.split("\n")[0] ?? ""));

/** One line on stderr and exit code 1; never a stack trace for an expected failure, never a credential. */
export function fail(err: unknown): never {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = e instanceof PodregError ? `${e.code}: ` : "";
  console.error(`podreg: ${code}${firstLine(e.message)}`);
  process.exit(1);
}

export type { Discovery, Registry };
