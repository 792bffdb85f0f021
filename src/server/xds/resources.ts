/**
 * The discovery model converted into xDS resources: pure functions, apart
 * from the server's streams and versions (as Istio keeps its config
 * generators apart from its DiscoveryServer). Plain objects in proto-loader's
 * JSON form (`keepCase`, an Any as `{ "@type": url, ...fields }`).
 *
 * Two kinds of client get different resources for the same services:
 * - proxyless gRPC (grpc-js-xds, gRPC-Go...) asks for the listener named as
 *   it dials (`xds:///echo` → `echo`) and gets an API listener, a route
 *   configuration of one virtual host, an EDS cluster of the service's gRPC
 *   instances and its endpoints; only the policies gRPC implements.
 * - Envoy asks for every listener and cluster (wildcard) and gets one HTTP
 *   listener whose routes pick a service by Host/:authority, every service's
 *   clusters and endpoints. It refuses a wildcard answer containing API
 *   listeners, hence one kind per client.
 */
import type { ServiceClientConfig } from "../../client/config.js";
import type { OutlierConfig } from "../../balancer/outlier.js";
import type { Instance } from "../../model/instance.js";
import { parseServiceKey, type ServiceKey } from "../../model/service-key.js";
import { TYPE } from "./protos.js";

export type ClientKind = "envoy" | "grpc";

/** An xDS resource: a proto message in proto-loader's JSON form. */
export type Resource = Record<string, unknown>;

/** A resource's name: `cluster_name` for endpoints, `name` for the rest. */
export function resourceName(r: Resource): string {
  return String(r.name ?? r.cluster_name ?? "");
}

/** HTTP/1 services, and HTTP/2 ones (gRPC and friends): one cluster each per service. */
export type Family = "http" | "grpc";

const FAMILY: Record<string, Family> = { http: "http", https: "http", grpc: "grpc", http2: "grpc", h2c: "grpc", tri: "grpc", "grpc-web": "grpc" };

/** The family of a protocol; undefined for what podreg does not serve over xDS (tcp, dubbo, ...). */
export function familyOf(protocol: string): Family | undefined {
  return FAMILY[protocol.toLowerCase()];
}

export function clusterName(family: Family, key: ServiceKey): string {
  return `outbound|${family}|${key}`;
}

/** Envoy's HTTP listener and its route configuration. */
export const ENVOY_LISTENER = "podreg_http";

export interface ServiceView {
  readonly key: ServiceKey;
  readonly instances: readonly Instance[];
  readonly config: ServiceClientConfig;
}

const ads = { ads: {}, resource_api_version: "V3" };
const routerFilter = { name: "envoy.filters.http.router", typed_config: { "@type": TYPE.router } };
const durationOf = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });

/** gRPC implements ROUND_ROBIN and RING_HASH as cluster lb_policy; Envoy all of these. */
function lbPolicy(config: ServiceClientConfig, kind: ClientKind): Record<string, unknown> {
  const b = config.balancer;
  const hashing = b.policy === "ring_hash" || b.policy === "maglev" || b.policy === "source_affinity";
  if (kind === "grpc") {
    if (!hashing) return { lb_policy: "ROUND_ROBIN" };
    return { lb_policy: "RING_HASH", ring_hash_lb_config: { hash_function: "XX_HASH", ...(b.ringHash?.maxRingSize ? { maximum_ring_size: { value: String(b.ringHash.maxRingSize) } } : {}) } };
  }
  switch (b.policy) {
    case "random":
      return { lb_policy: "RANDOM" };
    case "least_request":
      return { lb_policy: "LEAST_REQUEST", least_request_lb_config: { choice_count: { value: b.leastRequest?.choiceCount ?? 2 } } };
    // IPVS's exact schedulers have no Envoy policy; Envoy's least request is the nearest (fewest active, weighted).
    case "least_connection":
    case "shortest_expected_delay":
    case "never_queue":
      return { lb_policy: "LEAST_REQUEST" };
    case "maglev":
      return { lb_policy: "MAGLEV", ...(b.maglev?.tableSize ? { maglev_lb_config: { table_size: { value: String(b.maglev.tableSize) } } } : {}) };
    case "ring_hash":
    case "source_affinity":
      return { lb_policy: "RING_HASH", ring_hash_lb_config: { hash_function: "XX_HASH", ...(b.ringHash?.maxRingSize ? { maximum_ring_size: { value: String(b.ringHash.maxRingSize) } } : {}) } };
    default:
      return { lb_policy: "ROUND_ROBIN" };
  }
}

