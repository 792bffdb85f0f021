import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CodecError } from "../../../../src/registry/codec.js";
import {
  base64StdPadded,
  base64UrlPadded,
  decodeBase64Strict,
  goJsonMarshalEntries,
  goParseQuery,
  goPathUnescape,
  goQueryEscape,
  goQueryUnescape,
  goValuesEncode,
} from "../../../../src/registry/codecs/go-compat.js";

const isCode = (code: string) => (e: unknown) => e instanceof CodecError && e.code === code;
/** Any code point, no lone surrogates (Go strings are UTF-8, so these are the strings a Go peer can hold). */
const unicode = fc.string({ unit: "binary", maxLength: 40 });

describe("goQueryEscape / goQueryUnescape (Go net/url)", () => {
  it("matches Go's QueryEscape on known vectors", () => {
    assert.equal(goQueryEscape("a b+c/d?e=f&g~h.i_j-k"), "a+b%2Bc%2Fd%3Fe%3Df%26g~h.i_j-k");
    assert.equal(goQueryEscape("é"), "%C3%A9");
    assert.equal(goQueryEscape("😀"), "%F0%9F%98%80");
    // encodeURIComponent keeps these; Go does not.
    assert.equal(goQueryEscape("!'()*"), "%21%27%28%29%2A");
    assert.equal(goQueryEscape("dubbo://1.2.3.4:20000/x?a=1,2"), "dubbo%3A%2F%2F1.2.3.4%3A20000%2Fx%3Fa%3D1%2C2");
    assert.equal(goQueryEscape(""), "");
    assert.equal(goQueryEscape("\ud800"), "%EF%BF%BD"); // a lone surrogate is U+FFFD in UTF-8
  });

  it("unescapes like Go: + is a space, hex of either case, bad % sequences are errors", () => {
    assert.equal(goQueryUnescape("a+b%2Bc%2fd"), "a b+c/d");
    assert.equal(goQueryUnescape("%c3%A9"), "é");
    assert.equal(goPathUnescape("a+b%20c"), "a+b c");
    for (const s of ["%", "%4", "%zz", "abc%g1", "%%41"]) assert.throws(() => goQueryUnescape(s), isCode("PODREG_CODEC_SHAPE"), s);
  });

  it("round-trips any unicode string and writes only unreserved bytes, + and %XX", () => {
    fc.assert(
      fc.property(unicode, (s) => {
        const e = goQueryEscape(s);
        assert.match(e, /^(?:[A-Za-z0-9\-_.~+]|%[0-9A-F]{2})*$/);
        assert.equal(goQueryUnescape(e), s);
      }),
      { numRuns: 500 },
    );
  });

  it("equals encodeURIComponent adjusted to Go's rules", () => {
    const reference = (s: string): string =>
      encodeURIComponent(s)
        .replace(/[!'()*]/g, (c) => "%" + (c.codePointAt(0) as number).toString(16).toUpperCase())
        .replace(/%20/g, "+");
    fc.assert(fc.property(unicode, (s) => goQueryEscape(s) === reference(s)), { numRuns: 500 });
  });

  it("encodes url.Values with keys sorted bytewise, as Go's sort.Strings does", () => {
    assert.equal(goValuesEncode({ b: "2", a: "x y", c: "&", é: "" }), "a=x+y&b=2&c=%26&%C3%A9=");
    // UTF-16 order would put U+1F600 (surrogates D83D..) before U+FF61; UTF-8 order is the reverse.
    assert.equal(goValuesEncode({ "😀": "1", "｡": "2" }), "%EF%BD%A1=2&%F0%9F%98%80=1");
    assert.equal(goValuesEncode({}), "");
  });

  it("parses a query like (*url.URL).Query(): first value wins, bad pairs skipped", () => {
    assert.deepEqual(goParseQuery("a=1&a=2&b=%zz&c&d=x+y%2Cz&&"), { a: "1", c: "", d: "x y,z" });
    assert.equal(Object.getPrototypeOf(goParseQuery("__proto__=x")), Object.prototype);
    assert.deepEqual(Object.keys(goParseQuery("__proto__=x")), ["__proto__"]);
  });
});

describe("goJsonMarshalEntries (Go encoding/json)", () => {
  const one = (k: string, v = ""): string => goJsonMarshalEntries([{ k, v }]);

  it("writes compact JSON, k before v", () => {
    assert.equal(goJsonMarshalEntries([]), "[]");
    assert.equal(goJsonMarshalEntries([{ v: "2", k: "1" }, { k: "a", v: "" }]), '[{"k":"1","v":"2"},{"k":"a","v":""}]');
  });

  it("escapes like Go: HTML characters, U+2028/2029, control characters, quotes, invalid UTF-16", () => {
    assert.equal(one("<a>&b", "x"), '[{"k":"\\u003ca\\u003e\\u0026b","v":"x"}]');
    assert.equal(one("\u2028\u2029"), '[{"k":"\\u2028\\u2029","v":""}]');
    assert.equal(one("\n\r\t\b\f\u0000\u001f\u007f"), '[{"k":"\\n\\r\\t\\u0008\\u000c\\u0000\\u001f\u007f","v":""}]');
    assert.equal(one('"\\/'), '[{"k":"\\"\\\\/","v":""}]');
    assert.equal(one("é😀"), '[{"k":"é😀","v":""}]');
    assert.equal(one("\ud800x\udc00"), '[{"k":"\\ufffdx\\ufffd","v":""}]');
  });

  it("parses back to the same entries", () => {
    const entries = fc.array(fc.record({ k: unicode, v: unicode }, { noNullPrototype: true }), { maxLength: 8 });
    fc.assert(fc.property(entries, (x) => assert.deepEqual(JSON.parse(goJsonMarshalEntries(x)), x)), { numRuns: 300 });
  });

  it("equals JSON.stringify where Go and JavaScript agree", () => {
    const plain = unicode.filter((s) => ![...s].some((c) => c < " " || "<>&\u2028\u2029".includes(c)));
    const entries = fc.array(fc.record({ k: plain, v: plain }, { noNullPrototype: true }), { maxLength: 5 });
    fc.assert(fc.property(entries, (x) => goJsonMarshalEntries(x) === JSON.stringify(x)), { numRuns: 300 });
  });
});

describe("strict base64", () => {
  const text = (s: string): string => Buffer.from(decodeBase64Strict(s)).toString("latin1");

  it("accepts both alphabets, padded or not", () => {
    assert.equal(text("YQ=="), "a");
    assert.equal(text("YQ"), "a");
    assert.equal(text("YWI="), "ab");
    assert.equal(text("YWJj"), "abc");
    assert.equal(text(""), "");
    assert.deepEqual([...decodeBase64Strict("-_8=")], [0xfb, 0xff]);
    assert.deepEqual([...decodeBase64Strict("+/8=")], [0xfb, 0xff]);
    assert.deepEqual([...decodeBase64Strict("-_8")], [0xfb, 0xff]);
    assert.deepEqual([...decodeBase64Strict("+/8")], [0xfb, 0xff]);
    assert.equal(text("YR=="), "a"); // non-zero trailing bits: accepted
  });

  it("rejects garbage, whitespace, mixed alphabets, impossible lengths and bad padding", () => {
    for (const s of ["abc$", "a", "abcde", "YQ== ", " YQ==", "Y Q==", "YQ==\n", "+-ab", "/_ab", "=", "Y===", "YQ=", "YWI==", "YQ==YQ==", "YQ=a", "YWJj="]) {
      assert.throws(() => decodeBase64Strict(s), isCode("PODREG_CODEC_BASE64"), JSON.stringify(s));
    }
  });

  it("round-trips random bytes through every accepted form", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const s of [base64UrlPadded(bytes), base64StdPadded(bytes)]) {
          assert.equal(s.length % 4, 0);
          assert.deepEqual(new Uint8Array(decodeBase64Strict(s)), bytes);
          assert.deepEqual(new Uint8Array(decodeBase64Strict(s.replace(/=+$/, ""))), bytes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("writes Go's base64.URLEncoding: URL alphabet with padding", () => {
    assert.equal(base64UrlPadded(new Uint8Array([0xfb, 0xff])), "-_8=");
    assert.equal(base64UrlPadded(new Uint8Array([0x61])), "YQ==");
    assert.equal(base64StdPadded(new Uint8Array([0xfb, 0xff])), "+/8=");
  });
});
