/**
 * Changes taken as one batch per service and tick, after Istio's push
 * debouncing (pilot/pkg/xds/discovery.go): a change opens a window; the batch
 * goes out once nothing changed for `debounceMs`, or `maxDelayMs` after the
 * window opened, whichever comes first. A burst of 100 pod changes is one
 * batch per service touched. Built on any Discovery's subscribe(), so every
 * source has it without implementing anything.
 */
import type { DeltaEvent } from "../model/events.js";
import type { Instance } from "../model/instance.js";
import type { ServiceKey } from "../model/service-key.js";
import { systemClock, type Clock } from "../util/clock.js";
import type { Discovery, Subscription } from "./registry.js";

export type BatchEvent =
  /** The state at subscription, as the source's snapshot (not delayed). */
  | { readonly type: "snapshot"; readonly instances: readonly Instance[]; readonly revision: number }
  /** Every change to one service in one window, in order; `revision` is the last one's. */
  | { readonly type: "batch"; readonly service: ServiceKey; readonly changes: readonly DeltaEvent[]; readonly revision: number };

export interface BatchOptions {
  /** Quiet time that closes a window. Default 100 ms (Istio's PILOT_DEBOUNCE_AFTER). */
  debounceMs?: number;
  /** Longest a change waits. Default 1000 ms (Istio's PILOT_DEBOUNCE_MAX is 10 s; a registry's consumers want it sooner). */
  maxDelayMs?: number;
  clock?: Clock;
}

export function subscribeBatches(discovery: Pick<Discovery, "subscribe">, selector: ServiceKey | "*", listener: (ev: BatchEvent) => void, opts: BatchOptions = {}): Subscription {
  const debounceMs = opts.debounceMs ?? 100;
  const maxDelayMs = Math.max(debounceMs, opts.maxDelayMs ?? 1000);
  const clock = opts.clock ?? systemClock;
  let pending = new Map<ServiceKey, DeltaEvent[]>();
  let openedAt = 0;
  let timer: unknown;
  let closed = false;

  const flush = () => {
    timer = undefined;
    if (closed) return;
    const out = pending;
    pending = new Map();
    for (const [service, changes] of out) {
      listener({ type: "batch", service, changes, revision: changes[changes.length - 1]!.revision });
      if (closed) return;
    }
  };
  const schedule = () => {
    const now = clock.now();
    if (timer === undefined) openedAt = now;
    else clock.clearTimeout(timer);
    timer = clock.setTimeout(flush, Math.max(0, Math.min(debounceMs, openedAt + maxDelayMs - now)));
  };

  const sub = discovery.subscribe(selector, (ev) => {
    if (ev.type === "snapshot") {
      // A new snapshot supersedes what was pending (the source started over).
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      pending = new Map();
      listener({ type: "snapshot", instances: ev.instances, revision: ev.revision });
      return;
    }
    const key = ev.instance.key;
    let list = pending.get(key);
    if (!list) pending.set(key, (list = []));
    list.push(ev);
    // A move between services is a change to both.
    if (ev.type === "updated" && ev.previous.key !== key) {
      let prev = pending.get(ev.previous.key);
      if (!prev) pending.set(ev.previous.key, (prev = []));
      prev.push(ev);
    }
    schedule();
  });
  return {
    close: () => {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      sub.close();
    },
  };
}
