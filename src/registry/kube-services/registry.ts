/**
 * Kubernetes' own discovery as a source: Services and their EndpointSlices
 * (plus Pods for labels and start times, Nodes for zones and node
 * addresses, Ingresses for external addresses), each through the list/watch
 * cache of src/kube. This file is only the event wiring: which Services a
 * change touches (indexes: slices by Service, Services by pod). What a
 * Service becomes is convert.ts, a pure function. Discovery only: the type
 * has no register(). The objects themselves are read from the informers'
 * stores, never copied into maps of its own (a second map per kind cost
 * memory for nothing).
 */
import { KubeClient } from "../../kube/client.js";
import { loadKubeConfig } from "../../kube/config.js";
import {
  namespacedKey,
  slimEndpointSlice,
  slimIngress,
  slimNode,
  slimService,
  type SlimEndpointSlice,
  type SlimIngress,
  type SlimNode,
  type SlimService,
} from "../../kube/discovery-objects.js";
import { Informer } from "../../kube/informer.js";
import type { KubeConfigOptions } from "../../kube/options.js";
import { podKey, slimPodTransform, type SlimPod } from "../../kube/pods.js";
import type { Versioned } from "../../kube/store.js";
import { sameRecord } from "../../model/instance.js";
import { resolveServiceName, type ServiceKey, type ServiceScope } from "../../model/service-key.js";
import { systemClock, type Clock } from "../../util/clock.js";
import { stderrLogger, type Logger } from "../../util/logger.js";
import { HubDiscovery } from "../hub-discovery.js";
import { ownNamespace } from "../kube-pods/identity.js";
import { serviceInstances, SOURCE } from "./convert.js";

export interface KubeServicesRegistryOptions {
  client?: KubeClient;
  kubeConfig?: KubeConfigOptions;
  /** Namespaces to watch, or "all". Default: the own namespace (POD_NAMESPACE, else the kubeconfig context's). */
  namespaces?: string[] | "all";
  /** internal: endpoint addresses (in-cluster consumers); external: node ports, load balancers, Ingresses, external IPs. Default internal. */
  address?: "internal" | "external";
  /** Tags every instance (`cluster:ns/name` keys) when several clusters are aggregated. */
  cluster?: string;
  /** Watch Nodes for zones and node addresses (cluster-scoped: needs a ClusterRole). Default true; a refusal is logged once and zones stay unknown. */
  watchNodes?: boolean;
  inactivityTimeoutMs?: number;
  quietRetries?: boolean;
  clock?: Clock;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

type Kind = "services" | "slices" | "pods" | "nodes" | "ingresses";

/** Informers of one kind by the namespace they watch ("*": all). */
type ByNamespace<T extends Versioned> = Map<string, Informer<T>>;

/** The namespace of an `ns/name` key (names have no slash). */
const namespaceOf = (key: string): string => key.slice(0, key.indexOf("/"));

/** Joined, not template literals: keys kept in the indexes should be flat strings, not cons trees beside their flat copies. */
const nsKey = (namespace: string, name: string): string => [namespace, "/", name].join("");

/** Removes one occurrence; lists here are short (a Service's slices, a pod's Services). */
function without<T>(list: T[], x: T): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}

export class KubeServicesRegistry extends HubDiscovery {
  readonly name = SOURCE;
  readonly client: KubeClient;
  private readonly ownClient: boolean;
  private readonly logger: Logger;
  private readonly informers: { kind: Kind; informer: Informer<Versioned> }[] = [];
  private readonly svcs: ByNamespace<SlimService> = new Map();
  private readonly pods: ByNamespace<SlimPod> = new Map();
  private readonly ingresses: ByNamespace<SlimIngress> = new Map();
  private nodes: Informer<SlimNode> | undefined;
  /**
   * ns/service -> its slices, in the order a Set of their keys would keep
   * (an updated slice moves to the end: it wins duplicate endpoints). Lists,
   * not Sets: a Service has a slice or a few, and a Set each cost more than
   * the slice's endpoints.
   */
  private readonly slicesByService = new Map<string, SlimEndpointSlice[]>();
  /** ns/pod -> ns/services whose slices point at it, in Set order. */
  private readonly servicesByPod = new Map<string, string[]>();
  private started = false;
  private ready = false;
  private closed = false;
  private scopeCache: ServiceScope | undefined;

