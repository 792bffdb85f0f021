/**
 * Pure conversion of a slim Pod into model Instances (Istio's adapter split:
 * conversion here, event wiring in the registry). Malformed annotations are
 * reported, never thrown: one bad pod must not affect any other.
 */
import type { SlimPod } from "../../kube/pods.js";
import { buildInstance, type Instance } from "../../model/instance.js";
import type { ServiceScope } from "../../model/service-key.js";
import { CodecError, type AnnotationCodec } from "../codec.js";
import { claimRefusal, podDeclarations, type ClaimPolicy } from "./declarations.js";
import { CodecShapeError } from "../../errors.js";

export interface PodInstancesOptions extends ClaimPolicy {
  codec: AnnotationCodec;
  /** Keep pods that are not Ready (their instances carry ready: false). */
  includeNotReady?: boolean;
  /** How services are keyed (default: per namespace). */
  scope?: ServiceScope;
  /** The zone of the pod's Node, used when neither the entry's metadata nor the pod's labels name one. */
  nodeZone?: string;
}

/** `refused`: entries the pod may not advertise (declarations.ts), with why; the pod's other entries are kept. */
export type PodInstancesResult = { instances: Instance[]; excluded?: string; error?: CodecError; refused?: { service: string; reason: string }[] };

export const ZONE_LABEL = "topology.kubernetes.io/zone";

/** Why a pod gives no instances, or undefined when it may. */
export function exclusion(pod: SlimPod, includeNotReady: boolean): string | undefined {
  if (pod.terminating) return "terminating";
  if (pod.phase === "Succeeded" || pod.phase === "Failed") return `phase ${pod.phase}`;
  if (!pod.podIP) return "no pod IP";
  if (!pod.ready && !includeNotReady) return "not ready";
  return undefined;
}

export function podInstances(pod: SlimPod, opts: PodInstancesOptions): PodInstancesResult {
  const value = pod.annotations[opts.codec.annotationKey];
  if (value === undefined) return { instances: [], excluded: "no annotation" };
  const excluded = exclusion(pod, opts.includeNotReady ?? false);
  if (excluded) return { instances: [], excluded };
  let endpoints;
  try {
    endpoints = opts.codec.endpoints(opts.codec.decode(value));
  } catch (err) {
    if (err instanceof CodecError) return { instances: [], error: err };
    return { instances: [], error: new CodecShapeError(`unexpected: ${(err as Error).message}`) };
  }
  const instances = new Map<string, Instance>();
  const claims = { podIPs: pod.podIPs, decl: podDeclarations(pod.annotations) };
  const refused: { service: string; reason: string }[] = [];
  for (const ep of endpoints) {
    const reason = claimRefusal(ep, claims, opts);
    if (reason !== undefined) {
      refused.push({ service: ep.service, reason });
      continue;
    }
    let inst: Instance;
    try {
      inst = buildInstance({
        source: "kube-pods",
        origin: `${pod.namespace}/${pod.name}`,
        service: ep.service,
        host: ep.host ?? pod.podIP!,
        hostInId: ep.host !== undefined,
        port: ep.port,
        protocol: ep.protocol,
        weight: ep.weight,
        metadata: ep.metadata,
        labels: pod.labels,
        zone: ep.metadata.zone ?? pod.labels[ZONE_LABEL] ?? opts.nodeZone,
        node: pod.nodeName,
        namespace: pod.namespace,
        ready: pod.ready,
        startTime: pod.startTime,
        scope: opts.scope,
      });
    } catch (err) {
      refused.push({ service: ep.service, reason: (err as Error).message });
      continue;
    }
    instances.set(inst.id, inst);
  }
  return refused.length > 0 ? { instances: [...instances.values()], refused } : { instances: [...instances.values()] };
}
