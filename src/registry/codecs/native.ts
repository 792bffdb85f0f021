/**
 * podreg's own annotation format: the same `{k, v}` array as dubbo-go (so one
 * annotation can be shared with other tools), one entry per registration:
 *   k = <prefix>/<QueryEscape(service)>/providers/<protocol>:<port>[@<host>]
 *   v = {"v":1,"service":..,"protocol":..,"port":..,"weight":..,"metadata":{..},"registeredAt":..}
 * The endpoint is read from `v` (typed, versioned); the key only names the
 * registration so a restarted process finds and replaces its own entry.
 */
import type { AnnotationCodec, AnnotationEntry, CodecRegistration, DecodedEndpoint } from "../codec.js";
import { checkMaxBytes, checkOption, checkRegistration, decodeEntries, isPlainObject, KUBE_KEY, KUBE_LABEL_VALUE, lastPerIdentity } from "./entries.js";
import { base64StdPadded, compareUtf8, goJsonMarshalEntries, goQueryEscape, goQueryUnescape, utf8Bytes } from "./go-compat.js";
import { CodecShapeError, CodecVersionError } from "../../errors.js";
import { PROTOCOL_SOURCE } from "../../model/instance.js";

export interface NativeCodecOptions {
  /** Key prefix of our entries. Default "/podreg". */
  prefix?: string;
  /** Default "podreg.io/annotation". */
  annotationKey?: string;
  /** Default "podreg.io/label". */
  labelKey?: string;
  /** Default "podreg.io-value". */
  labelValue?: string;
  /** Largest annotation value accepted by decode(). Default 256 KiB. */
  maxBytes?: number;
}

/** Format version written in every `v`; a reader refuses versions it does not know instead of guessing. */
export const NATIVE_FORMAT_VERSION = 1;

const CODEC = "native";
const PROVIDERS = "/providers/";
const KEY_TAIL = new RegExp(`^(${PROTOCOL_SOURCE}):([0-9]{1,5})(?:@(.*))?$`, "s");

