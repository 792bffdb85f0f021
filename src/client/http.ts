/**
 * HTTP through the registry: an undici Dispatcher that resolves the host of
 * `http://echo/path` (or `https://echo/path`) as a service, so it serves
 * `fetch` and every undici API (request, stream, pipeline) alike. Hosts that
 * are not services (names with a dot, IP addresses, localhost, unless listed)
 * pass through untouched.
 *
 * `https://echo/` asks for TLS: it goes only to instances registered as
 * `https`, never to a plaintext one, and each attempt verifies the instance's
 * certificate against the name the caller used (`echo`), not the pod IP it
 * dials, as a client of a Kubernetes Service would. `http://echo/` goes to
 * `http` and `https` instances alike, over TLS to the latter, verified the
 * same way.
 */
import { Agent, Dispatcher, fetch as undiciFetch } from "undici";
import type { Tracer } from "@opentelemetry/api";
import { createLoadTracker } from "../balancer/load.js";
import type { LoadTracker } from "../balancer/types.js";
import { ClosedError, DestroyedError, NoInstanceError, PodregError } from "../errors.js";
import type { Discovery } from "../registry/registry.js";
import type { Clock } from "../util/clock.js";
import { parseClientConfig, serviceConfig, type ClientConfig } from "./config.js";
import { headerRecord } from "./headers.js";
import { BalancedCall } from "./http-handler.js";
import { ServiceBalancer } from "./service-balancer.js";
import { scopedSignal } from "../util/signal.js";
import { podregTracer, startCallSpan } from "./tracing.js";

/** The protocols this client calls: an instance registered as `grpc` (or `dubbo`) of the same service is never sent HTTP. */
export const HTTP_PROTOCOLS: readonly string[] = ["http", "https"];
/** Those an `https://service/` call may reach: TLS only. */
export const HTTPS_PROTOCOLS: readonly string[] = ["https"];

export interface PodregHttpOptions {
  /** Where services are found: any source (kube-pods, memory, an aggregate). */
  discovery: Discovery;
  config?: ClientConfig;
  /**
   * The dispatcher doing the I/O. Default: a new undici Agent (closed with this one). For
   * instances with certificates of a private CA: `new Agent({ connect: { ca } })`.
   */
  dispatcher?: Dispatcher;
  /** Which hosts name services. Default: listed in config.services, or a single label other than "localhost". */
  isService?: (host: string) => boolean;
  /** Send the service name as the Host header (default true), as a client of a Kubernetes Service would. */
  preserveHost?: boolean;
  /** Read the client address for source_affinity from this header (e.g. x-forwarded-for). */
  clientAddressHeader?: string;
  tracer?: Tracer;
  clock?: Clock;
  random?: () => number;
}

export class PodregDispatcher extends Dispatcher {
  private readonly inner: Dispatcher;
  /**
   * The inner dispatcher composed with podreg's interceptor. undici's compose()
   * hands interceptors a handler of the current API (onRequestStart...), whichever
   * API the caller's handler speaks: the documented replacement of DecoratorHandler.
   */
  private readonly composed: Dispatcher.ComposedDispatcher;
  private readonly ownInner: boolean;
  private readonly balancers = new Map<string, ServiceBalancer>();
  /** Per service: calls in flight, shared by its http:// and https:// balancers (one instance, one count). */
  private readonly loads = new Map<string, LoadTracker>();
  private readonly tracer: Tracer;
  private readonly config: ClientConfig;
  /** undici's lifecycle (dispatcher-base.js): after close() or destroy(), dispatch fails and creates nothing. */
  private state: "open" | "closed" | "destroyed" = "open";
  private closing: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  /** Throws ConfigError for an invalid `config`, as parseClientConfig. */
  constructor(private readonly o: PodregHttpOptions) {
    super();
    this.config = parseClientConfig(o.config ?? {}, "PodregDispatcher options");
    this.ownInner = !o.dispatcher;
    this.inner = o.dispatcher ?? new Agent();
    this.tracer = o.tracer ?? podregTracer();
    this.composed = this.inner.compose((dispatch) => (opts, handler) => this.route(dispatch, opts, handler));
  }

  isService(host: string): boolean {
    if (this.o.isService) return this.o.isService(host);
    if (this.config.services && Object.prototype.hasOwnProperty.call(this.config.services, host)) return true;
    return host !== "localhost" && !host.includes(".") && !host.includes(":") && !/^\d+$/.test(host);
  }

