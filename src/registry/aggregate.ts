/**
 * Several sources as one Discovery, after Istio's aggregate controller
 * (pilot/pkg/serviceregistry/aggregate): one subscription sees annotation
 * registrations, Kubernetes Services, the local registry and other clusters.
 *
 * - Precedence is the order of `sources`: the first is the strongest.
 * - An instance is an endpoint: its id is `aggregate:[cluster/]key/host:port`,
 *   stable while sources come and go (a balancer keeps its state for it).
 *   The same endpoint seen by several sources is one instance. The strongest source's fields win, metadata and
 *   labels merge with the strongest source winning each key, it is ready
 *   only if every source says so, and `sources` lists them all (the pod's
 *   annotation and its EndpointSlice, for instance).
 * - Clusters: a source given a `cluster` tags its instances (Instance.cluster)
 *   but keeps their keys: `shop/echo` in two clusters is one
 *   service, as Kubernetes' multi-cluster services and Istio treat it
 *   ("namespace sameness"). Route by cluster with the instance's `cluster`.
 * - A failing source keeps its instances (stale but kept) for `staleAfterMs`,
 *   then they are dropped until it answers again. A source that can't sync
 *   never blocks the others: the aggregate is synced once every source has
 *   synced or failed.
 */
import type { RegistryEvent } from "../model/events.js";
import { authority } from "../model/host.js";
import type { Instance } from "../model/instance.js";
import type { ServiceKey } from "../model/service-key.js";
import { systemClock, unref, type Clock } from "../util/clock.js";
import { silentLogger, type Logger } from "../util/logger.js";
import { HubDiscovery } from "./hub-discovery.js";
import type { Discovery, Subscription } from "./registry.js";

export interface AggregateSource {
  discovery: Discovery;
  /** Tags every instance of this source with a cluster id. */
  cluster?: string;
}

export interface AggregateOptions {
  /** Strongest first. */
  sources: readonly (Discovery | AggregateSource)[];
  /** How long a failing source's instances are kept. Default 5 minutes; 0 drops them at once. */
  staleAfterMs?: number;
  /** close() closes the sources too. Default true. */
  closeSources?: boolean;
  clock?: Clock;
  logger?: Logger;
}

interface Member {
  discovery: Discovery;
  cluster?: string;
  /** id -> instance as tagged, by service key. */
  byKey: Map<ServiceKey, Map<string, Instance>>;
  synced: boolean;
  failed: boolean;
  /** Dropped after staleAfterMs of failing, until it recovers. */
  dropped: boolean;
  staleTimer?: unknown;
  subs: Subscription[];
}

export class AggregateDiscovery extends HubDiscovery {
  readonly name: string;
  private readonly members: Member[];
  private readonly clock: Clock;
  private readonly logger: Logger;
  private started = false;
  private closed = false;

  constructor(private readonly o: AggregateOptions) {
    super({ logger: o.logger ?? silentLogger, now: () => (o.clock ?? systemClock).now() });
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
    this.members = o.sources.map((s) => {
      const src = "discovery" in s ? s : { discovery: s };
      return { discovery: src.discovery, cluster: src.cluster, byKey: new Map(), synced: false, failed: false, dropped: false, subs: [] };
    });
    this.name = `aggregate(${this.members.map((m) => (m.cluster ? `${m.cluster}:${m.discovery.name}` : m.discovery.name)).join(",")})`;
  }

