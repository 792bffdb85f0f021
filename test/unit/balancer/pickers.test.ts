import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { POLICIES, createLoadTracker, createPicker, effectiveWeight, type BalancerConfig, type PickRequest, type Picker, type PickerContext, type PolicyName } from "../../../src/balancer/index.js";
import { ringCounts, type RingHashPicker } from "../../../src/balancer/ring-hash.js";
import { ConfigError } from "../../../src/errors.js";
import type { Instance } from "../../../src/model/instance.js";

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const inst = (id: string, weight = 100, extra: Partial<Instance> = {}): Instance => ({ id, key: "echo", service: "echo", host: "10.0.0.1", port: 8080, protocol: "http", weight, metadata: {}, labels: {}, ready: true, source: "memory", ...extra });
const pods = (n: number): Instance[] => Array.from({ length: n }, (_, i) => inst(`kube-pods:default/echo-${i}/echo/http:8080`));
const ids = (p: Picker, n: number, req?: PickRequest): string[] => Array.from({ length: n }, () => p.pick(req)?.id ?? "-");
/** How often each id was picked in n picks without a request. */
const tally = (p: Picker, n: number): Map<string, number> => ids(p, n).reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());
/** count is within 5 standard deviations of Binomial(n, p)'s mean. */
function assertBinomial(count: number, n: number, p: number, label: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(count - n * p) <= 5 * sd, `${label}: ${count} of ${n}, expected ${(n * p).toFixed(0)} +- ${(5 * sd).toFixed(0)}`);
}
const seeded = (seed = 1): PickerContext => ({ random: mulberry32(seed) });

describe("round_robin", () => {
  it("visits each instance exactly once per cycle from the random offset, ignoring weights", () => {
    const list = [inst("a", 1), inst("b", 1000), inst("c", 7)];
    assert.deepEqual(ids(createPicker("round_robin", list, { random: () => 0 }), 7), ["a", "b", "c", "a", "b", "c", "a"]);
    assert.deepEqual(ids(createPicker("round_robin", list, { random: () => 0.5 }), 4), ["b", "c", "a", "b"]);
    assert.deepEqual(ids(createPicker("round_robin", list, { random: () => 0.9999 }), 4), ["c", "a", "b", "c"]);
    const picks = ids(createPicker("round_robin", pods(7)), 70);
    for (let c = 0; c < 70; c += 7) assert.equal(new Set(picks.slice(c, c + 7)).size, 7, `cycle ${c / 7}`);
  });

  it("skips weight-0 instances unless all weights are 0", () => {
    const list = [inst("a", 0), inst("b", 1), inst("c", 0), inst("d", 5)];
    assert.deepEqual(ids(createPicker("round_robin", list, { random: () => 0 }), 4), ["b", "d", "b", "d"]);
    assert.equal(createPicker("round_robin", list).size, 2);
    const zero = [inst("a", 0), inst("b", 0), inst("c", 0)];
    assert.deepEqual(ids(createPicker("round_robin", zero, { random: () => 0 }), 6), ["a", "b", "c", "a", "b", "c"]);
  });
});

describe("weighted_round_robin (nginx smooth WRR)", () => {
  it("gives the exact nginx sequences, whatever the random start", () => {
    for (const r of [0, 0.5, 0.99]) {
      const abSeq = ids(createPicker("weighted_round_robin", [inst("A", 2), inst("B", 1)], { random: () => r }), 9);
      assert.deepEqual(abSeq, ["A", "B", "A", "A", "B", "A", "A", "B", "A"]);
      const five = ids(createPicker("weighted_round_robin", [inst("A", 5), inst("B", 1), inst("C", 1)], { random: () => r }), 14);
      assert.deepEqual(five, [..."AABACAA", ..."AABACAA"]);
    }
  });

  it("picks each instance exactly `weight` times in every window of sum(weights) picks", () => {
    for (const weights of [[3, 2, 1], [1, 1, 2], [10, 1], [7, 7, 3, 1], [1, 2, 3, 4, 5]]) {
      const total = weights.reduce((a, b) => a + b, 0);
      const picks = ids(createPicker("weighted_round_robin", weights.map((w, i) => inst(`i${i}`, w))), total * 5);
      for (let start = 0; start < picks.length; start += total) {
        const window = picks.slice(start, start + total);
        weights.forEach((w, i) => assert.equal(window.filter((id) => id === `i${i}`).length, w, `weights ${weights} window at ${start}`));
      }
    }
  });

  it("equal weights rotate from the random offset; weight 0 is never picked unless all are 0", () => {
    assert.deepEqual(ids(createPicker("weighted_round_robin", pods(4).map((p, i) => ({ ...p, id: `p${i}` })), { random: () => 0.5 }), 5), ["p2", "p3", "p0", "p1", "p2"]);
    const counts = tally(createPicker("weighted_round_robin", [inst("a", 0), inst("b", 3), inst("c", 1)]), 400);
    assert.deepEqual([counts.get("a"), counts.get("b"), counts.get("c")], [undefined, 300, 100]);
    assert.deepEqual(ids(createPicker("weighted_round_robin", [inst("a", 0), inst("b", 0)], { random: () => 0 }), 4), ["a", "b", "a", "b"]);
  });
});

