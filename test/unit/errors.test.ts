/**
 * One class per stable code (undici's rule), and docs/registry.md's table as
 * the truth: every concrete error class has a code of its own, every code in
 * the PodregErrorCode union has a class, and the table lists exactly these
 * pairs.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as errors from "../../src/errors.js";

type Ctor = new (...args: unknown[]) => errors.PodregError;

function concreteClasses(): Map<string, string> {
  const byCode = new Map<string, string>();
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value !== "function" || !(value.prototype instanceof errors.PodregError)) continue;
    // Dummy arguments fit every constructor's shape at runtime; abstract bases have no code.
    const e = Reflect.construct(value as Ctor, ["x", { remaining: [] }, "z"]) as errors.PodregError;
    if (e.code === undefined) continue;
    assert.ok(!byCode.has(e.code), `${e.code} has two classes: ${byCode.get(e.code)} and ${name}`);
    byCode.set(e.code, name);
    assert.ok(e instanceof Error && e instanceof errors.PodregError);
  }
  return byCode;
}

describe("errors", () => {
  it("one class per code, the union and docs/registry.md's table agree", () => {
    const classes = concreteClasses();
    const src = readFileSync(new URL("../../src/errors.ts", import.meta.url), "utf8");
    const union = src.slice(src.indexOf("export type PodregErrorCode"), src.indexOf(";", src.indexOf("export type PodregErrorCode")));
    const unionCodes = [...union.matchAll(/"(PODREG_[A-Z0-9_]+)"/g)].map((m) => m[1]!).sort();
    assert.deepEqual([...classes.keys()].sort(), unionCodes);
    const doc = readFileSync(new URL("../../docs/registry.md", import.meta.url), "utf8");
    const rows = [...doc.matchAll(/^\| `(PODREG_[A-Z0-9_]+)` \| `(\w+)` \|/gm)].map((m): [string, string] => [m[1]!, m[2]!]);
    assert.deepEqual(new Map(rows), classes);
    assert.equal(rows.length, classes.size, "each code once in the table");
  });

  it("kubeApiError maps statuses to their classes, and makes none up", () => {
    assert.equal(errors.kubeApiError(403, "m").code, "PODREG_KUBE_FORBIDDEN");
    assert.equal(errors.kubeApiError(410, "m").code, "PODREG_KUBE_GONE");
    const odd = errors.kubeApiError(undefined, "no status");
    assert.equal(odd.code, "PODREG_KUBE_API");
    assert.equal(odd.status, undefined);
  });
});
