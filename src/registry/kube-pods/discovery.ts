/**
 * Pure conversion of a slim Pod into model Instances (Istio's adapter split:
 * conversion here, event wiring in the registry). Malformed annotations are
 * reported, never thrown: one bad pod must not affect any other.
 */
import { Interner, internOptional, internRecord, internString, podKey, type AnnotationDecoder, type SlimPod } from "../../kube/pods.js";
import { buildInstance, type Instance } from "../../model/instance.js";
import type { ServiceScope } from "../../model/service-key.js";
import { CodecError, type AnnotationCodec, type DecodedEndpoint } from "../codec.js";
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

/**
 * A pod's registration annotation, decoded: its endpoints (frozen, and one
 * list shared by every pod with the same content: the pods of one Deployment
 * register the same service, port and metadata), or why it could not be.
 * `sig` stands for the value in warnings (the raw value when malformed).
 */
export type DecodedRegistrations = { readonly endpoints: readonly DecodedEndpoint[]; readonly sig: string } | { readonly error: CodecError; readonly sig: string };

/** A slim pod whose registration annotation the transform decoded (registrationsDecoder) instead of keeping its text. */
export type RegistryPod = SlimPod & { readonly decoded?: DecodedRegistrations };

const decodedLists = new Interner<DecodedRegistrations>(20_000);
const ABSENT = "\u0003";

export function decodeRegistrations(codec: AnnotationCodec, value: string): DecodedRegistrations {
  let endpoints: DecodedEndpoint[];
  try {
    endpoints = codec.endpoints(codec.decode(value));
  } catch (err) {
    if (err instanceof CodecError) return { error: err, sig: value };
    return { error: new CodecShapeError(`unexpected: ${(err as Error).message}`), sig: value };
  }
  const parts: string[] = [codec.name];
  for (const ep of endpoints) {
    parts.push("\u0001", ep.service, "\u0000", ep.protocol, "\u0000", ep.host ?? ABSENT, "\u0000", String(ep.port), "\u0000", ep.weight === undefined ? ABSENT : String(ep.weight));
    for (const k of Object.keys(ep.metadata).sort()) parts.push("\u0002", k, "\u0000", ep.metadata[k] ?? "");
  }
  const sig = parts.join("");
  return decodedLists.get(sig, () => ({
    endpoints: Object.freeze(
      endpoints.map((ep) =>
        Object.freeze({
          service: internString(ep.service),
          protocol: internString(ep.protocol),
          host: internOptional(ep.host),
          port: ep.port,
          weight: ep.weight,
          metadata: internRecord(ep.metadata) as Record<string, string>,
        }),
      ),
    ),
    sig,
  }));
}

/** For slimPodTransform: decode the codec's annotation once, as the pod is cached, and keep that instead of its text. */
export function registrationsDecoder(codec: AnnotationCodec): AnnotationDecoder<DecodedRegistrations> {
  return { annotation: codec.annotationKey, decode: (value) => decodeRegistrations(codec, value) };
}

export function podInstances(pod: RegistryPod, opts: PodInstancesOptions): PodInstancesResult {
  const value = pod.annotations[opts.codec.annotationKey];
  const decoded = pod.decoded ?? (value === undefined ? undefined : decodeRegistrations(opts.codec, value));
  if (decoded === undefined) return { instances: [], excluded: "no annotation" };
  const excluded = exclusion(pod, opts.includeNotReady ?? false);
  if (excluded) return { instances: [], excluded };
  if ("error" in decoded) return { instances: [], error: decoded.error };
  const endpoints = decoded.endpoints;
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
    // Shared, not copied per pod (bench/scale.ts: heap per instance): the pod's key, interned names, one frozen metadata record per content.
    const metadata = pod.decoded ? ep.metadata : internRecord(ep.metadata);
    try {
      inst = buildInstance({
        source: "kube-pods",
        origin: podKey(pod),
        service: internString(ep.service),
        host: ep.host ?? pod.podIP!,
        hostInId: ep.host !== undefined,
        port: ep.port,
        protocol: internString(ep.protocol),
        weight: ep.weight,
        metadata,
        labels: pod.labels,
        zone: metadata.zone ?? pod.labels[ZONE_LABEL] ?? internOptional(opts.nodeZone),
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
