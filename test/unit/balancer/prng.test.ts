import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fastRandom, seedRandom } from "../../../src/balancer/prng.js";

describe("the pickers' default random source (sfc32)", () => {
  it("is uniform in [0, 1), in multiples of 2^-53, and repeats for a seed", () => {
    seedRandom(1, 2, 3);
    const first = Array.from({ length: 5 }, fastRandom);
    seedRandom(1, 2, 3);
    assert.deepEqual(Array.from({ length: 5 }, fastRandom), first);
    const n = 200_000;
    const buckets = new Array<number>(64).fill(0);
    let low = 0;
    for (let k = 0; k < n; k++) {
      const r = fastRandom();
      assert.ok(r >= 0 && r < 1, `${r}`);
      assert.ok(Number.isInteger(r * 2 ** 53));
      buckets[Math.floor(r * 64)]!++;
      // The low bits come from the second output: they must vary too.
      if (Math.floor(r * 2 ** 53) % 2 === 1) low++;
    }
    // Chi-square with 63 degrees of freedom: above 120 happens with probability < 1e-5.
    const e = n / 64;
    const chi = buckets.reduce((a, c) => a + (c - e) ** 2 / e, 0);
    assert.ok(chi < 120, `chi-square ${chi.toFixed(1)}`);
    assert.ok(Math.abs(low / n - 0.5) < 0.01, `lowest bit set in ${low} of ${n}`);
  });
});
