/**
 * The instance cache behind every source, and its subscriptions. Sources hand
 * it whole groups of instances (everything one pod, or one registration,
 * provides); it works out what was added, updated or removed, numbers each
 * change (a revision, monotonic per hub), applies it, and only then tells
 * subscribers, in order. Services are keyed by Instance.key (scope
 * included), never by the bare name.
 *
 * Snapshots: a subscriber present at markSynced() gets its snapshot there,
 * before whenSynced() resolves; one that subscribes later gets it in a
 * microtask, so `subscribe` returns first. After close(), nothing is
 * delivered and whenSynced() rejects with PODREG_CLOSED.
 */
import { ClosedError } from "../errors.js";
import type { DeltaEvent, RegistryEvent, RegistryListener } from "../model/events.js";
import { sameInstance, type Instance } from "../model/instance.js";
import type { ServiceKey } from "../model/service-key.js";
import { Latch } from "../util/latch.js";
import { silentLogger, type Logger } from "../util/logger.js";
import type { Subscription } from "./registry.js";

interface Sub {
  /** A service key, or "*". */
  key: ServiceKey;
  listener: RegistryListener;
  /** Deltas are delivered only after the snapshot. */
  live: boolean;
  closed: boolean;
}

export class InstanceHub {
  private readonly byService = new Map<ServiceKey, Map<string, Instance>>();
  /** Each group's instances as last set (ids unique): a list, not a Map, as it is only walked when the group changes, and a Map per group cost ~50 bytes per instance. */
  private readonly groups = new Map<string, readonly Instance[]>();
  private readonly revisions = new Map<ServiceKey, number>();
  private readonly subs = new Set<Sub>();
  private readonly syncedLatch = new Latch();
  private rev = 0;
  private closed = false;

  constructor(private readonly logger: Logger = silentLogger) {}

  get synced(): boolean {
    return this.syncedLatch.isSet;
  }

  /** The number of the last change applied (0 before any). */
  get revision(): number {
    return this.rev;
  }

  /** The revision of the last change to this service (0 if none). Kept after the service empties, so ids never go back. */
  revisionOf(key: ServiceKey): number {
    return this.revisions.get(key) ?? 0;
  }

  instances(key: ServiceKey): Instance[] {
    if (key === "*") return this.all();
    return [...(this.byService.get(key)?.values() ?? [])];
  }

  all(): Instance[] {
    return [...this.byService.values()].flatMap((m) => [...m.values()]);
  }

  /** Keys of the services with at least one instance, sorted. */
  services(): ServiceKey[] {
    return [...this.byService.keys()].sort();
  }

  /** Makes `instances` the whole content of `group`. */
  setGroup(group: string, instances: readonly Instance[]): void {
    if (this.closed) return;
    const kept = this.groups.get(group);
    const next = new Map<string, Instance>();
    for (const i of instances) next.set(i.id, i);
    if (next.size === 0) this.groups.delete(group);
    else this.groups.set(group, [...next.values()]);
    // Each change is numbered and applied as the diff finds it (removals first): the same order as
    // collecting them first, without a change object per instance (a first sync adds every instance).
    const old = kept ? new Map(kept.map((i) => [i.id, i])) : undefined;
    if (old) for (const [id, prev] of old) if (!next.has(id)) this.apply({ type: "removed", instance: prev, revision: ++this.rev });
    for (const [id, inst] of next) {
      const prev = old?.get(id);
      if (!prev) this.apply({ type: "added", instance: inst, revision: ++this.rev });
      else if (!sameInstance(prev, inst)) this.apply({ type: "updated", instance: inst, previous: prev, revision: ++this.rev });
    }
  }

  private apply(ev: DeltaEvent): void {
    this.revisions.set(ev.instance.key, ev.revision);
    if (ev.type === "updated" && ev.previous.key !== ev.instance.key) this.revisions.set(ev.previous.key, ev.revision);
    this.applyToIndex(ev);
    this.dispatch(ev);
  }

  deleteGroup(group: string): void {
    this.setGroup(group, []);
  }

  /** The first full state is in: present subscribers get their snapshots now, then whenSynced() waiters wake. */
  markSynced(): void {
    if (this.closed || this.syncedLatch.isSet) return;
    for (const s of [...this.subs]) this.sendSnapshot(s);
    this.syncedLatch.set();
  }

  /** Resolves at markSynced() (after the snapshots); rejects with AbortedError if `signal` fires first, ClosedError after close(). */
  whenSynced(signal?: AbortSignal): Promise<void> {
    return this.syncedLatch.wait(signal, "aborted before the cache synced");
  }

  subscribe(key: ServiceKey, listener: RegistryListener): Subscription {
    const sub: Sub = { key, listener, live: false, closed: this.closed };
    if (this.closed) return { close: () => {} };
    this.subs.add(sub);
    if (this.syncedLatch.isSet) queueMicrotask(() => this.sendSnapshot(sub));
    return {
      close: () => {
        sub.closed = true;
        this.subs.delete(sub);
      },
    };
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  /** Stops all delivery; pending and later whenSynced() calls reject with PODREG_CLOSED. */
  close(why = "the registry is closed"): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) s.closed = true;
    this.subs.clear();
    this.syncedLatch.fail(new ClosedError(why));
  }

  private sendSnapshot(sub: Sub): void {
    if (sub.closed || sub.live) return;
    sub.live = true;
    const revision = sub.key === "*" ? this.rev : this.revisionOf(sub.key);
    this.deliver(sub, { type: "snapshot", instances: this.instances(sub.key), revision });
  }

  private applyToIndex(ev: DeltaEvent): void {
    const key = ev.instance.key;
    if (ev.type === "removed") {
      const m = this.byService.get(key);
      m?.delete(ev.instance.id);
      if (m && m.size === 0) this.byService.delete(key);
      return;
    }
    if (ev.type === "updated" && ev.previous.key !== key) {
      const m = this.byService.get(ev.previous.key);
      m?.delete(ev.previous.id);
      if (m?.size === 0) this.byService.delete(ev.previous.key);
    }
    let m = this.byService.get(key);
    if (!m) this.byService.set(key, (m = new Map()));
    m.set(ev.instance.id, ev.instance);
  }

  private dispatch(ev: DeltaEvent): void {
    for (const sub of this.subs) {
      if (!sub.live) continue; // its snapshot, computed later, will include this change
      if (sub.key === "*" || sub.key === ev.instance.key) {
        if (ev.type === "updated" && sub.key !== "*" && ev.previous.key !== sub.key) {
          this.deliver(sub, { type: "added", instance: ev.instance, revision: ev.revision }); // moved in from another service
        } else this.deliver(sub, ev);
      } else if (ev.type === "updated" && sub.key === ev.previous.key) {
        this.deliver(sub, { type: "removed", instance: ev.previous, revision: ev.revision }); // moved to another service
      }
    }
  }

  private deliver(sub: Sub, ev: RegistryEvent): void {
    try {
      sub.listener(ev);
    } catch (err) {
      this.logger.error({ err: err as Error, event: ev.type }, "registry listener threw");
    }
  }
}
