/**
 * Kubernetes' own discovery converted into podreg's model: pure functions
 * from slim Services, EndpointSlices, Pods, Nodes and Ingresses to
 * instances, apart from any event wiring (as Istio's kube controller keeps
 * its conversion apart). Table-driven tests in
 * test/unit/registry/kube-services/.
 *
 * Internal addresses (the default): one instance per endpoint address and
 * port of the Service's EndpointSlices (headless Services and Services
 * without a selector alike: the latter's slices are written by hand), or the
 * DNS name of an ExternalName Service. External addresses (for consumers
 * outside the cluster): node addresses and node ports, load-balancer
 * ingress addresses, Ingress rules' load balancers, spec.externalIPs.
 */
import type { SliceEndpoint, SlicePort, SlimEndpointSlice, SlimIngress, SlimNode, SlimService, ServicePort } from "../../kube/discovery-objects.js";
import type { SlimPod } from "../../kube/pods.js";
import { buildInstance, SESSION_AFFINITY_METADATA, type Instance } from "../../model/instance.js";
import type { ServiceScope } from "../../model/service-key.js";

export const SOURCE = "kube-services";
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** Metadata keys the conversion writes (all under k8s.io-like names of podreg's own). */
export const META = {
  portName: "podreg.io/port-name",
  serving: "podreg.io/serving",
  terminating: "podreg.io/terminating",
  hintZones: "podreg.io/hint-zones",
  sessionAffinity: SESSION_AFFINITY_METADATA,
  address: "podreg.io/address",
  ingress: "podreg.io/ingress",
  ingressHost: "podreg.io/ingress-host",
  ingressPath: "podreg.io/ingress-path",
  serviceType: "podreg.io/service-type",
} as const;

/** Istio's protocol names by port-name prefix (`http-web`, `grpc`, `tcp-db`...): lower case, as podreg writes protocols. */
const NAMED = new Map<string, string>([
  ["http", "http"],
  ["http2", "http2"],
  ["https", "https"],
  ["grpc", "grpc"],
  ["grpc-web", "grpc-web"],
  ["tcp", "tcp"],
  ["tls", "tls"],
  ["udp", "udp"],
  ["mongo", "mongo"],
  ["mysql", "mysql"],
  ["redis", "redis"],
  ["thrift", "thrift"],
  ["dubbo", "dubbo"],
  ["tri", "tri"],
  ["h2c", "http2"],
  ["ws", "ws"],
]);

/**
 * The protocol of a port: `appProtocol` first (`kubernetes.io/h2c` is
 * http2, `kubernetes.io/ws` ws, other names as given), else the port name's
 * prefix before `-` (or the whole name), else the transport (`tcp`, `udp`).
 */
export function inferProtocol(port: { name?: string; protocol?: string; appProtocol?: string }): string {
  const app = port.appProtocol?.toLowerCase();
  if (app) {
    const bare = app.startsWith("kubernetes.io/") ? app.slice("kubernetes.io/".length) : app;
    const known = NAMED.get(bare);
    if (known) return known;
    if (/^[a-z][a-z0-9+.-]*$/.test(bare)) return bare;
  }
  const name = (port.name ?? "").toLowerCase();
  if (name) {
    if (NAMED.has(name)) return NAMED.get(name)!;
    // grpc-web must win over grpc: match the longest known prefix.
    const dash = name.startsWith("grpc-web-") ? "grpc-web" : name.split("-")[0]!;
    const known = NAMED.get(dash);
    if (known) return known;
  }
  return (port.protocol ?? "TCP").toLowerCase();
}

export interface ServiceInputs {
  service: SlimService;
  /** Slices labelled with this Service's name in its namespace. */
  slices: readonly SlimEndpointSlice[];
  pod(namespace: string, name: string): SlimPod | undefined;
  node(name: string): SlimNode | undefined;
  nodes(): readonly SlimNode[];
  /** Ingresses of the Service's namespace. */
  ingresses: readonly SlimIngress[];
  address: "internal" | "external";
  scope: ServiceScope;
}

/** Every instance of one Service, in a stable order (by id). Invalid addresses are skipped, never thrown. */
export function serviceInstances(v: ServiceInputs): Instance[] {
  const list = v.address === "external" ? externalInstances(v) : internalInstances(v);
  // The sort is stable, so of equal ids the last made ends its run: keeping it is what a Map by id would keep, without the Map.
  list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let n = 0;
  for (let i = 0; i < list.length; i++) if (i + 1 === list.length || list[i + 1]!.id !== list[i]!.id) list[n++] = list[i]!;
  list.length = n;
  return list;
}

/**
 * Metadata objects are few distinct values shared by thousands of instances
 * (one per port name, condition and hint set): one frozen copy each. Bounded:
 * cleared when it passes MAX_INTERNED, so hostile variety can't grow it.
 */
const interned = new Map<string, Readonly<Record<string, string>>>();
const MAX_INTERNED = 10_000;
function intern(meta: Record<string, string>): Readonly<Record<string, string>> {
  const key = JSON.stringify(meta);
  let v = interned.get(key);
  if (!v) {
    if (interned.size >= MAX_INTERNED) interned.clear();
    interned.set(key, (v = Object.freeze(meta)));
  }
  return v;
}

function baseMeta(svc: SlimService, port: { name: string }): Record<string, string> {
  return {
    [META.serviceType]: svc.type,
    ...(port.name ? { [META.portName]: port.name } : {}),
    ...(svc.sessionAffinity === "ClientIP" ? { [META.sessionAffinity]: "ClientIP" } : {}),
  };
}

/** buildInstance, or nothing for an address it refuses (a bad hand-written slice must not break the service). */
function make(input: Parameters<typeof buildInstance>[0]): Instance[] {
  try {
    return [buildInstance(input)];
  } catch {
    return [];
  }
}

/** One slice port as all the slice's endpoints share it: its protocol, worked out once, and its metadata per endpoint condition. */
interface PortPlan {
  readonly port: number;
  readonly protocol: string;
  meta(ep: SliceEndpoint): Readonly<Record<string, string>>;
}

function portPlan(svc: SlimService, sp: SlicePort): PortPlan {
  // The Service's port of the same name says what it is (the slice port may lack appProtocol).
  const port = svc.ports.find((p) => p.name === sp.name);
  const protocol = inferProtocol({ name: sp.name, protocol: sp.protocol, appProtocol: sp.appProtocol ?? port?.appProtocol });
  // Endpoints differ only in serving, terminating and hints: a few variants per port, so each object is built (and interned) once.
  const plain: (Readonly<Record<string, string>> | undefined)[] = [];
  const hinted = new Map<string, Readonly<Record<string, string>>>();
  const build = (ep: SliceEndpoint, hints: string) => {
    const metadata = baseMeta(svc, sp);
    metadata[META.serving] = String(ep.serving);
    if (ep.terminating) metadata[META.terminating] = "true";
    if (hints) metadata[META.hintZones] = hints;
    return intern(metadata);
  };
  return {
    port: sp.port,
    protocol,
    meta(ep) {
      const flags = (ep.serving ? 1 : 0) + (ep.terminating ? 2 : 0);
      if (ep.hintZones.length === 0) return (plain[flags] ??= build(ep, ""));
      const hints = ep.hintZones.join(",");
      const variant = `${flags}${hints}`;
      let m = hinted.get(variant);
      if (!m) hinted.set(variant, (m = build(ep, hints)));
      return m;
    },
  };
}

function internalInstances(v: ServiceInputs): Instance[] {
  const svc = v.service;
  if (svc.type === "ExternalName") {
    if (!svc.externalName) return [];
    const common = { source: SOURCE, service: svc.name, namespace: svc.namespace, scope: v.scope, hostInId: true } as const;
    // No ports declared: the caller's URL says the port; 80 stands for "as the caller dials".
    const ports: readonly Pick<ServicePort, "name" | "port" | "protocol" | "appProtocol">[] = svc.ports.length ? svc.ports : [{ name: "", port: 80, protocol: "TCP" }];
    return ports.flatMap((p) => make({ ...common, origin: `${svc.namespace}/${svc.name}`, host: svc.externalName!, port: p.port, protocol: ports === svc.ports ? inferProtocol(p) : "http", metadata: baseMeta(svc, p) }));
  }
  const out: Instance[] = [];
  for (const slice of v.slices) {
    if (slice.addressType === "FQDN" && slice.endpoints.length === 0) continue;
    const plans = slice.ports.filter((sp) => sp.port).map((sp) => portPlan(svc, sp));
    // One origin string for the slice's endpoints that name no target, joined (flat) in case an instance keeps it.
    const sliceOrigin = [svc.namespace, "/", slice.name].join("");
    for (const ep of slice.endpoints) {
      const pod = ep.target?.kind === "Pod" ? v.pod(ep.target.namespace ?? svc.namespace, ep.target.name) : undefined;
      const zone = ep.zone ?? (ep.nodeName ? v.node(ep.nodeName)?.zone : undefined);
      const origin = ep.target ? [svc.namespace, "/", ep.target.name].join("") : sliceOrigin;
      for (const addr of ep.addresses) {
        for (const plan of plans) {
          // Spelled out, not spread from a shared object: V8 builds a spread literal on a slow path, ten times the cost of the rest of the loop.
          try {
            out.push(
              buildInstance({
                source: SOURCE,
                origin,
                service: svc.name,
                namespace: svc.namespace,
                scope: v.scope,
                hostInId: true,
                host: addr,
                port: plan.port,
                protocol: plan.protocol,
                metadata: plan.meta(ep),
                labels: pod?.labels ?? NO_LABELS,
                zone,
                node: ep.nodeName,
                // A terminating endpoint takes no new calls, even while it still serves those it has.
                ready: ep.ready && !ep.terminating,
                startTime: pod?.startTime,
              }),
            );
          } catch {
            // an address buildInstance refuses: skipped (a bad hand-written slice must not break the service)
          }
        }
      }
    }
  }
  return out;
}

function externalInstances(v: ServiceInputs): Instance[] {
  const svc = v.service;
  const out: Instance[] = [];
  const add = (kind: string, host: string, port: number, protocol: string, extra: Record<string, string>, p: { name: string }) =>
    out.push(
      ...make({
        source: SOURCE,
        origin: `${svc.namespace}/${svc.name}/${kind}`,
        service: svc.name,
        namespace: svc.namespace,
        scope: v.scope,
        hostInId: true,
        host,
        port,
        protocol,
        metadata: { ...baseMeta(svc, p), [META.address]: kind, ...extra },
      }),
    );
  if (svc.type === "ExternalName" && svc.externalName) {
    for (const p of svc.ports.length ? svc.ports : [{ name: "", port: 80, protocol: "TCP" }]) add("external-name", svc.externalName, p.port, inferProtocol(p), {}, p);
  }
  for (const p of svc.ports) {
    const protocol = inferProtocol(p);
    if ((svc.type === "NodePort" || svc.type === "LoadBalancer") && p.nodePort) {
      for (const n of v.nodes()) for (const ip of n.externalIPs.length ? n.externalIPs : n.internalIPs) add("node-port", ip, p.nodePort, protocol, {}, p);
    }
    if (svc.type === "LoadBalancer") for (const lb of svc.loadBalancer) add("load-balancer", lb.ip ?? lb.hostname ?? "", p.port, protocol, {}, p);
    for (const ip of svc.externalIPs) add("external-ip", ip, p.port, protocol, {}, p);
  }
  for (const ing of v.ingresses) {
    for (const r of ing.rules) {
      if (r.service !== svc.name) continue;
      const p = svc.ports.find((x) => (typeof r.port === "number" ? x.port === r.port : x.name === r.port));
      if (!p) continue;
      const extra = { [META.ingress]: ing.name, [META.ingressPath]: r.path, ...(r.host ? { [META.ingressHost]: r.host } : {}) };
      for (const lb of ing.loadBalancer) add("ingress", lb.ip ?? lb.hostname ?? "", r.tls ? 443 : 80, r.tls ? "https" : "http", extra, p);
    }
  }
  return out;
}
