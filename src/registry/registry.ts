/**
 * The contract every registry backend implements (memory, kube-pods, ...).
 * Registration is the provider side; subscribe/instances/services the consumer side.
 */
import type { RegistryListener, ServiceSelector } from "../model/events.js";
import type { Instance, ServiceName } from "../model/instance.js";
import { PodregError } from "../errors.js";

export interface RegistrationSpec {
  service: ServiceName;
  port: number;
  /** Default "http". */
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

export interface Registry {
  readonly name: string;
  register(spec: RegistrationSpec, opts?: { signal?: AbortSignal }): Promise<RegistrationHandle>;
  /** Snapshot first (once synced), then deltas; see RegistryEvent. */
  subscribe(selector: ServiceSelector, listener: RegistryListener): Subscription;
  /** The cached instances of a service (empty before sync). */
  instances(service: ServiceName): readonly Instance[];
  services(): ServiceName[];
  readonly synced: boolean;
  whenSynced(signal?: AbortSignal): Promise<void>;
  /** Deregisters this registry's registrations and stops its watches. */
  close(): Promise<void>;
}

/** A registration was refused or failed. Codes: PODREG_REGISTRATION (generic), PODREG_ANNOTATION_TOO_LARGE, PODREG_ANNOTATION_CORRUPT, PODREG_POD_IDENTITY, PODREG_CLOSED. */
export class RegistrationError extends PodregError {
  override name = "RegistrationError";
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, { code, ...options });
  }
}

export function validateSpec(spec: RegistrationSpec): Required<Omit<RegistrationSpec, "host">> & { host?: string } {
  const bad = (why: string) => new RegistrationError("PODREG_REGISTRATION", `invalid registration of ${JSON.stringify(spec.service)}: ${why}`);
  if (typeof spec.service !== "string" || spec.service.length === 0 || spec.service.length > 253) throw bad("service must be a non-empty string of at most 253 characters");
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) throw bad("port must be an integer in 1..65535");
  const weight = spec.weight ?? 100;
  if (!Number.isFinite(weight) || weight < 0) throw bad("weight must be a finite number >= 0");
  const protocol = spec.protocol ?? "http";
  if (!/^[a-z][a-z0-9+.-]*$/i.test(protocol)) throw bad("protocol must look like a URL scheme (http, grpc, dubbo, tri)");
  const metadata = { ...spec.metadata };
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== "string") throw bad(`metadata ${k} must be a string`);
  return { service: spec.service, port: spec.port, protocol, weight, metadata, host: spec.host };
}
