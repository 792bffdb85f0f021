/**
 * podreg's server: the registry's REST API, the SSE watch, health, metrics
 * and the OpenAPI document on one HTTP port (docs/server.md). One
 * subscription to the source serves every watcher. `podreg serve` runs it;
 * `startServer` embeds it.
 *
 * Safe by default: it binds 127.0.0.1 unless told otherwise, every write
 * needs the bearer token, bodies are bounded, errors are `{code, message}`.
 * Given a certificate (`tls`), it serves HTTPS, so that the token does not
 * cross a network in the clear.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { BadRequestError, ClosedError, ConfigError, NotFoundError } from "../errors.js";
import type { Instance } from "../model/instance.js";
import type { ServiceKey } from "../model/service-key.js";
import { LocalRegistry } from "../registry/local/registry.js";
import type { Discovery } from "../registry/registry.js";
import { parseSelector } from "../router/selector.js";
import { authority } from "../model/host.js";
import { silentLogger, type Logger } from "../util/logger.js";
import { checkToken, readJson, sendError, sendJson } from "./http.js";
import { ServerMetrics, type SourceStats } from "./metrics.js";
import { openApiDocument } from "./openapi.js";
import { WatchFanout, type WatchOptions } from "./watch.js";
import { ConsoleFiles, consoleDir } from "./console.js";
import { serviceConfig, type ClientConfig } from "../client/config.js";
import { redactCredentials } from "../util/text.js";

export interface ServerOptions {
  /** What the server serves: any Discovery (a LocalRegistry takes writes too). */
  discovery: Discovery;
  /** Where writes go when `discovery` is not itself a LocalRegistry (an aggregate that includes one). */
  registrar?: LocalRegistry;
  /** Default 127.0.0.1: nothing is reachable from elsewhere unless said. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Bearer token every write needs. Without one, the server takes no writes. */
  token?: string;
  /** Serve HTTPS with this certificate chain and key (PEM), instead of HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Largest request body. Default 64 KiB. */
  maxBodyBytes?: number;
  watch?: WatchOptions;
  /** Counters the Discovery contract does not carry. */
  stats?: SourceStats;
  /** Per-service client policy the server knows (podreg serve --config): shown by the console, served over xDS. */
  config?: ClientConfig;
  /** Serve the console at `/` (default true, when it is built). */
  console?: boolean;
  logger?: Logger;
}

export interface PodregServer {
  /** `http://host:port`, or `https://` with `tls`. */
  readonly url: string;
  readonly port: number;
  readonly server: Server | HttpsServer;
  readonly fanout: WatchFanout;
  /** Stops taking connections, ends every watch stream, and waits for requests in flight. */
  close(): Promise<void>;
}

const registerBody = z.strictObject({
  service: z.string(),
  port: z.number(),
  host: z.string().optional(),
  protocol: z.string().optional(),
  weight: z.number().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  kind: z.enum(["ephemeral", "persistent"]).optional(),
  ttlMs: z.number().optional(),
  id: z.string().optional(),
});
const updateBody = z.strictObject({ weight: z.number().optional(), metadata: z.record(z.string(), z.string()).optional() });

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new BadRequestError(`${issue.path.length ? issue.path.join(".") : "body"}: ${issue.message}`);
}

