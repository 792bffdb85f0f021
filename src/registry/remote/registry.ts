/**
 * A podreg server as a source: discovery through its watch API (one SSE
 * stream for everything, resumed with Last-Event-ID after a disconnect, a
 * fresh snapshot replacing the whole cache when the server can't resume),
 * and registration in its local registry (a lease kept by heartbeats,
 * registered again under the same id when the server has forgotten it,
 * deleted on close()). Balancers and clients take it as any Discovery.
 *
 * Instances keep the source the server has them from (`local`,
 * `kube-pods`...); this registry's name is `remote`.
 */
import { randomUUID } from "node:crypto";
import { Agent, request, type Dispatcher } from "undici";
import { BadRequestError, ClosedError, NotFoundError, PodregError, RegistrationError, ServerError, TooLargeError, UnauthorizedError } from "../../errors.js";
import type { RegistryEvent } from "../../model/events.js";
import { resolveServiceName, type ServiceKey } from "../../model/service-key.js";
import { Backoff } from "../../util/backoff.js";
import { sleep, systemClock, unref, type Clock } from "../../util/clock.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import { scopedSignal } from "../../util/signal.js";
import { HubDiscovery } from "../hub-discovery.js";
import { validateSpec, type Registry, type RegistrationHandle, type RegistrationSpec } from "../registry.js";
import { readEventStream } from "./sse.js";

export interface RemoteRegistryOptions {
  /** The server, `http://127.0.0.1:7070`. */
  url: string;
  /** The server's token, for registrations. */
  token?: string;
  /** The namespace a bare service name resolves in (the server's); default none. */
  namespace?: string;
  /** Lease of registrations; heartbeats every third of it. Default 10 s. */
  ttlMs?: number;
  /** Bound on each request to the server. Default 5 s. */
  requestTimeoutMs?: number;
  /** The undici dispatcher its requests go through. Default: undici's global one, or an Agent of its own with `ca`. */
  dispatcher?: Dispatcher;
  /** CA certificates (PEM) to trust for an https:// server, as `podreg serve --tls-cert` gives it; ignored with `dispatcher`. */
  ca?: string | Buffer;
  clock?: Clock;
  logger?: Logger;
}

const ERRORS: Record<string, new (message: string) => PodregError> = {
  PODREG_BAD_REQUEST: BadRequestError,
  PODREG_REGISTRATION: RegistrationError,
  PODREG_NOT_FOUND: NotFoundError,
  PODREG_UNAUTHORIZED: UnauthorizedError,
  PODREG_TOO_LARGE: TooLargeError,
};

export class RemoteRegistry extends HubDiscovery implements Registry {
  readonly name = "remote";
  private readonly base: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly stop = new AbortController();
  private readonly handles = new Set<RegistrationHandle>();
  private started = false;
  private closed = false;
  private lastEventId: string | undefined;
  /** Reconnects of the watch (for tests and metrics). */
  reconnects = 0;
  /** What requests go through; an Agent made for `ca` is this registry's own, closed with it. */
  private readonly dispatcher: Dispatcher | undefined;
  private readonly ownDispatcher: Agent | undefined;

  constructor(private readonly o: RemoteRegistryOptions) {
    super({ logger: o.logger ?? silentLogger, now: () => (o.clock ?? systemClock).now() });
    this.ownDispatcher = o.dispatcher === undefined && o.ca !== undefined ? new Agent({ connect: { ca: o.ca } }) : undefined;
    this.dispatcher = o.dispatcher ?? this.ownDispatcher;
    this.base = o.url.replace(/\/+$/, "");
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
  }

  resolve(name: string): ServiceKey {
    return resolveServiceName(name, { scope: "namespace", defaultNamespace: this.o.namespace });
  }







