/** What the podreg commands share: registry construction and error reporting. */
import { Option, type Command } from "commander";
import { PodregError } from "../errors.js";
import { KubePodsRegistry } from "../registry/kube-pods/registry.js";
import type { Registry } from "../registry/registry.js";
import { silentLogger, stderrLogger, type Logger } from "../util/logger.js";

export interface RegistryFlags {
  registry: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string[];
  allNamespaces?: boolean;
  format: "native" | "dubbo-go";
}

export function registryOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--registry <name>", "registry backend").choices(["kube-pods", "kube"]).default("kube-pods"))
    .option("--kubeconfig <file>", "kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    .option("--context <name>", "kubeconfig context")
    .option("-n, --namespace <ns...>", "namespace(s) to discover in (default: the pod's own or the context's)")
    .option("-A, --all-namespaces", "discover in every namespace")
    .addOption(new Option("--format <format>", "annotation format").choices(["native", "dubbo-go"]).default("native"));
}

/** Logs warnings except the reflector's retry notices, which the commands report themselves. */
export function quietRetries(base: Logger = stderrLogger): Logger {
  return { ...base, warn: (obj, msg) => (msg === "list/watch failed" ? silentLogger.warn(obj, msg) : base.warn(obj, msg)) };
}

export function openRegistry(f: RegistryFlags, extra: { handleSignals?: boolean; logger?: Logger } = {}): KubePodsRegistry {
  return new KubePodsRegistry({
    kubeConfig: { kubeconfig: f.kubeconfig, context: f.context },
    codec: f.format,
    namespaces: f.allNamespaces ? "all" : f.namespace,
    handleSignals: extra.handleSignals ?? false,
    logger: extra.logger ?? stderrLogger,
  });
}

/** A registry for the read-only commands (ls, watch): bad flags or kubeconfig end the command with one line. */
export function openForReading(f: RegistryFlags): KubePodsRegistry {
  try {
    return openRegistry(f, { logger: quietRetries() });
  } catch (err) {
    fail(err);
  }
}

/**
 * Waits for the first sync. A failure that retrying will not fix soon
 * (forbidden, unauthorized, unreachable, bad config) ends the command with
 * that error instead of retrying silently.
 */
export async function syncOrFail(reg: KubePodsRegistry, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  reg.instances("");
  while (!reg.synced) {
    const err = reg.stats().lastError;
    if (err) throw err;
    if (Date.now() > deadline) throw new PodregError(`the registry did not sync within ${timeoutMs}ms`, { code: "PODREG_TIMEOUT" });
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One line on stderr and exit code 1; never a stack trace for an expected failure. */
export function fail(err: unknown): never {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = e instanceof PodregError ? `${e.code}: ` : "";
  console.error(`podreg: ${code}${e.message.split("\n")[0]}`);
  process.exit(1);
}

export type { Registry };
