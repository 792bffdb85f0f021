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
        this.instances.clear();
        for (const i of data.instances) this.instances.set(i.id, i);
        this.revision = data.revision;
        this.snapshotAt = Date.now();
        this.connection = "live";
      });
    });
    for (const type of ["added", "updated", "removed"] as const) {
      es.addEventListener(type, (e) => {
        const data = JSON.parse((e as MessageEvent<string>).data) as { revision: number; instance: Instance };
        this.set(() => {
          if (type === "removed") this.instances.delete(data.instance.id);
          else this.instances.set(data.instance.id, data.instance);
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

/** Services from the instances held, plus those the server's policy names but nothing provides (empty). */
export function serviceRows(instances: Iterable<Instance>, policies: Policies | undefined): ServiceRow[] {
  const by = new Map<string, Instance[]>();
  for (const i of instances) {
    const list = by.get(i.key);
    if (list) list.push(i);
    else by.set(i.key, [i]);
  }
  const policyOf = (key: string, list: readonly Instance[]) => {
    const p = policies?.services[key] ?? policies?.defaults;
    if (!p) return "round_robin";
    if (p.balancerIsDefault && list.length > 0 && list.every((i) => i.metadata["podreg.io/session-affinity"] === "ClientIP")) return "source_affinity";
    return p.balancer.policy;
  };
  const rows: ServiceRow[] = [...by].map(([key, list]) => ({
    key,
    name: list[0]!.service,
    namespace: list[0]!.namespace,
    clusters: uniq(list.map((i) => i.cluster)),
    sources: uniq(list.flatMap((i) => i.sources ?? [i.source])),
    protocols: uniq(list.map((i) => i.protocol)),
    total: list.length,
    ready: list.filter((i) => i.ready).length,
    policy: policyOf(key, list),
  }));
  for (const key of Object.keys(policies?.services ?? {})) {
    if (by.has(key)) continue;
    const slash = key.lastIndexOf("/");
    rows.push({ key, name: key.slice(slash + 1), namespace: slash < 0 ? undefined : key.slice(0, slash).replace(/^[a-z0-9-]+:/, ""), clusters: [], sources: [], protocols: [], total: 0, ready: 0, policy: policyOf(key, []) });
  }
  return rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function uniq(xs: (string | undefined)[]): string[] {
  return [...new Set(xs.filter((x): x is string => x !== undefined))].sort();
}
