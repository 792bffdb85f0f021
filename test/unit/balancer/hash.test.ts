import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { hash32, hash32Bytes } from "../../../src/balancer/hash.js";

/**
 * An independent XXH32, written from the algorithm's specification
 * (xxhash_spec.md) with BigInt arithmetic mod 2^32, so it shares no code and
 * no 32-bit tricks (Math.imul, |0, >>>) with src/balancer/hash.ts.
 */
const M = 0xffffffffn;
const [P1, P2, P3, P4, P5] = [0x9e3779b1n, 0x85ebca77n, 0xc2b2ae3dn, 0x27d4eb2fn, 0x165667b1n];
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (32n - r))) & M;
const lane = (b: Uint8Array, i: number): bigint => BigInt(b[i]! + b[i + 1]! * 2 ** 8 + b[i + 2]! * 2 ** 16 + b[i + 3]! * 2 ** 24);
const round = (acc: bigint, input: bigint): bigint => (rotl((acc + input * P2) & M, 13n) * P1) & M;

function refXxh32(b: Uint8Array, seed: number): number {
  const s = BigInt(seed >>> 0);
  let i = 0;
  let h: bigint;
  if (b.length >= 16) {
    const v = [(s + P1 + P2) & M, (s + P2) & M, s, (s - P1) & M];
    for (; i + 16 <= b.length; i += 16) for (let k = 0; k < 4; k++) v[k] = round(v[k]!, lane(b, i + 4 * k));
    h = (rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n)) & M;
  } else {
    h = (s + P5) & M;
  }
  h = (h + BigInt(b.length)) & M;
  for (; i + 4 <= b.length; i += 4) h = (rotl((h + lane(b, i) * P3) & M, 17n) * P4) & M;
  for (; i < b.length; i++) h = (rotl((h + BigInt(b[i]!) * P5) & M, 11n) * P1) & M;
  h ^= h >> 15n;
  h = (h * P2) & M;
  h ^= h >> 13n;
  h = (h * P3) & M;
  h ^= h >> 16n;
  return Number(h);
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const ref = (s: string, seed = 0): number => refXxh32(utf8(s), seed);

const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

