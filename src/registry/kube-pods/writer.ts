/**
 * Writes this process's registrations into its own Pod. One writer per pod
 * and annotation per process, and its operations run one at a time, so two
 * registrations started together can't overwrite each other. Every PATCH
 * carries the resourceVersion it was computed from: another writer (a second
 * process or container in the pod) makes it fail with 409, and we re-read and
 * re-plan. What to write is decided by plan.ts; this file does the I/O:
 * retries of transient failures within the operation's deadline, staged
 * writes, and the self-healing watch of the pod (self-heal.ts).
 */
import type { KubeClient } from "../../kube/client.js";
import { isConflict, isNotFound, KubeApiError, KubeUnreachableError } from "../../kube/errors.js";
import { AbortedError } from "../../errors.js";
import { Backoff } from "../../util/backoff.js";
import { sleep, systemClock, type Clock } from "../../util/clock.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import type { AnnotationCodec, CodecRegistration } from "../codec.js";
import { DeregistrationError, RegistrationError } from "../registry.js";
import { HOSTS_ANNOTATION, SERVICES_ANNOTATION, declaresService, hostAllowed, podDeclarations } from "./declarations.js";
import type { PodIdentity } from "./identity.js";
import { OWNERS_ANNOTATION, processOwner, type LivenessCheck } from "./owners.js";
import { planWrite, type PodMeta } from "./plan.js";
import { SelfHeal } from "./self-heal.js";
import { AnnotationTooLargeError, ClosedError, PodIdentityError } from "../../errors.js";
import { scopedSignal } from "../../util/signal.js";

/** kube-apiserver rejects objects whose annotations total more (apimachinery objectmeta.go). */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

interface RawPod {
  metadata?: { resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  status?: { podIP?: string; podIPs?: { ip?: string }[] };
}

export interface PodWriterOptions {
  client: KubeClient;
  pod: PodIdentity;
  codec: AnnotationCodec;
  /** Remove the registry label when no entries remain (default true). */
  removeLabel?: boolean;
  /** Advertise hosts that are neither a pod IP nor declared in podreg.io/hosts (default false). */
  allowAnyHost?: boolean;
  /** Bound on a register/update that has no signal of its own; transient failures are retried within it. Default 30 s. */
  writeTimeoutMs?: number;
  /** Watch the pod and restore entries someone else removed or changed (default true). */
  selfHeal?: boolean;
  /** This process's owner id and liveness check (tests inject them; default from /proc). */
  owner?: { id: string; alive: LivenessCheck };
  clock?: Clock;
  logger?: Logger;
}

/**
 * Bound on one request of a write. Shorter than the API server's own 30 s so
 * a connection that stalls (a dead peer behind a kept-alive socket) is given
 * up in time to retry on a new one within a 5 s deregistration budget.
 */
const ATTEMPT_TIMEOUT_MS = 2500;

/** Status codes worth another try: the API server is overloaded, restarting or behind a failing proxy. */
const transient = (err: unknown): boolean =>
  err instanceof KubeUnreachableError || (err instanceof KubeApiError && err.status !== undefined && [429, 500, 502, 503, 504].includes(err.status));

const describe = (r: Pick<CodecRegistration, "service" | "protocol" | "port">): string => `${r.service} ${r.protocol}:${r.port}`;

export class PodAnnotationWriter {
  private readonly owned = new Map<number, CodecRegistration>();
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly path: string;
  private readonly owner: { id: string; alive: LivenessCheck };
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly heal: SelfHeal | undefined;
  /** PATCHes that hit a 409 and were re-planned. */
  conflicts = 0;
  /** Writes that put back what someone else removed or changed. */
  restores = 0;

  constructor(private readonly o: PodWriterOptions) {
    this.path = `/api/v1/namespaces/${encodeURIComponent(o.pod.namespace)}/pods/${encodeURIComponent(o.pod.name)}`;
    this.owner = o.owner ?? processOwner();
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
    if (o.selfHeal ?? true) {
      this.heal = new SelfHeal({
        client: o.client,
        pod: o.pod,
        keep: [o.codec.annotationKey, OWNERS_ANNOTATION],
        clock: this.clock,
        logger: this.logger,
        needsWrite: (pod) => this.owned.size > 0 && !this.plan(pod, {}).noop,
        reconcile: () => this.reconcile(),
      });
    }
  }

  get size(): number {
    return this.owned.size;
  }

  get podName(): string {
    return `${this.o.pod.namespace}/${this.o.pod.name}`;
  }

