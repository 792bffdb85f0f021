/**
 * dubbo-go v1.5.x's Kubernetes registry format, byte for byte (see
 * /work/shared/notes/dubbo-go-format.md), so podreg and dubbo-go processes
 * see each other. Per registered interface a provider writes, `v` always "":
 *   /dubbo/<QueryEscape(iface)>/providers                        (folder)
 *   /dubbo/<QueryEscape(iface)>/providers/<QueryEscape(rawURL)>   (the provider)
 * rawURL = <protocol>://<host>:<port>/<iface>?<url.Values.Encode(params)>.
 * Unlike dubbo-go we never append a duplicate: an entry's identity comes from
 * its parsed URL, so a restarted process replaces its previous URL (whose
 * timestamp and pid differ) instead of adding a second one.
 */
import { ConfigError } from "../../errors.js";
import { CodecError, type AnnotationCodec, type AnnotationEntry, type CodecRegistration, type DecodedEndpoint } from "../codec.js";
import { checkMaxBytes, checkRegistration, decodeEntries, lastPerIdentity } from "./entries.js";
import { base64UrlPadded, goJsonMarshalEntries, goParseQuery, goPathUnescape, goQueryEscape, goQueryUnescape, goValuesEncode, utf8Bytes } from "./go-compat.js";

export interface DubboGoCodecOptions {
  /** Label value this process writes: dubbo.io.provider (default) or dubbo.io.consumer. */
  role?: "provider" | "consumer";
  /** Largest annotation value accepted by decode(). Default 256 KiB. */
  maxBytes?: number;
}

const CODEC = "dubbo-go";
const PROVIDERS = "/providers/";
/** dubbo-go's `common.PROVIDER` role number, written as `registry.role`. */
const PROVIDER_ROLE = "3";
// scheme://authority path ?query #fragment, as Go's url.Parse splits a URL with an authority.
const URL_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/s;
const NUMERIC = /^[0-9]+(?:\.[0-9]+)?$/;

interface ProviderUrl {
  service: string;
  protocol: string;
  host: string;
  port: number;
  params: Record<string, string>;
}

const stripBrackets = (host: string): string => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);
// Scheme case-insensitive (Go's url.Parse lowercases it); IPv6 hosts compared without brackets.
const idOf = (service: string, protocol: string, host: string, port: number): string =>
  `dubbo|${service}|${protocol.toLowerCase()}|${stripBrackets(host)}|${port}`;

/** The text after the first `/providers/` of a provider entry key, unescaped and parsed. Throws CodecError SHAPE. */
function parseProviderKey(k: string): ProviderUrl {
  const bad = (why: string): never => {
    throw new CodecError("PODREG_CODEC_SHAPE", `dubbo-go provider entry ${JSON.stringify(k.slice(0, 200))}: ${why}`);
  };
  const raw = goQueryUnescape(k.slice(k.indexOf(PROVIDERS) + PROVIDERS.length));
  const m = URL_SHAPE.exec(raw);
  if (m === null) return bad("not a URL");
  // Userinfo (dubbo-go writes `user:pass@` when a URL has credentials) is not part of the address.
  const authority = (m[2] as string).slice((m[2] as string).lastIndexOf("@") + 1);
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) bad("unterminated IPv6 address");
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    portText = rest.startsWith(":") ? rest.slice(1) : rest === "" ? undefined : bad("junk after IPv6 address");
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
  }
  const port = portText !== undefined && /^[0-9]{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) bad(`port ${JSON.stringify(portText ?? "")} is missing or not in 1..65535`);
  const params = goParseQuery(m[4] ?? "");
  const service = params.interface !== undefined && params.interface !== "" ? params.interface : goPathUnescape((m[3] as string).replace(/^\/+/, ""));
  if (service === "") bad("no interface param and no path");
  return { service, protocol: (m[1] as string).toLowerCase(), host, port, params };
}

/** dubbo-go parses `weight` as an integer (a fraction would fall back to 100), so write an integer; a positive weight never rounds to 0. */
function dubboWeight(weight: number): string {
  const w = Math.min(Math.round(weight), Number.MAX_SAFE_INTEGER);
  return String(weight > 0 && w === 0 ? 1 : w);
}

function folderKey(service: string): string {
  return `/dubbo/${goQueryEscape(service)}/providers`;
}

/**
 * The provider URL entry. Decisions:
 * - `weight` is always written, even at the default 100: explicit is what
 *   dubbo-go, Java dubbo and our endpoints() all read the same way.
 * - `timestamp` is in SECONDS, as dubbo-go writes it (time.Now().Unix(); the
 *   captured annotations carry 10-digit values) and as its load balancer's
 *   warm-up reads it (`now.Unix() - timestamp`); milliseconds would disable
 *   warm-up on dubbo-go consumers.
 * - our params override metadata of the same name; empty values are dropped.
 */
