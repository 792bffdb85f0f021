/**
 * Registration in Pods: each process writes its registrations
 * into its own Pod (label + annotation); consumers LIST+WATCH the labelled
 * Pods of their namespace(s) into a local cache. Conversion lives in
 * discovery.ts, writing in writer.ts; this file wires events.
 */
import { createHash } from "node:crypto";
import { KubeClient } from "../../kube/client.js";
import { loadKubeConfig } from "../../kube/config.js";
import type { KubeConfigOptions } from "../../kube/options.js";
import { Informer } from "../../kube/informer.js";
import { decodingPodTransform, podKey } from "../../kube/pods.js";
import type { ReflectorStats } from "../../kube/reflector.js";
import { acquireInformer, type Lease } from "../../kube/shared.js";
import { resolveServiceName, type ServiceKey, type ServiceScope } from "../../model/service-key.js";
import { systemClock, type Clock } from "../../util/clock.js";
import { stderrLogger, type Logger } from "../../util/logger.js";
import type { AnnotationCodec } from "../codec.js";
import { codecByName } from "../codecs/index.js";
import { HubDiscovery } from "../hub-discovery.js";
import { DeregistrationError, validateSpec, type RegistrationHandle, type RegistrationSpec, type Registry } from "../registry.js";
import { HOSTS_ANNOTATION, SERVICES_ANNOTATION } from "./declarations.js";
import { podInstances, registrationsDecoder, type RegistryPod } from "./discovery.js";
import { localZone } from "./local-zone.js";
import { NodeZones } from "./node-zones.js";
import { ownNamespace, podIdentity, type PodIdentity } from "./identity.js";
import { PodAnnotationWriter } from "./writer.js";
import { ClosedError } from "../../errors.js";

export interface KubePodsRegistryOptions {
  /** A client to share; default: one from `kubeConfig` (KUBECONFIG, ~/.kube/config, in-cluster). */
  client?: KubeClient;
  kubeConfig?: KubeConfigOptions;
  /** Annotation format: "native" (default), "dubbo-go", or a codec. */
  codec?: AnnotationCodec | "native" | "dubbo-go";
  /** Namespaces to discover in: default the pod's own (or the kubeconfig context's); "all" for the cluster. */
  namespaces?: readonly string[] | "all";
  /**
   * How services are keyed: "namespace" (`shop/echo`; `echo` and `shop/echo`
   * never merge) or "global" (one `echo` across namespaces). Default:
   * "namespace" for the native format, "global" for dubbo-go's (RPC
   * interface names are global by design).
   */
  scope?: "namespace" | "global";
  /** Also keep pods that are not Ready (their instances have ready: false). */
  includeNotReady?: boolean;
  /** Consumers: drop entries of pods whose template declares no podreg.io/services (default false; see docs/security.md). */
  requireDeclaredServices?: boolean;
  /** Consumers: drop entries advertising a host that is neither a pod IP nor in the pod's podreg.io/hosts (default true). */
  verifyHosts?: boolean;
  /** Providers: allow register() to advertise any host (default false: pod IPs and podreg.io/hosts only). */
  allowAnyHost?: boolean;
  /** Providers: watch the own pod and restore entries someone else removed or changed (default true). */
  selfHeal?: boolean;
  /** Providers: bound on register/update without a signal of their own; transient failures are retried within it. Default 30000 ms. */
  writeTimeoutMs?: number;
  /** This process's pod; default from POD_NAME/POD_NAMESPACE, HOSTNAME and the service-account namespace. */
  pod?: PodIdentity;
  /** Deregister on SIGTERM/SIGINT (default true). The signal is re-raised afterwards if nothing else handles it. */
  handleSignals?: boolean;
  /** Bound on deregistration at close or on a signal; failures are retried within it. Default 5000 ms. */
  deregisterTimeoutMs?: number;
  /**
   * Consumers: give instances the zone of their pod's Node when neither the
   * entry's metadata nor the pod's labels name one (default true). Needs
   * list/watch on nodes (a ClusterRole); refused, zones come from pods only.
   */
  zonesFromNodes?: boolean;
  /** Log list/watch retries at debug instead of warn, for hosts that report outages from onStatus() (the CLI does). */
  quietRetries?: boolean;
  /** Watch inactivity timeout (see Reflector). */
  inactivityTimeoutMs?: number;
  logger?: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

export interface KubePodsStats {
  /** Distinct malformed annotations skipped. */
  malformed: number;
  /** Distinct entries dropped because their pod may not advertise them (undeclared service, foreign host). */
  refused: number;
  /** Times this process's registrations were restored after someone else removed or changed them. */
  restored: number;
  /** The last list/watch failure of any watch since its last successful LIST (retried with backoff). */
  lastError?: Error;
  watches: Readonly<ReflectorStats>[];
}

/**
 * Writers shared by the registries of one client and pod (one annotation, one
 * owner list, one self-heal watch), counted, and dropped and stopped when the
 * last registry using one closes.
 */
const writers = new WeakMap<KubeClient, Map<string, { writer: PodAnnotationWriter; refs: number }>>();

/** Small ids for objects that must be part of a sharing key (two clocks, two loggers: two informers). */
const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
const objectId = (o: object): number => {
  let id = objectIds.get(o);
  if (id === undefined) objectIds.set(o, (id = ++nextObjectId));
  return id;
};

export class KubePodsRegistry extends HubDiscovery implements Registry {
  readonly name = "kube-pods";
  readonly client: KubeClient;
  readonly codec: AnnotationCodec;
  private readonly ownClient: boolean;
  private readonly logger: Logger;
  private leases: Lease<RegistryPod>[] | undefined;
  private readonly unhooks: (() => void)[] = [];
  private readonly handles = new Set<RegistrationHandle>();
  private readonly warned = new Set<string>();
  private malformed = 0;
  private refused = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private signalHandler: ((sig: NodeJS.Signals) => void) | undefined;
  private readonly usedWriters = new Map<string, PodAnnotationWriter>();
  private scopeCache: ServiceScope | undefined;
  private nodeZones: NodeZones | undefined;
  /** Pods by node, to re-convert a node's pods when its zone changes. */
  private readonly podsOnNode = new Map<string, Map<string, RegistryPod>>();