describe("random", () => {
  it("weights 1:2:7 over 100,000 seeded picks are within 5 standard deviations", () => {
    const counts = tally(createPicker("random", [inst("a", 1), inst("b", 2), inst("c", 7)], seeded(42)), 100_000);
    assertBinomial(counts.get("a") ?? 0, 100_000, 0.1, "a");
    assertBinomial(counts.get("b") ?? 0, 100_000, 0.2, "b");
    assertBinomial(counts.get("c") ?? 0, 100_000, 0.7, "c");
  });

  it("never picks weight 0 unless all are 0 (then uniformly)", () => {
    const counts = tally(createPicker("random", [inst("a", 0), inst("b", 1), inst("c", Number.NaN), inst("d", -3)], seeded()), 1000);
    assert.deepEqual([...counts], [["b", 1000]]);
    const zero = tally(createPicker("random", [inst("a", 0), inst("b", 0), inst("c", 0)], seeded()), 30_000);
    for (const id of ["a", "b", "c"]) assertBinomial(zero.get(id) ?? 0, 30_000, 1 / 3, id);
  });
});

describe("least_request", () => {
  it("(almost) never picks an instance with many calls in flight", () => {
    const load = createLoadTracker();
    const list = pods(5);
    for (let k = 0; k < 50; k++) load.start(list[2]!.id);
    const counts = tally(createPicker("least_request", list, { load, ...seeded(7) }), 10_000);
    assert.ok((counts.get(list[2]!.id) ?? 0) <= 10, `busy instance picked ${counts.get(list[2]!.id)} times`);
    for (const i of [0, 1, 3, 4]) assertBinomial(counts.get(list[i]!.id) ?? 0, 10_000, 0.25, `instance ${i}`);
  });

  it("with nothing in flight, weights 2:1 split traffic 2:1", () => {
    const counts = tally(createPicker("least_request", [inst("a", 2), inst("b", 1)], { load: createLoadTracker(), ...seeded(3) }), 30_000);
    assertBinomial(counts.get("a") ?? 0, 30_000, 2 / 3, "a");
  });

  it("respects choiceCount: with loads 0..9, instance k wins with probability C(9-k, c-1) / C(10, c)", () => {
    const choose = (n: number, k: number): number => (k < 0 || k > n ? 0 : k === 0 ? 1 : (choose(n - 1, k - 1) * n) / k);
    const list = pods(10);
    const load = createLoadTracker();
    list.forEach((p, k) => {
      for (let j = 0; j < k; j++) load.start(p.id);
    });
    for (const c of [2, 3, 5, 10]) {
      const counts = tally(createPicker({ policy: "least_request", leastRequest: { choiceCount: c } }, list, { load, ...seeded(c) }), 20_000);
      list.forEach((p, k) => assertBinomial(counts.get(p.id) ?? 0, 20_000, choose(9 - k, c - 1) / choose(10, c), `choiceCount ${c}, load ${k}`));
    }
  });

  it("compares calls in flight per unit of weight", () => {
    const load = createLoadTracker();
    const list = [inst("a", 2), inst("b", 1)];
    for (let k = 0; k < 3; k++) load.start("a");
    load.start("b");
    assert.deepEqual(new Set(ids(createPicker("least_request", list, { load, ...seeded() }), 200)), new Set(["b"]), "a has 1.5 per unit, b 1");
    load.start("b");
    assert.deepEqual(new Set(ids(createPicker("least_request", list, { load, ...seeded() }), 200)), new Set(["a"]), "a has 1.5 per unit, b 2");
  });

  it("degrades to weighted random without a load tracker, or with activeRequestBias 0", () => {
    const list = [inst("a", 1), inst("b", 3)];
    assertBinomial(tally(createPicker("least_request", list, seeded(5)), 20_000).get("a") ?? 0, 20_000, 0.25, "no tracker");
    const load = createLoadTracker();
    for (let k = 0; k < 100; k++) load.start("b");
    const biasZero = createPicker({ policy: "least_request", leastRequest: { activeRequestBias: 0 } }, list, { load, ...seeded(6) });
    assertBinomial(tally(biasZero, 20_000).get("a") ?? 0, 20_000, 0.25, "bias 0");
  });
});

