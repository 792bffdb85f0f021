/**
 * Status of a registry made of several watches: failing from the first
 * watch that fails until every failing one answers again. Listeners are
 * called in a later microtask, never from inside `onStatus`, and in order.
 */
import type { StatusEvent, StatusListener } from "../model/events.js";
import { silentLogger, type Logger } from "../util/logger.js";
import type { Subscription } from "./registry.js";

export class StatusTracker {
  private readonly failing = new Map<object, Error>();
  private since = 0;
  private synced = false;
  private readonly listeners = new Set<StatusListener>();

  constructor(
    private readonly now: () => number,
    private readonly logger: Logger = silentLogger,
  ) {}

  /** The last failure while failing, else undefined. */
  get error(): Error | undefined {
    return [...this.failing.values()].at(-1);
  }

  markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.emit({ type: "synced" });
  }

  fail(source: object, error: Error): void {
    const first = this.failing.size === 0;
    this.failing.set(source, error);
    if (!first) return;
    this.since = this.now();
    this.emit({ type: "failing", error });
  }

  recover(source: object): void {
    if (!this.failing.delete(source) || this.failing.size > 0) return;
    this.emit({ type: "recovered", downMs: this.now() - this.since });
  }

  onStatus(listener: StatusListener): Subscription {
    this.listeners.add(listener);
    return { close: () => void this.listeners.delete(listener) };
  }

  private emit(ev: StatusEvent): void {
    const targets = [...this.listeners];
    queueMicrotask(() => {
      for (const l of targets) {
        if (!this.listeners.has(l)) continue;
        try {
          l(ev);
        } catch (err) {
          this.logger.error({ err: err as Error, event: ev.type }, "status listener threw");
        }
      }
    });
  }
}