  constructor(private readonly o: KubeServicesRegistryOptions = {}) {
    super({ logger: o.logger ?? stderrLogger, now: () => (o.clock ?? systemClock).now() });
    this.ownClient = !o.client;
    this.client = o.client ?? new KubeClient(loadKubeConfig(o.kubeConfig));
    this.logger = o.logger ?? stderrLogger;
  }

  get namespaces(): string[] {
    if (this.o.namespaces === "all") return ["*"];
    if (this.o.namespaces?.length) return [...this.o.namespaces];
    return [ownNamespace({ env: this.o.env, contextNamespace: this.client.contextNamespace })];
  }

  get scope(): ServiceScope {
    this.scopeCache ??= {
      scope: "namespace",
      defaultNamespace: Array.isArray(this.o.namespaces) && this.o.namespaces.length === 1 ? this.o.namespaces[0] : ownNamespace({ env: this.o.env, contextNamespace: this.client.contextNamespace }),
      ...(this.o.cluster === undefined ? {} : { cluster: this.o.cluster }),
    };
    return this.scopeCache;
  }

  resolve(name: string): ServiceKey {
    return resolveServiceName(name, this.scope);
  }







  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.close();
    await Promise.all(this.informers.map((i) => i.informer.stop()));
    if (this.ownClient) this.client.close();
  }

  /** Starts the informers on first use; synced once every required one has listed. */
  protected override start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    const nss = this.namespaces;
    const at = (ns: string, group: string, resource: string) =>
      ns === "*" ? `${group}/${resource}` : `${group}/namespaces/${encodeURIComponent(ns)}/${resource}`;
    const add = <T extends Versioned>(kind: Kind, path: string, transform: (raw: never) => T, key: (o: T) => string, on: (type: "set" | "delete", o: T, old?: T) => void): Informer<T> => {
      const informer = new Informer<T>({
        client: this.client,
        path,
        transform: transform as never,
        key,
        inactivityTimeoutMs: this.o.inactivityTimeoutMs,
        quietRetries: this.o.quietRetries,
        clock: this.o.clock,
        logger: this.logger,
      });
      // The store holds the change when the handler runs; an update passes the state it replaced.
      informer.addHandler({ onAdd: (x) => on("set", x), onUpdate: (o, x) => on("set", x, o), onDelete: (x) => on("delete", x, x) });
      informer.onHealth((h) => {
        if (this.closed) return; // stopping aborts the watches: not a failure
        // Nodes are optional (a namespaced Role can't list them): their failures don't make the source fail.
        if (kind === "nodes") return void (h.type === "failing" && this.logger.warn({ err: h.error }, "kube-services: cannot watch Nodes; zones and node ports stay unknown"));
        if (h.type === "failing") this.tracker.fail(informer, h.error);
        else this.tracker.recover(informer);
      });
      this.informers.push({ kind, informer: informer as unknown as Informer<Versioned> });
      return informer;
    };
    // One watch per namespace: a namespace named twice is still one store to read.
    for (const ns of new Set(nss)) {
      this.svcs.set(ns, add("services", at(ns, "/api/v1", "services"), slimService, namespacedKey, (t, s) => this.onService(s)));
      add("slices", at(ns, "/apis/discovery.k8s.io/v1", "endpointslices"), slimEndpointSlice, namespacedKey, (t, s, old) => this.onSlice(t, s, old));
      this.pods.set(ns, add("pods", at(ns, "/api/v1", "pods"), slimPodTransform([]), podKey, (t, p, old) => this.onPod(t, p, old)));
      if (this.o.address === "external") this.ingresses.set(ns, add("ingresses", at(ns, "/apis/networking.k8s.io/v1", "ingresses"), slimIngress, namespacedKey, (t, i, old) => this.onIngress(t, i, old)));
    }
    if (this.o.watchNodes !== false) this.nodes = add("nodes", "/api/v1/nodes", slimNode, (n) => n.name, (t, n, old) => this.onNode(t, n, old));
    for (const i of this.informers) i.informer.start();
    const required = this.informers.filter((i) => i.kind !== "nodes");
    void Promise.all(required.map((i) => i.informer.whenSynced())).then(
      () => {
        if (this.closed) return;
        this.ready = true;
        this.recomputeAll();
        this.markSynced();
      },
      () => {}, // stopped before syncing (close)
    );
  }

  /** The object under `ns/name` in the store of the informer watching `ns`. */
  private static lookup<T extends Versioned>(by: ByNamespace<T>, key: string): T | undefined {
    return (by.get(namespaceOf(key)) ?? by.get("*"))?.store.get(key);
  }

  private recomputeAll(): void {
    for (const informer of this.svcs.values()) for (const s of informer.list()) this.recompute(namespacedKey(s));
  }

  private onService(s: SlimService): void {
    if (this.ready) this.recompute(namespacedKey(s));
  }

  private onSlice(type: "set" | "delete", s: SlimEndpointSlice, old: SlimEndpointSlice | undefined): void {
    if (!this.ready) {
      // Listing: only the index moves; every Service is converted once all have listed.
      if (old) this.unindex(old);
      if (type === "set") this.index(s);
      return;
    }
    const touched = new Set<string>();
    for (const sl of [old, type === "set" ? s : undefined]) {
      if (!sl?.service) continue;
      touched.add(nsKey(sl.namespace, sl.service));
    }
    if (old) this.unindex(old);
    if (type === "set") this.index(s);
    for (const svc of touched) this.recompute(svc);
  }

  private index(s: SlimEndpointSlice): void {
    if (!s.service) return;
    const svc = nsKey(s.namespace, s.service);
    let list = this.slicesByService.get(svc);
    if (!list) this.slicesByService.set(svc, (list = []));
    list.push(s);
    for (const ep of s.endpoints) {
      if (ep.target?.kind !== "Pod") continue;
      const pk = nsKey(ep.target.namespace ?? s.namespace, ep.target.name);
      let svcs = this.servicesByPod.get(pk);
      if (!svcs) this.servicesByPod.set(pk, (svcs = []));
      if (!svcs.includes(svc)) svcs.push(svc);
    }
  }

  private unindex(s: SlimEndpointSlice): void {
    if (!s.service) return;
    const svc = nsKey(s.namespace, s.service);
    const list = this.slicesByService.get(svc);
    if (list) {
      // By name: the store hands back the object it held, but a replayed copy must match too.
      const i = list.findIndex((x) => x.name === s.name);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.slicesByService.delete(svc);
    }
    for (const ep of s.endpoints) {
      if (ep.target?.kind !== "Pod") continue;
      const pk = nsKey(ep.target.namespace ?? s.namespace, ep.target.name);
      const svcs = this.servicesByPod.get(pk);
      if (!svcs) continue;
      without(svcs, svc);
      if (svcs.length === 0) this.servicesByPod.delete(pk);
    }
  }

  private onPod(type: "set" | "delete", p: SlimPod, old: SlimPod | undefined): void {
    // Only labels and start time matter here: a status-only change moves nothing.
    if (type === "set" && old && old.startTime === p.startTime && sameRecord(old.labels, p.labels)) return;
    for (const svc of this.servicesByPod.get(podKey(p)) ?? []) this.recompute(svc);
  }

  private onNode(type: "set" | "delete", n: SlimNode, old: SlimNode | undefined): void {
    if (type === "set" && old && old.zone === n.zone && old.internalIPs.join() === n.internalIPs.join() && old.externalIPs.join() === n.externalIPs.join()) return;
    // Zones and node addresses touch every Service: rare events, recomputed whole.
    this.recomputeAll();
  }

  private onIngress(type: "set" | "delete", i: SlimIngress, old: SlimIngress | undefined): void {
    const svcs = new Set([...(old?.rules ?? []), ...(type === "set" ? i.rules : [])].map((r) => `${i.namespace}/${r.service}`));
    for (const svc of svcs) this.recompute(svc);
  }

  /** Converts one Service again and hands the result to the hub (which works out what changed). */
  private recompute(key: string): void {
    if (!this.ready) return; // the first full conversion happens once everything has listed
    const svc = KubeServicesRegistry.lookup(this.svcs, key);
    if (!svc) return this.hub.deleteGroup(key);
    const ingresses = this.o.address === "external" ? ((this.ingresses.get(svc.namespace) ?? this.ingresses.get("*"))?.list() ?? []).filter((i) => i.namespace === svc.namespace) : [];
    this.hub.setGroup(
      key,
      serviceInstances({
        service: svc,
        slices: this.slicesByService.get(key) ?? [],
        pod: (ns, name) => KubeServicesRegistry.lookup(this.pods, nsKey(ns, name)),
        node: (name) => this.nodes?.store.get(name),
        nodes: () => this.nodes?.list() ?? [],
        ingresses,
        address: this.o.address ?? "internal",
        scope: this.scope,
      }),
    );
  }
}