const HASHED = [
  { policy: "ring_hash", req: (k: number): PickRequest => ({ hashKey: `user-${k}` }) },
  { policy: "maglev", req: (k: number): PickRequest => ({ hashKey: `user-${k}` }) },
  { policy: "source_affinity", req: (k: number): PickRequest => ({ clientAddress: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}` }) },
] as const;

/** The instance id each of `keys` requests maps to. */
const mapping = (p: Picker, req: (k: number) => PickRequest, keys: number): string[] => Array.from({ length: keys }, (_, k) => p.pick(req(k))?.id ?? "-");
const shuffle = <T>(a: readonly T[], random: () => number): T[] => {
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [b[i], b[j]] = [b[j]!, b[i]!];
  }
  return b;
};

describe("consistent hashing: ring_hash, maglev, source_affinity", () => {
  for (const { policy, req } of HASHED) {
    it(`${policy}: the same key maps to the same instance, across picks, rebuilds, ctx.random and the input order`, () => {
      const list = pods(12);
      const want = mapping(createPicker(policy, list, seeded(1)), req, 3000);
      assert.equal(new Set(want).size, 12);
      const p = createPicker(policy, list, seeded(2));
      assert.deepEqual(mapping(p, req, 3000), want);
      assert.deepEqual(mapping(p, req, 3000), want, "picked again");
      assert.deepEqual(mapping(createPicker(policy, [...list].reverse()), req, 3000), want, "reversed");
      for (const seed of [1, 2, 3]) assert.deepEqual(mapping(createPicker(policy, shuffle(list, mulberry32(seed))), req, 3000), want, `shuffle ${seed}`);
    });
  }

  const removal = (policy: PolicyName, req: (k: number) => PickRequest, n: number, config: Partial<BalancerConfig> = {}) => {
    const list = pods(n);
    const gone = list[n >> 1]!.id;
    const before = mapping(createPicker({ policy, ...config }, list), req, 10_000);
    const after = mapping(createPicker({ policy, ...config }, list.filter((i) => i.id !== gone)), req, 10_000);
    let own = 0;
    let survivorsMoved = 0;
    before.forEach((id, k) => {
      if (id === gone) own++;
      else if (after[k] !== id) survivorsMoved++;
      assert.notEqual(after[k], gone);
    });
    return { ownShare: own / 10_000, survivorsMoved: survivorsMoved / 10_000, moved: (own + survivorsMoved) / 10_000 };
  };

  for (const n of [10, 20]) {
    it(`ring_hash: removing 1 of ${n} moves exactly its own keys (points per instance do not depend on N)`, () => {
      assert.equal((createPicker("ring_hash", pods(n - 1)) as RingHashPicker).ringSize, 160 * (n - 1));
      const r = removal("ring_hash", HASHED[0].req, n);
      assert.ok(r.ownShare > 0.5 / n && r.ownShare < 1.5 / n, `own share ${r.ownShare}`);
      assert.equal(r.survivorsMoved, 0, `survivors' keys moved: ${r.survivorsMoved}`);
    });

    it(`maglev: removing 1 of ${n} moves about 1/N of the keys, of which almost all were its own`, () => {
      const r = removal("maglev", HASHED[1].req, n);
      assert.ok(r.ownShare > 0.8 / n && r.ownShare < 1.2 / n, `own share ${r.ownShare}`);
      assert.ok(r.moved < 1.5 / n, `moved ${r.moved}`);
      assert.ok(r.survivorsMoved < 0.01, `survivors' keys moved: ${r.survivorsMoved}`);
    });

    it(`source_affinity: removing 1 of ${n} moves exactly the clients it had`, () => {
      const r = removal("source_affinity", HASHED[2].req, n);
      assert.equal(r.survivorsMoved, 0);
      assert.ok(r.ownShare > 0.6 / n && r.ownShare < 1.4 / n, `own share ${r.ownShare}`);
    });
  }

  it("ring_hash, property: for any N in 3..50 and any removed instance, under 1% of the survivors' keys move and all of its own do", () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 50 }), fc.nat(), fc.integer({ min: 16, max: 400 }), (n, which, points) => {
        const all = pods(n);
        const gone = all[which % n]!;
        const before = createPicker({ policy: "ring_hash", ringHash: { pointsPerInstance: points } }, all);
        const after = createPicker({ policy: "ring_hash", ringHash: { pointsPerInstance: points } }, all.filter((i) => i !== gone));
        let survivors = 0;
        let moved = 0;
        for (let k = 0; k < 2000; k++) {
          const key = { hashKey: `k-${k}` };
          const a = before.pick(key)!;
          const b = after.pick(key)!;
          if (a.id === gone.id) assert.notEqual(b.id, gone.id);
          else {
            survivors++;
            if (a.id !== b.id) moved++;
          }
        }
        assert.ok(moved / survivors < 0.01, `N=${n}: ${moved} of ${survivors} survivors' keys moved`);
      }),
      { numRuns: 40 },
    );
  });

  it("ring_hash: only a ring that would pass maxRingSize shrinks every count (and then survivors' keys may move)", () => {
    assert.deepEqual([...ringCounts([100, 100, 100], 160, 8_388_608)], [160, 160, 160]);
    assert.deepEqual([...ringCounts([100, 100, 100, 100], 160, 320)], [80, 80, 80, 80]);
  });

  const configs: { name: string; config: BalancerConfig; req: (k: number) => PickRequest; balance: number; weight: number }[] = [
    { name: "ring_hash", config: { policy: "ring_hash" }, req: HASHED[0].req, balance: 0.3, weight: 0.2 },
    { name: "ring_hash pointsPerInstance 4096", config: { policy: "ring_hash", ringHash: { pointsPerInstance: 4096 } }, req: HASHED[0].req, balance: 0.1, weight: 0.1 },
    { name: "maglev", config: { policy: "maglev" }, req: HASHED[1].req, balance: 0.1, weight: 0.1 },
    { name: "source_affinity", config: { policy: "source_affinity" }, req: HASHED[2].req, balance: 0.3, weight: 0.25 },
  ];
  for (const { name, config, req, balance, weight } of configs) {
    it(`${name}: keys spread evenly (within ${balance * 100}%) and weight 2 gets about twice the keys (within ${weight * 100}%)`, () => {
      const keys = mapping(createPicker(config, pods(10)), req, 20_000);
      const even = pods(10).map((p) => keys.filter((id) => id === p.id).length);
      for (const c of even) assert.ok(Math.abs(c / 2000 - 1) <= balance, `keys per instance ${even}`);
      const list = pods(5).map((p, i) => (i === 3 ? { ...p, weight: 200 } : p));
      const counts = mapping(createPicker(config, list), req, 30_000);
      const heavy = counts.filter((id) => id === list[3]!.id).length;
      const ratio = heavy / ((30_000 - heavy) / 4);
      assert.ok(Math.abs(ratio / 2 - 1) <= weight, `weight 2 : 1 got ${ratio.toFixed(3)} : 1`);
    });
  }

  it("ring_hash gives each instance round(pointsPerInstance * weight / 100) points, at least 1, whatever the others", () => {
    assert.deepEqual([...ringCounts([200, 100, 100, 100, 100], 160, 8_388_608)], [320, 160, 160, 160, 160]);
    assert.deepEqual([...ringCounts([1, 3], 160, 8_388_608)], [2, 5]);
    assert.deepEqual([...ringCounts([0.1, 100_000], 160, 8_388_608)], [1, 160_000]);
    const list = pods(5).map((p, i) => (i === 0 ? { ...p, weight: 200 } : p));
    assert.equal((createPicker("ring_hash", list) as RingHashPicker).ringSize, 320 + 4 * 160);
  });

  it("without a key: ring_hash and maglev pick by weight at random; source_affinity rotates in id order", () => {
    for (const policy of ["ring_hash", "maglev"] as const) {
      // Weights near the default (100): ring_hash's points are round(160 * weight / 100), exact at these.
      const counts = tally(createPicker(policy, [inst("a", 300), inst("b", 100), inst("c", 0)], seeded(9)), 20_000);
      assertBinomial(counts.get("a") ?? 0, 20_000, 0.75, policy);
      assert.equal(counts.get("c"), undefined);
    }
    const sa = createPicker("source_affinity", [inst("c"), inst("a"), inst("b")], { random: () => 0 });
    assert.deepEqual(ids(sa, 6), ["a", "b", "c", "a", "b", "c"]);
    assert.deepEqual(ids(sa, 3, {}), ["a", "b", "c"]);
  });
});

