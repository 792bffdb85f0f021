/**
 * Requests to the API server. @kubernetes/client-node supplies configuration
 * and authentication (kubeconfig, in-cluster, exec/OIDC plugins) through
 * `applyToHTTPSOptions`; the requests themselves are plain node:https so we
 * keep what its generated client and `Watch` hide: the HTTP status and the
 * Status reason of every failure, abort signals, and a watch stream whose
 * silence and unparseable lines are errors rather than lost events.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { AbortedError } from "../errors.js";
import { redactCredentials } from "../util/text.js";
import { KubeUnreachableError, type KubeApiError } from "./errors.js";
import { WatchBadLineError, WatchInactiveError, kubeApiError } from "../errors.js";
import { scopedSignal } from "../util/signal.js";
import type { KubeConfigLike } from "./options.js";

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Query;
  body?: unknown;
  /** Content-Type of the body; patches must name theirs (merge patch, JSON patch, ...). */
  contentType?: string;
  signal?: AbortSignal;
  /** Whole-request timeout. Default: the client's (30s). */
  timeoutMs?: number;
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: unknown;
}

export interface WatchRequest {
  path: string;
  query?: Query;
  signal?: AbortSignal;
  /** The stream fails with PODREG_KUBE_WATCH_INACTIVE when nothing (not even a bookmark) arrives for this long. */
  inactivityTimeoutMs: number;
  onEvent: (event: WatchEvent) => void;
  /** The server accepted the watch (status 200): the stream is open. */
  onOpen?: () => void;
}

export interface KubeClientOptions {
  userAgent?: string;
  timeoutMs?: number;
}

export class KubeClient {
  private readonly kubeConfig: KubeConfigLike;
  readonly server: string;
  /** The server URL without credentials, for messages. */
  private readonly shownServer: string;
  private readonly agent = new HttpsAgent({ keepAlive: true, maxSockets: 16 });
  private readonly userAgent: string;
  private readonly timeoutMs: number;

  /** `kubeConfig`: client-node's KubeConfig (loadKubeConfig() gives one), typed structurally to keep client-node out of podreg's public types. */
  constructor(kubeConfig: KubeConfigLike, options: KubeClientOptions = {}) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new KubeUnreachableError("the Kubernetes configuration names no current cluster");
    this.kubeConfig = kubeConfig;
    this.server = cluster.server.replace(/\/+$/, "");
    this.shownServer = redactCredentials(this.server);
    this.userAgent = options.userAgent ?? "podreg";
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The namespace of the current context, if it names one. */
  get contextNamespace(): string | undefined {
    return this.kubeConfig.getContextObject(this.kubeConfig.getCurrentContext())?.namespace;
  }

  /**
   * Sends a request and parses the JSON answer. Throws KubeApiError,
   * KubeUnreachableError or AbortedError. The timeout bounds the whole
   * exchange (connect, headers and body) on the wall clock: a server that
   * trickles bytes or stalls after the headers still fails on time.
   */
  async request<T>(req: KubeRequest): Promise<T> {
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    const what = `${req.method ?? "GET"} ${req.path}`;
    const deadline = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => deadline.abort(), timeoutMs) : undefined;
    const combined = req.signal ? scopedSignal([req.signal, deadline.signal]) : undefined;
    const signal = combined?.signal ?? deadline.signal;
    try {
      const res = await this.open({ ...req, signal });
      const text = await readBody(res, signal);
      if ((res.statusCode ?? 0) >= 400) throw apiError(res.statusCode ?? 0, text);
      return (text ? JSON.parse(text) : undefined) as T;
    } catch (err) {
      if (deadline.signal.aborted && !req.signal?.aborted) throw new KubeUnreachableError(`${what}: no answer in ${timeoutMs}ms`, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      combined?.dispose();
    }
  }

  /**
   * Streams a watch until the server ends it (resolves) or it fails (rejects).
   * Lines are parsed strictly: an unparseable line fails the stream so the
   * caller resumes from its last resourceVersion instead of missing an event.
   */
  async watch(req: WatchRequest): Promise<void> {
    const res = await this.open({ path: req.path, query: { ...req.query, watch: true }, signal: req.signal });
    if ((res.statusCode ?? 0) >= 400) throw apiError(res.statusCode ?? 0, await readBody(res, req.signal));
    req.onOpen?.();
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
        if (err) {
          res.destroy();
          reject(err);
        } else resolve();
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => finish(new WatchInactiveError(`watch ${req.path}: no data for ${req.inactivityTimeoutMs}ms`)),
          req.inactivityTimeoutMs,
        );
      };
      const onAbort = () => finish(new AbortedError("watch aborted"));
      req.signal?.addEventListener("abort", onAbort, { once: true });
      arm();
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        arm();
        buf += chunk;
        for (let i = buf.indexOf("\n"); i >= 0 && !settled; i = buf.indexOf("\n")) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (!line) continue;
          let event: WatchEvent;
          try {
            event = JSON.parse(line) as WatchEvent;
          } catch {
            finish(new WatchBadLineError(`watch ${req.path}: unparseable line (${line.slice(0, 80)})`));
            return;
          }
          try {
            req.onEvent(event);
          } catch (err) {
            finish(err instanceof Error ? err : new Error(String(err)));
            return;
          }
        }
      });
      res.on("end", () => finish());
      res.on("error", (err) => finish(new KubeUnreachableError(`watch ${req.path}: ${err.message}`, { cause: err })));
      res.on("close", () => finish(settled ? undefined : new KubeUnreachableError(`watch ${req.path}: connection closed`)));
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Opens the request; bounded only by `req.signal` (request() adds the deadline, a watch has none). */
  private async open(req: KubeRequest): Promise<IncomingMessage> {
    if (req.signal?.aborted) throw new AbortedError();
    const url = new URL(this.server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: RequestOptions = {};
    try {
      await this.kubeConfig.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new KubeUnreachableError(`cannot apply Kubernetes credentials: ${redactCredentials((err as Error).message)}`, { cause: err });
    }
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string> = {
      ...(opts.headers as Record<string, string> | undefined),
      Accept: "application/json",
      "User-Agent": this.userAgent,
    };
    if (body) {
      headers["Content-Type"] = req.contentType ?? "application/json";
      headers["Content-Length"] = String(body.length);
    }
    const isHttps = url.protocol === "https:";
    const send = isHttps ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const r = send(url, { ...opts, agent: opts.agent ?? (isHttps ? this.agent : undefined), method: req.method ?? "GET", headers, signal: req.signal }, resolve);
      r.on("error", (err: Error) => {
        if (req.signal?.aborted) reject(new AbortedError());
        else reject(new KubeUnreachableError(`${req.method ?? "GET"} ${this.shownServer}${req.path}: ${redactCredentials(err.message)}`, { cause: err }));
      });
      r.end(body);
    });
  }
}

function readBody(res: IncomingMessage, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => (text += d));
    res.on("end", () => resolve(text));
    res.on("error", (err) => reject(signal?.aborted ? new AbortedError() : new KubeUnreachableError(err.message, { cause: err })));
  });
}

function apiError(status: number, body: string): KubeApiError {
  try {
    const s = JSON.parse(body) as { message?: string; reason?: string };
    return kubeApiError(status, s.message ?? `HTTP ${status}`, s.reason);
  } catch {
    return kubeApiError(status, `HTTP ${status}: ${body.slice(0, 200)}`);
  }
}
