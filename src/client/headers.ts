/**
 * The one place that reads undici's three header shapes (a flat array of
 * name/value pairs, an object of name -> value(s), or an iterable of pairs
 * such as Headers), so routing, client addresses and the Host header all see
 * the same request.
 */
import type { Dispatcher } from "undici";

type Headers = Dispatcher.DispatchOptions["headers"];

/** [name, value] for every header, names as given, one entry per value. */
export function headerEntries(headers: Headers): [string, string][] {
  const out: [string, string][] = [];
  const put = (k: unknown, v: unknown) => {
    if (v === undefined || v === null) return;
    if (Array.isArray(v)) for (const x of v) out.push([String(k), String(x)]);
    else out.push([String(k), String(v)]);
  };
  if (!headers) return out;
  if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) put(headers[i], headers[i + 1]);
  else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === "function") for (const [k, v] of headers as Iterable<[string, unknown]>) put(k, v);
  else for (const [k, v] of Object.entries(headers)) put(k, v);
  return out;
}

/** Lower-case names; repeated headers joined with ", " (RFC 9110's list rule). */
export function headerRecord(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of headerEntries(headers)) {
    const name = k.toLowerCase();
    out[name] = out[name] === undefined ? v : `${out[name]}, ${v}`;
  }
  return out;
}

/** The headers with `host` added unless present, as a flat array (a shape every undici API takes). */
export function withHost(headers: Headers, host: string): Headers {
  const entries = headerEntries(headers);
  if (entries.some(([k]) => k.toLowerCase() === "host")) return headers;
  return [...entries.flat(), "host", host];
}