describe("slow start", () => {
  const ss = (windowMs: number, aggression = 1, minWeightPercent = 10) => ({ windowMs, aggression, minWeightPercent, refreshMs: 1000 });
  it("effectiveWeight ramps linearly (aggression 1) from the minWeightPercent floor to the full weight after the window", () => {
    const start = 1_000_000;
    const cases: [weight: number, startTime: number | undefined, elapsed: number, cfg: ReturnType<typeof ss> | undefined, want: number][] = [
      [100, start, 2500, ss(10_000, 1, 0), 25], [100, start, 5000, ss(10_000, 1, 0), 50],
      [100, start, 0, ss(10_000, 1, 0), 0.01], // max(elapsed, 1 ms)
      [100, start, 500, ss(10_000), 10], // 5% < the 10% floor
      [100, start, 2500, ss(10_000), 25], [100, start, 9999, ss(10_000), 99.99],
      [100, start, 10_000, ss(10_000), 100], [100, start, 1e9, ss(10_000), 100], // the window is over
      [100, start, -5000, ss(10_000), 10], [100, start, -5000, ss(10_000, 1, 0), 0.01], // starts in the future: just started
      [100, start, 2500, ss(10_000, 2), 50], // aggression 2: sqrt(0.25)
      [100, undefined, 0, ss(10_000), 100], [100, start, 0, undefined, 100], // no start time, no slow start: full weight
      [0, start, 2500, ss(10_000), 0], [Number.NaN, start, 2500, ss(10_000), 0], [-5, start, 2500, ss(10_000), 0], [Infinity, start, 2500, ss(10_000), 0],
    ];
    for (const [weight, startTime, elapsed, cfg, want] of cases) {
      const got = effectiveWeight(inst("x", weight, { startTime }), start + elapsed, cfg);
      assert.ok(Math.abs(got - want) < 1e-9, `weight ${weight}, elapsed ${elapsed}, ${JSON.stringify(cfg)}: ${got}, want ${want}`);
    }
    for (let t = 0; t <= 10_000; t += 250) assert.ok(Math.abs(effectiveWeight(inst("x", 40, { startTime: 0 }), t, ss(10_000, 1, 0)) - (40 * Math.max(t, 1)) / 10_000) < 1e-9);
  });

  it("weighted_round_robin with ctx.now shifts traffic to a new instance as it warms: 1/11, then 1/3, then 1/2", () => {
    let now = 0;
    const list = [inst("old", 100), inst("new", 100, { startTime: 0 })];
    const p = createPicker({ policy: "weighted_round_robin", slowStart: { windowMs: 10_000 } }, list, { now: () => now });
    const share = (n: number) => ids(p, n).filter((id) => id === "new").length;
    assert.equal(share(1100), 100); // 10% floor: weights 100 : 10
    now = 500;
    assert.equal(share(1100), 100); // refreshMs (1000) not yet passed
    now = 5000;
    assert.equal(share(1500), 500); // 100 : 50
    now = 10_000;
    assert.equal(share(1000), 500); // full weight: plain rotation
  });

  it("random with ctx.now shifts traffic likewise; a start time in the future counts as just started", () => {
    let now = 0;
    const list = [inst("old", 100), inst("new", 100, { startTime: 0 }), inst("skewed", 100, { startTime: 60_000 })];
    const p = createPicker({ policy: "random", slowStart: { windowMs: 10_000, minWeightPercent: 20 } }, list, { now: () => now, ...seeded(11) });
    for (const [t, wNew, wSkewed] of [[0, 20, 20], [5000, 50, 20], [10_000, 100, 20], [70_000, 100, 100]] as const) {
      now = t;
      const counts = tally(p, 30_000);
      const total = 100 + wNew + wSkewed;
      assertBinomial(counts.get("new") ?? 0, 30_000, wNew / total, `new at ${t}`);
      assertBinomial(counts.get("skewed") ?? 0, 30_000, wSkewed / total, `skewed at ${t}`);
    }
  });
});

