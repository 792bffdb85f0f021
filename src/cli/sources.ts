/**
 * Which sources a command reads: `--registry kube-pods,kube-services[,local]`
 * in order of precedence, once per cluster (`--context`, each named by its
 * context, or the entries of `--clusters FILE`), aggregated when there is
 * more than one.
 */
import { ConfigError } from "../errors.js";
import { loadClusters, type ClusterEntry } from "./clusters.js";
import { AggregateDiscovery, type AggregateSource } from "../registry/aggregate.js";
import { KubePodsRegistry } from "../registry/kube-pods/registry.js";
import { KubeServicesRegistry } from "../registry/kube-services/registry.js";
import { LocalRegistry } from "../registry/local/registry.js";
import type { Discovery } from "../registry/registry.js";
import type { Logger } from "../util/logger.js";

export const SOURCE_NAMES = ["kube-pods", "kube", "kube-services", "local"] as const;

export interface SourceFlags {
  registry: string;
  kubeconfig?: string;
  context?: string[];
  /** A clusters file (see clusters.ts): instead of --context. */
  clusters?: string;
  namespace?: string[];
  allNamespaces?: boolean;
  format: "native" | "dubbo-go";
  requireDeclared?: boolean;
  verifyHosts: boolean;
  address?: "internal" | "external";
  staleAfter?: number;
}

/** The names in `--registry`, checked: known, not repeated, `local` only where allowed. */
export function sourceNames(list: string, allowLocal: boolean): string[] {
  const names = list.split(",").map((s) => s.trim()).map((s) => (s === "kube" ? "kube-pods" : s));
  for (const n of names) {
    if (!(SOURCE_NAMES as readonly string[]).includes(n)) throw new ConfigError(`--registry: unknown source ${JSON.stringify(n).slice(0, 40)} (kube-pods, kube-services${allowLocal ? ", local" : ""})`);
    if (n === "local" && !allowLocal) throw new ConfigError("--registry: local is the server's embedded registry; read it with --server URL");
  }
  if (new Set(names).size !== names.length) throw new ConfigError("--registry: a source is named twice");
  return names;
}

/**
 * Opens the sources; one is returned as it is, several as an aggregate.
 * `local` (for serve) is created by the caller and passed in, so it can take writes.
 */
export function openSources(f: SourceFlags, o: { logger: Logger; quietRetries?: boolean; local?: LocalRegistry; allowLocal?: boolean }): Discovery {
  const names = sourceNames(f.registry, o.allowLocal ?? false);
  const clusters = clusterList(f);
  const sources: AggregateSource[] = [];
  try {
    for (const [i, c] of clusters.entries()) {
      const namespaces = c.namespaces ?? (f.allNamespaces ? ("all" as const) : f.namespace);
      for (const name of names) {
        if (name === "local") {
          // One local registry, whatever the number of clusters.
          if (i === 0) sources.push({ discovery: o.local ?? new LocalRegistry({ logger: o.logger }) });
          continue;
        }
        const cluster = c.name;
        const kubeConfig = { kubeconfig: c.kubeconfig ?? f.kubeconfig, context: c.context };
        const discovery =
          name === "kube-services"
            ? new KubeServicesRegistry({ kubeConfig, namespaces, address: f.address, logger: o.logger, quietRetries: o.quietRetries })
            : new KubePodsRegistry({
                kubeConfig,
                codec: f.format,
                namespaces,
                requireDeclaredServices: f.requireDeclared,
                verifyHosts: f.verifyHosts,
                handleSignals: false,
                quietRetries: o.quietRetries,
                logger: o.logger,
              });
        sources.push({ discovery, cluster });
      }
    }
  } catch (err) {
    for (const s of sources) void s.discovery.close().catch(() => {});
    throw err;
  }
  if (sources.length === 1 && sources[0]!.cluster === undefined) return sources[0]!.discovery;
  return new AggregateDiscovery({ sources, logger: o.logger, staleAfterMs: f.staleAfter });
}

/**
 * The clusters to read: the clusters file's, else one per --context (named
 * by it) when there are several, else one unnamed (instances untagged).
 */
function clusterList(f: SourceFlags): (Omit<ClusterEntry, "name"> & { name?: string })[] {
  if (f.clusters !== undefined) {
    if ((f.context?.length ?? 0) > 0) throw new ConfigError("--clusters and --context: name the clusters in one place (the file's entries take a context each)");
    return loadClusters(f.clusters);
  }
  const contexts = f.context ?? [];
  if (contexts.length <= 1) return [{ context: contexts[0] }];
  if (new Set(contexts).size !== contexts.length) throw new ConfigError("--context: a context is named twice");
  return contexts.map((context) => ({ name: context, context }));
}
