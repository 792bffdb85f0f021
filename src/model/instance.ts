/**
 * Provider-free model, after Istio's pilot/pkg/model: every registry backend
 * converts what it reads into these types, and nothing downstream (balancers,
 * routers, clients, servers) imports Kubernetes types.
 */

import { authority, parseHost } from "./host.js";
import { keyOf, type ServiceKey, type ServiceScope } from "./service-key.js";

/** A service is named by a string: an RPC interface (`com.example.Echo`) or a Web service name (`echo`). */
export type ServiceName = string;

export interface Instance {
  /** Stable across updates of the same registration: `<source>:<namespace>/<pod>/<service>/<protocol>:<port>` for pods. */
  readonly id: string;
  /** The service's key with its scope (`shop/echo`, or `com.example.Echo` for a global one); see service-key.ts. */
  readonly key: ServiceKey;
  readonly service: ServiceName;
  /** IPv4, IPv6 without brackets (normalised), or a DNS name in lower case; see host.ts. */
  readonly host: string;
  readonly port: number;
  /** Application protocol: `http`, `grpc`, `dubbo`, `tri`, ... */
  readonly protocol: string;
  /** Relative weight for balancing, >= 0 (0 = take no new traffic). Default 100. */
  readonly weight: number;
  /** Registered metadata: version, group, methods, tags, ... */
  readonly metadata: Readonly<Record<string, string>>;
  /** Labels of the workload (pod labels), for routing by label. */
  readonly labels: Readonly<Record<string, string>>;
  readonly zone?: string;
  readonly node?: string;
  /** Namespace of the workload (pod) it runs in, when the source knows one; also for global services. */
  readonly namespace?: string;
  readonly cluster?: string;
  readonly ready: boolean;
  /** Epoch milliseconds the instance came up (pod start), for slow start. */
  readonly startTime?: number;
  /** The registry it came from: `memory`, `kube-pods`, `kube-services`, ... */
  readonly source: string;
  /**
   * Where in its source, as the source names it: the pod (`<namespace>/<pod>`)
   * for kube-pods and for EndpointSlice endpoints that point at one, the
   * entry id in the local registry. Shown as "the pod or workload"; writes to
   * the local registry address its entries by it.
   */
  readonly origin?: string;
  /** Set by an aggregate when several sources saw the same endpoint: every one of them, the winning `source` first. */
  readonly sources?: readonly string[];
}

export const DEFAULT_WEIGHT = 100;

/** Metadata a source sets when the service asks for session affinity by client address (a Service's `sessionAffinity: ClientIP`). */
export const SESSION_AFFINITY_METADATA = "podreg.io/session-affinity";

/** A protocol is written as a URL scheme (`http`, `grpc`, `dubbo`, `tri`): the pattern every format and check shares. */
export const PROTOCOL_SOURCE = "[A-Za-z][A-Za-z0-9+.-]*";
export const PROTOCOL = new RegExp(`^${PROTOCOL_SOURCE}$`);

/** Field-by-field equality: updates that change nothing are not delivered. */
export function sameInstance(a: Instance, b: Instance): boolean {
  return (
    a.id === b.id &&
    a.key === b.key &&
    a.service === b.service &&
    a.host === b.host &&
    a.port === b.port &&
    a.protocol === b.protocol &&
    a.weight === b.weight &&
    a.zone === b.zone &&
    a.node === b.node &&
    a.namespace === b.namespace &&
    a.cluster === b.cluster &&
    a.ready === b.ready &&
    a.startTime === b.startTime &&
    a.source === b.source &&
    a.origin === b.origin &&
    (a.sources ?? []).join() === (b.sources ?? []).join() &&
    sameRecord(a.metadata, b.metadata) &&
    sameRecord(a.labels, b.labels)
  );
}

export function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
}

/** What a source knows about an instance; buildInstance() derives the rest. */
export interface InstanceInput {
  /** The registry it comes from (`kube-pods`, `memory`, ...): the id's first part. */
  readonly source: string;
  /** Where in the source: `<namespace>/<pod>` for pods, a registration number for memory. */
  readonly origin: string;
  readonly service: ServiceName;
  readonly host: string;
  readonly port: number;
  readonly protocol: string;
  readonly weight?: number;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly namespace?: string;
  readonly zone?: string;
  readonly node?: string;
  readonly ready?: boolean;
  readonly startTime?: number;
  /** The host is part of the identity (one origin advertising the same port at several hosts). */
  readonly hostInId?: boolean;
  /** How the source scopes services (default: per namespace). */
  readonly scope?: ServiceScope;
}

/**
 * Keys are few (one per service) and held by every instance: one copy each.
 * Template literals build cons-string trees that V8 keeps beside their
 * flattened copy once hashed (~200 bytes per instance measured at 10,000);
 * an interned key and an id joined from parts (join makes a flat string) cost
 * a fraction. Bounded: cleared when full, so hostile variety can't grow it.
 */
const keys = new Map<string, string>();
const MAX_KEYS = 100_000;
function internKey(key: string): string {
  const known = keys.get(key);
  if (known !== undefined) return known;
  if (keys.size >= MAX_KEYS) keys.clear();
  keys.set(key, key);
  return key;
}

/**
 * The one place instances are made: id `<source>:<origin>/<service>/<protocol>:<port>`
 * (`...:<host>:<port>`, IPv6 in brackets, with hostInId),
 * key by the source's scope, host normalised (IPv6 without brackets). Throws
 * RangeError on a host that is neither an IP nor a DNS name, a port out of
 * range or a negative weight: sources turn that into their own error (a
 * refused registration, a skipped entry).
 */
export function buildInstance(input: InstanceInput): Instance {
  const host = parseHost(input.host);
  if (!host) throw new RangeError(`host ${JSON.stringify(input.host)} is neither an IP address nor a DNS name`);
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) throw new RangeError(`port ${input.port} is not in 1..65535`);
  const weight = input.weight ?? DEFAULT_WEIGHT;
  if (!Number.isFinite(weight) || weight < 0) throw new RangeError(`weight ${weight} is not a finite number >= 0`);
  const scope = input.scope ?? { scope: "namespace" };
  return {
    id: [input.source, ":", input.origin, "/", input.service, "/", input.protocol, ":", input.hostInId ? authority(host.host, input.port) : input.port].join(""),
    key: internKey(keyOf(input.service, input.namespace, scope)),
    service: input.service,
    host: host.host,
    port: input.port,
    protocol: input.protocol,
    weight,
    metadata: input.metadata ?? {},
    labels: input.labels ?? {},
    ...(input.zone === undefined ? {} : { zone: input.zone }),
    ...(input.node === undefined ? {} : { node: input.node }),
    ...(input.namespace === undefined ? {} : { namespace: input.namespace }),
    ...(scope.cluster === undefined ? {} : { cluster: scope.cluster }),
    ready: input.ready ?? true,
    ...(input.startTime === undefined ? {} : { startTime: input.startTime }),
    source: input.source,
    origin: input.origin,
  };
}
