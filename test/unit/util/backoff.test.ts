import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AbortedError } from "../../../src/errors.js";
import { Backoff } from "../../../src/util/backoff.js";
import { sleep } from "../../../src/util/clock.js";
import { ManualClock } from "../../support/clock.js";

const take = (b: Backoff, n: number) => Array.from({ length: n }, () => b.next());

describe("Backoff", () => {
  it("with random=1 doubles from 800ms and caps at 30s", () => {
    const b = new Backoff({ random: () => 1 });
    assert.deepEqual(take(b, 9), [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it("with random=0 and jitter 0.5 every delay is half", () => {
    const b = new Backoff({ random: () => 0, jitter: 0.5 });
    assert.deepEqual(take(b, 9), [400, 800, 1600, 3200, 6400, 12800, 15000, 15000, 15000]);
  });

  it("stays within [base*(1-jitter), base] for any random value", () => {
    const rs = [0, 0.25, 0.5, 0.999];
    let k = 0;
    const b = new Backoff({ random: () => rs[k++ % rs.length]!, jitter: 0.5 });
    const bases = [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000];
    for (const base of bases) {
      const d = b.next();
      assert.ok(d >= base / 2 && d <= base, `${d} in [${base / 2}, ${base}]`);
    }
  });

  it("jitter 0 ignores random", () => {
    const b = new Backoff({ random: () => 0, jitter: 0 });
    assert.deepEqual(take(b, 3), [800, 1600, 3200]);
  });

  it("honours initialMs, maxMs and factor", () => {
    const b = new Backoff({ random: () => 1, initialMs: 100, maxMs: 1000, factor: 3 });
    assert.deepEqual(take(b, 5), [100, 300, 900, 1000, 1000]);
  });

  it("reset() starts over, also after reaching the cap", () => {
    const b = new Backoff({ random: () => 1 });
    take(b, 3);
    b.reset();
    assert.deepEqual(take(b, 2), [800, 1600]);
    take(b, 20);
    assert.equal(b.next(), 30000);
    b.reset();
    assert.deepEqual(take(b, 3), [800, 1600, 3200]);
  });

  it("uses Math.random by default, within bounds", () => {
    const b = new Backoff();
    const d = b.next();
    assert.ok(d >= 400 && d <= 800, String(d));
  });
});

/** A manual clock: timers fire only when advance() passes their due time. */
/** Observes a promise's state without awaiting it. */
function track(p: Promise<void>) {
  const state: { settled: "pending" | "resolved" | "rejected"; error?: unknown } = { settled: "pending" };
  p.then(
    () => (state.settled = "resolved"),
    (err: unknown) => {
      state.settled = "rejected";
      state.error = err;
    },
  );
  return state;
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("sleep", () => {
  it("resolves only after the clock advances past the delay", async () => {
    const clock = new ManualClock();
    const s = track(sleep(1000, { clock }));
    assert.equal(clock.timers.size, 1);
    await flush();
    assert.equal(s.settled, "pending");
    clock.advance(999);
    await flush();
    assert.equal(s.settled, "pending");
    clock.advance(1);
    await flush();
    assert.equal(s.settled, "resolved");
    assert.equal(clock.timers.size, 0);
  });

  it("rejects with AbortedError when the signal aborts, and clears its timer", async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const p = sleep(1000, { clock, signal: ac.signal });
    const s = track(p);
    const [handle] = [...clock.timers.keys()];
    await flush();
    assert.equal(s.settled, "pending");
    ac.abort();
    await flush();
    assert.equal(s.settled, "rejected");
    assert.ok(s.error instanceof AbortedError);
    assert.equal((s.error as AbortedError).code, "PODREG_ABORTED");
    assert.deepEqual(clock.cleared, [handle], "its own timer was cleared");
    assert.equal(clock.timers.size, 0);
    clock.advance(5000); // nothing left to fire
    await assert.rejects(p, (err: unknown) => err instanceof AbortedError);
  });

  it("rejects at once, without a timer, when the signal is already aborted", async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(sleep(1000, { clock, signal: ac.signal }), (err: unknown) => {
      assert.ok(err instanceof AbortedError);
      assert.equal(err.code, "PODREG_ABORTED");
      return true;
    });
    assert.equal(clock.timers.size, 0);
  });

  it("an abort after the sleep resolved does nothing", async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const s = track(sleep(10, { clock, signal: ac.signal }));
    clock.advance(10);
    await flush();
    assert.equal(s.settled, "resolved");
    ac.abort();
    await flush();
    assert.equal(s.settled, "resolved");
    assert.deepEqual(clock.cleared, [], "the abort listener was removed when the timer fired");
  });

  it("works on the system clock", async () => {
    const t0 = Date.now();
    await sleep(5);
    assert.ok(Date.now() - t0 >= 4);
    const ac = new AbortController();
    const p = sleep(60_000, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, (err: unknown) => err instanceof AbortedError);
  });
});
