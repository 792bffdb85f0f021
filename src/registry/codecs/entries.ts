/**
 * What both codecs share: decoding the annotation value into `{k, v}` entries
 * (size, base64, JSON, shape; only CodecError escapes), and checking the
 * registrations and options they are given (ConfigError).
 */
import { ConfigError } from "../../errors.js";
import type { AnnotationEntry, CodecRegistration } from "../codec.js";
import { decodeBase64Strict, utf8Text } from "./go-compat.js";
import { CodecJsonError, CodecShapeError, CodecSizeError } from "../../errors.js";
import { PROTOCOL } from "../../model/instance.js";

/** Kubernetes caps all annotations of an object together at 256 KiB, so a bigger value cannot be genuine. */
export const DEFAULT_MAX_BYTES = 256 * 1024;

export interface DecodeOptions {
  /** Largest annotation value (bytes of its text) accepted before any parsing. Default 256 KiB. */
  maxBytes?: number;
}

/**
 * Annotation value -> entries. The size check runs first so a hostile value
 * costs nothing to reject. An empty value is no entries (an annotation left
 * empty by hand or by a tool), not an error.
 */
export function decodeEntries(value: string, options: DecodeOptions = {}): AnnotationEntry[] {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  // value.length <= bytes <= 3 * length: skip the byte count when the answer is already known.
  if (value.length > maxBytes || (value.length * 3 > maxBytes && Buffer.byteLength(value, "utf8") > maxBytes)) {
    throw new CodecSizeError(`annotation value is larger than ${maxBytes} bytes`);
  }
  if (value === "") return [];
  const text = utf8Text(decodeBase64Strict(value));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CodecJsonError(`annotation is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(parsed)) throw new CodecShapeError("annotation JSON is not an array");
  return parsed.map((item: unknown, i) => {
    if (!isPlainObject(item) || typeof item.k !== "string" || typeof item.v !== "string") {
      throw new CodecShapeError(`annotation entry ${i} is not {"k": string, "v": string}`);
    }
    // Only k and v: extra fields are dropped, as Go's decoder into the struct does.
    return { k: item.k, v: item.v };
  });
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** URL scheme syntax (RFC 3986): dubbo-go puts the protocol in a URL, and a `/` or `:` in it would break our keys. */

/** IP literal or DNS name (IPv6 with or without brackets, zone after `%`): keeps `|` and `/` out of identities and keys. */
const HOST = /^[A-Za-z0-9._:%[\]-]*$/;

/** Kubernetes label/annotation key (optional DNS prefix + `/` + name) and label value syntax. */
export const KUBE_KEY = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
export const KUBE_LABEL_VALUE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

/** Rejects a registration no reader could decode again. Throws ConfigError: this is the caller's input. */
export function checkRegistration(reg: CodecRegistration, codec: string): void {
  const bad = (why: string): never => {
    throw new ConfigError(`${codec} codec: registration of ${JSON.stringify(reg.service)}: ${why}`);
  };
  if (typeof reg.service !== "string" || reg.service === "") bad("service must be a non-empty string");
  if (typeof reg.protocol !== "string" || !PROTOCOL.test(reg.protocol)) bad(`protocol ${JSON.stringify(reg.protocol)} is not a URL scheme`);
  if (typeof reg.host !== "string" || !HOST.test(reg.host)) bad(`host ${JSON.stringify(reg.host)} is not an IP address or DNS name`);
  if (!Number.isInteger(reg.port) || reg.port < 1 || reg.port > 65535) bad(`port ${reg.port} is not in 1..65535`);
  if (typeof reg.weight !== "number" || !Number.isFinite(reg.weight) || reg.weight < 0) bad(`weight ${reg.weight} is not a finite number >= 0`);
  if (!Number.isFinite(reg.registeredAt)) bad("registeredAt must be a finite number");
  for (const [k, v] of Object.entries(reg.metadata)) {
    if (typeof v !== "string") bad(`metadata ${JSON.stringify(k)} is not a string`);
  }
}

/** Checks a string option at construction time, so a typo fails at startup rather than as an invisible registration. */
export function checkMaxBytes(codec: string, value: number | undefined): number {
  const maxBytes = value ?? DEFAULT_MAX_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new ConfigError(`${codec} codec: option maxBytes ${value} is not a positive integer`);
  return maxBytes;
}

export function checkOption(codec: string, name: string, value: string, pattern?: RegExp): string {
  if (typeof value !== "string" || value === "" || (pattern !== undefined && !pattern.test(value))) {
    throw new ConfigError(`${codec} codec: option ${name} ${JSON.stringify(value)} is not valid`);
  }
  return value;
}

/** Last registration per identity wins, in first-seen order: `add` may name one registration twice. */
export function lastPerIdentity(add: readonly CodecRegistration[], identity: (reg: CodecRegistration) => string): Map<string, CodecRegistration> {
  const byId = new Map<string, CodecRegistration>();
  for (const reg of add) byId.set(identity(reg), reg);
  return byId;
}
