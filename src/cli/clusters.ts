/**
 * The clusters file (`--clusters FILE`): the clusters a command reads, as an
 * alternative to repeating `--context`. Each entry names its cluster id (what
 * instances are tagged with) and where its credentials are: a kubeconfig file
 * and/or a context, and optionally the namespaces to read there.
 *
 *   clusters:
 *     - name: east
 *       context: east
 *     - name: west
 *       kubeconfig: /etc/podreg/west.kubeconfig
 *       namespaces: [shop]
 */
import { z } from "zod";
import { configProblems } from "../balancer/config.js";
import { problemsError, readConfigFile } from "../util/config-file.js";

export interface ClusterEntry {
  /** The cluster id instances are tagged with. */
  name: string;
  /** Default: --kubeconfig, KUBECONFIG, ~/.kube/config. */
  kubeconfig?: string;
  /** Default: the kubeconfig's current context. */
  context?: string;
  /** Default: the command's -n / -A, else the context's namespace. */
  namespaces?: string[];
}

// Cluster ids become part of service keys (`cluster:ns/name`): the same characters as a DNS label.
const clusterName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: "must be a DNS label (a-z, 0-9, '-'), as cluster ids are" });

const clustersSchema = z.strictObject({
  clusters: z
    .array(
      z.strictObject({
        name: clusterName,
        kubeconfig: z.string().min(1).optional(),
        context: z.string().min(1).optional(),
        namespaces: z.array(z.string().min(1)).min(1).optional(),
      }),
    )
    .min(1, { error: "must list at least one cluster" })
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((c, i) => {
        if (seen.has(c.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `cluster ${c.name} is listed twice` });
        seen.add(c.name);
      });
    }),
});

/** Reads and checks a clusters file; a ConfigError lists every problem with its line. */
export function loadClusters(path: string): ClusterEntry[] {
  const { data, locate } = readConfigFile(path, "clusters file");
  const result = clustersSchema.safeParse(data);
  if (!result.success) throw problemsError("clusters file", path, configProblems(result.error.issues), locate, result.error);
  return result.data.clusters;
}
