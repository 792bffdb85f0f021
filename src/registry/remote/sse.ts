/**
 * A Server-Sent Events reader over undici's `request`, written by hand
 * rather than undici's EventSource: EventSource gives up for good on a
 * non-200 answer (a server restarting behind a proxy answers 502/503), hides
 * its retry timing from an injectable backoff, and can't be told where to
 * resume per connection. This reads one stream; the caller reconnects.
 */
import { request, type Dispatcher } from "undici";

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads `url` as an event stream until it ends, the signal aborts, or a
 * frame arrives that `onEvent` throws on. Resolves when the stream ends;
 * rejects with the network error, or an Error carrying `status` for a
 * non-200 answer.
 */
export async function readEventStream(
  url: string,
  o: { lastEventId?: string; signal: AbortSignal; dispatcher?: Dispatcher; onOpen?: () => void; onEvent: (ev: SseEvent) => void; headersTimeoutMs?: number },
): Promise<void> {
  const res = await request(url, {
    method: "GET",
    headers: { accept: "text/event-stream", ...(o.lastEventId ? { "last-event-id": o.lastEventId } : {}) },
    signal: o.signal,
    dispatcher: o.dispatcher,
    headersTimeout: o.headersTimeoutMs ?? 10_000,
    // The stream is idle between events (a keep-alive comment comes every 15 s): no body timeout, the caller's watchdog decides.
    bodyTimeout: 0,
  });
  if (res.statusCode !== 200) {
    const text = (await res.body.text().catch(() => "")).slice(0, 300);
    throw Object.assign(new Error(`the watch answered ${res.statusCode}: ${text}`), { status: res.statusCode });
  }
  o.onOpen?.();
  let buf = "";
  let ev: { id?: string; event?: string; data: string[] } = { data: [] };
  res.body.setEncoding("utf8");
  for await (const chunk of res.body as AsyncIterable<string>) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (ev.data.length > 0) o.onEvent({ id: ev.id, event: ev.event ?? "message", data: ev.data.join("\n") });
        ev = { id: ev.id, data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
      if (field === "data") ev.data.push(value);
      else if (field === "event") ev.event = value;
      else if (field === "id") ev.id = value;
    }
  }
}