  /** Registers; resolves with a token for update/remove once the pod holds the entry. */
  add(reg: Omit<CodecRegistration, "host" | "pid"> & { host?: string }, signal?: AbortSignal): Promise<number> {
    return this.serial(signal, this.o.writeTimeoutMs ?? 30_000, async (deadline) => {
      const host = this.admit(reg, await this.retrying(() => this.get(deadline), deadline, { attempts: 0 }));
      const owned: CodecRegistration = { ...reg, host, pid: process.pid };
      const id = this.o.codec.identity(owned);
      for (const r of this.owned.values()) {
        if (this.o.codec.identity(r) === id) throw new RegistrationError(`${describe(reg)} is already registered by this process`);
      }
      const token = ++this.seq;
      this.owned.set(token, owned);
      try {
        await this.write({ write: [owned] }, deadline);
      } catch (err) {
        this.owned.delete(token);
        throw err;
      }
      this.heal?.start();
      return token;
    });
  }

  update(token: number, change: { weight?: number; metadata?: Readonly<Record<string, string>> }, signal?: AbortSignal): Promise<void> {
    return this.serial(signal, this.o.writeTimeoutMs ?? 30_000, async (deadline) => {
      const prev = this.owned.get(token);
      if (!prev) throw new ClosedError("registration is closed");
      const next = { ...prev, weight: change.weight ?? prev.weight, metadata: change.metadata ? { ...change.metadata } : prev.metadata };
      this.owned.set(token, next);
      try {
        await this.write({ write: [next] }, deadline);
      } catch (err) {
        this.owned.set(token, prev);
        throw err;
      }
    });
  }

  /**
   * Deregisters, retrying transient failures until `signal` fires. Rejects
   * with DeregistrationError (the cause says why) when the entry may still be
   * there; a pod that no longer exists counts as done.
   */
  remove(token: number, signal?: AbortSignal): Promise<void> {
    return this.serial(signal, undefined, async (deadline) => {
      const prev = this.owned.get(token);
      if (!prev) return;
      this.owned.delete(token);
      const started = this.clock.now();
      const tries = { attempts: 0 };
      try {
        await this.write({ release: new Set([this.o.codec.identity(prev)]) }, deadline, tries);
      } catch (err) {
        if (podGone(err)) return;
        this.owned.set(token, prev); // still registered: a later close may retry
        const secs = ((this.clock.now() - started) / 1000).toFixed(1);
        throw new DeregistrationError(
          `${describe(prev)} may still be registered in pod ${this.podName}: ${(err as Error).message} (gave up after ${secs}s, ${tries.attempts} attempts)`,
          { cause: err, remaining: [describe(prev)] },
        );
      } finally {
        if (this.owned.size === 0) void this.heal?.stop();
      }
    });
  }

  /** Writes whatever is missing (self-healing); resolves true when something was restored. */
  reconcile(signal?: AbortSignal): Promise<boolean> {
    return this.serial(signal, this.o.writeTimeoutMs ?? 30_000, async (deadline) => {
      if (this.owned.size === 0) return false;
      const wrote = await this.write({}, deadline);
      if (wrote) this.restores++;
      return wrote;
    });
  }

  /** Stops the self-healing watch (registrations stay). */
  async stop(): Promise<void> {
    await this.heal?.stop();
  }

