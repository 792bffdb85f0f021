/**
 * The slim Pod the discovery cache keeps: only what discovery needs (identity,
 * labels, the registry's own annotations, placement, IP, readiness), never the
 * whole object — a namespace of 3,000 pods must not cost 3,000 full specs.
 */
import type { RawObject } from "./reflector.js";
import type { Versioned } from "./store.js";

export interface SlimPod extends Versioned {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Only the annotations named when the transform was made. */
  readonly annotations: Readonly<Record<string, string>>;
  readonly nodeName?: string;
  readonly podIP?: string;
  /** status.podIPs (dual stack), podIP first. */
  readonly podIPs: readonly string[];
  readonly phase?: string;
  readonly ready: boolean;
  /** deletionTimestamp is set: the pod is terminating. */
  readonly terminating: boolean;
  /** status.startTime, epoch ms. */
  readonly startTime?: number;
}

interface RawPod extends RawObject {
  metadata?: RawObject["metadata"] & {
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: { nodeName?: string };
  status?: { podIP?: string; podIPs?: { ip?: string }[]; phase?: string; startTime?: string; conditions?: { type?: string; status?: string }[] };
}

export const podKey = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

export function slimPodTransform(keepAnnotations: readonly string[]): (raw: RawObject) => SlimPod {
  return (raw) => {
    const pod = raw as RawPod;
    const md = pod.metadata ?? {};
    const annotations: Record<string, string> = {};
    for (const k of keepAnnotations) {
      const v = md.annotations?.[k];
      if (typeof v === "string") annotations[k] = v;
    }
    const start = pod.status?.startTime ? Date.parse(pod.status.startTime) : NaN;
    const podIP = pod.status?.podIP || undefined;
    const podIPs = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => typeof ip === "string" && ip !== "" && ip !== podIP);
    return {
      namespace: md.namespace ?? "",
      name: md.name ?? "",
      uid: md.uid ?? "",
      resourceVersion: md.resourceVersion ?? "",
      labels: { ...md.labels },
      annotations,
      nodeName: pod.spec?.nodeName,
      podIP,
      podIPs: podIP === undefined ? podIPs : [podIP, ...podIPs],
      phase: pod.status?.phase,
      ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      terminating: Boolean(md.deletionTimestamp),
      startTime: Number.isFinite(start) ? start : undefined,
    };
  };
}
