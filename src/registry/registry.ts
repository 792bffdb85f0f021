/**
 * The contracts of podreg's sources: Discovery (the consumer side, every
 * source) and Registrar (the provider side, only sources that take
 * registrations). Services, EndpointSlices and aggregates are Discovery only,
 * and the types say so.
 */
import type { RegistryListener, ServiceSelector, StatusListener } from "../model/events.js";
import type { Instance, ServiceName } from "../model/instance.js";
import { parseHost } from "../model/host.js";
import type { ServiceKey } from "../model/service-key.js";
import { RegistrationError } from "../errors.js";
import { PROTOCOL } from "../model/instance.js";

export { RegistrationError, DeregistrationError } from "../errors.js";

export interface RegistrationSpec {
  service: ServiceName;
  port: number;
  /** Default: the registry's (kube-pods: "http" in the native format, "dubbo" in dubbo-go's). */
  protocol?: string;
  /** Default 100. */
  weight?: number;
  metadata?: Readonly<Record<string, string>>;
  /** Address to advertise; default: the backend's own (the pod IP for kube-pods). */
  host?: string;
}

export interface RegistrationHandle {
  readonly service: ServiceName;
  /** Replaces the weight and/or metadata of this registration. */
  update(change: { weight?: number; metadata?: Readonly<Record<string, string>> }, opts?: { signal?: AbortSignal }): Promise<void>;
  /** Deregisters. Idempotent. */
  close(opts?: { signal?: AbortSignal }): Promise<void>;
}

export interface Subscription {
  /** Stops delivery to the listener. Idempotent. */
  close(): void;
}

/**
 * The consumer side, which every source implements (kube-pods, memory,
 * Kubernetes Services, an aggregate, ...).
 *
 * Lifecycle: discovery starts on the first `subscribe`, `whenSynced` or
 * `onStatus` (a process that only registers never watches). `instances()` and
 * `services()` are plain reads of the cache and start nothing: empty until
 * synced. After `close()`, `whenSynced` rejects with PODREG_CLOSED and
 * subscriptions receive nothing more.
 */
export interface Discovery {
  readonly name: string;
  /**
   * The key of the service a consumer means by `name` (see docs/registry.md,
   * "Naming a service"): `echo` is `echo` in the source's own namespace for
   * namespaced sources, `shop/echo` or `echo.shop.svc` names a namespace,
   * RPC interface names (dubbo-go) are global.
   */
  resolve(name: string): ServiceKey;
  /** Snapshot first (once synced), then deltas; see RegistryEvent. `selector` is resolved as by resolve(), or "*". */
  subscribe(selector: ServiceSelector, listener: RegistryListener): Subscription;
  /** The cached instances of a service (empty before sync). */
  instances(service: ServiceSelector): readonly Instance[];
  /** Keys of the services with at least one instance, sorted. */
  services(): ServiceKey[];
  readonly synced: boolean;
  /** Resolves once synced, after every subscriber already subscribed has its snapshot. */
  whenSynced(signal?: AbortSignal): Promise<void>;
  /** synced, failing (with an error code), recovered; delivered asynchronously, in order. */
  onStatus(listener: StatusListener): Subscription;
  close(): Promise<void>;
}

/** The provider side, implemented only by sources that can take registrations (kube-pods, memory, local). */
export interface Registrar {
  register(spec: RegistrationSpec, opts?: { signal?: AbortSignal }): Promise<RegistrationHandle>;
  /** Deregisters everything registered through it and stops its watches. */
  close(): Promise<void>;
}

/** A source that discovers and takes registrations. */
export interface Registry extends Discovery, Registrar {
  close(): Promise<void>;
}

/** C0 and C1 control characters and DEL: they would reach terminals and logs as commands, not text. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** A validated spec. The protocol defaults to `defaultProtocol` (the format's own). */
export function validateSpec(spec: RegistrationSpec, defaultProtocol = "http"): Required<Omit<RegistrationSpec, "host">> & { host?: string } {
  const bad = (why: string) => new RegistrationError(`invalid registration of ${JSON.stringify(spec.service)}: ${why}`);
  if (typeof spec.service !== "string" || spec.service.length === 0 || spec.service.length > 253) throw bad("service must be a non-empty string of at most 253 characters");
  if (CONTROL_CHARS.test(spec.service)) throw bad("service must not contain control characters");
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) throw bad("port must be an integer in 1..65535");
  const weight = spec.weight ?? 100;
  if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) throw bad("weight must be a finite number >= 0");
  const protocol = spec.protocol ?? defaultProtocol;
  if (!PROTOCOL.test(protocol)) throw bad("protocol must look like a URL scheme (http, grpc, dubbo, tri)");
  if (spec.service.includes("/")) throw bad("service must not contain '/' (it separates namespace and name in a service key)");
  // Checked here, before any request: a bad host must never reach the API server or a consumer.
  const host = spec.host === undefined ? undefined : typeof spec.host === "string" ? parseHost(spec.host)?.host : undefined;
  if (spec.host !== undefined && host === undefined) throw bad(`host ${JSON.stringify(String(spec.host)).slice(0, 80)} is neither an IP address nor a DNS name`);
  const metadata = { ...spec.metadata };
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw bad(`metadata ${JSON.stringify(k)} must be a string`);
    if (k === "" || CONTROL_CHARS.test(k)) throw bad(`metadata key ${JSON.stringify(k)} must be non-empty and free of control characters`);
  }
  return { service: spec.service, port: spec.port, protocol, weight, metadata, host };
}
