import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import { AbortedError } from "../../../src/errors.js";
import { Latch } from "../../../src/util/latch.js";

describe("Latch", () => {
  it("wakes every waiter once set; later waits resolve at once; set() reports whether it set", async () => {
    const l = new Latch();
    let woken = 0;
    const waits = [l.wait().then(() => woken++), l.wait().then(() => woken++)];
    await Promise.resolve();
    assert.equal(woken, 0);
    assert.equal(l.set(), true);
    assert.equal(l.set(), false);
    await Promise.all(waits);
    assert.equal(woken, 2);
    assert.equal(l.isSet, true);
    await l.wait(AbortSignal.abort());
  });

  it("rejects with AbortedError when the signal aborts first, and leaves no listener behind either way", async () => {
    const l = new Latch();
    const ac = new AbortController();
    const p = l.wait(ac.signal, "not yet");
    ac.abort();
    await assert.rejects(p, (e: Error) => e instanceof AbortedError && e.message === "not yet");
    await assert.rejects(l.wait(ac.signal), AbortedError, "an aborted signal rejects at once");

    const keep = new AbortController();
    const q = l.wait(keep.signal);
    assert.equal(getEventListeners(keep.signal, "abort").length, 1);
    l.set();
    await q;
    assert.equal(getEventListeners(keep.signal, "abort").length, 0);
  });
});
