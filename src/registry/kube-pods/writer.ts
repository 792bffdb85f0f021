/**
 * Writes this process's registrations into its own Pod. One writer per pod
 * and annotation per process, and its operations run one at a time, so two
 * registrations started together can't overwrite each other. Every PATCH
 * carries the resourceVersion it was computed from: another writer (a second
 * container in the pod) makes it fail with 409, and we re-read and retry.
 */
import type { KubeClient } from "../../kube/client.js";
import { isConflict, isNotFound } from "../../kube/errors.js";
import { sleep, systemClock, type Clock } from "../../util/clock.js";
import type { AnnotationCodec, AnnotationEntry, CodecRegistration } from "../codec.js";
import { RegistrationError } from "../registry.js";
import type { PodIdentity } from "./identity.js";

/** kube-apiserver rejects objects whose annotations total more (apimachinery objectmeta.go). */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

interface RawPod {
  metadata?: { resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  status?: { podIP?: string };
}

/** A registration as the writer keeps it: host resolved against the pod IP. */
type Owned = CodecRegistration;

export interface PodWriterOptions {
  client: KubeClient;
  pod: PodIdentity;
  codec: AnnotationCodec;
  /** Remove the registry label when no entries remain (default true). */
  removeLabel?: boolean;
  maxConflictRetries?: number;
  clock?: Clock;
}

export class PodAnnotationWriter {
  private readonly owned = new Map<number, Owned>();
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private podIP: string | undefined;
  private readonly path: string;
  /** Number of PATCHes that hit a 409 and were retried (for tests and metrics). */
  conflicts = 0;

  constructor(private readonly o: PodWriterOptions) {
    this.path = `/api/v1/namespaces/${encodeURIComponent(o.pod.namespace)}/pods/${encodeURIComponent(o.pod.name)}`;
  }

  get size(): number {
    return this.owned.size;
  }

  /** Registers; resolves with a token for update/remove once the pod holds the entry. */
  add(reg: Omit<Owned, "host"> & { host?: string }, signal?: AbortSignal): Promise<number> {
    return this.serial(async () => {
      const host = reg.host ?? (this.o.codec.requiresHost ? await this.ensurePodIP(signal) : "");
      const owned: Owned = { ...reg, host };
      const id = this.o.codec.identity(owned);
      for (const r of this.owned.values()) {
        if (this.o.codec.identity(r) === id) {
          throw new RegistrationError("PODREG_REGISTRATION", `${reg.service} ${reg.protocol}:${reg.port} is already registered by this process`);
        }
      }
      const token = ++this.seq;
      this.owned.set(token, owned);
      try {
        await this.write(new Set(), signal);
      } catch (err) {
        this.owned.delete(token);
        throw err;
      }
      return token;
    });
  }

  update(token: number, change: { weight?: number; metadata?: Readonly<Record<string, string>> }, signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      const prev = this.owned.get(token);
      if (!prev) throw new RegistrationError("PODREG_CLOSED", "registration is closed");
      this.owned.set(token, { ...prev, weight: change.weight ?? prev.weight, metadata: change.metadata ? { ...change.metadata } : prev.metadata });
      try {
        await this.write(new Set(), signal);
      } catch (err) {
        this.owned.set(token, prev);
        throw err;
      }
    });
  }

  /** Deregisters. A pod that no longer exists counts as done. */
  remove(token: number, signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      const prev = this.owned.get(token);
      if (!prev) return;
      this.owned.delete(token);
      try {
        await this.write(new Set([this.o.codec.identity(prev)]), signal);
      } catch (err) {
        if (podGone(err)) return; // nothing left to deregister from
        this.owned.set(token, prev); // still registered: a later close may retry
        throw err;
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async ensurePodIP(signal?: AbortSignal): Promise<string> {
    if (this.podIP) return this.podIP;
    const pod = await this.get(signal);
    const ip = pod.status?.podIP;
    if (!ip) throw new RegistrationError("PODREG_REGISTRATION", `pod ${this.o.pod.namespace}/${this.o.pod.name} has no IP yet; pass host explicitly`);
    return (this.podIP = ip);
  }

  private async get(signal?: AbortSignal): Promise<RawPod> {
    try {
      return await this.o.client.request<RawPod>({ path: this.path, signal });
    } catch (err) {
      if (isNotFound(err)) {
        throw new RegistrationError("PODREG_POD_IDENTITY", `pod ${this.o.pod.namespace}/${this.o.pod.name} does not exist (check POD_NAME / POD_NAMESPACE)`, { cause: err });
      }
      throw err;
    }
  }

  private async write(drop: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    const { codec } = this.o;
    const max = this.o.maxConflictRetries ?? 10;
    for (let attempt = 0; ; attempt++) {
      const pod = await this.get(signal);
      const annotations = pod.metadata?.annotations ?? {};
      const current = annotations[codec.annotationKey];
      const existing = this.decodeOwn(current);
      const next = codec.apply(existing, { drop, add: [...this.owned.values()] });
      const value = next.length > 0 ? codec.encode(next) : undefined;
      const labelled = pod.metadata?.labels?.[codec.labelKey] === codec.labelValue;
      const wantLabel = next.length > 0 || !(this.o.removeLabel ?? true);
      if (value === (current || undefined) && labelled === wantLabel) return;
      checkSize(annotations, codec.annotationKey, value, this.o.pod);
      const patch = {
        metadata: {
          // The precondition: the server refuses this patch (409) if the pod changed since our GET.
          resourceVersion: pod.metadata?.resourceVersion,
          labels: { [codec.labelKey]: wantLabel ? codec.labelValue : null },
          annotations: { [codec.annotationKey]: value ?? null },
        },
      };
      try {
        await this.o.client.request({ method: "PATCH", path: this.path, contentType: "application/merge-patch+json", body: patch, signal });
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= max) throw err;
        this.conflicts++;
        await sleep(10 + Math.random() * 40 * (attempt + 1), { clock: this.o.clock ?? systemClock, signal });
      }
    }
  }

  /** Our own pod's entries. An undecodable value may hold someone's registrations: refuse to overwrite it. */
  private decodeOwn(current: string | undefined): AnnotationEntry[] {
    if (!current) return [];
    try {
      return this.o.codec.decode(current);
    } catch (err) {
      throw new RegistrationError(
        "PODREG_ANNOTATION_CORRUPT",
        `pod ${this.o.pod.namespace}/${this.o.pod.name}: annotation ${this.o.codec.annotationKey} cannot be decoded (${(err as Error).message}); ` +
          "podreg will not overwrite it: remove the annotation to register again",
        { cause: err },
      );
    }
  }
}

const podGone = (err: unknown): boolean => isNotFound(err) || (err instanceof RegistrationError && err.code === "PODREG_POD_IDENTITY");

function checkSize(annotations: Record<string, string>, key: string, value: string | undefined, pod: PodIdentity): void {
  let total = value === undefined ? 0 : Buffer.byteLength(key) + Buffer.byteLength(value);
  for (const [k, v] of Object.entries(annotations)) if (k !== key) total += Buffer.byteLength(k) + Buffer.byteLength(v);
  if (total > MAX_ANNOTATIONS_BYTES) {
    throw new RegistrationError(
      "PODREG_ANNOTATION_TOO_LARGE",
      `pod ${pod.namespace}/${pod.name}: registering would make its annotations ${total} bytes, over the API server's limit of ${MAX_ANNOTATIONS_BYTES}`,
    );
  }
}