  async register(spec: RegistrationSpec, opts: { signal?: AbortSignal } = {}): Promise<RegistrationHandle> {
    if (this.closed) throw new ClosedError("the remote registry is closed");
    const v = validateSpec(spec);
    const id = randomUUID();
    const ttlMs = this.o.ttlMs ?? 10_000;
    let body: Record<string, unknown> = { ...v, id, ttlMs };
    if (v.host === undefined) delete body.host;
    await this.call("POST", "/v1/instances", body, opts.signal);
    let open = true;
    // Heartbeats at a third of the lease: two may be lost before it expires.
    let timer: unknown;
    const beat = async () => {
      if (!open) return;
      try {
        await this.call("PUT", `/v1/instances/${id}/heartbeat`);
      } catch (err) {
        if (err instanceof NotFoundError && open) {
          // The server forgot us (restarted, or the lease ran out): the same id again, so no duplicate.
          this.logger.warn({ id, service: v.service }, "lease unknown to the server: registering again");
          await this.call("POST", "/v1/instances", body).catch((e: Error) => this.logger.warn({ err: e }, "registering again failed; retrying"));
        } else this.logger.warn({ err: err as Error, id }, "heartbeat failed; retrying");
      }
      if (open) unref((timer = this.clock.setTimeout(() => void beat(), ttlMs / 3)));
    };
    unref((timer = this.clock.setTimeout(() => void beat(), ttlMs / 3)));
    const handle: RegistrationHandle = {
      service: v.service,
      update: async (change, o) => {
        if (!open) throw new ClosedError("registration is closed");
        await this.call("PATCH", `/v1/instances/${id}`, change, o?.signal);
        body = { ...body, ...change };
      },
      close: async (o) => {
        if (!open) return;
        open = false;
        this.clock.clearTimeout(timer);
        this.handles.delete(handle);
        try {
          await this.call("DELETE", `/v1/instances/${id}`, undefined, o?.signal);
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err; // already gone: what close() wanted
        }
      },
    };
    this.handles.add(handle);
    return handle;
  }

  /** Deregisters every registration made through it, then stops the watch. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled([...this.handles].map((h) => h.close()));
    this.stop.abort();
    this.hub.close();
    await this.ownDispatcher?.destroy();
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  protected override start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    void this.watchLoop();
  }

  /** Reads the watch until close(), reconnecting with backoff and resuming where it left off. */
  private async watchLoop(): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5000 });
    const signal = this.stop.signal;
    while (!signal.aborted) {
      try {
        await readEventStream(`${this.base}/v1/watch`, {
          lastEventId: this.lastEventId,
          signal,
          dispatcher: this.dispatcher,
          onOpen: () => {
            backoff.reset();
            this.tracker.recover(this);
          },
          onEvent: (ev) => this.apply(ev.event, ev.data, ev.id),
        });
        if (signal.aborted) return;
        throw new ServerError("the watch stream ended");
      } catch (err) {
        if (signal.aborted) return;
        const e = err instanceof PodregError ? err : new ServerError(`watch: ${(err as Error).message}`, (err as { status?: number }).status, { cause: err });
        this.tracker.fail(this, e);
        this.reconnects++;
        this.logger.debug({ err: e }, "watch lost; reconnecting");
        await sleep(backoff.next(), { clock: this.clock, signal }).catch(() => {});
      }
    }
  }

  private apply(type: string, data: string, id: string | undefined): void {
    let ev: RegistryEvent;
    try {
      ev = JSON.parse(data) as RegistryEvent;
    } catch {
      throw new ServerError(`the watch sent an event that is not JSON (${type})`);
    }
    if (type === "snapshot" && ev.type === "snapshot") {
      // The whole state: what is not in it is gone (no phantom survives a restart of the server).
      const ids = new Set(ev.instances.map((i) => i.id));
      for (const i of this.hub.all()) if (!ids.has(i.id)) this.hub.deleteGroup(i.id);
      for (const i of ev.instances) this.hub.setGroup(i.id, [i]);
      this.markSynced();
    } else if (ev.type === "added" || ev.type === "updated") this.hub.setGroup(ev.instance.id, [ev.instance]);
    else if (ev.type === "removed") this.hub.deleteGroup(ev.instance.id);
    else throw new ServerError(`the watch sent an unknown event ${JSON.stringify(type).slice(0, 40)}`);
    this.lastEventId = id;
  }

  /** One request to the server, bounded in time; its `{code, message}` errors become podreg's classes. */
  private async call(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const bounded = scopedSignal(signal ? [signal] : [], this.o.requestTimeoutMs ?? 5000);
    try {
      const res = await request(`${this.base}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: bounded.signal,
        dispatcher: this.dispatcher,
      });
      const text = await res.body.text();
      if (res.statusCode < 300) return text ? (JSON.parse(text) as unknown) : undefined;
      let parsed: { code?: string; message?: string } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // not ours: a proxy's page
      }
      const Cls = parsed.code ? ERRORS[parsed.code] : undefined;
      if (Cls) throw new Cls(parsed.message ?? parsed.code!);
      throw new ServerError(`${method} ${path}: the server answered ${res.statusCode}${parsed.message ? `: ${parsed.message}` : ""}`, res.statusCode);
    } catch (err) {
      if (err instanceof PodregError) throw err;
      throw new ServerError(`${method} ${path}: ${(err as Error).message}`, undefined, { cause: err });
    } finally {
      bounded.dispose();
    }
  }
}
