/**
 * least_connection, shortest_expected_delay and never_queue (IPVS's wlc, sed
 * and nq over calls in flight): behaviour tables, then properties against a
 * model that scores every instance with exact rationals.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createLoadTracker, createPicker, type LoadTracker, type Picker, type PickerContext, type PolicyName } from "../../../src/balancer/index.js";
import type { Instance } from "../../../src/model/instance.js";

const SCANNING = ["least_connection", "shortest_expected_delay", "never_queue"] as const;
type Scanning = (typeof SCANNING)[number];

const inst = (id: string, weight = 100, extra: Partial<Instance> = {}): Instance => ({ id, key: "echo", service: "echo", host: "10.0.0.1", port: 8080, protocol: "http", weight, metadata: {}, labels: {}, ready: true, source: "memory", ...extra });
const ids = (p: Picker, n: number): string => Array.from({ length: n }, () => p.pick()?.id ?? "-").join(" ");
/** A tracker with `counts[id]` calls in flight. */
function tracker(counts: Record<string, number>): LoadTracker {
  const load = createLoadTracker();
  for (const [id, n] of Object.entries(counts)) for (let k = 0; k < n; k++) load.start(id);
  return load;
}
/** ctx.random that always returns r: the scan starts at index floor(r * n). */
const from = (r: number, load?: LoadTracker): PickerContext => ({ random: () => r, ...(load && { load }) });

/** [weights "a:3 b:1 ...", calls in flight, ctx.random, picks expected] */
type Row = [weights: string, load: Record<string, number>, r: number, want: Record<Scanning, string>];
const parse = (weights: string): Instance[] => weights.split(" ").map((w) => inst(w.split(":")[0]!, Number(w.split(":")[1] ?? 100)));

const rows: Row[] = [
  // Nothing in flight, equal weights: all three rotate as round_robin, from the random offset.
  ["a b c", {}, 0, { least_connection: "a b c a b c", shortest_expected_delay: "a b c a b c", never_queue: "a b c a b c" }],
  ["a b c", {}, 0.5, { least_connection: "b c a b c a", shortest_expected_delay: "b c a b c a", never_queue: "b c a b c a" }],
  // Equal weights: the fewest calls in flight; idle ones rotate.
  ["a b c d", { a: 2, c: 1 }, 0, { least_connection: "b d b d", shortest_expected_delay: "b d b d", never_queue: "b d b d" }],
  ["a b c", { a: 2, b: 1, c: 1 }, 0, { least_connection: "b c b c", shortest_expected_delay: "b c b c", never_queue: "b c b c" }],
  // Weights 3:1, idle: wlc scores both 0 (rotation), sed and nq prefer the heavier.
  ["a:3 b:1", {}, 0, { least_connection: "a b a b", shortest_expected_delay: "a a a a", never_queue: "a a a a" }],
  // a has 1 in flight: wlc 1/3 vs 0 -> b; sed 2/3 vs 1 -> a; nq: b is idle -> b.
  ["a:3 b:1", { a: 1 }, 0, { least_connection: "b b b b", shortest_expected_delay: "a a a a", never_queue: "b b b b" }],
  // a has 2: sed 3/3 = 1/1, a tie that rotates.
  ["a:3 b:1", { a: 2 }, 0, { least_connection: "b b b b", shortest_expected_delay: "a b a b", never_queue: "b b b b" }],
  // a has 3: sed 4/3 > 1 -> b.
  ["a:3 b:1", { a: 3 }, 0, { least_connection: "b b b b", shortest_expected_delay: "b b b b", never_queue: "b b b b" }],
  // Both busy: wlc 3/3 = 1/1 ties; sed 4/3 < 2/1 -> a; nq is sed.
  ["a:3 b:1", { a: 3, b: 1 }, 0, { least_connection: "a b a b", shortest_expected_delay: "a a a a", never_queue: "a a a a" }],
  // Idle instances of several weights: nq takes the heaviest idle ones in turn, though a busier heavy one has a lower sed.
  ["a:1 b:3 c:3 d:2 e:10", { e: 1 }, 0, { least_connection: "a b c d a b", shortest_expected_delay: "e e e e e e", never_queue: "b c b c b c" }],
  // wlc: 4/4, 1/2, 2/3 -> b. sed (and nq, all busy): 5/4, 2/2, 3/3 -> b and c tie, and rotate.
  ["a:4 b:2 c:3", { a: 4, b: 1, c: 2 }, 0, { least_connection: "b b b", shortest_expected_delay: "b c b", never_queue: "b c b" }],
  // Weight 0 takes nothing while another instance can, however idle it is.
  ["a:0 b:1 c:0", { b: 5 }, 0, { least_connection: "b b b", shortest_expected_delay: "b b b", never_queue: "b b b" }],
  // All weight 0: all of them, as equal weights.
  ["a:0 b:0 c:0", { a: 1 }, 0, { least_connection: "b c b c", shortest_expected_delay: "b c b c", never_queue: "b c b c" }],
];

