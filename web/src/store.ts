/**
 * The registry as the page holds it: the server's watch stream (SSE: a
 * snapshot, then added / updated / removed) applied to a map of instances,
 * a timeline of recent changes, and the server's status, polled. The
 * browser's EventSource reconnects by itself and sends Last-Event-ID, so a
 * dropped stream resumes (or gets a fresh snapshot) without a reload.
 * Renders are coalesced to one per animation frame, so a burst of changes
 * costs one render.
 */
import { useEffect, useState } from "preact/hooks";
import { api, type Instance, type Policies, type Status } from "./api.js";

export interface Change {
  type: "added" | "updated" | "removed";
  revision: number;
  at: number;
  instance: Instance;
}

export type Connection = "connecting" | "live" | "reconnecting";

const TIMELINE = 500;

class Store {
  readonly instances = new Map<string, Instance>();
  /** The same instances by service key: a change touches one service's row, not every one. */
  private readonly byKey = new Map<string, Map<string, Instance>>();
  private readonly dirty = new Set<string>();
  private readonly rowCache = new Map<string, ServiceRow>();
  private rowPolicies: Policies | undefined;
  timeline: Change[] = [];
  connection: Connection = "connecting";
  snapshotAt: number | undefined;
  revision = 0;
  status: Status | undefined;
  statusError: string | undefined;
  policies: Policies | undefined;
  /** Bumped on every change; components re-render when it moves. */
  version = 0;
  private readonly listeners = new Set<() => void>();
  private frame: number | undefined;
  private source: EventSource | undefined;

  start(): void {
    if (this.source) return;
    const es = new EventSource("v1/watch");
    this.source = es;
    es.onopen = () => this.set(() => (this.connection = "live"));
    es.onerror = () => this.set(() => (this.connection = "reconnecting"));
    es.addEventListener("snapshot", (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as { revision: number; instances: Instance[] };
      this.set(() => {
        for (const k of this.byKey.keys()) this.dirty.add(k);
        this.instances.clear();
        this.byKey.clear();
        for (const i of data.instances) this.put(i);
        this.revision = data.revision;
        this.snapshotAt = Date.now();
        this.connection = "live";
      });
    });
    for (const type of ["added", "updated", "removed"] as const) {
      es.addEventListener(type, (e) => {
        const data = JSON.parse((e as MessageEvent<string>).data) as { revision: number; instance: Instance };
        this.set(() => {
          this.drop(data.instance.id);
          if (type !== "removed") this.put(data.instance);
          this.revision = data.revision;
          this.timeline.unshift({ type, revision: data.revision, at: Date.now(), instance: data.instance });
          if (this.timeline.length > TIMELINE) this.timeline.length = TIMELINE;
        });
      });
    }
    const poll = async () => {
      try {
        const status = await api<Status>("GET", "v1/status");
        this.set(() => {
          this.status = status;
          this.statusError = undefined;
        });
        if (!this.policies) {
          const policies = await api<Policies>("GET", "v1/policies");
          this.set(() => (this.policies = policies));
        }
      } catch (err) {
        this.set(() => (this.statusError = (err as Error).message));
      }
    };
    void poll();
    setInterval(() => void poll(), 3000);
  }

  /** The services, one row each, recomputed only for the services that changed since the last call. */
  rows(): ServiceRow[] {
    if (this.rowPolicies !== this.policies) {
      this.rowPolicies = this.policies;
      this.rowCache.clear();
      for (const k of this.byKey.keys()) this.dirty.add(k);
      for (const k of Object.keys(this.policies?.services ?? {})) this.dirty.add(k);
    }
    for (const key of this.dirty) {
      const list = [...(this.byKey.get(key)?.values() ?? [])];
      const row = serviceRow(key, list, this.policies);
      if (row) this.rowCache.set(key, row);
      else this.rowCache.delete(key);
    }
    this.dirty.clear();
    return [...this.rowCache.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private put(i: Instance): void {
    this.instances.set(i.id, i);
    let m = this.byKey.get(i.key);
    if (!m) this.byKey.set(i.key, (m = new Map()));
    m.set(i.id, i);
    this.dirty.add(i.key);
  }

  private drop(id: string): void {
    const old = this.instances.get(id);
    if (!old) return;
    this.instances.delete(id);
    const m = this.byKey.get(old.key);
    m?.delete(id);
    if (m?.size === 0) this.byKey.delete(old.key);
    this.dirty.add(old.key);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(change: () => void): void {
    change();
    this.version++;
    this.frame ??= requestAnimationFrame(() => {
      this.frame = undefined;
      for (const l of this.listeners) l();
    });
  }
}

export const store = new Store();

/** Re-renders the component when the store changes. */
export function useStore(): Store {
  const [, setVersion] = useState(store.version);
  useEffect(() => store.subscribe(() => setVersion(store.version)), []);
  return store;
}

export interface ServiceRow {
  key: string;
  name: string;
  namespace?: string;
  clusters: string[];
  sources: string[];
  protocols: string[];
  total: number;
  ready: number;
  policy: string;
}

/**
 * A service's row from its instances; a service the server's policy names but
 * nothing provides is an empty row; undefined when it is neither.
 */
function serviceRow(key: string, list: readonly Instance[], policies: Policies | undefined): ServiceRow | undefined {
  const configured = policies?.services[key];
  if (list.length === 0 && !configured) return undefined;
  const p = configured ?? policies?.defaults;
  const affinity = p?.balancerIsDefault && list.length > 0 && list.every((i) => i.metadata["podreg.io/session-affinity"] === "ClientIP");
  const slash = key.lastIndexOf("/");
  return {
    key,
    name: list[0]?.service ?? key.slice(slash + 1),
    namespace: list[0] ? list[0].namespace : slash < 0 ? undefined : key.slice(0, slash).replace(/^[a-z0-9-]+:/, ""),
    clusters: uniq(list.map((i) => i.cluster)),
    sources: uniq(list.flatMap((i) => i.sources ?? [i.source])),
    protocols: uniq(list.map((i) => i.protocol)),
    total: list.length,
    ready: list.filter((i) => i.ready).length,
    policy: affinity ? "source_affinity" : (p?.balancer.policy ?? "round_robin"),
  };
}

function uniq(xs: (string | undefined)[]): string[] {
  return [...new Set(xs.filter((x): x is string => x !== undefined))].sort();
}