  /** Operations run one at a time, each under its caller's signal and, if given, its own time bound. */
  private serial<T>(signal: AbortSignal | undefined, timeoutMs: number | undefined, fn: (deadline: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const run = async () => {
      if (timeoutMs === undefined) return fn(signal);
      const bounded = scopedSignal([signal], timeoutMs);
      try {
        return await fn(bounded.signal);
      } finally {
        bounded.dispose();
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private plan(pod: PodMeta, op: { write?: readonly CodecRegistration[]; release?: ReadonlySet<string> }) {
    return planWrite({
      codec: this.o.codec,
      pod,
      podName: this.podName,
      owned: [...this.owned.values()],
      write: op.write,
      release: op.release,
      owner: this.owner.id,
      alive: this.owner.alive,
      removeLabel: this.o.removeLabel,
    });
  }

  /**
   * Refuses what consumers would drop anyway (declarations.ts): a service the
   * pod's template doesn't declare, a host that is neither a pod IP nor
   * declared. A missing host becomes the pod IP when the format needs one.
   */
  private admit(reg: { service: string; host?: string }, pod: RawPod): string {
    const ips = podIPs(pod);
    const decl = podDeclarations(pod.metadata?.annotations ?? {});
    if (decl.services !== undefined && !declaresService(decl, reg.service)) {
      throw new RegistrationError(
        `pod ${this.podName} declares ${SERVICES_ANNOTATION}: ${decl.services.join(", ")}; ${reg.service} is not among them, and consumers would drop it`,
      );
    }
    if (reg.host === undefined) {
      if (!this.o.codec.requiresHost) return "";
      const ip = ips[0];
      if (!ip) throw new RegistrationError(`pod ${this.podName} has no IP yet; pass host explicitly`);
      return ip;
    }
    if (!this.o.allowAnyHost && !hostAllowed(reg.host, ips, decl)) {
      throw new RegistrationError(
        `host ${JSON.stringify(reg.host)} is not an IP of pod ${this.podName} (${ips.join(", ") || "none yet"}); consumers drop it unless the pod template declares it in ${HOSTS_ANNOTATION}`,
      );
    }
    return reg.host;
  }

  private async get(signal?: AbortSignal): Promise<RawPod> {
    try {
      return await this.o.client.request<RawPod>({ path: this.path, signal, timeoutMs: ATTEMPT_TIMEOUT_MS });
    } catch (err) {
      if (isNotFound(err)) {
        throw new PodIdentityError(`pod ${this.podName} does not exist (check POD_NAME / POD_NAMESPACE)`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Runs `fn` again after transient failures (backoff with jitter) until
   * `signal` fires, then throws the last real failure (not "aborted": the
   * caller wants to know what kept failing). Counts requests in `tries`.
   */
  private async retrying<T>(fn: () => Promise<T>, signal: AbortSignal | undefined, tries: { attempts: number }): Promise<T> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    let last: unknown;
    for (;;) {
      tries.attempts++;
      try {
        return await fn();
      } catch (err) {
        if (err instanceof AbortedError && last !== undefined) throw last;
        if (err instanceof AbortedError && (signal?.reason as Error | undefined)?.name === "TimeoutError") {
          throw new KubeUnreachableError("no answer from the API server before the deadline", { cause: err });
        }
        if (!transient(err)) throw err;
        last = err;
      }
      try {
        await sleep(backoff.next(), { clock: this.clock, signal });
      } catch {
        throw last;
      }
    }
  }

  /** GET, plan, PATCH each stage; a 409 re-plans from a fresh GET. Resolves true when something was written. */
  private async write(
    op: { write?: readonly CodecRegistration[]; release?: ReadonlySet<string> },
    signal: AbortSignal | undefined,
    tries = { attempts: 0 },
  ): Promise<boolean> {
    const { codec } = this.o;
    let wrote = false;
    for (let conflicts = 0; ; ) {
      const pod = await this.retrying(() => this.get(signal), signal, tries);
      const meta = { labels: pod.metadata?.labels ?? {}, annotations: pod.metadata?.annotations ?? {} };
      const plan = this.plan(meta, op);
      if (plan.noop) return wrote;
      checkSize(meta.annotations, { [codec.annotationKey]: plan.stages.at(-1), [OWNERS_ANNOTATION]: plan.owners }, this.podName);
      let rv = pod.metadata?.resourceVersion;
      try {
        for (const value of plan.stages) {
          const patch = {
            metadata: {
              // The precondition: the server refuses this patch (409) if the pod changed since we read it.
              resourceVersion: rv,
              labels: { [codec.labelKey]: plan.label || value !== undefined ? codec.labelValue : null },
              annotations: { [codec.annotationKey]: value ?? null, [OWNERS_ANNOTATION]: plan.owners ?? null },
            },
          };
          const res = await this.retrying(
            () =>
              this.o.client.request<RawPod>({
                method: "PATCH",
                path: this.path,
                contentType: "application/merge-patch+json",
                body: patch,
                signal,
                timeoutMs: ATTEMPT_TIMEOUT_MS,
              }),
            signal,
            tries,
          );
          wrote = true;
          rv = res?.metadata?.resourceVersion;
        }
        return wrote;
      } catch (err) {
        if (!isConflict(err) || ++conflicts > 20) throw err;
        this.conflicts++;
        await sleep(10 + Math.random() * 40 * conflicts, { clock: this.clock, signal });
      }
    }
  }
}

function podIPs(pod: RawPod): string[] {
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => typeof ip === "string" && ip !== "");
  if (pod.status?.podIP && !ips.includes(pod.status.podIP)) ips.unshift(pod.status.podIP);
  return ips;
}

const podGone = (err: unknown): boolean => isNotFound(err) || err instanceof PodIdentityError;

function checkSize(annotations: Record<string, string>, writes: Record<string, string | undefined>, podName: string): void {
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) if (!(k in writes)) total += Buffer.byteLength(k) + Buffer.byteLength(v);
  for (const [k, v] of Object.entries(writes)) if (v !== undefined) total += Buffer.byteLength(k) + Buffer.byteLength(v);
  if (total > MAX_ANNOTATIONS_BYTES) {
    throw new AnnotationTooLargeError(
      `pod ${podName}: registering would make its annotations ${total} bytes, over the API server's limit of ${MAX_ANNOTATIONS_BYTES}`,
    );
  }
}