describe("least_connection, shortest_expected_delay, never_queue", () => {
  for (const [weights, counts, r, want] of rows) {
    for (const policy of SCANNING) {
      it(`${policy}: weights ${weights}, in flight ${JSON.stringify(counts)}, offset ${r} -> ${want[policy]}`, () => {
        const list = parse(weights);
        const p = createPicker(policy, list, from(r, tracker(counts)));
        assert.equal(p.policy, policy);
        assert.equal(ids(p, want[policy].split(" ").length), want[policy]);
      });
    }
  }

  it("see calls that start and end after the picker was built, and keep them across rebuilds", () => {
    for (const policy of SCANNING) {
      const load = createLoadTracker();
      const list = [inst("a"), inst("b"), inst("c")];
      const p = createPicker(policy, list, from(0, load));
      const got: string[] = [];
      // Each call stays in flight: the picks spread over all three, then the least busy again.
      for (let k = 0; k < 6; k++) {
        const i = p.pick()!;
        load.start(i.id);
        got.push(i.id);
      }
      assert.deepEqual(got, ["a", "b", "c", "a", "b", "c"], policy);
      load.end("b");
      assert.equal(p.pick()?.id, "b", policy);
      const rebuilt = createPicker(policy, [...list].reverse(), from(0, load));
      assert.equal(rebuilt.pick()?.id, "b", `${policy} after a rebuild`);
      load.end("b");
      load.end("b");
      load.end("b"); // unmatched: stays at 0
      load.start("a");
      load.start("c");
      assert.equal(load.inFlight("b"), 0);
      assert.equal(p.pick()?.id, "b", policy);
    }
  });

  it("without a tracker: least_connection is round_robin; the others send everything to the heaviest instances, in turn", () => {
    const list = [inst("a", 1), inst("b", 5), inst("c", 5), inst("d", 2)];
    assert.equal(ids(createPicker("least_connection", list, from(0)), 8), "a b c d a b c d");
    for (const policy of ["shortest_expected_delay", "never_queue"] as const) assert.equal(ids(createPicker(policy, list, from(0)), 4), "b c b c", policy);
  });

  it("slow start: a warming instance counts with its ramped weight", () => {
    let now = 0;
    const list = [inst("old", 100), inst("new", 100, { startTime: 0 })];
    const load = tracker({ old: 1 });
    const p = createPicker({ policy: "shortest_expected_delay", slowStart: { windowMs: 10_000 } }, list, { load, now: () => now, random: () => 0 });
    // old: 2/100; new: 1/10 (the 10% floor) -> old.
    assert.equal(ids(p, 2), "old old");
    now = 10_000;
    // Full weight: 2/100 vs 1/100 -> new.
    assert.equal(ids(p, 2), "new new");
  });

  it("works with a LoadTracker of the caller's own (asked inFlight(id) on each read)", () => {
    const counts = new Map<string, number>([["a", 2]]);
    const own: LoadTracker = { start: (id) => void counts.set(id, (counts.get(id) ?? 0) + 1), end: (id) => void counts.set(id, Math.max(0, (counts.get(id) ?? 0) - 1)), inFlight: (id) => counts.get(id) ?? 0 };
    const p = createPicker("least_connection", [inst("a"), inst("b")], from(0, own));
    assert.equal(ids(p, 3), "b b b");
    own.start("b");
    own.start("b");
    own.start("b");
    assert.equal(ids(p, 2), "a a");
  });
});

// ---------------------------------------------------------------- model

/** a / b as an exact fraction, compared by cross-multiplication in BigInt. */
type Ratio = [num: bigint, den: bigint];
const less = (x: Ratio, y: Ratio): boolean => x[0] * y[1] < y[0] * x[1];
const equal = (x: Ratio, y: Ratio): boolean => x[0] * y[1] === y[0] * x[1];

/** The model's score (lower wins): [busy (never_queue only), ratio]. */
function score(policy: Scanning, active: number, weight: number, uniform: boolean): [number, Ratio] {
  const w = BigInt(uniform ? 1 : weight);
  const a = BigInt(active);
  if (policy === "least_connection") return [0, [a, w]];
  if (policy === "shortest_expected_delay") return [0, [a + 1n, w]];
  return [active > 0 ? 1 : 0, [a + 1n, w]];
}
const better = (x: [number, Ratio], y: [number, Ratio]): boolean => x[0] < y[0] || (x[0] === y[0] && less(x[1], y[1]));
const same = (x: [number, Ratio], y: [number, Ratio]): boolean => x[0] === y[0] && equal(x[1], y[1]);

/** The instances a scan runs over (weight 0 only when all are 0) and whether they score as equal weights. */
function eligible(weights: readonly number[]): { index: number[]; uniform: boolean } {
  const positive = weights.flatMap((w, i) => (w > 0 ? [i] : []));
  const index = positive.length > 0 ? positive : weights.map((_, i) => i);
  return { index, uniform: index.every((i) => weights[i] === weights[index[0]!]) };
}

