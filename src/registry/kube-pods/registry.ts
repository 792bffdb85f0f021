/**
 * The registry of the design notes: each process writes its registrations
 * into its own Pod (label + annotation); consumers LIST+WATCH the labelled
 * Pods of their namespace(s) into a local cache. Conversion lives in
 * discovery.ts, writing in writer.ts; this file wires events.
 */
import { createHash } from "node:crypto";
import { KubeClient } from "../../kube/client.js";
import { loadKubeConfig, type KubeConfigOptions } from "../../kube/config.js";
import { Informer } from "../../kube/informer.js";
import { podKey, slimPodTransform, type SlimPod } from "../../kube/pods.js";
import type { ReflectorStats } from "../../kube/reflector.js";
import { acquireInformer, type Lease } from "../../kube/shared.js";
import type { RegistryListener, ServiceSelector } from "../../model/events.js";
import type { Instance, ServiceName } from "../../model/instance.js";
import { systemClock, type Clock } from "../../util/clock.js";
import { stderrLogger, type Logger } from "../../util/logger.js";
import type { AnnotationCodec } from "../codec.js";
import { codecByName } from "../codecs/index.js";
import { InstanceHub } from "../hub.js";
import { RegistrationError, validateSpec, type RegistrationHandle, type RegistrationSpec, type Registry, type Subscription } from "../registry.js";
import { podInstances } from "./discovery.js";
import { ownNamespace, podIdentity, type PodIdentity } from "./identity.js";
import { PodAnnotationWriter } from "./writer.js";

export interface KubePodsRegistryOptions {
  /** A client to share; default: one from `kubeConfig` (KUBECONFIG, ~/.kube/config, in-cluster). */
  client?: KubeClient;
  kubeConfig?: KubeConfigOptions;
  /** Annotation format: "native" (default), "dubbo-go", or a codec. */
  codec?: AnnotationCodec | "native" | "dubbo-go";
  /** Namespaces to discover in: default the pod's own (or the kubeconfig context's); "all" for the cluster. */
  namespaces?: readonly string[] | "all";
  /** Also keep pods that are not Ready (their instances have ready: false). */
  includeNotReady?: boolean;
  /** This process's pod; default from POD_NAME/POD_NAMESPACE, HOSTNAME and the service-account namespace. */
  pod?: PodIdentity;
  /** Deregister on SIGTERM/SIGINT (default true). The signal is re-raised afterwards if nothing else handles it. */
  handleSignals?: boolean;
  /** Bound on deregistration at close or on a signal. Default 5000 ms. */
  deregisterTimeoutMs?: number;
  /** Watch inactivity timeout (see Reflector). */
  inactivityTimeoutMs?: number;
  logger?: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

export interface KubePodsStats {
  /** Distinct malformed annotations skipped. */
  malformed: number;
  /** The last list/watch failure of any watch since its last successful LIST (retried with backoff). */
  lastError?: Error;
  watches: Readonly<ReflectorStats>[];
}

const writers = new WeakMap<KubeClient, Map<string, PodAnnotationWriter>>();

export class KubePodsRegistry implements Registry {
  readonly name = "kube-pods";
  readonly client: KubeClient;
  readonly codec: AnnotationCodec;
  private readonly ownClient: boolean;
  private readonly hub: InstanceHub;
  private readonly logger: Logger;
  private leases: Lease<SlimPod>[] | undefined;
  private readonly unhooks: (() => void)[] = [];
  private readonly handles = new Set<RegistrationHandle>();
  private readonly warned = new Set<string>();
  private malformed = 0;
  private closed = false;
  private signalHandler: ((sig: NodeJS.Signals) => void) | undefined;

  constructor(private readonly o: KubePodsRegistryOptions = {}) {
    this.ownClient = !o.client;
    this.client = o.client ?? new KubeClient(loadKubeConfig(o.kubeConfig));
    this.codec = typeof o.codec === "object" ? o.codec : codecByName(o.codec ?? "native");
    this.logger = o.logger ?? stderrLogger;
    this.hub = new InstanceHub(this.logger);
  }

  /** The namespaces discovery watches ("*" = all). */
  get namespaces(): string[] {
    if (this.o.namespaces === "all") return ["*"];
    if (this.o.namespaces && this.o.namespaces.length > 0) return [...this.o.namespaces];
    return [ownNamespace({ env: this.o.env, contextNamespace: this.client.contextNamespace })];
  }

