import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { formatSelector, parseSelector, type Requirement, SelectorError } from "../../../src/router/selector.js";

const inst = (metadata: Record<string, string>, labels: Record<string, string> = {}) => ({ metadata, labels });

describe("selector parsing", () => {
  it("parses every operator into requirements", () => {
    assert.deepEqual(parseSelector(" version=v2 , version==v3,version!=v1, env in (gray, canary) ,env notin(prod),canary,! canary,k=").requirements, [
      { key: "version", op: "=", value: "v2" },
      { key: "version", op: "=", value: "v3" },
      { key: "version", op: "!=", value: "v1" },
      { key: "env", op: "in", values: ["gray", "canary"] },
      { key: "env", op: "notin", values: ["prod"] },
      { key: "canary", op: "exists" },
      { key: "canary", op: "!exists" },
      { key: "k", op: "=", value: "" },
    ]);
    assert.deepEqual(parseSelector("").requirements, []);
    assert.deepEqual(parseSelector("   ").requirements, []);
    assert.deepEqual(parseSelector("app.kubernetes.io/version=1.2.3-rc.1").requirements, [{ key: "app.kubernetes.io/version", op: "=", value: "1.2.3-rc.1" }]);
    // A key named like an operator is still a key.
    assert.deepEqual(parseSelector("in,notin").requirements, [
      { key: "in", op: "exists" },
      { key: "notin", op: "exists" },
    ]);
  });

  const bad: [string, number, RegExp][] = [
    ["env in (a", 9, /expected a value|expected "," or "\)"/],
    ["env in (a b)", 10, /expected "," or "\)"/],
    ["env in a", 7, /expected "\("/],
    ["env in ()", 8, /expected a value/],
    ["=v", 0, /expected a key/],
    ["a,,b", 2, /expected a key/],
    ["a,", 2, /expected a key/],
    ["a b", 2, /found "b"/],
    ["a!b", 1, /expected "!="/],
    ["!", 1, /expected a key after "!"/],
    ["a=b c", 4, /expected "," or end of selector/],
    ["a=(b)", 2, /expected "," or end of selector/],
  ];
  for (const [text, position, message] of bad) {
    it(`rejects ${JSON.stringify(text)} at position ${position}`, () => {
      assert.throws(
        () => parseSelector(text),
        (err: unknown) => {
          assert.ok(err instanceof SelectorError);
          assert.equal(err.code, "PODREG_SELECTOR");
          assert.equal(err.position, position, err.message);
          assert.match(err.message, message);
          assert.match(err.message, new RegExp(`at position ${position}$`));
          assert.ok(err.message.includes(JSON.stringify(text)));
          return true;
        },
      );
    });
  }
});

describe("selector matching", () => {
  it("follows Kubernetes semantics, metadata over labels", () => {
    const i = inst({ version: "v2", env: "gray" }, { version: "v1", app: "echo", canary: "" });
    const m = (s: string) => parseSelector(s).matches(i);
    assert.equal(m("version=v2"), true, "metadata wins over labels");
    assert.equal(m("version=v1"), false);
    assert.equal(m("app=echo"), true, "labels are seen");
    assert.equal(m("version!=v1"), true);
    assert.equal(m("missing!=x"), true, "!= matches an absent key");
    assert.equal(m("env in (gray, canary)"), true);
    assert.equal(m("env in (prod)"), false);
    assert.equal(m("missing in (x)"), false);
    assert.equal(m("env notin (prod)"), true);
    assert.equal(m("env notin (gray)"), false);
    assert.equal(m("missing notin (x)"), true, "notin matches an absent key");
    assert.equal(m("canary"), true, "an empty value still exists");
    assert.equal(m("canary="), true);
    assert.equal(m("!canary"), false);
    assert.equal(m("!missing"), true);
    assert.equal(m("version=v2,env=gray"), true);
    assert.equal(m("version=v2,env=prod"), false, "comma is AND");
    assert.equal(m(""), true, "the empty selector matches everything");
    assert.equal(parseSelector("constructor").matches(inst({})), false, "no prototype keys");
  });

  const word = fc.constantFrom("a", "b", "c", "v1", "v2");
  const value = fc.constantFrom("", "a", "b", "v1", "v2");
  const requirement: fc.Arbitrary<Requirement> = fc.oneof(
    fc.record({ key: word, op: fc.constantFrom("=" as const, "!=" as const), value }),
    fc.record({ key: word, op: fc.constantFrom("in" as const, "notin" as const), values: fc.array(word, { minLength: 1, maxLength: 3 }) }),
    fc.record({ key: word, op: fc.constantFrom("exists" as const, "!exists" as const) }),
  ).map((r) => ({ ...r })); // plain objects, as the parser makes (fc.record's have no prototype)
  const record = fc.dictionary(word, value, { maxKeys: 4 });

  /** The definition, on the merged record. */
  function naive(reqs: readonly Requirement[], merged: Record<string, string>): boolean {
    return reqs.every((r) => {
      const has = Object.keys(merged).includes(r.key);
      const v = merged[r.key];
      if (r.op === "=") return has && v === r.value;
      if (r.op === "!=") return !has || v !== r.value;
      if (r.op === "in") return has && r.values.includes(v as string);
      if (r.op === "notin") return !has || !r.values.includes(v as string);
      return r.op === "exists" ? has : !has;
    });
  }

  it("format then parse gives the same requirements (property)", () => {
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 5 }), (reqs) => {
        assert.deepEqual(parseSelector(formatSelector(reqs)).requirements, reqs);
      }),
    );
  });

  it("matches as the naive definition over metadata merged over labels (property)", () => {
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 4 }), record, record, (reqs, metadata, labels) => {
        const sel = parseSelector(formatSelector(reqs));
        assert.equal(sel.matches(inst(metadata, labels)), naive(reqs, { ...labels, ...metadata }));
      }),
      { numRuns: 2000 },
    );
  });

  it("on any text: parses to a fixed point of format, or throws a SelectorError in range (property)", () => {
    const text = fc.string({ unit: fc.constantFrom("a", "b", "=", "!", ",", "(", ")", " ", "i", "n", "o", "t"), maxLength: 16 });
    fc.assert(
      fc.property(text, (t) => {
        try {
          const reqs = parseSelector(t).requirements;
          assert.deepEqual(parseSelector(formatSelector(reqs)).requirements, reqs);
        } catch (err) {
          assert.ok(err instanceof SelectorError, String(err));
          assert.ok(err.position >= 0 && err.position <= t.length);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