/** podreg's outlier settings in Envoy's (and gRPC's) OutlierDetection. */
export function outlierDetection(o: OutlierConfig): Record<string, unknown> {
  return {
    ...(o.consecutiveFailures !== undefined ? { consecutive_5xx: { value: o.consecutiveFailures }, enforcing_consecutive_5xx: { value: 100 } } : { enforcing_consecutive_5xx: { value: 0 } }),
    ...(o.failureRate
      ? {
          interval: durationOf(o.failureRate.intervalMs),
          failure_percentage_threshold: { value: Math.round(o.failureRate.threshold * 100) },
          failure_percentage_request_volume: { value: o.failureRate.minRequests },
          failure_percentage_minimum_hosts: { value: 1 },
          enforcing_failure_percentage: { value: 100 },
        }
      : {}),
    // podreg does not judge success rates against the other hosts: off, as gRPC and Envoy read it.
    enforcing_success_rate: { value: 0 },
    ...(o.baseEjectionMs !== undefined ? { base_ejection_time: durationOf(o.baseEjectionMs) } : {}),
    ...(o.maxEjectionMs !== undefined ? { max_ejection_time: durationOf(o.maxEjectionMs) } : {}),
    ...(o.maxEjectionPercent !== undefined ? { max_ejection_percent: { value: Math.round(o.maxEjectionPercent) } } : {}),
  };
}

export function buildCluster(view: ServiceView, family: Family, kind: ClientKind): Resource {
  const name = clusterName(family, view.key);
  const outlier = view.config.outlier;
  return {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ads, service_name: name },
    connect_timeout: durationOf(5000),
    ...lbPolicy(view.config, kind),
    ...(outlier ? { outlier_detection: outlierDetection(outlier) } : {}),
    // Envoy speaks HTTP/1.1 upstream unless told; gRPC needs HTTP/2. (gRPC clients speak it anyway.)
    ...(kind === "envoy" && family === "grpc"
      ? { typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": TYPE.httpOptions, explicit_http_config: { http2_protocol_options: {} } } } }
      : {}),
  };
}

/** Instances a family's cluster holds: its protocols, IP hosts only (EDS carries addresses, not names to resolve). */
export function familyInstances(view: ServiceView, family: Family): Instance[] {
  return view.instances.filter((i) => familyOf(i.protocol) === family && isIp(i.host));
}

const isIp = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(":");

/**
 * Endpoints grouped by zone (a locality each, weighted by its endpoints'
 * weights: gRPC ignores a locality without a weight). Ready instances are
 * HEALTHY, others UNHEALTHY; weight 0 (out of rotation) is DRAINING, which
 * both Envoy and gRPC keep out of new calls.
 */
export function buildLoadAssignment(view: ServiceView, family: Family): Resource {
  const name = clusterName(family, view.key);
  const byZone = new Map<string, Instance[]>();
  for (const i of familyInstances(view, family)) {
    const zone = i.zone ?? "";
    let list = byZone.get(zone);
    if (!list) byZone.set(zone, (list = []));
    list.push(i);
  }
  const zones = [...byZone.keys()].sort();
  return {
    cluster_name: name,
    endpoints: zones.map((zone) => {
      const list = byZone.get(zone)!.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const total = list.reduce((n, i) => n + (i.ready && i.weight > 0 ? Math.max(1, Math.round(i.weight)) : 0), 0);
      return {
        locality: zone ? { zone } : {},
        load_balancing_weight: { value: Math.max(1, total) },
        priority: 0,
        lb_endpoints: list.map((i) => ({
          endpoint: { address: { socket_address: { address: i.host, port_value: i.port } } },
          health_status: !i.ready ? "UNHEALTHY" : i.weight <= 0 ? "DRAINING" : "HEALTHY",
          load_balancing_weight: { value: Math.max(1, Math.round(i.weight)) },
        })),
      };
    }),
  };
}

function hashPolicy(config: ServiceClientConfig, kind: ClientKind): Record<string, unknown>[] | undefined {
  const p = config.balancer.policy;
  if (p !== "ring_hash" && p !== "maglev" && p !== "source_affinity") return undefined;
  if (config.hashKey?.header) return [{ header: { header_name: config.hashKey.header.toLowerCase() } }];
  // gRPC has no connection properties to hash on: without a header it hashes at random.
  if (p === "source_affinity" && kind === "envoy") return [{ connection_properties: { source_ip: true } }];
  return undefined;
}

