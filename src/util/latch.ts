/**
 * A one-way flag that can be awaited, with AbortSignal support: the "synced"
 * signal of the informer and of the registry hub. A waiter whose signal
 * aborts is dropped, and a settled wait leaves no listener on the signal.
 */
import { AbortedError } from "../errors.js";

export class Latch {
  private done = false;
  private failure: Error | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly failers = new Set<(err: Error) => void>();

  get isSet(): boolean {
    return this.done;
  }

  /** Sets the flag and wakes every waiter; later calls do nothing. Returns whether this call set it. */
  set(): boolean {
    if (this.done) return false;
    this.done = true;
    for (const w of this.waiters) w();
    this.waiters.clear();
    this.failers.clear();
    return true;
  }

  /** Rejects every waiter, now and later, with `err`, also once set: a closed owner answers no more waits. */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const f of this.failers) f(err);
    this.failers.clear();
    this.waiters.clear();
  }

  /** Resolves once set; rejects with AbortedError(`abortMessage`) if `signal` aborts first. */
  wait(signal?: AbortSignal, abortMessage?: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.done) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new AbortedError(abortMessage));
    return new Promise((resolve, reject) => {
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        this.failers.delete(failed);
        resolve();
      };
      const failed = (err: Error) => {
        signal?.removeEventListener("abort", onAbort);
        this.waiters.delete(done);
        reject(err);
      };
      const onAbort = () => {
        this.waiters.delete(done);
        this.failers.delete(failed);
        reject(new AbortedError(abortMessage));
      };
      this.waiters.add(done);
      this.failers.add(failed);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
