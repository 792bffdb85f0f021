import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { OutlierDetector, type OutlierConfig } from "../../../src/balancer/outlier.js";
import { ConfigError } from "../../../src/errors.js";
import type { Clock } from "../../../src/util/clock.js";

/** A manual clock: timers run, in order, only when the test advances time. */
class FakeClock implements Clock {
  t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    this.timers.set(++this.seq, { at: this.t + ms, fn });
    return this.seq;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

function setup(config: OutlierConfig = {}, ids = ["a", "b", "c", "d"]) {
  const clock = new FakeClock();
  let changes = 0;
  const od = new OutlierDetector(config, { clock, onChange: () => changes++ });
  od.setInstances(ids);
  const fail = (id: string, n = 1) => {
    for (let k = 0; k < n; k++) od.record(id, false);
  };
  return { clock, od, fail, changes: () => changes };
}

/** How long `id` stays ejected once ejected now (it must be ejected). */
function ejectionLength(clock: FakeClock, od: OutlierDetector, id: string): number {
  assert.ok(od.isEjected(id));
  const start = clock.t;
  while (od.isEjected(id)) clock.advance(100);
  return clock.t - start;
}

describe("OutlierDetector", () => {
  it("ejects after consecutive failures (default 5); a success resets the count", () => {
    const { od, fail, changes } = setup();
    fail("a", 4);
    od.record("a", true);
    fail("a", 4);
    assert.equal(od.isEjected("a"), false);
    assert.equal(changes(), 0);
    fail("a");
    assert.equal(od.isEjected("a"), true);
    assert.deepEqual(od.ejected(), ["a"]);
    assert.equal(changes(), 1);
    const list = [{ id: "a" }, { id: "b" }];
    assert.deepEqual(od.filter(list), [{ id: "b" }]);
  });

  it("returns the instance after baseEjectionMs, firing onChange", () => {
    const { clock, od, fail, changes } = setup({ consecutiveFailures: 2, baseEjectionMs: 1000 });
    fail("a", 2);
    clock.advance(999);
    assert.equal(od.isEjected("a"), true);
    clock.advance(1);
    assert.equal(od.isEjected("a"), false);
    assert.equal(changes(), 2);
    assert.deepEqual(od.ejected(), []);
  });

  it("ignores outcomes while ejected and needs a full run of failures after return", () => {
    const { clock, od, fail } = setup({ consecutiveFailures: 3, baseEjectionMs: 1000 });
    fail("a", 3);
    fail("a", 10); // in flight when ejected
    clock.advance(1000);
    assert.equal(od.isEjected("a"), false);
    fail("a", 2);
    assert.equal(od.isEjected("a"), false);
    fail("a");
    assert.equal(od.isEjected("a"), true);
  });

  it("ejects for base * times ejected, capped by maxEjectionMs", () => {
    const { clock, od, fail } = setup({ consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectionMs: 2500 });
    const lengths: number[] = [];
    for (let k = 0; k < 4; k++) {
      fail("a");
      lengths.push(ejectionLength(clock, od, "a"));
    }
    assert.deepEqual(lengths, [1000, 2000, 2500, 2500]);
  });

  it("decays the times-ejected count by one per interval spent uneject", () => {
    const { clock, od, fail } = setup({ consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectionMs: 100_000 });
    for (let k = 0; k < 3; k++) {
      fail("a");
      ejectionLength(clock, od, "a");
    }
    assert.equal(clock.t, 6000); // ejected 3 times within the first 10 s interval: no decay for it
    clock.advance(30_000 - clock.t); // sweeps at 20 s and 30 s decay 3 -> 1
    fail("a");
    assert.equal(ejectionLength(clock, od, "a"), 2000);
    clock.advance(100_000); // long quiet: back to 0
    fail("a");
    assert.equal(ejectionLength(clock, od, "a"), 1000);
  });

  it("never ejects more than maxEjectionPercent of the known instances", () => {
    const ids = Array.from({ length: 10 }, (_, k) => `i${k}`);
    const { clock, od, fail } = setup({ consecutiveFailures: 1, baseEjectionMs: 1000 }, ids);
    for (const id of ids) fail(id);
    assert.deepEqual(od.ejected(), ["i0", "i1", "i2", "i3", "i4"]);
    clock.advance(1000);
    fail("i9"); // room again
    assert.deepEqual(od.ejected(), ["i9"]);

    const three = setup({ consecutiveFailures: 1, maxEjectionPercent: 50 }, ["a", "b", "c"]);
    three.fail("a");
    three.fail("b");
    assert.deepEqual(three.od.ejected(), ["a"], "50% of 3 rounds down to 1");
    const one = setup({ consecutiveFailures: 1, maxEjectionPercent: 90 }, ["a"]);
    one.fail("a", 10);
    assert.deepEqual(one.od.ejected(), [], "no 'at least one' exception");
  });

  it("returns every instance when all are ejected (panic mode)", () => {
    const { od, fail } = setup({ consecutiveFailures: 1, maxEjectionPercent: 100 }, ["a", "b"]);
    fail("a");
    assert.deepEqual(od.filter([{ id: "a" }, { id: "b" }]), [{ id: "b" }]);
    fail("b");
    assert.deepEqual(od.ejected(), ["a", "b"]);
    assert.deepEqual(od.filter([{ id: "a" }, { id: "b" }]), [{ id: "a" }, { id: "b" }]);
    assert.deepEqual(od.filter([]), []);
  });

  it("ejects by failure rate at the interval, only at or above minRequests", () => {
    const { clock, od, changes } = setup({ consecutiveFailures: 1000, failureRate: { threshold: 0.5, minRequests: 10, intervalMs: 1000 }, maxEjectionPercent: 100 });
    const outcomes = (id: string, ok: number, failed: number) => {
      for (let k = 0; k < ok; k++) od.record(id, true);
      for (let k = 0; k < failed; k++) od.record(id, false);
    };
    outcomes("a", 0, 9); // all failed, but too few
    outcomes("b", 5, 5); // exactly the threshold
    outcomes("c", 16, 4); // 20%
    outcomes("d", 6, 4); // 40%
    clock.advance(999);
    assert.deepEqual(od.ejected(), [], "judged at the interval, not per call");
    clock.advance(1);
    assert.deepEqual(od.ejected(), ["b"]);
    assert.equal(changes(), 1);
    outcomes("a", 0, 1); // the counts started over: 1 < 10
    clock.advance(1000);
    assert.equal(od.isEjected("a"), false);
  });

  it("forgets instances that leave and ignores unknown ones", () => {
    const { clock, od, fail, changes } = setup({ consecutiveFailures: 1, baseEjectionMs: 1000 });
    fail("a");
    fail("a"); // ignored: ejected
    od.setInstances(["b", "c", "d"]);
    assert.equal(od.isEjected("a"), false);
    assert.deepEqual(od.ejected(), []);
    fail("a");
    assert.equal(od.isEjected("a"), false, "not known: ignored");
    clock.advance(5000);
    assert.equal(changes(), 1, "no return event for a removed instance");
    od.setInstances(["a", "b", "c", "d"]);
    fail("a");
    assert.equal(ejectionLength(clock, od, "a"), 1000, "a returning instance starts afresh");
  });

  it("without setInstances, counts the instances it has seen", () => {
    const clock = new FakeClock();
    const od = new OutlierDetector({ consecutiveFailures: 1 }, { clock });
    od.record("a", true);
    od.record("b", false);
    assert.deepEqual(od.ejected(), ["b"]);
  });

  it("close() stops every timer; nothing changes after", () => {
    const { clock, od, fail, changes } = setup({ consecutiveFailures: 1 });
    fail("a");
    assert.equal(clock.pending, 2); // the sweep and a's return
    od.close();
    assert.equal(clock.pending, 0);
    fail("b");
    clock.advance(1_000_000);
    assert.deepEqual(od.ejected(), ["a"]);
    assert.equal(changes(), 1);
  });

  it("keeps running when onChange throws", () => {
    const clock = new FakeClock();
    const od = new OutlierDetector({ consecutiveFailures: 1, maxEjectionPercent: 100 }, { clock, onChange: () => { throw new Error("boom"); }, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    od.record("a", false);
    assert.equal(od.isEjected("a"), true);
  });

  it("rejects bad config", () => {
    for (const c of [{ consecutiveFailures: 0 }, { maxEjectionPercent: 5 }, { maxEjectionPercent: 101 }, { baseEjectionMs: 0 }, { failureRate: { threshold: 1.5, minRequests: 1, intervalMs: 1 } }, { failureRate: { threshold: 0.5, minRequests: 0, intervalMs: 1 } }, { failureRate: { threshold: 0.5, minRequests: 1, intervalMs: 0 } }, { maxEjectionMs: 0 }, { baseEjectionMs: 2 ** 31 }] satisfies OutlierConfig[]) {
      assert.throws(() => new OutlierDetector(c, { clock: new FakeClock() }), ConfigError, JSON.stringify(c));
    }
    assert.throws(() => new OutlierDetector({ failureRate: { threshold: 2, minRequests: 0, intervalMs: 1 } }, { clock: new FakeClock() }), {
      code: "PODREG_CONFIG",
      message: "invalid outlier detection config: failureRate.threshold: Too big: expected number to be <=1; failureRate.minRequests: Too small: expected number to be >=1",
    });
    assert.throws(() => new OutlierDetector({ typo: 1 } as OutlierConfig, { clock: new FakeClock() }), { message: "invalid outlier detection config: typo: unknown key" });
  });

  it("keeps its invariants under any sequence of outcomes (property)", () => {
    const step = fc.record({ who: fc.nat(7), ok: fc.boolean(), wait: fc.constantFrom(0, 0, 0, 500, 3000) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 10, max: 100 }), fc.array(step, { maxLength: 200 }), (n, pct, steps) => {
        const ids = Array.from({ length: n }, (_, k) => `i${k}`);
        const { clock, od, changes } = setup({ consecutiveFailures: 2, baseEjectionMs: 1000, maxEjectionMs: 4000, maxEjectionPercent: pct, failureRate: { threshold: 0.6, minRequests: 3, intervalMs: 2000 } }, ids);
        const since = new Map<string, number>();
        for (const s of steps) {
          od.record(`i${s.who % n}`, s.ok);
          clock.advance(s.wait);
          const ejected = od.ejected();
          assert.ok(ejected.length * 100 <= n * pct, `${ejected.length} of ${n} ejected at ${pct}%`);
          assert.ok(od.filter(ids.map((id) => ({ id }))).length > 0);
          for (const id of ids) if (!ejected.includes(id)) since.delete(id);
          for (const id of ejected) {
            if (!since.has(id)) since.set(id, clock.t);
            assert.ok(clock.t - (since.get(id) ?? 0) < 4000, "no ejection outlasts maxEjectionMs");
          }
        }
        assert.ok(changes() >= 0);
      }),
      { numRuns: 300 },
    );
  });
});