  constructor(private readonly o: KubePodsRegistryOptions = {}) {
    super({ logger: o.logger ?? stderrLogger, now: () => (o.clock ?? systemClock).now() });
    this.ownClient = !o.client;
    this.client = o.client ?? new KubeClient(loadKubeConfig(o.kubeConfig));
    this.codec = typeof o.codec === "object" ? o.codec : codecByName(o.codec ?? "native");
    this.logger = o.logger ?? stderrLogger;
  }

  /** The namespaces discovery watches ("*" = all). */
  get namespaces(): string[] {
    if (this.o.namespaces === "all") return ["*"];
    if (this.o.namespaces && this.o.namespaces.length > 0) return [...this.o.namespaces];
    return [ownNamespace({ env: this.o.env, contextNamespace: this.client.contextNamespace })];
  }

  /** How this registry keys services, and what a bare name means (the only namespace watched, else the own one). */
  get scope(): ServiceScope {
    if (!this.scopeCache) {
      const nss = this.o.namespaces;
      const kind = this.o.scope ?? this.codec.scope;
      const defaultNamespace =
        Array.isArray(nss) && nss.length === 1 ? nss[0] : ownNamespace({ env: this.o.env, contextNamespace: this.client.contextNamespace });
      this.scopeCache = { scope: kind, defaultNamespace };
    }
    return this.scopeCache;
  }

  resolve(name: string): ServiceKey {
    return resolveServiceName(name, this.scope);
  }

  async register(spec: RegistrationSpec, opts: { signal?: AbortSignal } = {}): Promise<RegistrationHandle> {
    if (this.closed) throw new ClosedError("registry is closed");
    const s = validateSpec(spec, this.codec.defaultProtocol);
    const writer = this.writer();
    const token = await writer.add(
      { service: s.service, protocol: s.protocol, port: s.port, weight: s.weight, metadata: s.metadata, host: s.host, registeredAt: (this.o.clock ?? systemClock).now() },
      opts.signal,
    );
    let open = true;
    const handle: RegistrationHandle = {
      service: s.service,
      update: (change, uo) => {
        validateSpec({ ...s, ...change });
        return writer.update(token, change, uo?.signal);
      },
      close: async (co) => {
        if (!open) return;
        await writer.remove(token, co?.signal ?? AbortSignal.timeout(this.o.deregisterTimeoutMs ?? 5000));
        open = false;
        this.handles.delete(handle);
      },
    };
    this.handles.add(handle);
    this.installSignalHandlers();
    return handle;
  }

  /**
   * The zone of this process's pod: its topology.kubernetes.io/zone label, else its Node's (needs
   * get on nodes; refused, undefined and logged). For the client's zone-aware routing:
   * `zone: { local: await registry.localZone() }`. Rejects when the pod cannot be read.
   */
  async localZone(opts: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    if (this.closed) throw new ClosedError("registry is closed");
    return localZone({ client: this.client, pod: this.ownPod(), logger: this.logger, signal: opts.signal });
  }

