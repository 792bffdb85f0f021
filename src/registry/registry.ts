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

/**
 * A deregistration did not complete within its deadline: the entries named in
 * `remaining` may still be advertised. `cause` is the last failure
 * (unreachable API server, a corrupt annotation, 403...).
 */
export class DeregistrationError extends PodregError {
  override name = "DeregistrationError";
  readonly remaining: readonly string[];
  constructor(message: string, options: { cause?: unknown; remaining: readonly string[] }) {
    super(message, { code: "PODREG_DEREGISTRATION", cause: options.cause });
    this.remaining = options.remaining;
  }
}

/** C0 and C1 control characters and DEL: they would reach terminals and logs as commands, not text. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** A validated spec. The protocol defaults to `defaultProtocol` (the format's own). */
export function validateSpec(spec: RegistrationSpec, defaultProtocol = "http"): Required<Omit<RegistrationSpec, "host">> & { host?: string } {
  const bad = (why: string) => new RegistrationError("PODREG_REGISTRATION", `invalid registration of ${JSON.stringify(spec.service)}: ${why}`);
  if (typeof spec.service !== "string" || spec.service.length === 0 || spec.service.length > 253) throw bad("service must be a non-empty string of at most 253 characters");
  if (CONTROL_CHARS.test(spec.service)) throw bad("service must not contain control characters");
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) throw bad("port must be an integer in 1..65535");
  const weight = spec.weight ?? 100;
  if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) throw bad("weight must be a finite number >= 0");
  const protocol = spec.protocol ?? defaultProtocol;
  if (!/^[a-z][a-z0-9+.-]*$/i.test(protocol)) throw bad("protocol must look like a URL scheme (http, grpc, dubbo, tri)");
  if (spec.host !== undefined && (typeof spec.host !== "string" || spec.host === "" || !/^[A-Za-z0-9._:%[\]-]+$/.test(spec.host))) {
    throw bad("host must be an IP address or a DNS name");
  }
  const metadata = { ...spec.metadata };
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw bad(`metadata ${JSON.stringify(k)} must be a string`);
    if (k === "" || CONTROL_CHARS.test(k)) throw bad(`metadata key ${JSON.stringify(k)} must be non-empty and free of control characters`);
  }
  return { service: spec.service, port: spec.port, protocol, weight, metadata, host: spec.host };
}
