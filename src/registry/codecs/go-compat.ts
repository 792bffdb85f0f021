/**
 * Byte-exact ports of the few Go standard-library encoders dubbo-go's
 * Kubernetes registry uses (net/url, encoding/json, encoding/base64). The
 * JavaScript built-ins differ on details (encodeURIComponent keeps `!'()*`,
 * JSON.stringify leaves `<>&` raw, Buffer's base64 decoder skips garbage), and
 * any difference makes our annotation bytes differ from what a Go peer writes
 * or reads, so these are done by hand.
 */
import type { CodecError } from "../codec.js";
import { CodecBase64Error, CodecShapeError } from "../../errors.js";

const HEX_UPPER = "0123456789ABCDEF";
const utf8 = new TextEncoder();
// Not fatal: Go strings may hold invalid UTF-8 and Go's decoders map it to U+FFFD too.
const utf8Decoder = new TextDecoder("utf-8");

/** Go's `shouldEscape(c, encodeQueryComponent)` is false only for these bytes. */
function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x30 && b <= 0x39) || // 0-9
    b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e // - _ . ~
  );
}

/**
 * Go's `url.QueryEscape`: dubbo-go escapes the interface name and the whole
 * provider URL with it, and consumers compare keys as text, so every byte
 * must match (encodeURIComponent would keep `!'()*` and write space as %20).
 * Lone UTF-16 surrogates become U+FFFD (TextEncoder), as Go would see them.
 */
export function goQueryEscape(s: string): string {
  let out = "";
  for (const b of utf8.encode(s)) {
    if (isUnreserved(b)) out += String.fromCharCode(b);
    else if (b === 0x20) out += "+";
    else out += "%" + HEX_UPPER[b >> 4] + HEX_UPPER[b & 15];
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function goUnescape(s: string, plusIsSpace: boolean, what: string): string {
  if (!s.includes("%") && !(plusIsSpace && s.includes("+"))) return s;
  const input = utf8.encode(s);
  const out = new Uint8Array(input.length);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const b = input[i] as number;
    if (b === 0x25) {
      const hi = hexValue(input[i + 1] ?? -1);
      const lo = hexValue(input[i + 2] ?? -1);
      if (hi < 0 || lo < 0) {
        throw new CodecShapeError(`invalid URL escape in ${what}: ${JSON.stringify(s.slice(0, 80))}`);
      }
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[n++] = plusIsSpace && b === 0x2b ? 0x20 : b;
    }
  }
  return utf8Decoder.decode(out.subarray(0, n));
}

/** Go's `url.QueryUnescape`: `+` is a space, a bad `%` sequence is an error (CodecError SHAPE). */
export function goQueryUnescape(s: string): string {
  return goUnescape(s, true, "query");
}

/** Go's `url.PathUnescape`: like QueryUnescape but `+` stays `+` (a URL path keeps it literally). */
export function goPathUnescape(s: string): string {
  return goUnescape(s, false, "path");
}

/** Go's `sort.Strings` compares UTF-8 bytes; JS `<` compares UTF-16 units, which differs above U+FFFF. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * Go's `url.Values.Encode()` for single-valued params: keys sorted bytewise,
 * `key=value` both QueryEscaped, joined by `&`. Empty values are kept, as Go
 * does; callers that want them dropped filter first. dubbo-go's provider URL
 * query is exactly this, so identical params give identical keys.
 */
export function goValuesEncode(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .sort(compareUtf8)
    .map((k) => `${goQueryEscape(k)}=${goQueryEscape(params[k] as string)}`)
    .join("&");
}

/**
 * Go's `(*url.URL).Query()`: pairs split on `&`, a pair with a bad escape is
 * skipped (Query() drops ParseQuery's error), and the first value per key is
 * kept (dubbo-go reads params with `Get`, i.e. the first).
 */
export function goParseQuery(query: string): Record<string, string> {
  const pairs: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    let key: string;
    let value: string;
    try {
      key = goQueryUnescape(eq < 0 ? part : part.slice(0, eq));
      value = eq < 0 ? "" : goQueryUnescape(part.slice(eq + 1));
    } catch {
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    pairs.push([key, value]);
  }
  // fromEntries defines own properties, so a `__proto__` param stays a plain key.
  return Object.fromEntries(pairs);
}

/**
 * Go's encoding/json string encoding (with the default HTML escaping):
 * `<`, `>`, `&` as \u003c \u003e \u0026, U+2028/U+2029 escaped, control
 * characters as \u00xx except \n \r \t, invalid UTF-16 as \ufffd. Go >= 1.22
 * writes \b and \f in short form; dubbo-go v1.5.x was built with older Go,
 * which writes \u0008 and \u000c, so we do that. JSON.stringify differs.
 */
function goJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += "\\\\";
      else if (c === 0x0a) out += "\\n";
      else if (c === 0x0d) out += "\\r";
      else if (c === 0x09) out += "\\t";
      else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) out += "\\u00" + (c < 16 ? "0" : "") + c.toString(16);
      else out += s[i];
    } else if (c === 0x2028 || c === 0x2029) {
      out += "\\u" + c.toString(16);
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += s.slice(i, i + 2);
        i++;
      } else {
        out += "\\ufffd";
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\\ufffd";
    } else {
      out += s[i];
    }
  }
  return out + '"';
}

/** Exactly Go's `json.Marshal` of `[]struct{K string \`json:"k"\`; V string \`json:"v"\`}` (compact, k before v). */
export function goJsonMarshalEntries(entries: ReadonlyArray<{ readonly k: string; readonly v: string }>): string {
  return "[" + entries.map((e) => `{"k":${goJsonString(e.k)},"v":${goJsonString(e.v)}}`).join(",") + "]";
}

// One alphabet per value (Go's decoders each accept one), optional correct padding.
const BASE64_STD = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Strict base64 decoding of an annotation value, standard or URL alphabet,
 * padded or not. Buffer.from(x, "base64") silently skips invalid characters
 * and truncates impossible lengths, which would turn garbage into plausible
 * bytes, so the text is validated first. Non-zero trailing bits are accepted.
 */
export function decodeBase64Strict(value: string): Uint8Array {
  const bad = (why: string): CodecError => new CodecBase64Error(`annotation is not valid base64: ${why}`);
  if (!BASE64_STD.test(value) && !BASE64_URL.test(value)) throw bad("unexpected character");
  let padding = 0;
  while (padding < value.length && value.charCodeAt(value.length - 1 - padding) === 61 /* = */) padding++;
  const rest = (value.length - padding) % 4;
  if (rest === 1) throw bad("impossible length");
  if (padding > 0 && (value.length % 4 !== 0 || padding !== (4 - rest) % 4)) throw bad("wrong padding");
  // Node's decoder reads both alphabets; the checks above already made it strict. A Buffer is a Uint8Array: no copy.
  return Buffer.from(value, "base64");
}

/** Go's `base64.URLEncoding` (URL alphabet WITH `=` padding), which dubbo-go writes and requires; Node's "base64url" omits padding. */
export function base64UrlPadded(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Standard alphabet with padding (Go's `base64.StdEncoding`). */
export function base64StdPadded(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** UTF-8 bytes of a string (lone surrogates as U+FFFD). */
export function utf8Bytes(s: string): Uint8Array {
  return utf8.encode(s);
}

/** UTF-8 bytes to a string, invalid sequences as U+FFFD (what Go's json decoder does). */
export function utf8Text(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}
