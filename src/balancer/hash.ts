/**
 * xxHash32 (Yann Collet's XXH32) of a string's UTF-8 bytes, written by hand so
 * the balancer needs no dependency.
 *
 * Why xxHash32 rather than a 64-bit hash: Envoy uses xxHash64, but 64-bit
 * multiplication in JavaScript needs BigInt or 16-bit limb arithmetic, which
 * costs several times more per byte, and pick() hashes a key on every call.
 * 32 bits are enough here: a key is reduced modulo a Maglev table of at most
 * 5,000,011 entries (bias below 0.2%), and a ring holds at most 8,388,608
 * points, so two points colliding only ties them (broken deterministically by
 * instance order) and moves no key unexpectedly. XXH32 passes SMHasher's
 * avalanche and distribution tests, unlike FNV-1a, whose low bits are weak for
 * short keys such as "10.0.0.1:8080_17"; it is also faster than murmur3 in V8
 * because it reads four 32-bit lanes per 16-byte stripe.
 *
 * Independent hashes come from different seeds, as Envoy's Maglev derives
 * offset and skip from xxHash64(key, 0) and xxHash64(key, 1).
 */

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

// Scratch buffer for the UTF-8 bytes: hashing is synchronous, so one suffices.
let buf = new Uint8Array(256);

/** Writes the UTF-8 encoding of s into buf (lone surrogates become U+FFFD, as TextEncoder does); returns its length. */
function encode(s: string): number {
  const n = s.length;
  if (buf.length < n * 3) buf = new Uint8Array(Math.max(n * 3, buf.length * 2));
  const b = buf;
  let p = 0;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      b[p++] = c;
    } else if (c < 0x800) {
      b[p++] = 0xc0 | (c >> 6);
      b[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          b[p++] = 0xf0 | (cp >> 18);
          b[p++] = 0x80 | ((cp >> 12) & 0x3f);
          b[p++] = 0x80 | ((cp >> 6) & 0x3f);
          b[p++] = 0x80 | (cp & 0x3f);
          i++;
          continue;
        }
        c = 0xfffd;
      }
      b[p++] = 0xe0 | (c >> 12);
      b[p++] = 0x80 | ((c >> 6) & 0x3f);
      b[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

function read32(b: Uint8Array, i: number): number {
  return (b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24);
}

const round = (acc: number, lane: number): number => Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);

/** XXH32 of the UTF-8 bytes of `s` with `seed`, as an unsigned 32-bit integer. */
export function hash32(s: string, seed = 0): number {
  const h = asciiXxh32(s, seed);
  if (h >= 0) return h;
  const len = encode(s); // may replace buf with a larger one: read buf only after
  return xxh32(buf, len, seed);
}

/**
 * XXH32 reading an ASCII string's char codes as its UTF-8 bytes, with no
 * encoding pass (about 1.7x faster for 40-character keys); -1 when some char
 * is not ASCII, for the caller to encode instead. Each char is read once.
 */
function asciiXxh32(s: string, seed: number): number {
  const len = s.length;
  let seen = 0;
  let i = 0;
  let h: number;
  let a: number, b: number, c: number, d: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    const limit = len - 16;
    do {
      a = s.charCodeAt(i); b = s.charCodeAt(i + 1); c = s.charCodeAt(i + 2); d = s.charCodeAt(i + 3); // prettier-ignore
      seen |= a | b | c | d;
      v1 = round(v1, a | (b << 8) | (c << 16) | (d << 24));
      a = s.charCodeAt(i + 4); b = s.charCodeAt(i + 5); c = s.charCodeAt(i + 6); d = s.charCodeAt(i + 7); // prettier-ignore
      seen |= a | b | c | d;
      v2 = round(v2, a | (b << 8) | (c << 16) | (d << 24));
      a = s.charCodeAt(i + 8); b = s.charCodeAt(i + 9); c = s.charCodeAt(i + 10); d = s.charCodeAt(i + 11); // prettier-ignore
      seen |= a | b | c | d;
      v3 = round(v3, a | (b << 8) | (c << 16) | (d << 24));
      a = s.charCodeAt(i + 12); b = s.charCodeAt(i + 13); c = s.charCodeAt(i + 14); d = s.charCodeAt(i + 15); // prettier-ignore
      seen |= a | b | c | d;
      v4 = round(v4, a | (b << 8) | (c << 16) | (d << 24));
      i += 16;
    } while (i <= limit);
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + len) | 0;
  for (; i + 4 <= len; i += 4) {
    a = s.charCodeAt(i); b = s.charCodeAt(i + 1); c = s.charCodeAt(i + 2); d = s.charCodeAt(i + 3); // prettier-ignore
    seen |= a | b | c | d;
    h = Math.imul(rotl((h + Math.imul(a | (b << 8) | (c << 16) | (d << 24), P3)) | 0, 17), P4);
  }
  for (; i < len; i++) {
    a = s.charCodeAt(i);
    seen |= a;
    h = Math.imul(rotl((h + Math.imul(a, P5)) | 0, 11), P1);
  }
  return seen > 0x7f ? -1 : avalanche(h);
}

function avalanche(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

/** XXH32 of raw bytes (the reference definition; hash32 must agree with it on TextEncoder's output). */
export function hash32Bytes(bytes: Uint8Array, seed = 0): number {
  return xxh32(bytes, bytes.length, seed);
}

function xxh32(b: Uint8Array, len: number, seed: number): number {
  let i = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    const limit = len - 16;
    do {
      v1 = round(v1, read32(b, i));
      v2 = round(v2, read32(b, i + 4));
      v3 = round(v3, read32(b, i + 8));
      v4 = round(v4, read32(b, i + 12));
      i += 16;
    } while (i <= limit);
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + len) | 0;
  for (; i + 4 <= len; i += 4) h = Math.imul(rotl((h + Math.imul(read32(b, i), P3)) | 0, 17), P4);
  for (; i < len; i++) h = Math.imul(rotl((h + Math.imul(b[i] as number, P5)) | 0, 11), P1);
  return avalanche(h);
}
