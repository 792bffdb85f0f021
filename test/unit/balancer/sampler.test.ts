import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createPicker } from "../../../src/balancer/index.js";
import { WeightedSampler } from "../../../src/balancer/sampler.js";
import type { Instance } from "../../../src/model/instance.js";

describe("the alias table (random, least_request)", () => {
  /** weight / total per index, as the table should encode it (uniform over all when every weight is 0). */
  const shares = (weights: readonly number[]): number[] => {
    const max = Math.max(...weights);
    if (!(max > 0)) return weights.map(() => 1 / weights.length);
    const rel = weights.map((w) => w / max); // relative, so that extreme weights cannot overflow the sum
    const total = rel.reduce((a, b) => a + b, 0);
    return rel.map((r) => r / total);
  };
  const check = (weights: readonly number[]): void => {
    const got = new WeightedSampler(Float64Array.from(weights)).probabilities(weights.length);
    const want = shares(weights);
    weights.forEach((w, i) => assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-12, `weights ${weights.length <= 20 ? weights : "(" + weights.length + ")"}: index ${i} (weight ${w}) has ${got[i]}, want ${want[i]}`));
  };

  it("reproduces the weights exactly: each index's probabilities add up to weight / total within 1e-12", () => {
    check([1, 2, 7]);
    check([0, 1, 0, 3]);
    check([0, 0, 0]);
    check([5]);
    check(Array.from({ length: 1000 }, (_, i) => 1 + (i % 5)));
    check([Number.MAX_VALUE, Number.MAX_VALUE, 1]);
    check([1e-300, 1e300, 3]);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constant(0)), { minLength: 1, maxLength: 300 }), (weights) => check(weights)),
      { numRuns: 1000 },
    );
  });

  it("maps r uniform in [0, 1) onto indexes with exactly those probabilities (counted over a fine grid of r)", () => {
    const weights = [3, 0, 1, 4, 2];
    const sampler = new WeightedSampler(Float64Array.from(weights));
    const steps = 1 << 20;
    const counts = new Array<number>(weights.length).fill(0);
    for (let k = 0; k < steps; k++) counts[sampler.sample((k + 0.5) / steps)]!++;
    weights.forEach((w, i) => assert.ok(Math.abs(counts[i]! / steps - w / 10) < 1e-5, `index ${i}: ${counts[i]! / steps}`));
    assert.ok([0, 2, 3, 4].includes(sampler.sample(0.9999999999999999)));
  });

  it("random picks by it: weights 1:2:7 over 100,000 picks, where r sweeps [0, 1) evenly, are 10%, 20%, 70% within 1e-4", () => {
    const list = [1, 2, 7].map((weight, i): Instance => ({ id: `i${i}`, key: "s", service: "s", host: "h", port: 1, protocol: "http", weight, metadata: {}, labels: {}, ready: true, source: "m" }));
    let k = 0;
    const p = createPicker("random", list, { random: () => (k++ + 0.5) / 100_000 });
    const counts = [0, 0, 0];
    for (let j = 0; j < 100_000; j++) counts[Number(p.pick()!.id.slice(1))]!++;
    [0.1, 0.2, 0.7].forEach((share, i) => assert.ok(Math.abs(counts[i]! / 100_000 - share) < 1e-4, `${counts}`));
  });
});
