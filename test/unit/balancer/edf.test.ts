import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EdfScheduler } from "../../../src/balancer/edf.js";
import { createPicker } from "../../../src/balancer/index.js";
import { SCAN_LIMIT } from "../../../src/balancer/weighted-round-robin.js";
import type { Instance } from "../../../src/model/instance.js";

const run = (edf: EdfScheduler, n: number) => Array.from({ length: n }, () => edf.pick());

/** The rule itself, O(n) a pick: the earliest deadline (picks + 1) / weight, ties to the entry queued first. */
function reference(weights: readonly number[], n: number): number[] {
  const picks = weights.map(() => 0);
  const queued = weights.map((_, i) => i);
  let seq = weights.length;
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    let best = 0;
    for (let i = 1; i < weights.length; i++) {
      const d = (picks[i]! + 1) / weights[i]!;
      const bd = (picks[best]! + 1) / weights[best]!;
      if (d < bd || (d === bd && queued[i]! < queued[best]!)) best = i;
    }
    picks[best]!++;
    queued[best] = seq++;
    out.push(best);
  }
  return out;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

describe("EDF scheduler (weighted_round_robin above the scan limit)", () => {
  it("weights 2:1 give A, B, A; an empty scheduler gives -1", () => {
    assert.deepEqual(run(new EdfScheduler([2, 1]), 6), [0, 1, 0, 0, 1, 0]);
    assert.equal(new EdfScheduler([]).pick(), -1);
  });

  it("picks every instance exactly `weight` times per cycle, cycle after cycle (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 4 }), (weights, cycles) => {
        const edf = new EdfScheduler(weights);
        const total = weights.reduce((a, b) => a + b, 0);
        for (let c = 0; c < cycles; c++) {
          const counts = new Array<number>(weights.length).fill(0);
          for (const i of run(edf, total)) counts[i]!++;
          assert.deepEqual(counts, weights);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a short cycle of integer weights is the rule's first cycle, then replayed as it was (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 50 }), (base, factor) => {
        const weights = base.map((w) => w * factor);
        const cycle = weights.reduce((a, b) => a + b, 0) / weights.reduce(gcd, 0);
        const edf = new EdfScheduler(weights);
        assert.equal(edf.cycleLength, cycle);
        const seq = run(edf, cycle * 3);
        const first = seq.slice(0, cycle);
        assert.deepEqual(first, reference(weights, cycle));
        assert.deepEqual(seq.slice(cycle, 2 * cycle), first);
        assert.deepEqual(seq.slice(2 * cycle), first);
      }),
      { numRuns: 300 },
    );
  });

  it("long cycles and fractional weights stay on the heap, exact per cycle", () => {
    // 11 coprime weights near 1,000: a cycle of 11,055 picks, over the 1,024 recorded for 11 entries.
    const weights = Array.from({ length: 11 }, (_, i) => 1000 + i);
    const total = weights.reduce((a, b) => a + b, 0);
    const edf = new EdfScheduler(weights);
    assert.equal(edf.cycleLength, 0);
    const seq = run(edf, 2 * total);
    assert.deepEqual(seq.slice(0, total), reference(weights, total));
    for (const part of [seq.slice(0, total), seq.slice(total)]) {
      const counts = weights.map(() => 0);
      for (const i of part) counts[i]!++;
      assert.deepEqual(counts, weights);
    }
    const fractional = new EdfScheduler([1.5, 0.5]);
    assert.equal(fractional.cycleLength, 0);
    const halves = run(fractional, 8);
    assert.deepEqual(halves, reference([1.5, 0.5], 8));
    assert.deepEqual([0, 1].map((i) => halves.filter((x) => x === i).length), [6, 2]);
  });

  it("spreads each instance's picks: consecutive picks of i are about total / weight_i apart (within n)", () => {
    const weights = Array.from({ length: 200 }, (_, i) => 1 + (i % 7));
    const total = weights.reduce((a, b) => a + b, 0);
    const seq = run(new EdfScheduler(weights), total * 3);
    const last = new Map<number, number>();
    let worst = 0;
    seq.forEach((i, pos) => {
      const prev = last.get(i);
      if (prev !== undefined) {
        const ideal = total / weights[i]!;
        worst = Math.max(worst, Math.abs(pos - prev - ideal));
      }
      last.set(i, pos);
    });
    assert.ok(worst <= weights.length, `worst deviation from the ideal gap: ${worst}`);
  });

  it("update() switches to new weights from the current point", () => {
    const edf = new EdfScheduler([1, 1, 1]);
    run(edf, 7);
    edf.update([6, 3, 1]);
    assert.equal(edf.cycleLength, 10);
    const counts = [0, 0, 0];
    for (const i of run(edf, 100)) counts[i]!++;
    assert.deepEqual(counts, [60, 30, 10]);
  });

  it("weighted_round_robin over more than SCAN_LIMIT instances keeps exact per-cycle counts", () => {
    const n = SCAN_LIMIT * 3;
    const instances: Instance[] = Array.from({ length: n }, (_, i) => ({
      id: `i${i}`,
      key: "s",
      service: "s",
      host: `10.0.0.${i}`,
      port: 80,
      protocol: "http",
      weight: 1 + (i % 5),
      metadata: {},
      labels: {},
      ready: true,
      source: "t",
    }));
    const picker = createPicker("weighted_round_robin", instances);
    const total = instances.reduce((a, i) => a + i.weight, 0);
    const counts = new Map<string, number>();
    for (let k = 0; k < total * 2; k++) {
      const id = picker.pick()!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const i of instances) assert.equal(counts.get(i.id), 2 * i.weight, i.id);
  });
});