  stats(): KubePodsStats {
    const leases = this.leases ?? [];
    return {
      malformed: this.malformed,
      refused: this.refused,
      restored: [...this.usedWriters.values()].reduce((n, w) => n + w.restores, 0),
      lastError: leases.find((l) => l.informer.lastError)?.informer.lastError,
      watches: leases.map((l) => l.informer.stats),
    };
  }

  /**
   * Deregisters everything this registry registered, retrying failures
   * within deregisterTimeoutMs, then stops watching. Rejects with
   * DeregistrationError if an entry may still be advertised. Every call
   * returns the same promise: a second close (a second SIGTERM) waits for the
   * first instead of abandoning it.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    const signal = AbortSignal.timeout(this.o.deregisterTimeoutMs ?? 5000);
    const results = await Promise.allSettled([...this.handles].map((h) => h.close({ signal })));
    this.removeSignalHandlers();
    this.hub.close();
    for (const u of this.unhooks) u();
    await Promise.all([...(this.leases ?? []).map((l) => l.release()), this.nodeZones?.close()]);
    await Promise.all([...this.usedWriters.keys()].map((k) => this.releaseWriter(k)));
    if (this.ownClient) this.client.close();
    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1) {
      const remaining = failed.flatMap((e) => (e instanceof DeregistrationError ? e.remaining : []));
      throw new DeregistrationError(`${failed.length} registrations may still be advertised: ${failed.map((e) => e.message).join("; ")}`, { cause: failed[0], remaining });
    }
  }

  /** The pod this process runs in. Outside a pod (a laptop, a test), the kubeconfig context's namespace stands in for POD_NAMESPACE. */
  private ownPod(): PodIdentity {
    return this.o.pod ?? podIdentity({ env: this.o.env, fallbackNamespace: this.client.contextNamespace });
  }

  private writer(): PodAnnotationWriter {
    const pod = this.ownPod();
    const key = `${pod.namespace}/${pod.name}/${this.codec.annotationKey}`;
    const mine = this.usedWriters.get(key);
    if (mine) return mine;
    let pool = writers.get(this.client);
    if (!pool) writers.set(this.client, (pool = new Map()));
    let entry = pool.get(key);
    if (!entry) {
      const w = new PodAnnotationWriter({
        client: this.client,
        pod,
        codec: this.codec,
        clock: this.o.clock,
        logger: this.logger,
        allowAnyHost: this.o.allowAnyHost,
        selfHeal: this.o.selfHeal,
        writeTimeoutMs: this.o.writeTimeoutMs,
      });
      pool.set(key, (entry = { writer: w, refs: 0 }));
    }
    entry.refs++;
    this.usedWriters.set(key, entry.writer);
    return entry.writer;
  }

  /** The last registry using a writer drops it from the pool and stops its self-heal watch. */
  private async releaseWriter(key: string): Promise<void> {
    const pool = writers.get(this.client);
    const entry = pool?.get(key);
    if (!pool || !entry || entry.writer !== this.usedWriters.get(key)) return;
    if (--entry.refs > 0) return;
    pool.delete(key);
    await entry.writer.stop();
  }