describe("least_connection, shortest_expected_delay, never_queue: properties", () => {
  const scenario = fc.record({
    policy: fc.constantFrom(...SCANNING),
    weights: fc.array(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constantFrom(0, 100)), { minLength: 1, maxLength: 12 }),
    offset: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    initial: fc.array(fc.nat(4), { maxLength: 12 }),
    // Between picks: start (true) or end (false) a call on instance (index mod n); the pick itself starts a call when `hold`.
    steps: fc.array(fc.record({ ops: fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 3 }), hold: fc.boolean() }), { minLength: 1, maxLength: 25 }),
    own: fc.boolean(),
  });

  it("every pick is a best instance over all eligible ones, the first from the cursor on ties; the cursor moves past it", () => {
    fc.assert(
      fc.property(scenario, ({ policy, weights, offset, initial, steps, own }) => {
        const list = weights.map((w, i) => inst(`i${i}`, w));
        const counts = weights.map((_, i) => initial[i] ?? 0);
        // Half the runs through a tracker of the caller's own: the same picks.
        const model = new Map<string, number>();
        const load: LoadTracker = own
          ? { start: (id) => void model.set(id, (model.get(id) ?? 0) + 1), end: (id) => void model.set(id, Math.max(0, (model.get(id) ?? 0) - 1)), inFlight: (id) => model.get(id) ?? 0 }
          : createLoadTracker();
        counts.forEach((n, i) => Array.from({ length: n }, () => load.start(`i${i}`)));
        const p = createPicker(policy, list, { load, random: () => offset });
        const { index, uniform } = eligible(weights);
        assert.equal(p.size, index.length);
        let cursor = Math.min(Math.floor(offset * index.length), index.length - 1);
        for (const { ops, hold } of steps) {
          for (const [start, which] of ops) {
            const i = which % list.length;
            if (start) {
              load.start(`i${i}`);
              counts[i]!++;
            } else {
              load.end(`i${i}`);
              counts[i] = Math.max(0, counts[i]! - 1);
            }
          }
          // The model: scan eligible instances from the cursor, keep the first strictly better one.
          let best = cursor;
          for (let j = 1; j < index.length; j++) {
            const k = (cursor + j) % index.length;
            const s = score(policy, counts[index[k]!]!, weights[index[k]!]!, uniform);
            if (better(s, score(policy, counts[index[best]!]!, weights[index[best]!]!, uniform))) best = k;
          }
          const got = p.pick()!;
          const want = list[index[best]!]!;
          const sGot = score(policy, counts[Number(got.id.slice(1))]!, got.weight, uniform);
          assert.ok(same(sGot, score(policy, counts[index[best]!]!, want.weight, uniform)), `${policy}: picked ${got.id}, a worse score than ${want.id}`);
          assert.equal(got.id, want.id, `${policy}: ${got.id} where the first best from the cursor is ${want.id}`);
          cursor = (best + 1) % index.length;
          if (hold) {
            load.start(got.id);
            counts[Number(got.id.slice(1))]!++;
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  it("with nothing in flight and equal weights, each of n instances is picked exactly once per n picks", () => {
    fc.assert(
      fc.property(fc.constantFrom(...SCANNING), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (policy, n, weight, offset) => {
        const p = createPicker(policy, Array.from({ length: n }, (_, i) => inst(`i${i}`, weight)), { load: createLoadTracker(), random: () => offset });
        for (let cycle = 0; cycle < 3; cycle++) assert.equal(new Set(Array.from({ length: n }, () => p.pick()!.id)).size, n);
      }),
    );
  });

  it("under sustained concurrency, least_connection keeps calls in flight within 1 of each other (equal weights) and sed proportional to weight", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 8 }), fc.integer({ min: 1, max: 60 }), (weights, calls) => {
        for (const policy of ["least_connection", "shortest_expected_delay"] as const) {
          const load = createLoadTracker();
          const list = weights.map((w, i) => inst(`i${i}`, policy === "least_connection" ? 1 : w));
          const p = createPicker(policy, list, { load });
          const held = list.map(() => 0);
          for (let k = 0; k < calls; k++) {
            const i = Number(p.pick()!.id.slice(1));
            load.start(`i${i}`);
            held[i]!++;
          }
          if (policy === "least_connection") assert.ok(Math.max(...held) - Math.min(...held) <= 1, `${held}`);
          else {
            // sed fills by (active + 1) / w: no instance is more than one call ahead of its share.
            const ws = list.map((x) => x.weight);
            for (let i = 0; i < held.length; i++) for (let j = 0; j < held.length; j++) if (held[i]! > 0) assert.ok(held[i]! / ws[i]! <= (held[j]! + 1) / ws[j]! + 1e-9, `${held} over ${ws}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("the IPVS policies in the config", () => {
  it("are valid policy names for createPicker, each with its own picker", () => {
    for (const policy of SCANNING satisfies readonly PolicyName[]) {
      const p = createPicker({ policy, zone: { local: "a" }, slowStart: { windowMs: 1000 } }, [inst("x", 1, { zone: "a" }), inst("y", 1, { zone: "b" })]);
      assert.equal(p.policy, policy);
      assert.equal(p.pick()?.id, "x");
    }
  });
});