describe("hash32 (XXH32)", () => {
  it("matches the published test vectors", () => {
    const vectors: [string, number][] = [
      ["", 0x02cc5d05],
      ["a", 0x550d7456],
      ["abc", 0x32d153ff],
      ["Nobody inspects the spammish repetition", 0xe2293b2f],
    ];
    for (const [s, want] of vectors) {
      assert.equal(hex(hash32(s)), hex(want), JSON.stringify(s));
      assert.equal(hex(hash32Bytes(utf8(s))), hex(want), JSON.stringify(s));
      assert.equal(hex(ref(s)), hex(want), `reference: ${JSON.stringify(s)}`);
    }
  });

  it("matches python-xxhash for seeds 0, 1 and 0x9e3779b1, across every code path (lengths around 4 and 16, UTF-8 of 1-4 bytes, lone surrogates)", () => {
    // Computed with python-xxhash (xxhash.xxh32(s.encode("utf-8"), seed)); for lone surrogates, over TextEncoder's bytes (EF BF BD).
    const A = "0123456789abcdefghijklmnopqrstuvwxyzABCD";
    const vectors: [string, number, number, number][] = [
      ["", 0x02cc5d05, 0x0b2cb792, 0x36b78ae7],
      [A.slice(0, 1), 0x48454cb2, 0x7d6c0a6c, 0xc14134f4],
      [A.slice(0, 3), 0x48009497, 0x134203e5, 0xa2ff873e],
      [A.slice(0, 4), 0x0a0b4c93, 0x82b5ce00, 0x9b083421],
      [A.slice(0, 5), 0x8aa3b71c, 0x720f4cab, 0xca3dd305],
      [A.slice(0, 15), 0x1dbdfa0f, 0x79172de1, 0x065e1473],
      [A.slice(0, 16), 0xc2c45b69, 0xf31fe1cf, 0x72e8faf9],
      [A.slice(0, 17), 0xcc79b217, 0x0ffc40b6, 0x498c0efa],
      [A.slice(0, 31), 0xa3944879, 0x052ae6a7, 0x8c8f812d],
      [A.slice(0, 32), 0xefb1272d, 0x37f85c72, 0xcbbc3237],
      [A.slice(0, 33), 0x93234478, 0xa18980d2, 0xd447e87a],
      [A.slice(0, 40), 0xf1a0f865, 0x275c08d7, 0x1b821820],
      ["h\u00e9llo w\u00f6rld \u2603 \u{1d11e} 0123456789", 0x4dd1f47e, 0xe17a2134, 0x26a97556],
      ["\u65e5\u672c\u8a9e\u306e\u30ad\u30fc/\u30bb\u30c3\u30b7\u30e7\u30f3", 0x54d38c00, 0x342d1004, 0x22c90cd8],
      ["\u0080\u07ff\u0800\uffff", 0x9307279b, 0xda47a0cc, 0x5cac982c],
      ["a\ud800b", 0xad770ccf, 0x3f67ed42, 0xba83acc1],
      ["\udc00", 0x759d8851, 0x1b164ba8, 0x59f918fa],
      ["x".repeat(20) + "\u00e9", 0x4f0e94af, 0xbc0dc135, 0xa5b72dd4],
      ["\u{1f600}".repeat(9), 0xfc8d9650, 0xd41d8572, 0x899c1cb5],
    ];
    for (const [s, ...want] of vectors) {
      [0, 1, 0x9e3779b1].forEach((seed, k) => {
        const label = `${JSON.stringify(s)} seed ${seed}`;
        assert.equal(hex(hash32(s, seed)), hex(want[k]!), label);
        assert.equal(hex(hash32Bytes(utf8(s), seed)), hex(want[k]!), label);
        assert.equal(hex(ref(s, seed)), hex(want[k]!), `reference: ${label}`);
      });
    }
  });

  it("encodes a lone surrogate as U+FFFD, as TextEncoder does, and a surrogate pair as one 4-byte code point", () => {
    assert.equal(hash32("\ud800"), hash32("\ufffd"));
    assert.equal(hash32("a\udc00b\ud83d"), hash32("a\ufffdb\ufffd"));
    assert.equal(hash32("\udc00\ud800"), hash32("\ufffd\ufffd")); // reversed pair: two lone surrogates
    assert.equal(hash32("\ud83d\ude00"), hash32Bytes(Uint8Array.of(0xf0, 0x9f, 0x98, 0x80)));
  });

  it("the ASCII fast path bails out for a non-ASCII char at any position, lengths 0..40 (stripes, 4-byte and 1-byte tails)", () => {
    const specials = ["\u0080", "\u00e9", "\u00ff", "\u0100", "\u07ff", "\u0800", "\uffff", "\ud800", "\udfff", "\u{1f600}"];
    let checked = 0;
    for (let len = 0; len <= 40; len++) {
      const base = "k".repeat(len);
      assert.equal(hash32(base, 7), ref(base, 7), `ascii length ${len}`);
      for (let p = 0; p < len; p++) {
        for (const c of specials) {
          const s = base.slice(0, p) + c + base.slice(p + 1);
          assert.equal(hash32(s, 7), ref(s, 7), `${JSON.stringify(s)}`);
          checked++;
        }
      }
    }
    assert.equal(checked, 10 * ((40 * 41) / 2));
  });

  it("hashes long non-ASCII keys correctly and identically every time, including the call that grows the scratch buffer", () => {
    // Python: xxh32("é" * 1000) = 0x3b923f6b; ("€" * 5000 + "k") = 0x3c608d63; ("🙂" * 3000) = 0x4c0ed859.
    const cases: [string, number][] = [
      ["\u00e9".repeat(1000), 0x3b923f6b],
      ["\u20ac".repeat(5000) + "k", 0x3c608d63],
      ["\u{1f642}".repeat(3000), 0x4c0ed859],
    ];
    for (const [s, want] of cases) {
      assert.equal(hex(hash32(s)), hex(want), `first call, length ${s.length}`);
      assert.equal(hex(hash32(s)), hex(want), `second call, length ${s.length}`);
    }
    for (const n of [40_000, 400_000]) {
      const s = `\u00e9${"\u0416".repeat(n)}`;
      assert.equal(hash32(s, 3), refXxh32(utf8(s), 3), `length ${s.length}`);
    }
  });

  const unit16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const mixed = fc.oneof(fc.constantFrom("a", "Z", "0", ":", "\u00e9", "\u0800", "\ud800", "\udc00", "\u{1f600}"), unit16, fc.string({ unit: "binary", maxLength: 1 }));
  const seeds = fc.integer({ min: 0, max: 0xffffffff });

  it("property: equals the reference over TextEncoder's bytes for any string of 0..40 UTF-16 units (ASCII, code points, lone surrogates)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary-ascii", maxLength: 40 }), fc.string({ unit: "binary", maxLength: 20 }), fc.string({ unit: mixed, maxLength: 40 })), seeds, (s, seed) => {
        const want = refXxh32(utf8(s), seed);
        assert.equal(hash32(s, seed), want);
        assert.equal(hash32Bytes(utf8(s), seed), want);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: any byte string, through hash32Bytes, equals the reference", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), seeds, (b, seed) => {
        assert.equal(hash32Bytes(b, seed), refXxh32(b, seed));
      }),
      { numRuns: 1000 },
    );
  });
});