/** The family a route sends a service's requests to: HTTP/1 when it has such instances, else gRPC. */
/** Which of a service's clusters a route goes to, for a kind of client; undefined: no route (no HTTP or gRPC instance). */
export function routeFamily(view: ServiceView, kind: ClientKind): Family | undefined {
  if (kind === "grpc") return "grpc";
  if (view.instances.some((i) => familyOf(i.protocol) === "http")) return "http";
  if (view.instances.some((i) => familyOf(i.protocol) === "grpc")) return "grpc";
  return undefined;
}

function route(view: ServiceView, family: Family, kind: ClientKind): Record<string, unknown> {
  const hp = hashPolicy(view.config, kind);
  return { match: { prefix: "" }, route: { cluster: clusterName(family, view.key), ...(hp ? { hash_policy: hp } : {}) } };
}

/** A gRPC client's listener for the name it dials: an API listener taking its routes over ADS. */
export function buildApiListener(name: string): Resource {
  return {
    name,
    api_listener: {
      api_listener: { "@type": TYPE.hcm, stat_prefix: name, rds: { route_config_name: name, config_source: ads }, http_filters: [routerFilter] },
    },
  };
}

/** A gRPC client's route configuration for the name it dials: every authority to the service's gRPC cluster. */
export function buildApiRoute(name: string, view: ServiceView): Resource {
  return { name, virtual_hosts: [{ name, domains: ["*"], routes: [route(view, "grpc", "grpc")] }] };
}

/** Envoy's HTTP listener, on the address and port its node metadata asks for. */
export function buildEnvoyListener(address: string, port: number): Resource {
  return {
    name: ENVOY_LISTENER,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": TYPE.hcm,
              stat_prefix: ENVOY_LISTENER,
              codec_type: "AUTO",
              // Routes match the host without the port the caller happened to use.
              strip_any_host_port: true,
              rds: { route_config_name: ENVOY_LISTENER, config_source: ads },
              http_filters: [routerFilter],
            },
          },
        ],
      },
    ],
  };
}

const DOMAIN = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;

/**
 * The host names a service answers to behind Envoy, as Kubernetes DNS names
 * it: `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`, and the bare
 * name in the default namespace or for a global service.
 */
export function serviceDomains(key: ServiceKey, defaultNamespace: string | undefined): string[] {
  const p = parseServiceKey(key);
  const name = p.name.toLowerCase();
  if (p.namespace === undefined) return [name];
  const ns = p.namespace.toLowerCase();
  const out = [`${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.cluster.local`];
  if (p.namespace === defaultNamespace) out.unshift(name);
  return out;
}

/**
 * Envoy's route configuration: a virtual host per service with HTTP or gRPC
 * instances. Envoy refuses a configuration naming one domain twice, so a
 * domain goes to the first service (by key) that claims it, and names that
 * are not host names are left out.
 */
export function buildEnvoyRoutes(views: readonly ServiceView[], defaultNamespace: string | undefined): Resource {
  const taken = new Set<string>();
  const virtual_hosts: Record<string, unknown>[] = [];
  for (const view of [...views].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const family = routeFamily(view, "envoy");
    if (!family) continue;
    const domains = serviceDomains(view.key, defaultNamespace).filter((d) => DOMAIN.test(d) && !taken.has(d));
    if (domains.length === 0) continue;
    for (const d of domains) taken.add(d);
    virtual_hosts.push({ name: view.key, domains, routes: [route(view, family, "envoy")] });
  }
  return { name: ENVOY_LISTENER, virtual_hosts };
}

/** The cluster families of a service for a kind of client: gRPC clients get the gRPC one only. */
export function clusterFamilies(view: ServiceView, kind: ClientKind): Family[] {
  return kind === "grpc" ? ["grpc"] : (["http", "grpc"] as const).filter((f) => view.instances.some((i) => familyOf(i.protocol) === f));
}

/** The names of a service's clusters for a kind of client. */
export function clusterNames(view: ServiceView, kind: ClientKind): string[] {
  return clusterFamilies(view, kind).map((f) => clusterName(f, view.key));
}
