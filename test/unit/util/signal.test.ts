import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { scopedSignal } from "../../../src/util/signal.js";

describe("scopedSignal", () => {
  it("aborts with a TimeoutError after its time, even with nothing else holding it (AbortSignal.any over AbortSignal.timeout may be collected on Node 20)", async () => {
    const { signal } = scopedSignal([new AbortController().signal], 50);
    global.gc?.();
    const reason = await new Promise<unknown>((resolve) => signal.addEventListener("abort", () => resolve(signal.reason)));
    assert.equal((reason as { code?: string }).code, "PODREG_TIMEOUT");
  });

  it("takes a source's reason, at once if it already aborted, and dispose() detaches from the sources", () => {
    const a = new AbortController();
    const s = scopedSignal([a.signal, undefined]);
    a.abort(new Error("stop"));
    assert.equal((s.signal.reason as Error).message, "stop");
    const done = new AbortController();
    done.abort("early");
    assert.equal(scopedSignal([done.signal], 1000).signal.reason, "early");
    const long = new AbortController();
    const scoped = scopedSignal([long.signal], 10_000);
    scoped.dispose();
    long.abort("late");
    assert.equal(scoped.signal.aborted, false, "disposed: neither the source nor the timer reaches it");
  });
});
