/**
 * The slim Pod the discovery cache keeps: only what discovery needs (identity,
 * labels, the registry's own annotations, placement, IP, readiness), never the
 * whole object — a namespace of 3,000 pods must not cost 3,000 full specs.
 *
 * Memory (bench/scale.ts measures it per instance at 10,000 pods): JSON.parse
 * gives every pod its own copy of each string, so the strings many pods share
 * (namespace, node, phase, label keys and values) are interned, and pods with
 * the same labels share one frozen labels object. The pod's key is joined
 * once (join makes a flat string; a template literal keeps a cons-string tree
 * beside its flattened copy once hashed) and reused by every map keyed by it.
 */
import type { RawObject } from "./reflector.js";
import type { Versioned } from "./store.js";

export interface SlimPod extends Versioned {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** `<namespace>/<name>` (podKey), computed once by the transform. */
  readonly key?: string;
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
  /** What the transform's `decode` made of its annotation (that annotation's text is then not kept). */
  readonly decoded?: unknown;
}

/** An annotation the transform decodes and drops: what a registry needs of it, kept in its place (shared between pods where the decoder interns). */
export interface AnnotationDecoder<D> {
  annotation: string;
  decode(value: string): D;
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

/** `<namespace>/<name>`: the transform's precomputed `key` when the pod has one (one flat string every map shares). */
export const podKey = (p: { namespace: string; name: string }): string => (p as { key?: string }).key ?? [p.namespace, "/", p.name].join("");

/**
 * A bounded pool of shared values: one copy of each string (or frozen object)
 * many cached objects hold. Cleared when full, so hostile variety cannot grow
 * it; a cleared pool only costs copies, never correctness.
 */
export class Interner<T> {
  private readonly pool = new Map<string, T>();
  constructor(private readonly max = 50_000) {}
  /** The shared value for `key`, made by `make` (default: the key itself) the first time. */
  get(key: string, make?: () => T): T {
    const known = this.pool.get(key);
    if (known !== undefined) return known;
    if (this.pool.size >= this.max) this.pool.clear();
    const value = make ? make() : (key as unknown as T);
    this.pool.set(key, value);
    return value;
  }
}

/** Strings shared by many pods and instances: namespaces, nodes, phases, label and metadata keys and values. */
const strings = new Interner<string>(100_000);
export const internString = (s: string): string => strings.get(s);
export function internOptional(s: string | undefined): string | undefined {
  return s === undefined ? undefined : strings.get(s);
}

/** One frozen record per distinct content (labels of the pods of one ReplicaSet, metadata of one deployment's registrations). */
const records = new Interner<Readonly<Record<string, string>>>(20_000);
const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
const NO_IPS: readonly string[] = Object.freeze([]);
export function internRecord(r: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> {
  if (!r) return EMPTY;
  const keys = Object.keys(r);
  if (keys.length === 0) return EMPTY;
  keys.sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = r[k];
    if (typeof v !== "string") continue;
    parts.push(k, "\u0000", v, "\u0001");
  }
  return records.get(parts.join(""), () => {
    const out: Record<string, string> = {};
    for (const k of keys) {
      const v = r[k];
      if (typeof v === "string") out[strings.get(k)] = strings.get(v);
    }
    return Object.freeze(out);
  });
}

export function slimPodTransform(keepAnnotations: readonly string[]): (raw: RawObject) => SlimPod {
  return (raw) => slim(raw as RawPod, keepAnnotations);
}

/**
 * slimPodTransform that also decodes one annotation (`decoder`) into
 * `decoded`, not keeping its text, and sets `key` (podKey) once.
 */
export function decodingPodTransform<D>(keepAnnotations: readonly string[], decoder: AnnotationDecoder<D>): (raw: RawObject) => SlimPod & { readonly decoded?: D } {
  const keep = keepAnnotations.filter((k) => k !== decoder.annotation);
  return (raw) => {
    const s = slim(raw as RawPod, keep);
    const encoded = (raw as RawPod).metadata?.annotations?.[decoder.annotation];
    // One literal, every field in the same order: one hidden class for all cached pods (no spread, no property added later).
    return {
      namespace: s.namespace,
      name: s.name,
      uid: s.uid,
      key: [s.namespace, "/", s.name].join(""),
      resourceVersion: s.resourceVersion,
      labels: s.labels,
      annotations: s.annotations,
      nodeName: s.nodeName,
      podIP: s.podIP,
      podIPs: s.podIPs,
      phase: s.phase,
      ready: s.ready,
      terminating: s.terminating,
      startTime: s.startTime,
      decoded: typeof encoded === "string" ? decoder.decode(encoded) : undefined,
    };
  };
}

function slim(pod: RawPod, keep: readonly string[]): SlimPod {
  const md = pod.metadata ?? {};
  let annotations: Record<string, string> | undefined;
  for (const k of keep) {
    const v = md.annotations?.[k];
    if (typeof v === "string") (annotations ??= {})[k] = v;
  }
  const status = pod.status;
  const start = status?.startTime ? Date.parse(status.startTime) : NaN;
  const podIP = status?.podIP || undefined;
  let podIPs: string[] | undefined;
  for (const p of status?.podIPs ?? []) {
    const ip = p.ip;
    if (typeof ip === "string" && ip !== "" && ip !== podIP) (podIPs ??= []).push(ip);
  }
  if (podIP !== undefined) podIPs = podIPs ? [podIP, ...podIPs] : [podIP];
  return {
    namespace: strings.get(md.namespace ?? ""),
    name: md.name ?? "",
    uid: md.uid ?? "",
    resourceVersion: md.resourceVersion ?? "",
    labels: internRecord(md.labels),
    annotations: annotations ?? EMPTY,
    nodeName: internOptional(pod.spec?.nodeName),
    podIP,
    podIPs: podIPs ?? NO_IPS,
    phase: internOptional(status?.phase),
    ready: status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    terminating: Boolean(md.deletionTimestamp),
    startTime: Number.isFinite(start) ? start : undefined,
  };
}
