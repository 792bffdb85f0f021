/**
 * Signals combined by hand instead of with AbortSignal.any / AbortSignal.timeout:
 * on Node 20 a signal from AbortSignal.any over an AbortSignal.timeout can be
 * collected before the timeout fires, so it never aborts (seen here: a
 * `podreg register` against an unreachable server that retried past its
 * --timeout forever). Here every source and timer is held strongly until
 * dispose(), which also removes the listeners from long-lived sources.
 */
import { TimeoutError } from "../errors.js";

export interface Scoped {
  readonly signal: AbortSignal;
  dispose(): void;
}

/** Aborts when any source aborts (with its reason), or after `timeoutMs` (with a TimeoutError, or `timeoutReason()`). */
export function scopedSignal(sources: readonly (AbortSignal | undefined)[], timeoutMs?: number, timeoutReason?: () => Error): Scoped {
  const ctl = new AbortController();
  const unhooks: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  const dispose = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    for (const u of unhooks.splice(0)) u();
  };
  for (const s of sources) {
    if (!s) continue;
    if (s.aborted) {
      ctl.abort(s.reason);
      return { signal: ctl.signal, dispose };
    }
    const onAbort = () => {
      dispose();
      ctl.abort(s.reason);
    };
    s.addEventListener("abort", onAbort, { once: true });
    unhooks.push(() => s.removeEventListener("abort", onAbort));
  }
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      dispose();
      ctl.abort(timeoutReason ? timeoutReason() : new TimeoutError(`no result in ${timeoutMs}ms`));
    }, timeoutMs);
  }
  return { signal: ctl.signal, dispose };
}
