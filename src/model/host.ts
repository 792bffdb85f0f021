/**
 * Hosts as the model keeps them: IPv4 dotted quads, IPv6 literals without
 * brackets (compressed, lower case, zone kept), DNS names in lower case.
 * Brackets are added only where a URL or an authority needs them
 * (`authority()`), so an instance registered on `::1` is `::1` everywhere
 * and `http://[::1]:80` only in a URL. Pure functions: the model imports nothing.
 */

export type HostKind = "ipv4" | "ipv6" | "dns";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** RFC 1123 names: labels of letters, digits and hyphens, not starting or ending with a hyphen; a trailing dot allowed. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function ipv6Groups(text: string): number[] | undefined {
  let s = text;
  let v4: [number, number] | undefined;
  const last = s.slice(s.lastIndexOf(":") + 1);
  if (last.includes(".")) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
    if (!IPV4.test(last)) return undefined;
    const [a, b, c, d] = last.split(".").map(Number) as [number, number, number, number];
    v4 = [(a << 8) | b, (c << 8) | d];
    s = `${s.slice(0, s.length - last.length)}0:0`;
  }
  const parts = s.split("::");
  if (parts.length > 2) return undefined;
  const parse = (seg: string): number[] | undefined => {
    if (seg === "") return [];
    const out: number[] = [];
    for (const g of seg.split(":")) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(parts[0]!);
  const rest = parts.length === 2 ? parse(parts[1]!) : [];
  if (!head || !rest) return undefined;
  let groups: number[];
  if (parts.length === 1) {
    if (head.length !== 8) return undefined;
    groups = head;
  } else {
    if (head.length + rest.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  if (v4) groups.splice(6, 2, ...v4);
  return groups;
}

/** RFC 5952 text: lower case, longest run (>= 2) of zero groups elided, first one on a tie. */
function formatIpv6(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export interface ParsedHost {
  readonly kind: HostKind;
  /** Normal form: IPv6 without brackets, compressed; names lower case without a trailing dot. */
  readonly host: string;
}

/**
 * Parses a host as given by a user or a registration: `10.0.0.1`, `::1`,
 * `[::1]`, `fe80::1%eth0`, `echo.shop.svc`. Undefined when it is none of
 * them (`a/b`, `::g`, `1.2.3.999`, empty, a port attached).
 */
export function parseHost(text: string): ParsedHost | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > 253 + 2) return undefined;
  let s = text;
  if (s.startsWith("[") !== s.endsWith("]")) return undefined;
  const bracketed = s.startsWith("[");
  if (bracketed) s = s.slice(1, -1);
  if (s.includes(":")) {
    const pct = s.indexOf("%");
    const zone = pct >= 0 ? s.slice(pct + 1) : undefined;
    if (zone !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(zone)) return undefined;
    const groups = ipv6Groups(pct >= 0 ? s.slice(0, pct) : s);
    if (!groups) return undefined;
    return { kind: "ipv6", host: formatIpv6(groups) + (zone !== undefined ? `%${zone}` : "") };
  }
  if (bracketed) return undefined;
  if (IPV4.test(s)) return { kind: "ipv4", host: s };
  // Digits-and-dots that are not a dotted quad (1.2.3.999, 010.0.0.1) are not names either.
  if (/^[\d.]+$/.test(s)) return undefined;
  const name = (s.endsWith(".") ? s.slice(0, -1) : s).toLowerCase();
  if (name.length === 0 || name.length > 253) return undefined;
  return name.split(".").every((l) => DNS_LABEL.test(l)) ? { kind: "dns", host: name } : undefined;
}

/** The host as a URL or an authority writes it: IPv6 in brackets (its zone as `%25`), the rest as is. */
export function urlHost(host: string): string {
  if (!host.includes(":") || host.startsWith("[")) return host;
  return `[${host.replace("%", "%25")}]`;
}

/** Go's net.JoinHostPort: IPv6 in brackets, a zone kept as `%zone` (not URL-escaped); what dubbo-go writes in its URLs. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `host:port` for a URL, an HTTP Host header or a gRPC target. */
export function authority(host: string, port: number): string {
  return `${urlHost(host)}:${port}`;
}
