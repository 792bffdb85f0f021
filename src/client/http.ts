/**
 * HTTP through the registry: an undici Dispatcher that resolves the host of
 * `http://echo/path` as a service, so it serves `fetch` and every undici API
 * (request, stream, pipeline) alike. Hosts that are not services (names with
 * a dot, IP addresses, localhost, unless listed) pass through untouched.
 */
import { Agent, Dispatcher, fetch as undiciFetch } from "undici";
import type { Tracer } from "@opentelemetry/api";
import type { Registry } from "../registry/registry.js";
import type { Clock } from "../util/clock.js";
import { parseClientConfig, serviceConfig, type ClientConfig } from "./config.js";
import { BalancedCall, NoInstanceError } from "./http-handler.js";
import { ServiceBalancer } from "./service-balancer.js";
import { podregTracer, startCallSpan } from "./tracing.js";

export interface PodregHttpOptions {
  registry: Registry;
  config?: ClientConfig;
  /** The dispatcher doing the I/O. Default: a new undici Agent (closed with this one). */
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
  private readonly ownInner: boolean;
  private readonly balancers = new Map<string, ServiceBalancer>();
  private readonly tracer: Tracer;
  private readonly config: ClientConfig;

  /** Throws ConfigError for an invalid `config`, as parseClientConfig. */
  constructor(private readonly o: PodregHttpOptions) {
    super();
    this.config = parseClientConfig(o.config ?? {}, "PodregDispatcher options");
    this.ownInner = !o.dispatcher;
    this.inner = o.dispatcher ?? new Agent();
    this.tracer = o.tracer ?? podregTracer();
  }

  isService(host: string): boolean {
    if (this.o.isService) return this.o.isService(host);
    if (this.config.services && Object.prototype.hasOwnProperty.call(this.config.services, host)) return true;
    return host !== "localhost" && !host.includes(".") && !host.includes(":") && !/^\d+$/.test(host);
  }

  /** The balancer of a service (created on first use). */
  balancer(service: string): ServiceBalancer {
    let b = this.balancers.get(service);
    if (!b) {
      b = new ServiceBalancer({ discovery: this.o.registry, service, config: serviceConfig(this.config, service), clock: this.o.clock, random: this.o.random });
      this.balancers.set(service, b);
    }
    return b;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = opts.origin === undefined ? undefined : new URL(String(opts.origin));
    if (!origin || origin.protocol !== "http:" || !this.isService(origin.hostname)) return this.inner.dispatch(opts, handler);
    void this.balanced(origin.hostname, opts, handler);
    return true;
  }

  override async close(): Promise<void> {
    for (const b of this.balancers.values()) b.close();
    this.balancers.clear();
    if (this.ownInner) await this.inner.close();
  }

  override async destroy(): Promise<void> {
    for (const b of this.balancers.values()) b.close();
    this.balancers.clear();
    if (this.ownInner) await this.inner.destroy();
  }

  private async balanced(service: string, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): Promise<void> {
    const balancer = this.balancer(service);
    const headers = headerRecord(opts.headers);
    const call = new BalancedCall({
      balancer,
      dispatch: (o, h) => this.inner.dispatch(o, h),
      opts,
      handler,
      request: {
        headers,
        clientAddress: this.o.clientAddressHeader ? headers[this.o.clientAddressHeader.toLowerCase()]?.split(",")[0]?.trim() : undefined,
      },
      retries: balancer.config.retries,
      span: startCallSpan(this.tracer, `podreg ${opts.method ?? "GET"} ${service}`, service),
      preserveHost: this.o.preserveHost ?? true,
    });
    try {
      // Before the first sync there is nothing to choose from: wait, bounded by the call's timeout.
      if (balancer.usable().length === 0) await balancer.whenReady(AbortSignal.timeout(balancer.config.timeoutMs));
    } catch {
      call.reject(new NoInstanceError(service, `none appeared within ${balancer.config.timeoutMs}ms`));
      return;
    }
    call.start();
  }
}

function headerRecord(headers: Dispatcher.DispatchOptions["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  const put = (k: unknown, v: unknown) => {
    if (v === undefined || v === null) return;
    out[String(k).toLowerCase()] = Array.isArray(v) ? v.join(", ") : String(v);
  };
  if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) put(headers[i], headers[i + 1]);
  else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === "function") for (const [k, v] of headers as Iterable<[string, unknown]>) put(k, v);
  else for (const [k, v] of Object.entries(headers)) put(k, v);
  return out;
}

export type PodregFetch = (input: string | URL, init?: Parameters<typeof undiciFetch>[1]) => ReturnType<typeof undiciFetch>;

/** `fetch` whose service hosts resolve through the registry. */
export function createFetch(dispatcher: PodregDispatcher): PodregFetch {
  return (input, init) => undiciFetch(input, { ...init, dispatcher });
}
