import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { headerEntries, headerRecord, withHost } from "../../../src/client/headers.js";

describe("undici's three header shapes, read in one place", () => {
  const shapes = {
    "flat array": ["X-Tag", "gray", "accept", "a", "accept", "b"],
    object: { "X-Tag": "gray", accept: ["a", "b"] },
    iterable: new Map<string, string | string[]>([
      ["X-Tag", "gray"],
      ["accept", ["a", "b"]],
    ]),
  };
  for (const [name, headers] of Object.entries(shapes)) {
    it(`${name}: the same entries, record and Host`, () => {
      assert.deepEqual(headerEntries(headers), [
        ["X-Tag", "gray"],
        ["accept", "a"],
        ["accept", "b"],
      ]);
      assert.deepEqual(headerRecord(headers), { "x-tag": "gray", accept: "a, b" });
      assert.deepEqual(withHost(headers, "echo"), ["X-Tag", "gray", "accept", "a", "accept", "b", "host", "echo"]);
    });
  }
  it("keeps a Host the caller set, whatever its case", () => {
    const h = { HOST: "mine" };
    assert.equal(withHost(h, "echo"), h);
    assert.deepEqual(withHost(undefined, "echo"), ["host", "echo"]);
  });
});