describe("zone awareness", () => {
  const list = [inst("r1", 100, { zone: "b" }), inst("l1", 100, { zone: "a" }), inst("r2", 100, { zone: "c" }), inst("l2", 100, { zone: "a" }), inst("r3", 100, { zone: "b" })];
  const seen = (zone: BalancerConfig["zone"], instances = list, policy: PolicyName = "round_robin") => {
    const p = createPicker({ policy, zone }, instances, seeded());
    return [...new Set(Array.from({ length: 500 }, (_, k) => p.pick({ hashKey: `k${k}`, clientAddress: `c${k}` })?.id))].sort();
  };

  it("uses only local instances while there are enough, for every policy", () => {
    for (const policy of POLICIES) assert.deepEqual(seen({ local: "a" }, list, policy), ["l1", "l2"], policy);
  });

  it("spills over to all zones below minLocalInstances or minLocalPercent, or with no local instance", () => {
    const all = ["l1", "l2", "r1", "r2", "r3"];
    assert.deepEqual(seen({ local: "a", minLocalInstances: 2 }), ["l1", "l2"]);
    assert.deepEqual(seen({ local: "a", minLocalInstances: 3 }), all);
    assert.deepEqual(seen({ local: "a", minLocalPercent: 40 }), ["l1", "l2"]); // 2 of 5
    assert.deepEqual(seen({ local: "a", minLocalPercent: 41 }), all);
    assert.deepEqual(seen({ local: "z" }), all);
    const draining = list.map((i) => (i.id === "l2" ? { ...i, weight: 0 } : i));
    assert.deepEqual(seen({ local: "a", minLocalInstances: 2 }, draining), ["l1", "r1", "r2", "r3"]);
  });
});

