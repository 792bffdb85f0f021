/**
 * The zone this process runs in, for the client's zone-aware routing
 * (`zone: { local }`), as Kubernetes' topology-aware routing knows it: the
 * pod's own `topology.kubernetes.io/zone` label (set by hand, or by the
 * PodTopologyLabels admission of newer clusters), else its Node's. The
 * Downward API cannot expose a Node's labels, so without the label the Node
 * is read: that needs `get` on nodes (deploy/rbac-nodes.yaml); refused, the
 * zone is unknown and that is logged, not thrown.
 */
import type { KubeClient } from "../../kube/client.js";
import type { Logger } from "../../util/logger.js";
import { ZONE_LABEL } from "./discovery.js";
import type { PodIdentity } from "./identity.js";

interface Labelled {
  metadata?: { labels?: Record<string, string> };
  spec?: { nodeName?: string };
}

export interface LocalZoneOptions {
  client: KubeClient;
  pod: PodIdentity;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * The zone, or undefined when neither the pod nor its Node names one, the pod
 * is not scheduled, or Nodes may not be read. Rejects when the pod cannot be
 * read (PODREG_KUBE_NOT_FOUND, _FORBIDDEN, _UNREACHABLE...).
 */
export async function localZone(o: LocalZoneOptions): Promise<string | undefined> {
  const pod = await o.client.request<Labelled>({ path: `/api/v1/namespaces/${encodeURIComponent(o.pod.namespace)}/pods/${encodeURIComponent(o.pod.name)}`, signal: o.signal });
  const own = pod.metadata?.labels?.[ZONE_LABEL];
  if (own) return own;
  const node = pod.spec?.nodeName;
  if (!node) return undefined;
  try {
    const n = await o.client.request<Labelled>({ path: `/api/v1/nodes/${encodeURIComponent(node)}`, signal: o.signal });
    return n.metadata?.labels?.[ZONE_LABEL] || undefined;
  } catch (err) {
    if ((err as { code?: string }).code !== "PODREG_KUBE_FORBIDDEN") throw err;
    o.logger.info({ code: "PODREG_KUBE_FORBIDDEN", node }, "kube-pods: the local zone is unknown: Nodes may not be read and the pod has no topology.kubernetes.io/zone label (grant get on nodes: deploy/rbac-nodes.yaml)");
    return undefined;
  }
}
