import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, SelectorError } from "../../../src/errors.js";
import type { Instance } from "../../../src/model/instance.js";
import { createRouter, type RouteResult } from "../../../src/router/router.js";

function inst(id: string, metadata: Record<string, string> = {}, labels: Record<string, string> = {}): Instance {
  return { id, key: "echo", service: "echo", host: "10.0.0.1", port: 8080, protocol: "http", weight: 100, metadata, labels, ready: true, source: "memory" };
}

/** mulberry32: a small seeded PRNG, so the statistics are reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ids = (r: RouteResult) => r.instances.map((i) => i.id);

describe("tag routing", () => {
  const plain = inst("plain");
  const plain2 = inst("plain2", { tag: "" });
  const gray = inst("gray", { tag: "gray" });
  const blue = inst("blue", { tag: "blue" });
  const all = [plain, plain2, gray, blue];
  const router = createRouter({ tag: {} });

  it("sends a tagged request to the instances with its tag", () => {
    assert.deepEqual(router.route(all, { tag: "gray" }), { route: "tag:gray", key: "tag:gray", instances: [gray] });
    assert.deepEqual(ids(router.route(all, { headers: { "x-podreg-tag": "blue" } })), ["blue"]);
    assert.deepEqual(ids(router.route(all, { headers: { "X-Podreg-Tag": "blue" } })), ["blue"], "header names are case-insensitive");
    assert.deepEqual(ids(router.route(all, { headers: { "x-podreg-tag": ["", "gray"] } })), ["gray"], "first non-empty value");
    assert.deepEqual(ids(router.route(all, { tag: "gray", headers: { "x-podreg-tag": "blue" } })), ["gray"], "request.tag wins over the header");
  });

  it("keeps tagged instances for tagged traffic: untagged requests go to untagged instances, else to all", () => {
    assert.deepEqual(router.route(all, {}), { route: "default", key: "untagged", instances: [plain, plain2] }, "an empty tag value is untagged");
    assert.deepEqual(router.route(all, { tag: "" }).instances, [plain, plain2]);
    assert.deepEqual(router.route([gray, blue], {}).instances, [gray, blue]);
  });

  it("falls back as configured when no instance has the tag", () => {
    assert.deepEqual(router.route(all, { tag: "red" }), { route: "tag:red->untagged", key: "untagged", instances: [plain, plain2] });
    assert.deepEqual(router.route([gray], { tag: "red" }), { route: "tag:red->untagged", key: "untagged", instances: [] });
    assert.deepEqual(createRouter({ tag: { fallback: "any" } }).route(all, { tag: "red" }), { route: "tag:red->any", key: "all", instances: all });
    assert.deepEqual(createRouter({ tag: { fallback: "none" } }).route(all, { tag: "red" }), { route: "tag:red->none", key: "none", instances: [] });
  });

  it("takes the header and metadata key from the config", () => {
    const r = createRouter({ tag: { header: "X-Lane", metadataKey: "dubbo.tag" } });
    const lane = inst("lane", { "dubbo.tag": "gray" });
    assert.deepEqual(ids(r.route([plain, gray, lane], { headers: { "x-lane": "gray" } })), ["lane"]);
    assert.deepEqual(ids(r.route([plain, gray, lane], {})), ["plain", "gray"], "`tag` is not the metadata key here");
  });

  it("keys subsets by what was chosen, not by the request's tag, so unmatched tags add no keys", () => {
    const keys = new Set(Array.from({ length: 500 }, (_, i) => router.route(all, { tag: `t${i}` }).key));
    assert.deepEqual([...keys], ["untagged"]);
    assert.equal(new Set(Array.from({ length: 500 }, (_, i) => router.route(all, { tag: `t${i}` }).route)).size, 500, "while traces still name the tag");
  });

  it("is off without a tag section", () => {
    assert.deepEqual(createRouter({}).route(all, { tag: "gray" }), { route: "default", key: "default", instances: all });
    assert.deepEqual(createRouter().route([], {}), { route: "default", key: "default", instances: [] });
  });
});

describe("rules", () => {
  const v1 = inst("v1", { version: "v1" });
  const v2 = inst("v2", { version: "v2" }, { track: "canary" });
  const v3 = inst("v3", {}, { version: "v3" });
  const all = [v1, v2, v3];

  it("applies the first rule whose headers match, exact or by full-match regex", () => {
    const router = createRouter({
      rules: [
        { name: "beta-users", match: { headers: { "x-user": "~beta-.*", "x-region": "eu" } }, split: [{ subset: "version=v2", weight: 1 }] },
        { name: "v3-header", match: { headers: { "X-Want": "v3" } }, split: [{ subset: "version in (v3)", weight: 1 }] },
        { name: "rest", split: [{ subset: "version=v1", weight: 1 }] },
      ],
    });
    assert.deepEqual(router.route(all, { headers: { "x-user": "beta-7", "x-region": "eu" } }), { route: "rule:beta-users/version=v2", key: "rule:beta-users/version=v2", instances: [v2] });
    assert.equal(router.route(all, { headers: { "x-user": "beta-7" } }).route, "rule:rest/version=v1", "every header must match");
    assert.equal(router.route(all, { headers: { "x-user": "xbeta-7", "x-region": "eu" } }).route, "rule:rest/version=v1", "regex is anchored");
    assert.equal(router.route(all, { headers: { "x-user": ["a", "beta-1"], "x-region": "eu" } }).route, "rule:beta-users/version=v2", "any value of a repeated header");
    assert.deepEqual(router.route(all, { headers: { "x-want": "v3" } }), { route: "rule:v3-header/version in (v3)", key: "rule:v3-header/version in (v3)", instances: [v3] }, "labels are matched too");
    assert.equal(router.route(all, {}).route, "rule:rest/version=v1");
  });

  it("uses `random` to pick a split entry by weight", () => {
    const router = createRouter({ rules: [{ name: "r", split: [{ subset: "version=v1", weight: 95 }, { subset: "none", weight: 0 }, { subset: "version=v2", weight: 5 }] }] });
    assert.equal(router.route(all, {}, () => 0).route, "rule:r/version=v1");
    assert.equal(router.route(all, {}, () => 0.9499).route, "rule:r/version=v1");
    assert.equal(router.route(all, {}, () => 0.95).route, "rule:r/version=v2");
    assert.equal(router.route(all, {}, () => 0.999999999999).route, "rule:r/version=v2");
    assert.equal(router.route(all, {}, () => 1).route, "rule:r/version=v2", "even at 1 (a bad random), never the weight-0 entry");
  });

  it("falls back from an empty subset to the others by weight, then to all", () => {
    const router = createRouter({
      rules: [
        {
          name: "r",
          split: [
            { subset: "version=v9", weight: 50 },
            { subset: "track=canary", weight: 10 },
            { subset: "version=v3", weight: 20 },
          ],
        },
      ],
    });
    assert.deepEqual(router.route(all, {}, () => 0), { route: "rule:r/version=v9->version=v3", key: "rule:r/version=v3", instances: [v3] });
    assert.deepEqual(router.route([v1, v2], {}, () => 0), { route: "rule:r/version=v9->track=canary", key: "rule:r/track=canary", instances: [v2] });
    assert.deepEqual(router.route([v1], {}, () => 0), { route: "rule:r/version=v9->*", key: "rule:r/*", instances: [v1] });
    assert.deepEqual(router.route([], {}, () => 0), { route: "default", key: "default", instances: [] }, "nothing to narrow");
  });

  it("narrows what tag routing left", () => {
    const g1 = inst("g1", { tag: "gray", version: "v1" });
    const g2 = inst("g2", { tag: "gray", version: "v2" });
    const router = createRouter({ tag: { fallback: "none" }, rules: [{ name: "r", split: [{ subset: "version=v2", weight: 1 }] }] });
    assert.deepEqual(router.route([...all, g1, g2], { tag: "gray" }), { route: "tag:gray rule:r/version=v2", key: "tag:gray rule:r/version=v2", instances: [g2] });
    assert.deepEqual(router.route([...all, g1], { tag: "gray" }), { route: "tag:gray rule:r/version=v2->*", key: "tag:gray rule:r/*", instances: [g1] });
    assert.deepEqual(router.route(all, { tag: "red" }), { route: "tag:red->none", key: "none", instances: [] });
    assert.deepEqual(router.route([...all, g1, g2], {}), { route: "rule:r/version=v2", key: "untagged rule:r/version=v2", instances: [v2] });
  });

  it("splits exactly in expectation: 95/5 over 100k routes with a seeded PRNG", () => {
    const router = createRouter({ rules: [{ name: "canary", split: [{ subset: "version=v1", weight: 95 }, { subset: "version=v2", weight: 5 }] }] });
    const random = mulberry32(42);
    const n = 100_000;
    let v2s = 0;
    for (let k = 0; k < n; k++) if (router.route(all, {}, random).instances[0] === v2) v2s++;
    // sd of the share is sqrt(.05 * .95 / 1e5) ~ 0.00069: +-0.004 is ~6 sd.
    const share = v2s / n;
    assert.ok(Math.abs(share - 0.05) < 0.004, `v2 share ${share}`);
  });

  it("splits three ways in proportion", () => {
    const router = createRouter({ rules: [{ name: "r", split: [{ subset: "version=v1", weight: 2 }, { subset: "version=v2", weight: 3 }, { subset: "version=v3", weight: 5 }] }] });
    const random = mulberry32(7);
    const counts = new Map<string, number>();
    for (let k = 0; k < 100_000; k++) {
      const id = router.route(all, {}, random).instances[0]?.id ?? "";
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const [id, want] of [["v1", 0.2], ["v2", 0.3], ["v3", 0.5]] as const) {
      const share = (counts.get(id) ?? 0) / 100_000;
      assert.ok(Math.abs(share - want) < 0.008, `${id} share ${share}, want ${want}`);
    }
  });

  it("rejects bad config with a ConfigError", () => {
    const rule = (split: { subset: string; weight: number }[], headers?: Record<string, string>) => () => createRouter({ rules: [{ name: "r", match: { headers }, split }] });
    // The selector's own error and code, as when it is parsed anywhere else: the same bad input, the same code.
    assert.throws(rule([{ subset: "version in v1", weight: 1 }]), (e: unknown) => e instanceof SelectorError && e.code === "PODREG_SELECTOR" && /position 11/.test(e.message));
    assert.throws(rule([{ subset: "a", weight: 0 }]), (e: unknown) => e instanceof ConfigError && /all 0/.test(e.message));
    assert.throws(rule([{ subset: "a", weight: -1 }]), ConfigError);
    assert.throws(rule([]), ConfigError);
    assert.throws(rule([{ subset: "a", weight: 1 }], { h: "~(" }), (e: unknown) => e instanceof ConfigError && /invalid regex/.test(e.message));
  });
});
