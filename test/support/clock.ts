/** A clock tests move by hand: timers fire in order of due time when advance() passes them. */
import type { Clock } from "../../src/util/clock.js";

export class ManualClock implements Clock {
  private t = 0;
  private nextId = 1;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  readonly cleared: unknown[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.cleared.push(handle);
    this.timers.delete(handle as number);
  }

  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, tm]) => tm.at <= until).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = until;
  }
}