export function createNativeCodec(options: NativeCodecOptions = {}): AnnotationCodec {
  const prefix = checkOption(CODEC, "prefix", options.prefix ?? "/podreg", /^\/.*[^/]$/s);
  const annotationKey = checkOption(CODEC, "annotationKey", options.annotationKey ?? "podreg.io/annotation", KUBE_KEY);
  const labelKey = checkOption(CODEC, "labelKey", options.labelKey ?? "podreg.io/label", KUBE_KEY);
  const labelValue = checkOption(CODEC, "labelValue", options.labelValue ?? "podreg.io-value", KUBE_LABEL_VALUE);
  const maxBytes = checkMaxBytes(CODEC, options.maxBytes);
  const ours = prefix + "/";

  const idOf = (service: string, protocol: string, host: string, port: number): string => `native|${service}|${protocol}|${host}|${port}`;
  // A host is written only when the registration names one (the registry passes "" otherwise):
  // an entry without one stands for the pod IP, right even when the address is only known after startup.
  const writtenHost = (reg: Pick<CodecRegistration, "host">): string => reg.host;
  const identity = (reg: Pick<CodecRegistration, "service" | "protocol" | "host" | "port">): string =>
    idOf(reg.service, reg.protocol, writtenHost(reg), reg.port);

  /** Identity of an existing entry, from its key (so even an entry with a broken `v` can be replaced or dropped). */
  function keyIdentity(k: string): string | undefined {
    if (!k.startsWith(ours)) return undefined;
    const rest = k.slice(ours.length);
    const at = rest.indexOf(PROVIDERS);
    if (at < 0) return undefined;
    const m = KEY_TAIL.exec(rest.slice(at + PROVIDERS.length));
    if (m === null) return undefined;
    let service: string;
    try {
      service = goQueryUnescape(rest.slice(0, at));
    } catch {
      return undefined;
    }
    return idOf(service, m[1] as string, m[3] ?? "", Number(m[2]));
  }

  function entryFor(reg: CodecRegistration): AnnotationEntry {
    const host = writtenHost(reg);
    const k = `${ours}${goQueryEscape(reg.service)}/providers/${reg.protocol}:${reg.port}${host === "" ? "" : "@" + host}`;
    // Sorted metadata: the same registration always gives the same bytes, so unchanged annotations are not re-patched.
    const metadata = Object.fromEntries(Object.keys(reg.metadata).sort(compareUtf8).map((key) => [key, reg.metadata[key]]));
    const v = JSON.stringify({
      v: NATIVE_FORMAT_VERSION,
      service: reg.service,
      protocol: reg.protocol,
      ...(host === "" ? {} : { host }),
      port: reg.port,
      weight: reg.weight,
      metadata,
      registeredAt: reg.registeredAt,
    });
    return { k, v };
  }

  return {
    name: CODEC,
    scope: "namespace",
    annotationKey,
    labelKey,
    labelValue,
    labelSelector: `${labelKey}=${labelValue}`,
    requiresHost: false,
    defaultProtocol: "http",
    decode: (value) => decodeEntries(value, { maxBytes }),
    encode: (entries) => base64StdPadded(utf8Bytes(goJsonMarshalEntries(entries))),
    endpoints(entries) {
      // Keyed by address: if an entry appears twice (a foreign writer), the last one wins, never two endpoints.
      const byAddress = new Map<string, DecodedEndpoint>();
      for (const e of entries) {
        if (!e.k.startsWith(ours) || !e.k.includes(PROVIDERS)) continue; // other tools' entries
        const ep = parseValue(e.k, e.v);
        const key = JSON.stringify([ep.service, ep.protocol, ep.host ?? "", ep.port]);
        byAddress.delete(key);
        byAddress.set(key, ep);
      }
      return [...byAddress.values()];
    },
    identity,
    apply(existing, change) {
      for (const reg of change.add) checkRegistration(reg, CODEC);
      const adds = lastPerIdentity(change.add, identity);
      const kept = existing.filter((e) => {
        const id = keyIdentity(e.k);
        return id === undefined || !(change.drop.has(id) || adds.has(id));
      });
      return [...kept.map((e) => ({ k: e.k, v: e.v })), ...[...adds.values()].map(entryFor)];
    },
  };
}

/** One entry's `v` -> endpoint; anything short of the full version-1 shape is a CodecError. */
function parseValue(k: string, v: string): DecodedEndpoint {
  const bad = (why: string): never => {
    throw new CodecShapeError(`entry ${JSON.stringify(k.slice(0, 200))}: ${why}`);
  };
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch {
    return bad("value is not JSON");
  }
  if (!isPlainObject(o)) return bad("value is not a JSON object");
  if (typeof o.v === "number" && o.v !== NATIVE_FORMAT_VERSION) {
    throw new CodecVersionError(`entry ${JSON.stringify(k.slice(0, 200))}: format version ${o.v} is not supported (this reader knows ${NATIVE_FORMAT_VERSION})`);
  }
  if (o.v !== NATIVE_FORMAT_VERSION) bad('"v" (format version) is missing');
  const { service, protocol, host, port, weight, metadata, registeredAt } = o;
  if (typeof service !== "string" || service === "") bad("service is not a non-empty string");
  if (typeof protocol !== "string" || protocol === "") bad("protocol is not a non-empty string");
  if (host !== undefined && typeof host !== "string") bad("host is not a string");
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) bad("port is not an integer in 1..65535");
  if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) bad("weight is not a finite number >= 0");
  if (typeof registeredAt !== "number" || !Number.isFinite(registeredAt)) bad("registeredAt is not a number");
  if (!isPlainObject(metadata) || !Object.values(metadata).every((x) => typeof x === "string")) bad("metadata is not an object of strings");
  const ep: DecodedEndpoint = {
    service: service as string,
    protocol: protocol as string,
    port: port as number,
    weight: weight as number,
    // fromEntries: a `__proto__` metadata key stays an own key instead of touching the prototype.
    metadata: Object.fromEntries(Object.entries(metadata as Record<string, string>)),
  };
  if (typeof host === "string" && host !== "") ep.host = host;
  return ep;
}