describe("createPicker configuration", () => {
  it("throws ConfigError naming the field for invalid configuration", () => {
    const bad: [config: unknown, field: string][] = [
      [{ policy: "fastest" }, "policy"],
      ["least_conn", "policy"],
      [null, "config"],
      [{ policy: "maglev", maglev: { tableSize: 65_536 } }, "maglev.tableSize"],
      [{ policy: "maglev", maglev: { tableSize: 1 } }, "maglev.tableSize"],
      [{ policy: "maglev", maglev: { tableSize: 5_000_101 } }, "maglev.tableSize"],
      [{ policy: "ring_hash", ringHash: { pointsPerInstance: 0 } }, "ringHash.pointsPerInstance"],
      [{ policy: "ring_hash", ringHash: { maxRingSize: 2 ** 24 } }, "ringHash.maxRingSize"],
      [{ policy: "random", slowStart: {} }, "slowStart.windowMs"],
      [{ policy: "random", slowStart: { windowMs: 0 } }, "slowStart.windowMs"],
      [{ policy: "random", slowStart: { windowMs: 1000, minWeightPercent: 101 } }, "slowStart.minWeightPercent"],
      [{ policy: "random", zone: {} }, "zone.local"],
      [{ policy: "random", zone: { local: "" } }, "zone.local"],
      [{ policy: "random", zone: { local: "a", minLocalInstances: 0 } }, "zone.minLocalInstances"],
      [{ policy: "least_request", leastRequest: { choiceCount: 1 } }, "leastRequest.choiceCount"],
      [{ policy: "least_request", leastRequest: { activeRequestBias: -1 } }, "leastRequest.activeRequestBias"],
    ];
    for (const [config, field] of bad) {
      for (const instances of [[], pods(3)]) {
        assert.throws(() => createPicker(config as BalancerConfig, instances), (err: unknown) => {
          assert.ok(err instanceof ConfigError, `${JSON.stringify(config)}: ${String(err)}`);
          assert.equal(err.code, "PODREG_CONFIG");
          assert.ok(err.message.includes(field), `${JSON.stringify(config)}: "${err.message}" should name ${field}`);
          return true;
        });
      }
    }
    createPicker({ policy: "maglev", maglev: { tableSize: 2 } }, pods(3));
    createPicker({ policy: "ring_hash", ringHash: { pointsPerInstance: 64, maxRingSize: 64 } }, pods(3));
  });

  it("an empty instance list gives a picker that returns undefined, for every policy", () => {
    for (const policy of POLICIES) {
      for (const config of [{ policy }, { policy, zone: { local: "a" } }, { policy, slowStart: { windowMs: 1000 } }]) {
        const p = createPicker(config, [], { load: createLoadTracker() });
        assert.equal(p.size, 0);
        assert.equal(p.policy, policy);
        for (const req of [undefined, {}, { hashKey: "k" }, { clientAddress: "10.0.0.1" }]) assert.equal(p.pick(req), undefined, policy);
      }
    }
  });

  it("the hash policies still pick with extreme finite weights (sizing must neither overflow nor underflow)", () => {
    const extremes = [[1e308], [1e308, 1e308], [Number.MAX_VALUE, 1], [1e-300, 1e300], [5e-324, 1e10], [Number.MIN_VALUE, Number.MIN_VALUE]];
    for (const policy of ["ring_hash", "maglev", "source_affinity"] as const) {
      for (const weights of extremes) {
        const list = weights.map((w, i) => inst(`p${i}`, w));
        const p = createPicker({ policy, ringHash: { maxRingSize: 65_536 } }, list, seeded());
        for (const req of [undefined, { hashKey: "k", clientAddress: "10.0.0.1" }]) assert.ok(list.includes(p.pick(req)!), `${policy} ${weights}`);
      }
    }
  });

  it("property: pick() never throws and returns one of the instances (undefined only when there are none)", () => {
    const weight = fc.oneof(fc.constantFrom(0, -0, 1, 100, Number.NaN, -1, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53), fc.double(), fc.integer({ min: 0, max: 1000 }));
    const text = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }));
    const instance = fc
      .record({ id: fc.oneof(fc.constantFrom("a", "b", "c"), text), weight, zone: fc.constantFrom(undefined, "z1", "z2"), startTime: fc.option(fc.oneof(fc.double(), fc.integer()), { nil: undefined }), busy: fc.nat(3) })
      .map(({ busy, ...rest }) => ({ instance: inst(rest.id, rest.weight, { zone: rest.zone, startTime: rest.startTime }), busy }));
    const config = fc.record({
      policy: fc.constantFrom(...POLICIES),
      slowStart: fc.option(fc.record({ windowMs: fc.integer({ min: 1, max: 1e6 }), aggression: fc.constantFrom(0.5, 1, 3), minWeightPercent: fc.constantFrom(0, 10, 100), refreshMs: fc.constantFrom(0, 1000) }), { nil: undefined }),
      zone: fc.option(fc.record({ local: fc.constantFrom("z1", "z2"), minLocalInstances: fc.integer({ min: 1, max: 3 }), minLocalPercent: fc.constantFrom(0, 50, 100) }), { nil: undefined }),
      leastRequest: fc.record({ choiceCount: fc.integer({ min: 2, max: 5 }), activeRequestBias: fc.constantFrom(0, 0.5, 1, 2) }),
      ringHash: fc.record({ pointsPerInstance: fc.integer({ min: 1, max: 256 }), maxRingSize: fc.constant(4096) }),
      maglev: fc.record({ tableSize: fc.constantFrom(2, 3, 5, 7, 251, 4093) }),
    });
    const request = fc.option(fc.record({ hashKey: fc.option(text, { nil: undefined }), clientAddress: fc.option(text, { nil: undefined }) }), { nil: undefined });
    const randomness = fc.oneof(fc.integer().map((s) => mulberry32(s)), fc.constantFrom(Number.NaN, 1, -0.5, 0.9999999999999999, 1e300).map((r) => () => r));
    const clock = fc.option(fc.oneof(fc.integer(), fc.double()), { nil: undefined });
    fc.assert(
      fc.property(fc.oneof(fc.array(instance, { maxLength: 8 }), fc.array(instance, { minLength: 33, maxLength: 40 })), config, fc.array(request, { minLength: 1, maxLength: 20 }), randomness, clock, fc.boolean(), (members, cfg, requests, random, t, tracked) => {
        const instances = members.map((m) => m.instance);
        const load = createLoadTracker();
        members.forEach((m) => Array.from({ length: m.busy }, () => load.start(m.instance.id)));
        const p = createPicker(cfg, instances, { random, ...(t !== undefined && { now: () => t }), ...(tracked && { load }) });
        assert.equal(p.size === 0, instances.length === 0);
        for (const req of requests) {
          const got = p.pick(req);
          if (instances.length === 0) assert.equal(got, undefined);
          else assert.ok(got !== undefined && instances.includes(got), `picked ${JSON.stringify(got)}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});
