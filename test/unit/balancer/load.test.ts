import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createLoadTracker, createPicker, type LoadTracker } from "../../../src/balancer/index.js";
import { inFlight, type InFlight } from "../../../src/balancer/load.js";
import type { Instance } from "../../../src/model/instance.js";

const inst = (id: string): Instance => ({ id, key: "echo", service: "echo", host: "10.0.0.1", port: 8080, protocol: "http", weight: 100, metadata: {}, labels: {}, ready: true, source: "memory" });

describe("createLoadTracker", () => {
  it("counts calls in flight per instance id, independently", () => {
    const load = createLoadTracker();
    assert.equal(load.inFlight("a"), 0);
    load.start("a");
    load.start("a");
    load.start("b");
    assert.deepEqual([load.inFlight("a"), load.inFlight("b"), load.inFlight("c")], [2, 1, 0]);
    load.end("a");
    assert.deepEqual([load.inFlight("a"), load.inFlight("b")], [1, 1]);
    load.end("a");
    load.end("b");
    assert.deepEqual([load.inFlight("a"), load.inFlight("b")], [0, 0]);
  });

  it("an unmatched end() never drives a count below 0 (nor owes a later start)", () => {
    const load = createLoadTracker();
    load.end("a");
    assert.equal(load.inFlight("a"), 0);
    load.start("a");
    load.end("a");
    load.end("a");
    load.end("a");
    assert.equal(load.inFlight("a"), 0);
    load.start("a");
    assert.equal(load.inFlight("a"), 1, "the extra end() calls were not banked against this start()");
  });

  it("property: equals a model where end() floors at 0", () => {
    const op = fc.record({ start: fc.boolean(), id: fc.constantFrom("a", "b", "c", "__proto__", "") });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const load = createLoadTracker();
        const model = new Map<string, number>();
        for (const { start, id } of ops) {
          if (start) load.start(id);
          else load.end(id);
          model.set(id, Math.max(0, (model.get(id) ?? 0) + (start ? 1 : -1)));
          assert.equal(load.inFlight(id), model.get(id));
        }
        for (const [id, n] of model) assert.equal(load.inFlight(id), n);
      }),
    );
  });

  it("survives picker rebuilds: least_request keeps avoiding a busy instance", () => {
    const load = createLoadTracker();
    const [a, b] = [inst("a"), inst("b")];
    for (let k = 0; k < 10; k++) load.start("a");
    for (const set of [[a, b], [b, a]]) {
      const picker = createPicker("least_request", set, { load });
      for (let k = 0; k < 50; k++) assert.equal(picker.pick()?.id, "b");
    }
    for (let k = 0; k < 10; k++) load.end("a");
    load.start("b");
    const picker = createPicker("least_request", [a, b], { load });
    assert.equal(picker.pick()?.id, "a");
  });

  it("property: every picker's view of the counts (built before or after the calls) equals inFlight(id)", () => {
    const ids = ["a", "b", "c", "d", "__proto__", ""];
    const op = fc.oneof(
      fc.record({ kind: fc.constant("start" as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant("end" as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant("view" as const), pick: fc.subarray(ids), drop: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const load = createLoadTracker();
        const views: { view: InFlight; ids: string[] }[] = [];
        for (const o of ops) {
          if (o.kind === "start") load.start(o.id);
          else if (o.kind === "end") load.end(o.id);
          else {
            // Repeated ids too: a picker may list one twice.
            const list = [...o.pick, ...o.pick.slice(0, 1)];
            views.push({ view: inFlight(load, list.map(inst)), ids: list });
            if (o.drop) views.shift();
          }
          for (const { view, ids: list } of views) list.forEach((id, k) => assert.equal(view.at(k), load.inFlight(id), `${id} in a view`));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("does not grow with every instance ever seen: a picker that is gone gives its instances' slots back", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const load = createLoadTracker();
    const internals = load as unknown as { slotOf: Map<string, number>; count: number[] };
    const build = (round: number) => createPicker("least_connection", Array.from({ length: 50 }, (_, k) => inst(`r${round}-${k}`)), { load });
    // Rolling updates: every round replaces all 50 instances; only the current picker is kept.
    let current: unknown;
    for (let round = 0; round < 200; round++) {
      current = build(round);
      if (round % 20 === 0) {
        // WeakRefs let their targets go only after the job that saw them alive.
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
    }
    assert.ok(current);
    assert.ok(internals.slotOf.size < 50 * 40, `${internals.slotOf.size} slots held after 200 rounds of 50 instances`);
    assert.ok(internals.count.length < 50 * 40, `${internals.count.length} slots allocated`);
    // A busy instance keeps its count even with no picker holding it.
    load.start("gone");
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    for (let round = 200; round < 240; round++) current = build(round);
    assert.equal(load.inFlight("gone"), 1);
  });

  it("a tracker of the caller's own is read through inFlight(id)", () => {
    const asked: string[] = [];
    const own: LoadTracker = { start: () => {}, end: () => {}, inFlight: (id) => (asked.push(id), id === "b" ? 3 : 0) };
    const view = inFlight(own, [inst("a"), inst("b")]);
    assert.deepEqual([view.at(0), view.at(1)], [0, 3]);
    assert.deepEqual(asked, ["a", "b"]);
  });
});

describe("least_request over the tracker", () => {
  /** mulberry32: a small seeded PRNG, uniform in [0, 1). */
  const seeded = (seed: number) => {
    let a = seed >>> 0;
    return {
      random: () => {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      },
    };
  };
  const pods = (n: number): Instance[] => Array.from({ length: n }, (_, i) => inst(`kube-pods:default/echo-${i}/echo/http:8080`));
  const ids = (p: { pick(): Instance | undefined }, n: number): string[] => Array.from({ length: n }, () => p.pick()?.id ?? "-");

  it("sees calls started after it was built, and picks the same with a LoadTracker of the caller's own", () => {
    const list = pods(6);
    const load = createLoadTracker();
    const counts = new Map<string, number>();
    const own = { start: (id: string) => void counts.set(id, (counts.get(id) ?? 0) + 1), end: (id: string) => void counts.set(id, Math.max(0, (counts.get(id) ?? 0) - 1)), inFlight: (id: string) => counts.get(id) ?? 0 };
    for (const config of [{ policy: "least_request" as const }, { policy: "least_request" as const, leastRequest: { choiceCount: 3, activeRequestBias: 0.5 } }]) {
      const weighted = list.map((p, i) => ({ ...p, weight: 1 + (i % 3) }));
      const a = createPicker(config, weighted, { load, ...seeded(4) });
      const b = createPicker(config, weighted, { load: own, ...seeded(4) });
      for (let k = 0; k < 2000; k++) {
        const x = a.pick()!;
        assert.equal(b.pick()!.id, x.id, `pick ${k}`);
        // Calls pile up and drain: every pick starts one; every third pick ends one on each instance in turn (a no-op when it has none).
        load.start(x.id);
        own.start(x.id);
        if (k % 3 === 0) {
          const y = weighted[k % weighted.length]!.id;
          load.end(y);
          own.end(y);
        }
      }
    }
    const busy = createLoadTracker();
    const p = createPicker("least_request", list, { load: busy, ...seeded(8) });
    for (let k = 0; k < 100; k++) busy.start(list[0]!.id);
    assert.ok(ids(p, 1000).filter((id) => id === list[0]!.id).length <= 5);
  });
});
