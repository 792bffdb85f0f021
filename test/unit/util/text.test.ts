import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { escapeControl, redactCredentials, terminalJson } from "../../../src/util/text.js";

// eslint-disable-next-line no-control-regex -- what must never reach a terminal raw
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe("terminal text", () => {
  it("escapes colour codes, a title escape, a forged row and bidi overrides", () => {
    assert.equal(escapeControl("\u001b[31mred\u001b[0m"), "\\x1b[31mred\\x1b[0m");
    assert.equal(escapeControl("\u001b]0;pwned\u0007"), "\\x1b]0;pwned\\x07");
    assert.equal(escapeControl("v1\nFAKE-LINE 10.9.9.9:1"), "v1\\nFAKE-LINE 10.9.9.9:1");
    assert.equal(escapeControl("abc\u202edcba"), "abc\\u202edcba");
    assert.equal(escapeControl("\u009b2J"), "\\x9b2J");
    assert.equal(escapeControl("plain ünïcode 服务"), "plain ünïcode 服务");
  });

  it("never lets an unsafe character through, and JSON stays the exact value", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        assert.ok(!UNSAFE.test(escapeControl(s)));
        const json = terminalJson({ s, list: [s] }, 2);
        assert.ok(!UNSAFE.test(json.replace(/\n/g, "")));
        assert.deepEqual(JSON.parse(json), { s, list: [s] });
      }),
      { numRuns: 500 },
    );
  });

  it("masks credentials in URLs, bearer tokens and token parameters", () => {
    assert.equal(redactCredentials("GET https://admin:s3cret@10.0.0.1:6443/api: ECONNREFUSED"), "GET https://***@10.0.0.1:6443/api: ECONNREFUSED");
    assert.equal(redactCredentials("Authorization: Bearer eyJhbGciOi.abc-def"), "Authorization: Bearer ***");
    assert.equal(redactCredentials("https://x/?token=abc&b=1"), "https://x/?token=***&b=1");
    assert.equal(redactCredentials("no secrets here: https://10.0.0.1:6443"), "no secrets here: https://10.0.0.1:6443");
  });
});