  /** Starts discovery on first use: a process that only registers never watches. */
  protected override start(): void {
    if (this.leases || this.closed) return;
    const nss = this.namespaces;
    // The registration annotation is decoded once as a pod is cached, not kept as text (bench/scale.ts: heap per instance).
    const transform = decodingPodTransform([SERVICES_ANNOTATION, HOSTS_ANNOTATION], registrationsDecoder(this.codec));
    const codecId = typeof this.o.codec === "object" ? `${this.codec.name}#${objectId(this.o.codec)}` : this.codec.name;
    this.leases = nss.map((ns) => {
      const path = ns === "*" ? "/api/v1/pods" : `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`;
      // Everything that makes two informers differ is in the key: sharing one with other options would hand a user a watch it did not ask for.
      const clock = this.o.clock ?? systemClock;
      const key = `pods|${path}|${this.codec.labelSelector}|${this.codec.annotationKey}|codec:${codecId}|${this.o.inactivityTimeoutMs ?? "default"}|clock${objectId(clock)}|logger${objectId(this.logger)}|${this.o.quietRetries ? "quiet" : "loud"}`;
      return acquireInformer<RegistryPod>(
        this.client,
        key,
        () =>
          new Informer<RegistryPod>({
            client: this.client,
            path,
            labelSelector: this.codec.labelSelector,
            transform,
            key: podKey,
            inactivityTimeoutMs: this.o.inactivityTimeoutMs,
            quietRetries: this.o.quietRetries,
            clock: this.o.clock,
            logger: this.logger,
          }),
      );
    });
    if (this.o.zonesFromNodes !== false) {
      this.nodeZones = new NodeZones({
        client: this.client,
        clock: this.o.clock,
        logger: this.logger,
        quietRetries: this.o.quietRetries,
        onChange: (node) => {
          for (const pod of this.podsOnNode.get(node)?.values() ?? []) this.onPod(pod);
        },
      });
    }
    for (const lease of this.leases) {
      this.unhooks.push(
        lease.informer.onHealth((h) => (h.type === "failing" ? this.tracker.fail(lease, h.error) : this.tracker.recover(lease))),
        lease.informer.addHandler({
          onAdd: (p) => this.onPod(p),
          onUpdate: (old, p) => {
            if (old.nodeName !== p.nodeName) this.indexNode(old, false);
            this.onPod(p);
          },
          onDelete: (p) => {
            this.indexNode(p, false);
            this.hub.deleteGroup(podKey(p));
          },
        }),
      );
    }
    const leases = this.leases;
    // Zones are part of the first snapshot: a consumer never sees zone-less instances gain zones a moment later.
    void Promise.all([...leases.map((l) => l.informer.whenSynced()), this.nodeZones?.ready]).then(() => {
      if (this.closed) return;
      this.markSynced();
    });
  }

  private indexNode(pod: RegistryPod, on: boolean): void {
    if (pod.nodeName === undefined || this.nodeZones === undefined) return;
    let pods = this.podsOnNode.get(pod.nodeName);
    if (on) {
      if (!pods) this.podsOnNode.set(pod.nodeName, (pods = new Map()));
      pods.set(podKey(pod), pod);
    } else if (pods?.delete(podKey(pod)) && pods.size === 0) this.podsOnNode.delete(pod.nodeName);
  }

  private onPod(pod: RegistryPod): void {
    this.indexNode(pod, true);
    const res = podInstances(pod, {
      codec: this.codec,
      nodeZone: this.nodeZones?.zone(pod.nodeName),
      scope: this.scope,
      includeNotReady: this.o.includeNotReady,
      requireDeclaredServices: this.o.requireDeclaredServices,
      verifyHosts: this.o.verifyHosts,
    });
    if (res.error && this.firstTime(pod, res.error.code)) {
      this.malformed++;
      this.logger.warn({ pod: podKey(pod), code: res.error.code, reason: res.error.message }, "skipping pod with a malformed registry annotation");
    }
    for (const r of res.refused ?? []) {
      if (!this.firstTime(pod, r.reason)) continue;
      this.refused++;
      this.logger.warn({ pod: podKey(pod), service: r.service, reason: r.reason }, "skipping an entry this pod may not advertise");
    }
    this.hub.setGroup(podKey(pod), res.instances);
  }

  /** One warning per pod, annotation value and reason: a pod that keeps a bad entry must not flood the log. */
  private firstTime(pod: RegistryPod, reason: string): boolean {
    const value = pod.decoded?.sig ?? pod.annotations[this.codec.annotationKey] ?? "";
    const sig = `${podKey(pod)}#${createHash("sha256").update(value).update("\u0000").update(reason).digest("hex").slice(0, 16)}`;
    if (this.warned.size > 10_000) this.warned.clear(); // bounded memory under churn of bad values
    if (this.warned.has(sig)) return false;
    this.warned.add(sig);
    return true;
  }

  private installSignalHandlers(): void {
    if (this.signalHandler || this.o.handleSignals === false) return;
    const handler = (sig: NodeJS.Signals) => {
      if (this.closing) {
        // A second signal must not abandon a deregistration in progress; it is bounded by deregisterTimeoutMs.
        this.logger.warn({ signal: sig }, "deregistration in progress; the process exits when it ends");
        return;
      }
      void this.close()
        .catch((err: unknown) => this.logger.error({ err: err as Error, code: (err as { code?: string }).code }, "deregistration failed"))
        .finally(() => {
          // Keep the default meaning of the signal (exit) unless the host handles it itself.
          if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
        });
    };
    this.signalHandler = handler;
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  }

  private removeSignalHandlers(): void {
    if (!this.signalHandler) return;
    process.removeListener("SIGTERM", this.signalHandler);
    process.removeListener("SIGINT", this.signalHandler);
    this.signalHandler = undefined;
  }
}
