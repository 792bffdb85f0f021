/**
 * The instance cache behind every registry, and its subscriptions. Backends
 * hand it whole groups of instances (everything one pod, or one registration,
 * provides); it works out what was added, updated or removed, applies that,
 * and only then tells subscribers, in order. One snapshot per subscriber
 * first, once synced, delivered in a microtask so `subscribe` returns first.
 */
import type { DeltaEvent, RegistryEvent, RegistryListener, ServiceSelector } from "../model/events.js";
import { sameInstance, type Instance, type ServiceName } from "../model/instance.js";
import { Latch } from "../util/latch.js";
import { silentLogger, type Logger } from "../util/logger.js";
import type { Subscription } from "./registry.js";

interface Sub {
  selector: ServiceSelector;
  listener: RegistryListener;
  /** Deltas are delivered only after the snapshot. */
  live: boolean;
  closed: boolean;
}

export class InstanceHub {
  private readonly byService = new Map<ServiceName, Map<string, Instance>>();
  private readonly groups = new Map<string, Map<string, Instance>>();
  private readonly subs = new Set<Sub>();
  private readonly syncedLatch = new Latch();

  constructor(private readonly logger: Logger = silentLogger) {}

  get synced(): boolean {
    return this.syncedLatch.isSet;
  }

  instances(service: ServiceName): Instance[] {
    return [...(this.byService.get(service)?.values() ?? [])];
  }

  all(): Instance[] {
    return [...this.byService.values()].flatMap((m) => [...m.values()]);
  }

  services(): ServiceName[] {
    return [...this.byService.keys()].sort();
  }

  /** Makes `instances` the whole content of `group`. */
  setGroup(group: string, instances: readonly Instance[]): void {
    const old = this.groups.get(group) ?? new Map<string, Instance>();
    const next = new Map(instances.map((i) => [i.id, i]));
    const events: DeltaEvent[] = [];
    for (const [id, prev] of old) if (!next.has(id)) events.push({ type: "removed", instance: prev });
    for (const [id, inst] of next) {
      const prev = old.get(id);
      if (!prev) events.push({ type: "added", instance: inst });
      else if (!sameInstance(prev, inst)) events.push({ type: "updated", instance: inst, previous: prev });
    }
    if (next.size === 0) this.groups.delete(group);
    else this.groups.set(group, next);
    for (const ev of events) {
      this.applyToIndex(ev);
      this.dispatch(ev);
    }
  }

  deleteGroup(group: string): void {
    this.setGroup(group, []);
  }

  /** The first full state is in: subscribers get their snapshots. */
  markSynced(): void {
    if (!this.syncedLatch.set()) return;
    for (const s of this.subs) this.scheduleSnapshot(s);
  }

  /** Resolves at markSynced(); rejects with AbortedError if `signal` fires first. */
  whenSynced(signal?: AbortSignal): Promise<void> {
    return this.syncedLatch.wait(signal, "aborted before the cache synced");
  }

  subscribe(selector: ServiceSelector, listener: RegistryListener): Subscription {
    const sub: Sub = { selector, listener, live: false, closed: false };
    this.subs.add(sub);
    if (this.syncedLatch.isSet) this.scheduleSnapshot(sub);
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

  private scheduleSnapshot(sub: Sub): void {
    queueMicrotask(() => {
      if (sub.closed || sub.live) return;
      sub.live = true;
      const instances = sub.selector === "*" ? this.all() : this.instances(sub.selector);
      this.deliver(sub, { type: "snapshot", instances });
    });
  }

  private applyToIndex(ev: DeltaEvent): void {
    const svc = ev.instance.service;
    if (ev.type === "removed") {
      const m = this.byService.get(svc);
      m?.delete(ev.instance.id);
      if (m && m.size === 0) this.byService.delete(svc);
      return;
    }
    if (ev.type === "updated" && ev.previous.service !== svc) {
      this.byService.get(ev.previous.service)?.delete(ev.previous.id);
      if (this.byService.get(ev.previous.service)?.size === 0) this.byService.delete(ev.previous.service);
    }
    let m = this.byService.get(svc);
    if (!m) this.byService.set(svc, (m = new Map()));
    m.set(ev.instance.id, ev.instance);
  }

  private dispatch(ev: DeltaEvent): void {
    for (const sub of this.subs) {
      if (!sub.live) continue; // its snapshot, computed later, will include this change
      if (sub.selector === "*" || sub.selector === ev.instance.service) {
        if (ev.type === "updated" && sub.selector !== "*" && ev.previous.service !== sub.selector) {
          this.deliver(sub, { type: "added", instance: ev.instance }); // moved in from another service
        } else this.deliver(sub, ev);
      } else if (ev.type === "updated" && sub.selector === ev.previous.service) {
        this.deliver(sub, { type: "removed", instance: ev.previous }); // moved to another service
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
