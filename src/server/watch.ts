/**
 * The watch API: one subscription to the source, fanned out to every SSE
 * client (Pilot's DiscoveryServer shape: one upstream watch, many
 * downstream). Each event is serialised once and written to every client
 * that wants it.
 *
 * Event ids are `<epoch>.<revision>`: the revision is the source's (the
 * number of the last change a client has seen, so `updated` to echo at 42
 * is `…42`), the epoch names this server's life, so an id from before a
 * restart is never taken for one of now. `Last-Event-ID` resumes from a
 * bounded replay buffer; an id the buffer no longer covers (too old, another
 * epoch, from the future) gets a fresh snapshot, which replaces what the
 * client holds. A client that does not read (more than `maxBufferedBytes`
 * waiting in its socket) is disconnected, never buffered without bound.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RegistryEvent } from "../model/events.js";
import type { Instance } from "../model/instance.js";
import type { ServiceKey } from "../model/service-key.js";
import type { Discovery, Subscription } from "../registry/registry.js";
import { systemClock, unref, type Clock } from "../util/clock.js";
import { silentLogger, type Logger } from "../util/logger.js";

export interface WatchOptions {
  /** A comment line this often keeps proxies from closing an idle stream. Default 15 s. */
  keepAliveMs?: number;
  /** Events kept for resuming. Default 4096. */
  replay?: number;
  /** Bytes a client may leave unread before it is disconnected. Default 1 MiB. */
  maxBufferedBytes?: number;
  clock?: Clock;
  logger?: Logger;
}

interface Client {
  res: ServerResponse;
  /** One service, or every one. */
  key: ServiceKey | "*";
  /** Where to resume from, until the first snapshot of the source arrives. */
  resume: string | undefined;
  /** Bytes of a snapshot still draining: a large registry's snapshot is not a slow reader. */
  allowance: number;
}

interface Buffered {
  revision: number;
  key: ServiceKey;
  frame: string;
}

export interface WatchStats {
  events: Record<"added" | "updated" | "removed", number>;
  /** Clients dropped for not reading. */
  slowDisconnects: number;
  resumed: number;
  snapshots: number;
}

export class WatchFanout {
  readonly epoch = randomBytes(4).toString("hex");
  private readonly clients = new Set<Client>();
  private readonly buffer: Buffered[] = [];
  private readonly state = new Map<string, Instance>();
  /** Revision of the last event seen; events after `floor` are all in the buffer. */
  private revision = 0;
  private floor = 0;
  private synced = false;
  private sub: Subscription | undefined;
  private keepAlive: unknown;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly replay: number;
  private readonly maxBuffered: number;
  readonly stats: WatchStats = { events: { added: 0, updated: 0, removed: 0 }, slowDisconnects: 0, resumed: 0, snapshots: 0 };

  constructor(
    private readonly discovery: Discovery,
    private readonly opts: WatchOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.replay = opts.replay ?? 4096;
    this.maxBuffered = opts.maxBufferedBytes ?? 1 << 20;
  }

  /** Subscribes to the source (once) and starts the keep-alive ticks. */
  start(): void {
    if (this.sub) return;
    this.sub = this.discovery.subscribe("*", (ev) => this.onEvent(ev));
    this.tick();
  }

  /** Takes over `res` as an SSE stream of `key` (or all), resuming after `lastEventId` when it can. */
  attach(req: IncomingMessage, res: ServerResponse, key: ServiceKey | "*", lastEventId: string | undefined): void {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
    res.flushHeaders();
    const client: Client = { res, key, resume: lastEventId, allowance: 0 };
    res.on("drain", () => (client.allowance = 0));
    this.clients.add(client);
    const drop = () => {
      this.clients.delete(client);
      };
    req.on("close", drop);
    res.on("close", drop);
    res.on("error", drop);
    if (this.synced) this.begin(client);
  }

  /** Ends every stream (graceful shutdown) and the subscription. */
  close(): void {
    this.sub?.close();
    if (this.keepAlive !== undefined) this.clock.clearTimeout(this.keepAlive);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private tick(): void {
    const ms = this.opts.keepAliveMs ?? 15_000;
    this.keepAlive = this.clock.setTimeout(() => {
      for (const c of this.clients) this.write(c, ":keep-alive\n\n");
      this.tick();
    }, ms);
    unref(this.keepAlive);
  }

  private onEvent(ev: RegistryEvent): void {
    if (ev.type === "snapshot") {
      // The source's first state (or, after close/reopen, a new one): every client starts from it.
      this.state.clear();
      for (const i of ev.instances) this.state.set(i.id, i);
      this.revision = this.floor = ev.revision;
      this.buffer.length = 0;
      this.synced = true;
      for (const c of this.clients) this.begin(c);
      return;
    }
    if (ev.type === "removed") this.state.delete(ev.instance.id);
    else this.state.set(ev.instance.id, ev.instance);
    this.revision = ev.revision;
    this.stats.events[ev.type]++;
    const frame = `id: ${this.epoch}.${ev.revision}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`;
    const key = ev.instance.key;
    // An update that moves an instance between services reaches watchers of either.
    const prevKey = ev.type === "updated" ? ev.previous.key : key;
    this.buffer.push({ revision: ev.revision, key, frame });
    if (this.buffer.length > this.replay) this.floor = this.buffer.shift()!.revision;
    for (const c of this.clients) {
      if (c.resume !== undefined) continue; // not begun yet
      if (c.key === "*" || c.key === key || c.key === prevKey) this.write(c, frame);
    }
  }

  /** Replays what a resuming client missed, or sends it a snapshot. */
  private begin(c: Client): void {
    const from = this.resumable(c.resume);
    c.resume = undefined;
    if (from === undefined) {
      const instances = [...this.state.values()].filter((i) => c.key === "*" || i.key === c.key);
      this.stats.snapshots++;
      const frame = `id: ${this.epoch}.${this.revision}\nevent: snapshot\ndata: ${JSON.stringify({ type: "snapshot", revision: this.revision, instances })}\n\n`;
      c.allowance = Buffer.byteLength(frame);
      this.write(c, frame);
      return;
    }
    this.stats.resumed++;
    for (const b of this.buffer) if (b.revision > from && (c.key === "*" || b.key === c.key)) this.write(c, b.frame);
  }

  /** The revision to resume after, when the buffer holds every event since it. */
  private resumable(id: string | undefined): number | undefined {
    if (!id) return undefined;
    const m = /^([0-9a-f]{8})\.(\d{1,15})$/.exec(id);
    if (!m || m[1] !== this.epoch) return undefined;
    const rev = Number(m[2]);
    return rev >= this.floor && rev <= this.revision ? rev : undefined;
  }

  private write(c: Client, text: string): void {
    if (c.res.destroyed) return;
    c.res.write(text);
    if (c.res.writableLength > this.maxBuffered + c.allowance) {
      this.stats.slowDisconnects++;
      this.logger.warn({ buffered: c.res.writableLength }, "watch client too slow to read: disconnected");
      this.clients.delete(c);
        c.res.destroy();
    }
  }
}