  async register(spec: RegistrationSpec, opts: { signal?: AbortSignal } = {}): Promise<RegistrationHandle> {
    if (this.closed) throw new RegistrationError("PODREG_CLOSED", "registry is closed");
    const s = validateSpec(spec);
    const writer = this.writer();
    const token = await writer.add(
      { service: s.service, protocol: s.protocol, port: s.port, weight: s.weight, metadata: s.metadata, host: s.host, registeredAt: (this.o.clock ?? systemClock).now() },
      opts.signal,
    );
    let open = true;
    const handle: RegistrationHandle = {
      service: s.service,
      update: (change, uo) => {
        validateSpec({ ...spec, ...change });
        return writer.update(token, change, uo?.signal);
      },
      close: async (co) => {
        if (!open) return;
        await writer.remove(token, co?.signal);
        open = false;
        this.handles.delete(handle);
      },
    };
    this.handles.add(handle);
    this.installSignalHandlers();
    return handle;
  }

  subscribe(selector: ServiceSelector, listener: RegistryListener): Subscription {
    this.watch();
    return this.hub.subscribe(selector, listener);
  }

  instances(service: ServiceName): readonly Instance[] {
    this.watch();
    return this.hub.instances(service);
  }

  services(): ServiceName[] {
    this.watch();
    return this.hub.services();
  }

  get synced(): boolean {
    return this.hub.synced;
  }

  whenSynced(signal?: AbortSignal): Promise<void> {
    this.watch();
    return this.hub.whenSynced(signal);
  }

  stats(): KubePodsStats {
    const leases = this.leases ?? [];
    return { malformed: this.malformed, lastError: leases.find((l) => l.informer.lastError)?.informer.lastError, watches: leases.map((l) => l.informer.stats) };
  }

  /** Deregisters everything this registry registered (bounded by deregisterTimeoutMs), then stops watching. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.removeSignalHandlers();
    const signal = AbortSignal.timeout(this.o.deregisterTimeoutMs ?? 5000);
    const results = await Promise.allSettled([...this.handles].map((h) => h.close({ signal })));
    for (const r of results) if (r.status === "rejected") this.logger.error({ err: r.reason as Error }, "deregistration failed");
    for (const u of this.unhooks) u();
    await Promise.all((this.leases ?? []).map((l) => l.release()));
    if (this.ownClient) this.client.close();
  }

  private writer(): PodAnnotationWriter {
    const pod = this.o.pod ?? podIdentity({ env: this.o.env });
    let pool = writers.get(this.client);
    if (!pool) writers.set(this.client, (pool = new Map()));
    const key = `${pod.namespace}/${pod.name}/${this.codec.annotationKey}`;
    let w = pool.get(key);
    if (!w) pool.set(key, (w = new PodAnnotationWriter({ client: this.client, pod, codec: this.codec, clock: this.o.clock })));
    return w;
  }

  /** Starts discovery on first use: a process that only registers never watches. */
  private watch(): void {
    if (this.leases || this.closed) return;
    const nss = this.namespaces;
    const transform = slimPodTransform([this.codec.annotationKey]);
    this.leases = nss.map((ns) => {
      const path = ns === "*" ? "/api/v1/pods" : `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`;
      const key = `pods|${path}|${this.codec.labelSelector}|${this.codec.annotationKey}`;
      return acquireInformer<SlimPod>(
        this.client,
        key,
        () =>
          new Informer<SlimPod>({
            client: this.client,
            path,
            labelSelector: this.codec.labelSelector,
            transform,
            key: podKey,
            inactivityTimeoutMs: this.o.inactivityTimeoutMs,
            clock: this.o.clock,
            logger: this.logger,
          }),
      );
    });
    for (const lease of this.leases) {
      this.unhooks.push(
        lease.informer.addHandler({
          onAdd: (p) => this.onPod(p),
          onUpdate: (_, p) => this.onPod(p),
          onDelete: (p) => this.hub.deleteGroup(podKey(p)),
        }),
      );
    }
    const leases = this.leases;
    void Promise.all(leases.map((l) => l.informer.whenSynced())).then(() => {
      if (!this.closed) this.hub.markSynced();
    });
  }

  private onPod(pod: SlimPod): void {
    const res = podInstances(pod, { codec: this.codec, includeNotReady: this.o.includeNotReady });
    if (res.error) {
      // One warning per distinct bad value: a pod that keeps a bad annotation must not flood the log.
      const value = pod.annotations[this.codec.annotationKey] ?? "";
      const sig = `${podKey(pod)}#${createHash("sha256").update(value).digest("hex").slice(0, 16)}`;
      if (this.warned.size > 10_000) this.warned.clear(); // bounded memory under churn of bad values
      if (!this.warned.has(sig)) {
        this.warned.add(sig);
        this.malformed++;
        this.logger.warn({ pod: podKey(pod), code: res.error.code, reason: res.error.message }, "skipping pod with a malformed registry annotation");
      }
    }
    this.hub.setGroup(podKey(pod), res.instances);
  }

  private installSignalHandlers(): void {
    if (this.signalHandler || this.o.handleSignals === false) return;
    const handler = (sig: NodeJS.Signals) => {
      void this.close().finally(() => {
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
