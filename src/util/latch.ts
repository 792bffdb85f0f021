/**
 * A one-way flag that can be awaited, with AbortSignal support: the "synced"
 * signal of the informer and of the registry hub. A waiter whose signal
 * aborts is dropped, and a settled wait leaves no listener on the signal.
 */
import { AbortedError } from "../errors.js";

export class Latch {
  private done = false;
  private readonly waiters = new Set<() => void>();

  get isSet(): boolean {
    return this.done;
  }

  /** Sets the flag and wakes every waiter; later calls do nothing. Returns whether this call set it. */
  set(): boolean {
    if (this.done) return false;
    this.done = true;
    for (const w of this.waiters) w();
    this.waiters.clear();
    return true;
  }

  /** Resolves once set; rejects with AbortedError(`abortMessage`) if `signal` aborts first. */
  wait(signal?: AbortSignal, abortMessage?: string): Promise<void> {
    if (this.done) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new AbortedError(abortMessage));
    return new Promise((resolve, reject) => {
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(done);
        reject(new AbortedError(abortMessage));
      };
      this.waiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
