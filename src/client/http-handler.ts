/**
 * One HTTP call through the balancer: each attempt picks an instance (never
 * one this call already tried, while others remain), rewrites the origin,
 * and dispatches; the caller's handler sees one request and one response.
 * Retried: connect errors always (the request never left); resets and 5xx
 * only for idempotent methods with a replayable body. After undici's
 * RetryHandler: a controller proxy keeps the caller's handle valid across attempts.
 */
import type { Dispatcher } from "undici";
import type { Span } from "@opentelemetry/api";
import { NoInstanceError } from "../errors.js";
import { authority } from "../model/host.js";
import { withHost } from "./headers.js";
import type { RetryOn } from "./config.js";
import type { CallRequest, Selection, ServiceBalancer } from "./service-balancer.js";
import { endCallSpan, recordPick } from "./tracing.js";


const CONNECT_ERRORS = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);
const RESET_ERRORS = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);
/**
 * A certificate that does not verify (Node's codes for OpenSSL's X509_V_ERR_*, and a name that does
 * not match): raised by the TLS handshake, before undici writes the request, so retried as a connect
 * error; the next instance is verified the same way. As Envoy's connect-failure, which covers TLS.
 */
const TLS_VERIFY_ERRORS = new Set([
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_REVOKED",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

export { NoInstanceError } from "../errors.js";

class ControllerProxy implements Dispatcher.DispatchController {
  target: Dispatcher.DispatchController | undefined;
  private userAborted: Error | undefined;
  get aborted(): boolean {
    return this.userAborted !== undefined || (this.target?.aborted ?? false);
  }
  get paused(): boolean {
    return this.target?.paused ?? false;
  }
  get reason(): Error | null {
    return this.userAborted ?? this.target?.reason ?? null;
  }
  get abortedByCaller(): boolean {
    return this.userAborted !== undefined;
  }
  abort(reason: Error): void {
    this.userAborted = reason;
    this.target?.abort(reason);
  }
  pause(): void {
    this.target?.pause();
  }
  resume(): void {
    this.target?.resume();
  }
}

export interface BalancedCallOptions {
  balancer: ServiceBalancer;
  /** The dispatcher doing the I/O. */
  dispatch: (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => boolean;
  opts: Dispatcher.DispatchOptions;
  handler: Dispatcher.DispatchHandler;
  request: CallRequest;
  retries: { attempts: number; on: readonly RetryOn[] };
  span: Span;
  preserveHost: boolean;
  /** The caller asked for TLS (`https://service/`): every attempt is TLS, whatever the instance. */
  tls: boolean;
}

export class BalancedCall implements Dispatcher.DispatchHandler {
  /** The caller's handler, of the current API: undici's compose() wrapped it (see PodregDispatcher). */
  private readonly downstream: Dispatcher.DispatchHandler;
  private readonly proxy = new ControllerProxy();
  private readonly tried = new Set<string>();
  private attempt = 0;
  private current: Selection | undefined;
  private started = false;
  private responding = false;
  private discarding = false;
  private status = 0;
  private done = false;
  private readonly replayable: boolean;
  /** A one-shot body (fetch always sends one: an async generator), wrapped to know whether any attempt began reading it. */
  private readonly streamed: UnstartedBody | undefined;
  private readonly idempotent: boolean;

  constructor(private readonly o: BalancedCallOptions) {
    this.downstream = o.handler;
    const body = o.opts.body;
    this.replayable = body === undefined || body === null || typeof body === "string" || body instanceof Uint8Array;
    if (!this.replayable && isAsyncIterable(body)) this.streamed = new UnstartedBody(body);
    this.idempotent = IDEMPOTENT.has((o.opts.method ?? "GET").toUpperCase()) || Boolean(o.opts.idempotent);
  }

  /** Picks an instance and dispatches the next attempt. */
  start(): void {
    const sel = this.o.balancer.select({ ...this.o.request, exclude: this.tried });
    if (!sel) {
      this.fail(new NoInstanceError(this.o.balancer.service, "none is ready, healthy and routable"));
      return;
    }
    this.current = sel;
    this.attempt++;
    this.tried.add(sel.instance.id);
    this.o.balancer.begin(sel.instance.id);
    recordPick(this.o.span, sel.instance, { service: this.o.balancer.service, policy: sel.policy, route: sel.route, attempt: this.attempt });
    const { host, port } = sel.instance;
    const tls = this.o.tls || sel.instance.protocol.toLowerCase() === "https";
    const origin = `${tls ? "https" : "http"}://${authority(host, port)}`;
    const timeout = this.o.balancer.config.timeoutMs;
    const opts: Dispatcher.DispatchOptions & { servername?: string } = {
      ...this.o.opts,
      // undici's types leave out async iterables, which it accepts (fetch's own body is one).
      ...(this.streamed ? { body: this.streamed as unknown as Dispatcher.DispatchOptions["body"] } : {}),
      origin,
      headers: this.o.preserveHost ? withHost(this.o.opts.headers, new URL(String(this.o.opts.origin)).host) : this.o.opts.headers,
      headersTimeout: this.o.opts.headersTimeout ?? timeout,
      bodyTimeout: this.o.opts.bodyTimeout ?? timeout,
      // The name TLS sends (SNI) and verifies the certificate against: the service as the caller
      // named it, not the pod IP dialled. undici's Request takes `servername` (lib/core/request.js;
      // otherwise it derives it from the Host header, which preserveHost: false would make the IP),
      // though its DispatchOptions type leaves it out.
      ...(tls ? { servername: new URL(String(this.o.opts.origin)).hostname } : {}),
    };
    try {
      this.o.dispatch(opts, this);
    } catch (err) {
      this.onResponseError(this.proxy, err as Error);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.proxy.target = controller;
    if (this.proxy.abortedByCaller) controller.abort(this.proxy.reason!);
    if (this.started) return;
    this.started = true;
    this.downstream.onRequestStart?.(this.proxy, context);
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, statusCode: number, headers: Parameters<NonNullable<Dispatcher.DispatchHandler["onRequestUpgrade"]>>[2], socket: Parameters<NonNullable<Dispatcher.DispatchHandler["onRequestUpgrade"]>>[3]): void {
    this.downstream.onRequestUpgrade?.(this.proxy, statusCode, headers, socket);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseStart"]>>[2], statusMessage?: string): void {
    this.status = statusCode;
    if (statusCode >= 500 && this.mayRetry("5xx")) {
      this.discarding = true; // read the error body to the end (keeps the connection), then retry
      return;
    }
    this.responding = true;
    this.downstream.onResponseStart?.(this.proxy, statusCode, headers, statusMessage);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.discarding) this.downstream.onResponseData?.(this.proxy, chunk);
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseEnd"]>>[1]): void {
    const id = this.current!.instance.id;
    if (this.discarding) {
      this.discarding = false;
      this.o.balancer.end(id, false);
      this.start();
      return;
    }
    const ok = this.status < 500;
    this.o.balancer.end(id, ok);
    this.finish({ ok, status: this.status });
    this.downstream.onResponseEnd?.(this.proxy, trailers);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.current) this.o.balancer.end(this.current.instance.id, false);
    const code = (err as { code?: string }).code ?? "";
    const kind: RetryOn | undefined = CONNECT_ERRORS.has(code) || TLS_VERIFY_ERRORS.has(code) ? "connect-error" : RESET_ERRORS.has(code) ? "reset" : undefined;
    if (!this.responding && !this.proxy.abortedByCaller && kind && this.mayRetry(kind)) {
      this.discarding = false;
      this.start();
      return;
    }
    this.fail(err);
  }

  private mayRetry(kind: RetryOn): boolean {
    if (this.attempt > this.o.retries.attempts || !this.o.retries.on.includes(kind)) return false;
    // Never sent: safe whatever the method, if the body can still be sent.
    if (kind === "connect-error") return this.replayable || (this.streamed !== undefined && !this.streamed.started);
    return this.idempotent && this.replayable;
  }

  /** Ends the call with `err` before (or instead of) any attempt. */
  reject(err: Error): void {
    this.fail(err);
  }

  private fail(err: Error): void {
    this.finish({ ok: false, error: err });
    this.downstream.onResponseError?.(this.proxy, err);
  }

  private finish(outcome: { ok: boolean; status?: number; error?: Error }): void {
    if (this.done) return;
    this.done = true;
    endCallSpan(this.o.span, outcome);
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Uint8Array | string> {
  return typeof v === "object" && v !== null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
}

/**
 * Hands the body to whichever attempt first reads it. undici only iterates a
 * body once the connection is up, so after a connect error `started` is still
 * false and the next attempt can take the same, untouched body.
 */
class UnstartedBody implements AsyncIterable<Uint8Array | string> {
  started = false;
  constructor(private readonly source: AsyncIterable<Uint8Array | string>) {}
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array | string> {
    this.started = true;
    return this.source[Symbol.asyncIterator]();
  }
}