/** Starts the server and resolves once it listens. Throws ConfigError when the port is taken or the host can't be bound. */
export async function startServer(o: ServerOptions): Promise<PodregServer> {
  const logger = o.logger ?? silentLogger;
  const discovery = o.discovery;
  const local = o.registrar ?? (discovery instanceof LocalRegistry ? discovery : undefined);
  const fanout = new WatchFanout(discovery, { logger, ...o.watch });
  const metrics = new ServerMetrics(discovery, fanout, { leaseExpiries: local ? () => local.expiries : undefined, ...o.stats });
  const maxBody = o.maxBodyBytes ?? 64 * 1024;
  let closing = false;
  const dir = o.console === false ? undefined : consoleDir();
  const consoleFiles = dir === undefined ? undefined : new ConsoleFiles(dir);
  // The source's health as the console shows it: the last failure until it recovers.
  const health: { failing?: { code: string; message: string; since: number }; lastRecovery?: { at: number; downMs: number } } = {};
  const statusSub = discovery.onStatus((ev) => {
    if (ev.type === "failing") health.failing = { code: ev.error.code ?? "PODREG_ERROR", message: redactCredentials(ev.error.message).slice(0, 500), since: Date.now() };
    else if (ev.type === "recovered") {
      health.failing = undefined;
      health.lastRecovery = { at: Date.now(), downMs: ev.downMs };
    }
  });

  const write = (req: IncomingMessage) => {
    if (!local) throw new BadRequestError(`this server's registry (${discovery.name}) takes no registrations`);
    if (o.token === undefined) throw new BadRequestError("this server was started without a token: it takes no writes");
    checkToken(req, o.token);
    return local;
  };

  const serviceKey = (raw: string): ServiceKey => {
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      throw new BadRequestError("the service name is not valid percent-encoding");
    }
    try {
      return discovery.resolve(name);
    } catch (err) {
      throw new BadRequestError(`bad service name: ${(err as Error).message}`);
    }
  };
  const known = (key: ServiceKey): Instance[] => {
    const list = [...discovery.instances(key)];
    if (list.length === 0) throw new NotFoundError(`no service ${JSON.stringify(key)}`);
    return list;
  };
  const summary = (key: ServiceKey, list: readonly Instance[]) => ({
    key,
    service: list[0]!.service,
    ...(list[0]!.namespace === undefined ? {} : { namespace: list[0]!.namespace }),
    instances: list.length,
    ready: list.filter((i) => i.ready).length,
    protocols: [...new Set(list.map((i) => i.protocol))].sort(),
    sources: [...new Set(list.map((i) => i.source))].sort(),
  });

  const routes: { method: string; path: RegExp; name: string; handle: (req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, url: URL) => Promise<void> | void }[] = [
    { method: "GET", path: /^\/healthz$/, name: "/healthz", handle: (_q, res) => sendJson(res, 200, { status: "ok" }) },
    {
      method: "GET",
      path: /^\/readyz$/,
      name: "/readyz",
      handle: (_q, res) => sendJson(res, discovery.synced && !closing ? 200 : 503, { status: discovery.synced && !closing ? "ready" : "not ready", synced: discovery.synced }),
    },
    {
      method: "GET",
      path: /^\/metrics$/,
      name: "/metrics",
      handle: async (_q, res) => {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      },
    },
    { method: "GET", path: /^\/openapi\.json$/, name: "/openapi.json", handle: (_q, res) => sendJson(res, 200, openApiDocument) },
    {
      method: "GET",
      path: /^\/(index\.html)?$|^\/assets\/[A-Za-z0-9._-]+$/,
      name: "/ (console)",
      handle: (_q, res, _m, url) => {
        if (!consoleFiles) {
          if (url.pathname.startsWith("/assets/")) throw new NotFoundError("no such file");
          return sendJson(res, 404, { code: "PODREG_NOT_FOUND", message: o.console === false ? "the console is off on this server" : "the console is not built: npm run build (it builds web/ into dist/web)" });
        }
        if (!consoleFiles.send(res, url.pathname)) throw new NotFoundError("no such file");
      },
    },
    {
      method: "GET",
      path: /^\/v1\/status$/,
      name: "/v1/status",
      handle: (_q, res) =>
        sendJson(res, 200, {
          source: discovery.name,
          synced: discovery.synced,
          ...(health.failing ? { failing: health.failing } : {}),
          ...(health.lastRecovery ? { lastRecovery: health.lastRecovery } : {}),
          writes: local !== undefined && o.token !== undefined,
          xds: o.stats?.xds !== undefined,
        }),
    },
    {
      method: "GET",
      path: /^\/v1\/auth$/,
      name: "/v1/auth",
      handle: (req, res) => {
        if (!local || o.token === undefined) throw new NotFoundError("this server takes no writes: there is no token to check");
        checkToken(req, o.token);
        res.writeHead(204).end();
      },
    },
    {
      method: "GET",
      path: /^\/v1\/policies$/,
      name: "/v1/policies",
      handle: (_q, res) => {
        const config = o.config ?? {};
        const services: Record<string, ReturnType<typeof serviceConfig>> = {};
        for (const name of Object.keys(config.services ?? {})) {
          try {
            services[discovery.resolve(name)] = serviceConfig(config, name);
          } catch {
            // A name this source cannot key: nothing of its can match it.
          }
        }
        sendJson(res, 200, { defaults: serviceConfig({ defaults: config.defaults }, ""), services });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/services$/,
      name: "/v1/services",
      handle: (_q, res) => {
        const all = discovery.instances("*");
        const by = new Map<ServiceKey, Instance[]>();
        for (const i of all) {
          const list = by.get(i.key);
          if (list) list.push(i);
          else by.set(i.key, [i]);
        }
        sendJson(res, 200, { services: [...by.keys()].sort().map((k) => summary(k, by.get(k)!)) });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/services\/([^/]+)$/,
      name: "/v1/services/{name}",
      handle: (_q, res, m) => {
        const key = serviceKey(m[1]!);
        sendJson(res, 200, summary(key, known(key)));
      },
    },
    {
      method: "GET",
      path: /^\/v1\/services\/([^/]+)\/instances$/,
      name: "/v1/services/{name}/instances",
      handle: (_q, res, m, url) => {
        const key = serviceKey(m[1]!);
        let list = known(key);
        const ready = url.searchParams.get("ready");
        if (ready !== null) {
          if (ready !== "true" && ready !== "false") throw new BadRequestError('ready must be "true" or "false"');
          list = list.filter((i) => i.ready === (ready === "true"));
        }
        const sel = url.searchParams.get("selector");
        if (sel !== null) {
          const selector = parseSelector(sel);
          list = list.filter((i) => selector.matches(i));
        }
        sendJson(res, 200, { key, instances: list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/xds\/clients$/,
      name: "/v1/xds/clients",
      handle: (_q, res) => {
        const xds = o.stats?.xds;
        if (!xds) throw new NotFoundError("this server runs no xDS server (podreg serve --xds-port)");
        sendJson(res, 200, { clients: xds.clients(), stats: xds.stats });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/watch$/,
      name: "/v1/watch",
      handle: (req, res, _m, url) => {
        const service = url.searchParams.get("service");
        const key = service === null || service === "*" ? "*" : serviceKey(encodeURIComponent(service));
        const last = req.headers["last-event-id"];
        fanout.attach(req, res, key, typeof last === "string" ? last : (url.searchParams.get("lastEventId") ?? undefined));
      },
    },
    {
      method: "POST",
      path: /^\/v1\/instances$/,
      name: "/v1/instances",
      handle: async (req, res) => {
        const reg = write(req);
        const body = parseBody(registerBody, await readJson(req, maxBody));
        if (body.kind === "persistent" && body.host === undefined) throw new BadRequestError("a persistent instance needs a host");
        // An ephemeral instance without a host is the caller itself, at the address the server sees.
        const peer = req.socket.remoteAddress?.replace(/^::ffff:/, "");
        const entry = await reg.add(body, { defaultHost: peer });
        sendJson(res, 201, entry, { location: `/v1/instances/${encodeURIComponent(entry.id)}` });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/instances\/([A-Za-z0-9._-]{1,64})$/,
      name: "/v1/instances/{id}",
      handle: (_q, res, m) => {
        const e = local?.entry(m[1]!);
        if (!e) throw new NotFoundError(`no instance ${m[1]}`);
        sendJson(res, 200, e);
      },
    },
    {
      method: "PUT",
      path: /^\/v1\/instances\/([A-Za-z0-9._-]{1,64})\/heartbeat$/,
      name: "/v1/instances/{id}/heartbeat",
      handle: (req, res, m) => sendJson(res, 200, write(req).heartbeat(m[1]!)),
    },
    {
      method: "PATCH",
      path: /^\/v1\/instances\/([A-Za-z0-9._-]{1,64})$/,
      name: "/v1/instances/{id}",
      handle: async (req, res, m) => {
        const reg = write(req);
        const body = parseBody(updateBody, await readJson(req, maxBody));
        sendJson(res, 200, await reg.update(m[1]!, body));
      },
    },
    {
      method: "DELETE",
      path: /^\/v1\/instances\/([A-Za-z0-9._-]{1,64})$/,
      name: "/v1/instances/{id}",
      handle: async (req, res, m) => {
        if (!(await write(req).remove(m[1]!))) throw new NotFoundError(`no instance ${m[1]}`);
        res.writeHead(204).end();
      },
    },
  ];

  const handler: RequestListener = (req, res) => {
    const started = process.hrtime.bigint();
    let route = "unmatched";
    res.on("finish", () => metrics.requests.observe({ method: req.method ?? "", route, status: String(res.statusCode) }, Number(process.hrtime.bigint() - started) / 1e9));
    void (async () => {
      try {
        if (closing) throw new ClosedError("the server is shutting down");
        const url = new URL(req.url ?? "/", "http://server");
        const matches = routes.filter((r) => r.path.test(url.pathname));
        if (matches.length === 0) throw new NotFoundError(`no route ${req.method} ${url.pathname.slice(0, 100)}`);
        const r = matches.find((x) => x.method === req.method || (req.method === "HEAD" && x.method === "GET"));
        if (!r) return sendJson(res, 405, { code: "PODREG_BAD_REQUEST", message: `${req.method} is not allowed here` }, { allow: matches.map((x) => x.method).join(", ") });
        route = r.name;
        await r.handle(req, res, r.path.exec(url.pathname)!, url);
      } catch (err) {
        const status = sendError(res, err);
        if (status >= 500) logger.error({ err: err as Error, method: req.method, route }, "request failed");
        // The body of a refused request is not read: don't let it keep the connection.
        if (!req.complete) req.resume();
      }
    })();
  };
  let server: Server | HttpsServer;
  try {
    server = o.tls ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, handler) : createServer(handler);
  } catch (err) {
    // OpenSSL's reason only (e.g. "no start line", "key values mismatch"): never the PEM itself.
    throw new ConfigError(`the TLS certificate or key is not usable: ${(err as Error).message.slice(0, 200)}`);
  }
  // A client's stream never holds the process: the server is closed explicitly.
  server.keepAliveTimeout = 5000;
  const host = o.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(new ConfigError(`cannot listen on ${authority(host, o.port ?? 0)}: ${err.code ?? err.message}`)));
    server.listen(o.port ?? 0, host, () => resolve());
  });
  fanout.start();
  const port = (server.address() as AddressInfo).port;
  const url = `${o.tls ? "https" : "http"}://${authority(host, port)}`;
  logger.info({ url, registry: discovery.name, writes: local !== undefined && o.token !== undefined }, "podreg server listening");
  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    server,
    fanout,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        statusSub.close();
        fanout.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
      })()),
  };
}
