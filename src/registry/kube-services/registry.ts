/**
 * Kubernetes' own discovery as a source: Services and their EndpointSlices
 * (plus Pods for labels and start times, Nodes for zones and node
 * addresses, Ingresses for external addresses), each through the list/watch
 * cache of src/kube. This file is only the event wiring: which Services a
 * change touches (indexes: slices by Service, Services by pod). What a
 * Service becomes is convert.ts, a pure function. Discovery only: the type
 * has no register().
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

export class KubeServicesRegistry extends HubDiscovery {
  readonly name = SOURCE;
  readonly client: KubeClient;
  private readonly ownClient: boolean;
  private readonly logger: Logger;
  private readonly informers: { kind: Kind; informer: Informer<Versioned> }[] = [];
  private readonly svcs = new Map<string, SlimService>();
  private readonly slices = new Map<string, SlimEndpointSlice>();
  /** ns/service -> slice keys. */
  private readonly slicesByService = new Map<string, Set<string>>();
  /** ns/pod -> ns/services whose slices point at it. */
  private readonly servicesByPod = new Map<string, Set<string>>();
  private readonly pods = new Map<string, SlimPod>();
  private readonly nodes = new Map<string, SlimNode>();
  private readonly ingresses = new Map<string, SlimIngress>();
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
    const add = <T extends Versioned>(kind: Kind, path: string, transform: (raw: never) => T, key: (o: T) => string, on: (type: "set" | "delete", o: T) => void) => {
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
      informer.addHandler({ onAdd: (x) => on("set", x), onUpdate: (_, x) => on("set", x), onDelete: (x) => on("delete", x) });
      informer.onHealth((h) => {
        if (this.closed) return; // stopping aborts the watches: not a failure
        // Nodes are optional (a namespaced Role can't list them): their failures don't make the source fail.
        if (kind === "nodes") return void (h.type === "failing" && this.logger.warn({ err: h.error }, "kube-services: cannot watch Nodes; zones and node ports stay unknown"));
        if (h.type === "failing") this.tracker.fail(informer, h.error);
        else this.tracker.recover(informer);
      });
      this.informers.push({ kind, informer: informer as unknown as Informer<Versioned> });
    };
    for (const ns of nss) {
      add("services", at(ns, "/api/v1", "services"), slimService, namespacedKey, (t, s) => this.onService(t, s));
      add("slices", at(ns, "/apis/discovery.k8s.io/v1", "endpointslices"), slimEndpointSlice, namespacedKey, (t, s) => this.onSlice(t, s));
      add("pods", at(ns, "/api/v1", "pods"), slimPodTransform([]), podKey, (t, p) => this.onPod(t, p));
      if (this.o.address === "external") add("ingresses", at(ns, "/apis/networking.k8s.io/v1", "ingresses"), slimIngress, namespacedKey, (t, i) => this.onIngress(t, i));
    }
    if (this.o.watchNodes !== false) add("nodes", "/api/v1/nodes", slimNode, (n) => n.name, (t, n) => this.onNode(t, n));
    for (const i of this.informers) i.informer.start();
    const required = this.informers.filter((i) => i.kind !== "nodes");
    void Promise.all(required.map((i) => i.informer.whenSynced())).then(
      () => {
        if (this.closed) return;
        this.ready = true;
        for (const key of this.svcs.keys()) this.recompute(key);
        this.markSynced();
      },
      () => {}, // stopped before syncing (close)
    );
  }

  private onService(type: "set" | "delete", s: SlimService): void {
    const key = namespacedKey(s);
    if (type === "delete") this.svcs.delete(key);
    else this.svcs.set(key, s);
    this.recompute(key);
  }

  private onSlice(type: "set" | "delete", s: SlimEndpointSlice): void {
    const key = namespacedKey(s);
    const old = this.slices.get(key);
    const touched = new Set<string>();
    for (const sl of [old, type === "set" ? s : undefined]) {
      if (!sl?.service) continue;
      touched.add(`${sl.namespace}/${sl.service}`);
    }
    if (old) this.unindex(key, old);
    if (type === "delete") this.slices.delete(key);
    else {
      this.slices.set(key, s);
      this.index(key, s);
    }
    for (const svc of touched) this.recompute(svc);
  }

  private index(key: string, s: SlimEndpointSlice): void {
    if (!s.service) return;
    const svc = `${s.namespace}/${s.service}`;
    let set = this.slicesByService.get(svc);
    if (!set) this.slicesByService.set(svc, (set = new Set()));
    set.add(key);
    for (const ep of s.endpoints) {
      if (ep.target?.kind !== "Pod") continue;
      const pk = `${ep.target.namespace ?? s.namespace}/${ep.target.name}`;
      let svcs = this.servicesByPod.get(pk);
      if (!svcs) this.servicesByPod.set(pk, (svcs = new Set()));
      svcs.add(svc);
    }
  }

  private unindex(key: string, s: SlimEndpointSlice): void {
    if (!s.service) return;
    const svc = `${s.namespace}/${s.service}`;
    const set = this.slicesByService.get(svc);
    set?.delete(key);
    if (set?.size === 0) this.slicesByService.delete(svc);
    for (const ep of s.endpoints) {
      if (ep.target?.kind !== "Pod") continue;
      const pk = `${ep.target.namespace ?? s.namespace}/${ep.target.name}`;
      const svcs = this.servicesByPod.get(pk);
      svcs?.delete(svc);
      if (svcs?.size === 0) this.servicesByPod.delete(pk);
    }
  }

  private onPod(type: "set" | "delete", p: SlimPod): void {
    const key = podKey(p);
    const old = this.pods.get(key);
    if (type === "delete") this.pods.delete(key);
    else this.pods.set(key, p);
    // Only labels and start time matter here: a status-only change moves nothing.
    if (type === "set" && old && old.startTime === p.startTime && sameRecord(old.labels, p.labels)) return;
    for (const svc of this.servicesByPod.get(key) ?? []) this.recompute(svc);
  }

  private onNode(type: "set" | "delete", n: SlimNode): void {
    const old = this.nodes.get(n.name);
    if (type === "delete") this.nodes.delete(n.name);
    else this.nodes.set(n.name, n);
    if (type === "set" && old && old.zone === n.zone && old.internalIPs.join() === n.internalIPs.join() && old.externalIPs.join() === n.externalIPs.join()) return;
    // Zones and node addresses touch every Service: rare events, recomputed whole.
    for (const key of this.svcs.keys()) this.recompute(key);
  }

  private onIngress(type: "set" | "delete", i: SlimIngress): void {
    const key = namespacedKey(i);
    const old = this.ingresses.get(key);
    if (type === "delete") this.ingresses.delete(key);
    else this.ingresses.set(key, i);
    const svcs = new Set([...(old?.rules ?? []), ...(type === "set" ? i.rules : [])].map((r) => `${i.namespace}/${r.service}`));
    for (const svc of svcs) this.recompute(svc);
  }

  /** Converts one Service again and hands the result to the hub (which works out what changed). */
  private recompute(key: string): void {
    if (!this.ready) return; // the first full conversion happens once everything has listed
    const svc = this.svcs.get(key);
    if (!svc) return this.hub.deleteGroup(key);
    const slices = [...(this.slicesByService.get(key) ?? [])].flatMap((k) => this.slices.get(k) ?? []);
    const ingresses = this.o.address === "external" ? [...this.ingresses.values()].filter((i) => i.namespace === svc.namespace) : [];
    this.hub.setGroup(
      key,
      serviceInstances({
        service: svc,
        slices,
        pod: (ns, name) => this.pods.get(`${ns}/${name}`),
        node: (name) => this.nodes.get(name),
        nodes: () => [...this.nodes.values()],
        ingresses,
        address: this.o.address ?? "internal",
        scope: this.scope,
      }),
    );
  }
}
