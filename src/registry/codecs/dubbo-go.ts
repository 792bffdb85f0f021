/**
 * dubbo-go v1.5.x's Kubernetes registry format, byte for byte (apache/dubbo-go
 * v1.5.9 registry/base_registry.go, remoting/kubernetes), so podreg and dubbo-go processes
 * see each other. Per registered interface a provider writes, `v` always "":
 *   /dubbo/<QueryEscape(iface)>/providers                        (folder)
 *   /dubbo/<QueryEscape(iface)>/providers/<QueryEscape(rawURL)>   (the provider)
 * rawURL = <protocol>://<host>:<port>/<iface>?<QueryUnescape(url.Values.Encode(params))>.
 * Unlike dubbo-go we never append a duplicate: an entry's identity comes from
 * its parsed URL, so a restarted process replaces its previous URL (whose
 * timestamp and pid differ) instead of adding a second one.
 */
import { ConfigError } from "../../errors.js";
import type { AnnotationCodec, AnnotationEntry, CodecRegistration, DecodedEndpoint } from "../codec.js";
import { checkMaxBytes, checkRegistration, decodeEntries, lastPerIdentity } from "./entries.js";
import { base64UrlPadded, compareUtf8, goJsonMarshalEntries, goParseQuery, goPathUnescape, goQueryEscape, goQueryUnescape, utf8Bytes } from "./go-compat.js";
import { CodecShapeError } from "../../errors.js";
import { joinHostPort } from "../../model/host.js";
import { PROTOCOL_SOURCE } from "../../model/instance.js";

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
const URL_SHAPE = new RegExp(`^(${PROTOCOL_SOURCE})://([^/?#]*)([^?#]*)(?:\\?([^#]*))?(?:#.*)?$`, "s");
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
    throw new CodecShapeError(`dubbo-go provider entry ${JSON.stringify(k.slice(0, 200))}: ${why}`);
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

/** Bytes dubbo-go's own readers would misread in a raw query (it writes values unescaped): `&` `;` split, `#` ends the URL, `%` and `+` are decoded again, control bytes fail url.Parse. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_PARAM = /[&;#%+\u0000-\u001f\u007f]/;
/** Interface names written into the URL path as they are, as dubbo-go writes `c.Path`; anything else is escaped (readers take `interface=`). */
const PLAIN_PATH = /^[A-Za-z0-9._$~-]+$/;

function checkParams(service: string, params: Readonly<Record<string, string>>): void {
  for (const [k, v] of Object.entries(params)) {
    const bad = UNSAFE_PARAM.test(k) || k.includes("=") ? k : UNSAFE_PARAM.test(v) ? v : undefined;
    if (bad !== undefined) {
      throw new ConfigError(
        `${CODEC} codec: registration of ${JSON.stringify(service)}: parameter ${JSON.stringify(k)} holds a character dubbo-go writes raw into its URL and its readers then misread (& ; # % + = in names, control characters)`,
      );
    }
  }
}

/**
 * The URL query exactly as dubbo-go v1.5 writes it: `url.QueryUnescape(
 * params.Encode())`, i.e. sorted `k=v` pairs with the values unescaped inside
 * the URL, which is then QueryEscaped once as a whole. checkParams() has
 * refused the bytes for which that is ambiguous, so joining the raw pairs is
 * the same text.
 */
function dubboQuery(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .sort(compareUtf8)
    .map((k) => `${k}=${params[k] as string}`)
    .join("&");
}

/**
 * The provider URL entry. Decisions:
 * - `weight` is always written, even at the default 100: explicit is what
 *   dubbo-go, Java dubbo and our endpoints() all read the same way.
 * - `timestamp` is in SECONDS, as dubbo-go writes it (time.Now().Unix(); the
 *   captured annotations carry 10-digit values) and as its load balancer's
 *   warm-up reads it (`now.Unix() - timestamp`); milliseconds would disable
 *   warm-up on dubbo-go consumers.
 * - `ip` and `pid` as dubbo-go's processURL adds them (ip = the advertised host).
 * - our params override metadata of the same name; empty values are dropped.
 */
function providerEntry(reg: CodecRegistration): AnnotationEntry {
  const host = stripBrackets(reg.host);
  const params: Record<string, string> = {
    ...reg.metadata,
    anyhost: "true",
    interface: reg.service,
    ip: host,
    ...(reg.pid === undefined ? {} : { pid: String(reg.pid) }),
    side: "provider",
    "registry.role": PROVIDER_ROLE,
    weight: dubboWeight(reg.weight),
    timestamp: String(Math.floor(reg.registeredAt / 1000)),
  };
  const nonEmpty = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== ""));
  checkParams(reg.service, nonEmpty);
  const hostPort = joinHostPort(host, reg.port);
  const path = PLAIN_PATH.test(reg.service) ? reg.service : goQueryEscape(reg.service);
  const rawUrl = `${reg.protocol}://${hostPort}/${path}?${dubboQuery(nonEmpty)}`;
  return { k: `${folderKey(reg.service)}/${goQueryEscape(rawUrl)}`, v: "" };
}

/**
 * dubbo-go v1.5 consumers notice only the first new key of one pod event
 * (ListenServiceNodeEventWithPrefix replaces its watcher per event), so each
 * new key gets a write of its own, in order: a folder before its first URL,
 * as dubbo-go's own providers write them. Removals go with the first write.
 */
function oneNewKeyPerWrite(existing: readonly AnnotationEntry[], next: readonly AnnotationEntry[]): AnnotationEntry[][] {
  const had = new Set(existing.map((e) => e.k));
  const fresh = next.filter((e) => !had.has(e.k)).map((e) => e.k);
  if (fresh.length <= 1) return [next.map((e) => ({ ...e }))];
  const stages: AnnotationEntry[][] = [];
  for (let n = 1; n <= fresh.length; n++) {
    const allowed = new Set(fresh.slice(0, n));
    stages.push(next.filter((e) => had.has(e.k) || allowed.has(e.k)).map((e) => ({ ...e })));
  }
  return stages;
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
    scope: "global",
    annotationKey: "dubbo.io/annotation",
    labelKey: "dubbo.io/label",
    labelValue: role === "consumer" ? "dubbo.io.consumer" : "dubbo.io.provider",
    labelSelector: "dubbo.io/label in (dubbo.io.consumer,dubbo.io.provider)",
    requiresHost: true,
    defaultProtocol: "dubbo",
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
    stages: oneNewKeyPerWrite,
  };
}
