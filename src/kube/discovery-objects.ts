/**
 * Slim Services, EndpointSlices, Nodes and Ingresses: what service discovery
 * reads of them, nothing more (the cache of 1,000 Services must not hold
 * 1,000 full objects). Plain Kubernetes objects, knowing nothing of podreg's
 * registrations; the kube-services source converts them.
 */
import type { RawObject } from "./reflector.js";
import type { Versioned } from "./store.js";

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly targetPort?: number | string;
  readonly protocol: string;
  readonly appProtocol?: string;
  readonly nodePort?: number;
}

export interface LoadBalancerAddress {
  readonly ip?: string;
  readonly hostname?: string;
}

export interface SlimService extends Versioned {
  readonly namespace: string;
  readonly name: string;
  readonly type: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
  /** clusterIP: None. */
  readonly headless: boolean;
  readonly clusterIPs: readonly string[];
  readonly externalName?: string;
  readonly externalIPs: readonly string[];
  /** A selector: the EndpointSlice controller writes its slices; without one, someone writes them by hand. */
  readonly hasSelector: boolean;
  readonly ports: readonly ServicePort[];
  readonly sessionAffinity: "ClientIP" | "None";
  readonly loadBalancer: readonly LoadBalancerAddress[];
  readonly labels: Readonly<Record<string, string>>;
}

export interface SliceEndpoint {
  readonly addresses: readonly string[];
  /** Conditions as the API defines them: ready nil means ready; serving nil means as ready. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName?: string;
  readonly zone?: string;
  /** hints.forZones. */
  readonly hintZones: readonly string[];
  readonly target?: { readonly kind: string; readonly name: string; readonly namespace?: string };
}

export interface SlicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly appProtocol?: string;
}

export interface SlimEndpointSlice extends Versioned {
  readonly namespace: string;
  readonly name: string;
  /** The label kubernetes.io/service-name: which Service it belongs to. */
  readonly service?: string;
  readonly addressType: string;
  readonly ports: readonly SlicePort[];
  readonly endpoints: readonly SliceEndpoint[];
}

export interface SlimNode extends Versioned {
  readonly name: string;
  readonly zone?: string;
  readonly region?: string;
  readonly internalIPs: readonly string[];
  readonly externalIPs: readonly string[];
}

export interface IngressPathRule {
  readonly host?: string;
  readonly path: string;
  readonly service: string;
  readonly port: number | string;
  /** The rule's host is listed under spec.tls. */
  readonly tls: boolean;
}

export interface SlimIngress extends Versioned {
  readonly namespace: string;
  readonly name: string;
  readonly rules: readonly IngressPathRule[];
  readonly loadBalancer: readonly LoadBalancerAddress[];
}

type Raw = RawObject & { metadata?: RawObject["metadata"] & { labels?: Record<string, string> }; spec?: Record<string, unknown>; status?: Record<string, unknown> };

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isInteger(v) ? v : undefined);
const arr = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => typeof x === "object" && x !== null) : []);
const lbOf = (status: Record<string, unknown> | undefined): LoadBalancerAddress[] =>
  arr((status?.loadBalancer as Record<string, unknown> | undefined)?.ingress).map((i) => ({ ip: str(i.ip), hostname: str(i.hostname) }));

const NONE: readonly string[] = Object.freeze([]);
/** Most endpoints have no hints: one shared empty list for them, and no lists built on the way. */
const hintsOf = (hints: unknown): readonly string[] => {
  const forZones = (hints as Record<string, unknown> | undefined)?.forZones;
  if (!Array.isArray(forZones) || forZones.length === 0) return NONE;
  const zones = arr(forZones).flatMap((z) => (str(z.name) ? [str(z.name)!] : []));
  return zones.length ? zones : NONE;
};

/** Joined, not a template literal: a Map key kept for the object's lifetime should be one flat string, not a cons tree beside its flat copy. */
export const namespacedKey = (o: { namespace: string; name: string }): string => [o.namespace, "/", o.name].join("");

/** Strings only, in an array of its own length (filter() leaves room for 17, which a cache of 10,000 endpoints pays for). */
const strings = (v: unknown): readonly string[] => {
  if (!Array.isArray(v)) return NONE;
  const list = v as unknown[];
  return list.every((x) => typeof x === "string") ? (list.slice() as string[]) : list.filter((x): x is string => typeof x === "string").slice();
};