  /** Names resolve as the strongest source resolves them. */
  resolve(name: string): ServiceKey {
    return this.members[0]!.discovery.resolve(name);
  }







  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.members) {
      for (const s of m.subs) s.close();
      if (m.staleTimer !== undefined) this.clock.clearTimeout(m.staleTimer);
    }
    this.hub.close();
    if (this.o.closeSources !== false) await Promise.allSettled(this.members.map((m) => m.discovery.close()));
  }

  protected override start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const m of this.members) {
      m.subs.push(
        m.discovery.subscribe("*", (ev) => this.onEvent(m, ev)),
        m.discovery.onStatus((s) => {
          if (s.type === "synced") return this.onSynced(m);
          if (s.type === "failing") return this.onFailing(m, s.error);
          this.onRecovered(m);
        }),
      );
    }
  }

  private tag(m: Member, i: Instance): Instance {
    // Ids joined, not templated: a flat string instead of a cons tree kept beside its flat copy (see buildInstance).
    return m.cluster === undefined ? i : { ...i, id: [m.cluster, "/", i.id].join(""), cluster: m.cluster };
  }


  private onEvent(m: Member, ev: RegistryEvent): void {
    const touched = new Set<ServiceKey>();
    if (ev.type === "snapshot") {
      for (const k of m.byKey.keys()) touched.add(k);
      m.byKey.clear();
      for (const raw of ev.instances) this.put(m, this.tag(m, raw), touched);
    } else {
      if (ev.type !== "added") this.drop(m, this.tag(m, ev.type === "updated" ? ev.previous : ev.instance), touched);
      if (ev.type !== "removed") this.put(m, this.tag(m, ev.instance), touched);
    }
    for (const k of touched) this.merge(k);
  }

  private put(m: Member, i: Instance, touched: Set<ServiceKey>): void {
    let map = m.byKey.get(i.key);
    if (!map) m.byKey.set(i.key, (map = new Map()));
    map.set(i.id, i);
    touched.add(i.key);
  }

  private drop(m: Member, i: Instance, touched: Set<ServiceKey>): void {
    const map = m.byKey.get(i.key);
    map?.delete(i.id);
    if (map?.size === 0) m.byKey.delete(i.key);
    touched.add(i.key);
  }

  /** Recomputes one service from every live member: endpoints de-duplicated, the strongest source winning. */
  private merge(key: ServiceKey): void {
    if (!this.hub.synced && !this.members.every((m) => m.synced || m.failed)) return; // the first merge comes at sync
    const byEndpoint = new Map<string, Instance[]>();
    for (const m of this.members) {
      if (m.dropped) continue;
      for (const i of m.byKey.get(key)?.values() ?? []) {
        const ep = `${i.cluster ?? ""}|${i.host}|${i.port}`;
        const list = byEndpoint.get(ep);
        if (list) list.push(i);
        else byEndpoint.set(ep, [i]);
      }
    }
    const merged: Instance[] = [];
    for (const seen of byEndpoint.values()) {
      const [top, ...rest] = seen; // members were walked strongest first
      const id = ["aggregate:", top!.cluster === undefined ? "" : `${top!.cluster}/`, key, "/", authority(top!.host, top!.port)].join("");
      if (rest.length === 0) {
        merged.push({ ...top!, id });
        continue;
      }
      const weaker = [...rest].reverse();
      merged.push({
        ...top!,
        id,
        metadata: Object.assign({}, ...weaker.map((i) => i.metadata), top!.metadata) as Record<string, string>,
        labels: Object.assign({}, ...weaker.map((i) => i.labels), top!.labels) as Record<string, string>,
        zone: top!.zone ?? rest.find((i) => i.zone)?.zone,
        node: top!.node ?? rest.find((i) => i.node)?.node,
        startTime: top!.startTime ?? rest.find((i) => i.startTime !== undefined)?.startTime,
        ready: seen.every((i) => i.ready),
        sources: [...new Set(seen.map((i) => i.source))],
      });
    }
    this.hub.setGroup(key, merged);
  }

  private mergeAll(): void {
    const keys = new Set<ServiceKey>([...this.hub.services()]);
    for (const m of this.members) for (const k of m.byKey.keys()) keys.add(k);
    for (const k of keys) this.merge(k);
  }

  private maybeSynced(): void {
    if (this.hub.synced || !this.members.every((m) => m.synced || m.failed)) return;
    this.mergeAll();
    this.markSynced();
  }

  private onSynced(m: Member): void {
    m.synced = true;
    this.maybeSynced();
  }

  private onFailing(m: Member, error: Error & { code?: string }): void {
    m.failed = true;
    const where = m.cluster ? `cluster ${m.cluster} (${m.discovery.name})` : m.discovery.name;
    this.tracker.fail(m, Object.assign(new Error(`${where}: ${error.message}`), { code: error.code }));
    this.logger.warn({ source: where, err: error }, `source failing; its instances are kept for ${this.o.staleAfterMs ?? 300_000}ms`);
    if (m.staleTimer === undefined) {
      m.staleTimer = this.clock.setTimeout(() => {
        m.staleTimer = undefined;
        if (!m.failed) return;
        m.dropped = true;
        this.logger.warn({ source: where }, "source still failing: its instances are dropped until it answers");
        this.mergeAll();
      }, this.o.staleAfterMs ?? 300_000);
      unref(m.staleTimer);
    }
    this.maybeSynced();
  }

  private onRecovered(m: Member): void {
    m.failed = false;
    if (m.staleTimer !== undefined) this.clock.clearTimeout(m.staleTimer);
    m.staleTimer = undefined;
    this.tracker.recover(m);
    if (m.dropped) {
      m.dropped = false;
      this.mergeAll();
    }
  }
}