function providerEntry(reg: CodecRegistration): AnnotationEntry {
  const params: Record<string, string> = {
    ...reg.metadata,
    anyhost: "true",
    interface: reg.service,
    side: "provider",
    "registry.role": PROVIDER_ROLE,
    weight: dubboWeight(reg.weight),
    timestamp: String(Math.floor(reg.registeredAt / 1000)),
  };
  const nonEmpty = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== ""));
  const host = stripBrackets(reg.host);
  const hostPort = `${host.includes(":") ? `[${host}]` : host}:${reg.port}`;
  const rawUrl = `${reg.protocol}://${hostPort}/${goQueryEscape(reg.service)}?${goValuesEncode(nonEmpty)}`;
  return { k: `${folderKey(reg.service)}/${goQueryEscape(rawUrl)}`, v: "" };
}

export function createDubboGoCodec(options: DubboGoCodecOptions = {}): AnnotationCodec {
  const role = options.role ?? "provider";
  if (role !== "provider" && role !== "consumer") throw new ConfigError(`${CODEC} codec: option role ${JSON.stringify(role)} is not "provider" or "consumer"`);
  const maxBytes = checkMaxBytes(CODEC, options.maxBytes);

  const identity = (reg: Pick<CodecRegistration, "service" | "protocol" | "host" | "port">): string =>
    idOf(reg.service, reg.protocol, reg.host, reg.port);

  /** Identity and folder of an existing provider entry; undefined for folders, consumers and entries we cannot parse (kept as they are). */
  function providerInfo(k: string): { id: string; folder: string } | undefined {
    const at = k.indexOf(PROVIDERS);
    if (at < 0) return undefined;
    try {
      const u = parseProviderKey(k);
      return { id: idOf(u.service, u.protocol, u.host, u.port), folder: k.slice(0, at + PROVIDERS.length - 1) };
    } catch {
      return undefined;
    }
  }

  return {
    name: CODEC,
    annotationKey: "dubbo.io/annotation",
    labelKey: "dubbo.io/label",
    labelValue: role === "consumer" ? "dubbo.io.consumer" : "dubbo.io.provider",
    labelSelector: "dubbo.io/label in (dubbo.io.consumer,dubbo.io.provider)",
    requiresHost: true,
    decode: (value) => decodeEntries(value, { maxBytes }),
    // Go's base64.URLEncoding over json.Marshal: dubbo-go's decoder rejects anything else.
    encode: (entries) => base64UrlPadded(utf8Bytes(goJsonMarshalEntries(entries))),
    endpoints(entries) {
      // By identity, last wins: dubbo-go appends a new URL on every restart, and a reader must see one endpoint.
      const byId = new Map<string, DecodedEndpoint>();
      for (const e of entries) {
        if (!e.k.includes(PROVIDERS)) continue; // folders, consumers
        const u = parseProviderKey(e.k);
        const ep: DecodedEndpoint = { service: u.service, protocol: u.protocol, port: u.port, metadata: u.params };
        if (u.host !== "") ep.host = u.host;
        const w = u.params.weight;
        if (w !== undefined && NUMERIC.test(w)) ep.weight = Number(w);
        const id = idOf(u.service, u.protocol, u.host, u.port);
        byId.delete(id);
        byId.set(id, ep);
      }
      return [...byId.values()];
    },
    identity,
    apply(existing, change) {
      for (const reg of change.add) {
        checkRegistration(reg, CODEC);
        if (stripBrackets(reg.host) === "") throw new ConfigError(`${CODEC} codec: registration of ${JSON.stringify(reg.service)} needs a host (dubbo-go consumers dial the URL's address)`);
      }
      const adds = lastPerIdentity(change.add, identity);
      const emptied = new Set<string>(); // folders we removed a provider from
      const out: AnnotationEntry[] = [];
      for (const e of existing) {
        const info = providerInfo(e.k);
        if (info !== undefined && (change.drop.has(info.id) || adds.has(info.id))) {
          emptied.add(info.folder);
          continue;
        }
        out.push({ k: e.k, v: e.v });
      }
      const keys = new Set(out.map((e) => e.k));
      for (const reg of adds.values()) {
        const folder = folderKey(reg.service);
        if (!keys.has(folder)) out.push({ k: folder, v: "" }); // once, before its first URL
        const entry = providerEntry(reg);
        out.push(entry);
        keys.add(folder).add(entry.k);
      }
      // A folder goes only when we removed its last provider; folders we did not touch are someone else's.
      const remaining = [...emptied].filter((f) => !out.some((e) => e.k.startsWith(f + "/")));
      return remaining.length === 0 ? out : out.filter((e) => !remaining.includes(e.k));
    },
  };
}