  /**
   * The balancer of a service for `http://service/` calls, or with `"https"` for `https://service/`
   * ones (created on first use; the two keep their own picks, and share the calls in flight).
   */
  balancer(service: string, scheme: "http" | "https" = "http"): ServiceBalancer {
    const key = `${scheme}:${service}`;
    let b = this.balancers.get(key);
    if (!b) {
      b = new ServiceBalancer({
        discovery: this.o.discovery,
        service,
        protocols: scheme === "https" ? HTTPS_PROTOCOLS : HTTP_PROTOCOLS,
        config: serviceConfig(this.config, service),
        load: this.loadOf(service),
        clock: this.o.clock,
        random: this.o.random,
      });
      this.balancers.set(key, b);
    }
    return b;
  }

  private loadOf(service: string): LoadTracker {
    let load = this.loads.get(service);
    if (!load) this.loads.set(service, (load = createLoadTracker()));
    return load;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.composed.dispatch(opts, handler);
  }

  private route(dispatch: Dispatcher.Dispatch, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.state !== "open") {
      // As undici's DispatcherBase: the error goes to the handler, synchronously, and nothing is created.
      const err = this.state === "destroyed" ? new DestroyedError("the podreg dispatcher is destroyed") : new ClosedError("the podreg dispatcher is closed");
      handler.onResponseError?.(refusedController(err), err);
      return false;
    }
    const origin = opts.origin === undefined ? undefined : new URL(String(opts.origin));
    if (!origin || (origin.protocol !== "http:" && origin.protocol !== "https:") || !this.isService(origin.hostname)) return dispatch(opts, handler);
    const call = this.balanced(origin.hostname, origin.protocol === "https:" ? "https" : "http", dispatch, opts, handler);
    this.inFlight.add(call);
    void call.finally(() => this.inFlight.delete(call));
    return true;
  }

  /** Takes no new calls, waits for those in flight, then releases everything. Idempotent: every call gets the same promise. */
  override close(): Promise<void> {
    if (this.state === "open") this.state = "closed";
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      this.release();
      if (this.ownInner) await this.inner.close();
    })();
    return this.closing;
  }

  /** Takes no new calls and aborts those in flight. Idempotent. */
  override destroy(): Promise<void> {
    this.state = "destroyed";
    this.destroying ??= (async () => {
      this.release();
      if (this.ownInner) await this.inner.destroy();
    })();
    return this.destroying;
  }

  private release(): void {
    for (const b of this.balancers.values()) b.close();
    this.balancers.clear();
    this.loads.clear();
  }

  private async balanced(service: string, scheme: "http" | "https", dispatch: Dispatcher.Dispatch, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): Promise<void> {
    const balancer = this.balancer(service, scheme);
    const headers = headerRecord(opts.headers);
    const call = new BalancedCall({
      balancer,
      dispatch,
      opts,
      handler,
      request: {
        headers,
        clientAddress: this.o.clientAddressHeader ? headers[this.o.clientAddressHeader.toLowerCase()]?.split(",")[0]?.trim() : undefined,
      },
      retries: balancer.config.retries,
      span: startCallSpan(this.tracer, `podreg ${opts.method ?? "GET"} ${service}`, service),
      preserveHost: this.o.preserveHost ?? true,
      tls: scheme === "https",
    });
    if (balancer.usable().length === 0) {
      // Before the first sync there is nothing to choose from: wait, bounded by the call's timeout.
      // After it, a service with no instance of an HTTP protocol fails at once.
      const bounded = scopedSignal([], balancer.config.timeoutMs);
      try {
        await balancer.whenReady(bounded.signal);
      } catch (err) {
        call.reject(err instanceof NoInstanceError ? err : balancer.noInstance(`the discovery did not sync within ${balancer.config.timeoutMs}ms`));
        return;
      } finally {
        bounded.dispose();
      }
    }
    call.start();
  }
}

export type PodregFetch = (input: string | URL, init?: Parameters<typeof undiciFetch>[1]) => ReturnType<typeof undiciFetch>;

/**
 * `fetch` whose service hosts resolve through the registry. Where fetch would
 * reject with `TypeError: fetch failed` and hide podreg's error in `cause`,
 * this one rejects with the podreg error itself (`err.code`,
 * `PODREG_NO_INSTANCE`...): that is where users look. Network errors of the
 * call itself stay fetch's TypeErrors.
 */
export function createFetch(dispatcher: PodregDispatcher): PodregFetch {
  return async (input, init) => {
    try {
      return await undiciFetch(input, { ...init, dispatcher });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      // The podreg error as it is: making fetch's TypeError its cause would close a cycle (that TypeError's cause is it).
      if (err instanceof TypeError && cause instanceof PodregError) throw cause;
      throw err;
    }
  };
}

/** The controller of a request that never started: already aborted, nothing to pause. */
function refusedController(reason: Error): Dispatcher.DispatchController {
  return { aborted: true, paused: false, reason, abort: () => {}, pause: () => {}, resume: () => {} };
}