export function slimService(raw: RawObject): SlimService {
  const o = raw as Raw;
  const spec = o.spec ?? {};
  const clusterIP = str(spec.clusterIP);
  const type = str(spec.type);
  return {
    namespace: o.metadata?.namespace ?? "",
    name: o.metadata?.name ?? "",
    resourceVersion: o.metadata?.resourceVersion ?? "",
    type: type === "NodePort" || type === "LoadBalancer" || type === "ExternalName" ? type : "ClusterIP",
    headless: clusterIP === "None",
    clusterIPs: (Array.isArray(spec.clusterIPs) ? (spec.clusterIPs as unknown[]) : [clusterIP]).filter((ip): ip is string => typeof ip === "string" && ip !== "" && ip !== "None"),
    externalName: str(spec.externalName)?.toLowerCase(),
    externalIPs: (Array.isArray(spec.externalIPs) ? (spec.externalIPs as unknown[]) : []).filter((ip): ip is string => typeof ip === "string"),
    hasSelector: typeof spec.selector === "object" && spec.selector !== null && Object.keys(spec.selector).length > 0,
    ports: arr(spec.ports).map((p) => ({
      name: str(p.name) ?? "",
      port: num(p.port) ?? 0,
      targetPort: num(p.targetPort) ?? str(p.targetPort),
      protocol: str(p.protocol) ?? "TCP",
      appProtocol: str(p.appProtocol),
      nodePort: num(p.nodePort),
    })),
    sessionAffinity: spec.sessionAffinity === "ClientIP" ? "ClientIP" : "None",
    loadBalancer: lbOf(o.status),
    labels: { ...o.metadata?.labels },
  };
}

export function slimEndpointSlice(raw: RawObject): SlimEndpointSlice {
  const o = raw as Raw & { addressType?: string; ports?: unknown; endpoints?: unknown };
  return {
    namespace: o.metadata?.namespace ?? "",
    name: o.metadata?.name ?? "",
    resourceVersion: o.metadata?.resourceVersion ?? "",
    service: str(o.metadata?.labels?.["kubernetes.io/service-name"]),
    addressType: str(o.addressType) ?? "IPv4",
    ports: arr(o.ports).map((p) => ({ name: str(p.name) ?? "", port: num(p.port) ?? 0, protocol: str(p.protocol) ?? "TCP", appProtocol: str(p.appProtocol) })),
    endpoints: arr(o.endpoints).map((e) => {
      const c = (e.conditions ?? {}) as Record<string, unknown>;
      const ready = c.ready !== false;
      const target = e.targetRef as Record<string, unknown> | undefined;
      const kind = str(target?.kind);
      const name = str(target?.name);
      const addresses = strings(e.addresses);
      const serving = typeof c.serving === "boolean" ? c.serving : ready;
      const terminating = c.terminating === true;
      const nodeName = str(e.nodeName);
      const zone = str(e.zone);
      const hintZones = hintsOf(e.hints);
      // Two literals rather than a conditional spread: V8 builds spread literals on a slow path, and this runs per endpoint.
      return kind && name
        ? { addresses, ready, serving, terminating, nodeName, zone, hintZones, target: { kind, name, namespace: str(target?.namespace) } }
        : { addresses, ready, serving, terminating, nodeName, zone, hintZones };
    }),
  };
}

export function slimNode(raw: RawObject): SlimNode {
  const o = raw as Raw;
  const labels = o.metadata?.labels ?? {};
  const addresses = arr(o.status?.addresses);
  const of = (type: string) => addresses.filter((a) => a.type === type).flatMap((a) => (str(a.address) ? [str(a.address)!] : []));
  return {
    name: o.metadata?.name ?? "",
    resourceVersion: o.metadata?.resourceVersion ?? "",
    zone: str(labels["topology.kubernetes.io/zone"]),
    region: str(labels["topology.kubernetes.io/region"]),
    internalIPs: of("InternalIP"),
    externalIPs: of("ExternalIP"),
  };
}

export function slimIngress(raw: RawObject): SlimIngress {
  const o = raw as Raw;
  const spec = o.spec ?? {};
  const tlsHosts = new Set(arr(spec.tls).flatMap((t) => (Array.isArray(t.hosts) ? (t.hosts as unknown[]).filter((h): h is string => typeof h === "string") : [])));
  const rules: IngressPathRule[] = [];
  for (const r of arr(spec.rules)) {
    const host = str(r.host);
    for (const p of arr((r.http as Record<string, unknown> | undefined)?.paths)) {
      const svc = (p.backend as Record<string, unknown> | undefined)?.service as Record<string, unknown> | undefined;
      const port = svc?.port as Record<string, unknown> | undefined;
      const name = str(svc?.name);
      const portRef = num(port?.number) ?? str(port?.name);
      if (!name || portRef === undefined) continue;
      rules.push({ host, path: str(p.path) ?? "/", service: name, port: portRef, tls: host !== undefined && tlsHosts.has(host) });
    }
  }
  return { namespace: o.metadata?.namespace ?? "", name: o.metadata?.name ?? "", resourceVersion: o.metadata?.resourceVersion ?? "", rules, loadBalancer: lbOf(o.status) };
}
