/**
 * gRPC through the registry, on @grpc/grpc-js's experimental API (a peer
 * dependency, ~1.14.5: the API changes across minors): a resolver for
 * `podreg://[binding]/<service>` and a load-balancing policy `podreg` that
 * keeps one pick_first leaf per endpoint, as grpc-js's round_robin does, and
 * chooses among the ready ones with podreg's routers and pickers. The
 * resolver's service config selects the policy, so
 * `new Client("podreg:///echo", creds)` is all a caller needs.
 *
 * grpc-js keeps resolvers and policies process-wide, by scheme and name; the
 * state behind them is not: each registerPodregGrpc() is a binding of its
 * own, found by the target's authority (`podreg:///echo` the default one,
 * `podreg://payments/echo` a binding registered with `authority: "payments"`).
 */
import {
  connectivityState,
  InterceptingCall as InterceptingCallClass,
  ListenerBuilder,
  Metadata,
  RequesterBuilder,
  status as Status,
  experimental,
  type Interceptor,
  type InterceptorOptions,
} from "@grpc/grpc-js";
import { createRequire } from "node:module";
import { context, trace, type Span } from "@opentelemetry/api";
import { ConfigError } from "../errors.js";
import type { Discovery, Subscription } from "../registry/registry.js";
import type { Clock } from "../util/clock.js";
import { parseClientConfig, serviceConfig, type ClientConfig } from "./config.js";
import { ServiceBalancer } from "./service-balancer.js";
import { endCallSpan, podregTracer, recordPick, startCallSpan } from "./tracing.js";

type Endpoint = experimental.Endpoint;
type ChannelControlHelper = experimental.ChannelControlHelper;
type ConnectivityState = Parameters<ChannelControlHelper["updateState"]>[0];
const { IDLE, CONNECTING, READY, TRANSIENT_FAILURE } = connectivityState;

export const GRPC_SCHEME = "podreg";
export const GRPC_POLICY = "podreg";
/** Metadata key linking a call to its span; removed by the picker before the call goes on the wire. */
const CALL_KEY = "x-podreg-call";

/** Statuses that count against an instance in outlier detection (server trouble, not application errors). */
const FAILURES = new Set<number>([Status.UNAVAILABLE, Status.INTERNAL, Status.UNKNOWN, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED]);

/** The protocols the gRPC client calls: an `http` instance of the same service is never handed to grpc-js. */
export const GRPC_PROTOCOLS: readonly string[] = ["grpc"];

export interface PodregGrpcOptions {
  /** Where services are found: any source (kube-pods, memory, an aggregate). */
  discovery: Discovery;
  config?: ClientConfig;
  /** Targets `podreg://<authority>/<service>` use this binding; default "" (`podreg:///<service>`). */
  authority?: string;
  /**
   * The application's `@grpc/grpc-js` module. When given, podreg checks it is
   * the copy podreg registers into: with two copies installed, channels of the
   * other copy would never see the podreg scheme.
   */
  grpc?: { experimental: unknown };
  clock?: Clock;
  random?: () => number;
}

interface Binding {
  discovery: Discovery;
  config: ClientConfig;
  clock?: Clock;
  random?: () => number;
  balancers: Map<string, ServiceBalancer>;
}

// grpc-js registers resolver and policy classes process-wide: they find their binding here, by authority.
const bindings = new Map<string, Binding>();
const spans = new Map<string, Span>();
let callSeq = 0;

function balancerFor(binding: Binding, service: string): ServiceBalancer {
  let b = binding.balancers.get(service);
  if (!b) {
    b = new ServiceBalancer({
      discovery: binding.discovery,
      service,
      protocols: GRPC_PROTOCOLS,
      config: serviceConfig(binding.config, service),
      clock: binding.clock,
      random: binding.random,
    });
    binding.balancers.set(service, b);
  }
  return b;
}

const noBinding = (authority: string) =>
  `podreg: no gRPC binding for ${authority === "" ? "podreg:///" : `podreg://${authority}/`} (call registerPodregGrpc({ discovery${authority === "" ? "" : `, authority: ${JSON.stringify(authority)}`} }) first)`;

const endpointKey = (host: string, port: number) => experimental.subchannelAddressToString({ host, port });

/**
 * grpc-js's resolver contract (resolver-dns.ts): the listener is never called
 * synchronously from the constructor or updateResolution(), and never after
 * destroy(). Reports start once the discovery has synced (the channel stays
 * CONNECTING until then).
 */
class PodregResolver implements experimental.Resolver {
  private readonly service: string;
  private readonly authority: string;
  private readonly binding: Binding | undefined;
  private sub: Subscription | undefined;
  private synced = false;
  private destroyed = false;
  private pending = false;

  constructor(
    target: { authority?: string; path: string },
    private readonly listener: experimental.ResolverListener,
  ) {
    this.service = target.path.replace(/^\/+/, "");
    this.authority = target.authority ?? "";
    this.binding = bindings.get(this.authority);
    if (!this.binding) {
      this.schedule();
      return;
    }
    const discovery = this.binding.discovery;
    this.sub = discovery.subscribe(this.service, () => this.schedule());
    discovery.whenSynced().then(
      () => {
        this.synced = true;
        this.schedule();
      },
      () => {}, // closed before it synced: nothing to report
    );
  }

  static getDefaultAuthority(target: { path: string }): string {
    return target.path.replace(/^\/+/, "");
  }

  updateResolution(): void {
    this.schedule();
  }

  destroy(): void {
    this.destroyed = true;
    this.sub?.close();
  }

  /** One report per tick, never inside the caller's stack. */
  private schedule(): void {
    if (this.pending || this.destroyed) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      if (!this.destroyed) this.report();
    });
  }

  private report(): void {
    if (!this.binding) {
      const status = { code: Status.UNAVAILABLE, details: noBinding(this.authority), metadata: new Metadata() };
      this.listener(experimental.statusOrFromError(status), {}, null, "podreg: no binding");
      return;
    }
    if (!this.synced) return;
    const instances = this.binding.discovery.instances(this.service).filter((i) => i.ready && GRPC_PROTOCOLS.includes(i.protocol.toLowerCase()));
    const endpoints: Endpoint[] = instances.map((i) => ({ addresses: [{ host: i.host, port: i.port }] }));
    const serviceConfig = { loadBalancingConfig: [{ [GRPC_POLICY]: { service: this.service, authority: this.authority } }], methodConfig: [] };
    this.listener(experimental.statusOrFromValue(endpoints), {}, experimental.statusOrFromValue(serviceConfig), `podreg: ${instances.length} instance(s) of ${this.service}`);
  }
}

class PodregLbConfig implements experimental.TypedLoadBalancingConfig {
  constructor(
    readonly service: string,
    readonly authority: string,
  ) {}
  getLoadBalancerName(): string {
    return GRPC_POLICY;
  }
  toJsonObject(): object {
    return { [GRPC_POLICY]: { service: this.service, authority: this.authority } };
  }
  static createFromJson(obj: { service?: unknown; authority?: unknown }): PodregLbConfig {
    if (typeof obj.service !== "string" || !obj.service) throw new Error("podreg load-balancing config needs a service");
    return new PodregLbConfig(obj.service, typeof obj.authority === "string" ? obj.authority : "");
  }
}

interface Child {
  leaf: experimental.LeafLoadBalancer;
  key: string;
}

class PodregLoadBalancer implements experimental.LoadBalancer {
  private readonly children = new Map<string, Child>();
  private readonly childHelper: ChannelControlHelper;
  private balancer: ServiceBalancer | undefined;
  private unwatch: (() => void) | undefined;
  private paused = false;

  constructor(private readonly helper: ChannelControlHelper) {
    this.childHelper = experimental.createChildChannelControlHelper(helper, { updateState: () => this.recompute() });
  }

  updateAddressList(endpoints: experimental.StatusOr<Endpoint[]>, lbConfig: experimental.TypedLoadBalancingConfig, options: Record<string, unknown>, note: string): boolean {
    if (!(lbConfig instanceof PodregLbConfig)) return false;
    if (!this.balancer) {
      const binding = bindings.get(lbConfig.authority);
      if (!binding) {
        const details = noBinding(lbConfig.authority);
        this.helper.updateState(TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details }), details);
        return true;
      }
      this.balancer = balancerFor(binding, lbConfig.service);
      this.unwatch = this.balancer.onChange(() => this.recompute());
    }
    if (!endpoints.ok) {
      if (this.children.size === 0) this.helper.updateState(TRANSIENT_FAILURE, new experimental.UnavailablePicker(endpoints.error), endpoints.error.details);
      return true;
    }
    this.paused = true;
    const wanted = new Map(endpoints.value.map((e) => [experimental.subchannelAddressToString(e.addresses[0]!), e]));
    for (const [key, child] of this.children) {
      if (!wanted.has(key)) {
        child.leaf.destroy();
        this.children.delete(key);
      }
    }
    for (const [key, endpoint] of wanted) {
      if (this.children.has(key)) continue;
      const leaf = new experimental.LeafLoadBalancer(endpoint, this.childHelper, options, note);
      this.children.set(key, { leaf, key });
      leaf.startConnecting();
    }
    this.paused = false;
    this.recompute();
    return true;
  }

  exitIdle(): void {
    for (const c of this.children.values()) c.leaf.exitIdle();
  }

  resetBackoff(): void {}

  destroy(): void {
    this.unwatch?.();
    for (const c of this.children.values()) c.leaf.destroy();
    this.children.clear();
  }

  getTypeName(): string {
    return GRPC_POLICY;
  }

  private recompute(): void {
    if (this.paused || !this.balancer) return;
    if (this.children.size === 0) {
      // Synced and nothing of this protocol: fail calls now (UNAVAILABLE), unless they wait for ready.
      const err = this.balancer.noInstance("none registered");
      const details = `${err.code}: ${err.message}`;
      this.helper.updateState(TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details }), details);
      return;
    }
    const states = new Set<ConnectivityState>();
    const ready = new Map<string, experimental.Picker>();
    for (const c of this.children.values()) {
      const state = c.leaf.getConnectivityState();
      states.add(state);
      if (state === READY) ready.set(c.key, c.leaf.getPicker());
    }
    if (ready.size > 0) {
      this.balancer.setReachable((i) => ready.has(endpointKey(i.host, i.port)));
      this.helper.updateState(READY, new PodregPicker(this.balancer, ready), null);
    } else if (states.has(CONNECTING)) this.helper.updateState(CONNECTING, new experimental.QueuePicker(this), null);
    else if (states.has(TRANSIENT_FAILURE)) {
      const details = `podreg: no ready instance of ${this.balancer.service}`;
      this.helper.updateState(TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details }), details);
    } else this.helper.updateState(IDLE, new experimental.QueuePicker(this), null);
    for (const c of this.children.values()) if (c.leaf.getConnectivityState() === IDLE) c.leaf.exitIdle();
  }
}

/**
 * Chooses among the instances whose subchannel is READY (the balancer was
 * restricted to them by recompute), then delegates to that subchannel's picker.
 */
class PodregPicker implements experimental.Picker {
  constructor(
    private readonly balancer: ServiceBalancer,
    private readonly ready: Map<string, experimental.Picker>,
  ) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    const callId = args.metadata.get(CALL_KEY)[0];
    if (callId !== undefined) args.metadata.remove(CALL_KEY);
    // Metadata is copied only when routing or a hash key header will read it.
    let headers: Record<string, string> | undefined;
    if (this.balancer.readsHeaders) {
      headers = {};
      for (const [k, v] of Object.entries(args.metadata.getMap())) if (typeof v === "string") headers[k] = v;
    }
    const sel = this.balancer.select({ headers });
    if (!sel) {
      // Nothing routable (e.g. a tag with fallback "none"): fail now rather than queue until the deadline.
      const status = { code: Status.UNAVAILABLE, details: `podreg: no routable instance of ${this.balancer.service}`, metadata: new Metadata() };
      return { pickResultType: experimental.PickResultType.TRANSIENT_FAILURE, subchannel: null, status, onCallStarted: null, onCallEnded: null };
    }
    const child = this.ready.get(endpointKey(sel.instance.host, sel.instance.port));
    if (!child) return { pickResultType: experimental.PickResultType.QUEUE, subchannel: null, status: null, onCallStarted: null, onCallEnded: null };
    const span = callId === undefined ? undefined : spans.get(String(callId));
    if (span) recordPick(span, sel.instance, { service: this.balancer.service, policy: sel.policy, route: sel.route, attempt: 1 });
    const result = child.pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    const id = sel.instance.id;
    return {
      ...result,
      onCallStarted: () => {
        this.balancer.begin(id);
        result.onCallStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        this.balancer.end(id, !FAILURES.has(code));
        result.onCallEnded?.(code, details, metadata);
      },
    };
  }
}

/**
 * Registers the `podreg` scheme and policy with grpc-js (process-wide, as
 * grpc-js keeps them) and binds `podreg://<authority>/...` targets to
 * `discovery`. Bindings of other authorities are independent: closing one
 * leaves the others' channels working. Throws ConfigError for an invalid
 * `config`, an authority already bound, or a `grpc` module that is another
 * copy of @grpc/grpc-js than podreg's.
 */
export function registerPodregGrpc(opts: PodregGrpcOptions): { readonly authority: string; target(service: string): string; close(): void } {
  const config = parseClientConfig(opts.config ?? {}, "registerPodregGrpc options");
  if (opts.grpc !== undefined && opts.grpc.experimental !== experimental) {
    throw new ConfigError(
      `registerPodregGrpc: the @grpc/grpc-js given is another copy than podreg's (${grpcJsPath()}); two copies are installed, and channels of yours would never see the podreg scheme: install one (podreg declares @grpc/grpc-js as a peer dependency, ~1.14.5)`,
    );
  }
  const authority = opts.authority ?? "";
  if (bindings.has(authority)) {
    throw new ConfigError(`registerPodregGrpc: ${authority === "" ? "the default binding (podreg:///)" : `authority ${JSON.stringify(authority)}`} is already bound; close it first or pass another authority`);
  }
  const mine: Binding = { discovery: opts.discovery, config, clock: opts.clock, random: opts.random, balancers: new Map() };
  bindings.set(authority, mine);
  experimental.registerResolver(GRPC_SCHEME, PodregResolver as unknown as Parameters<typeof experimental.registerResolver>[1]);
  experimental.registerLoadBalancerType(GRPC_POLICY, PodregLoadBalancer, PodregLbConfig);
  return {
    authority,
    target: (service) => `${GRPC_SCHEME}://${authority}/${service}`,
    close() {
      if (bindings.get(authority) === mine) bindings.delete(authority);
      for (const b of mine.balancers.values()) b.close();
      mine.balancers.clear();
    },
  };
}

/** Where podreg's @grpc/grpc-js lives, to name it in an error. */
function grpcJsPath(): string {
  try {
    return createRequire(import.meta.url).resolve("@grpc/grpc-js");
  } catch {
    return "@grpc/grpc-js";
  }
}

/**
 * A client interceptor that gives each call a span carrying the chosen
 * instance, policy and route: `new Client(target, creds, { interceptors: [podregTracing()] })`.
 */
export function podregTracing(tracer = podregTracer()): Interceptor {
  return (options: InterceptorOptions, nextCall: Parameters<Interceptor>[1]) => {
    const method = options.method_definition.path;
    const span = startCallSpan(tracer, `podreg grpc ${method}`, method.split("/")[1] ?? method);
    const id = String(++callSeq);
    const requester = new RequesterBuilder()
      .withStart((metadata, listener, next) => {
        spans.set(id, span);
        metadata.set(CALL_KEY, id);
        const onStatus = new ListenerBuilder()
          .withOnReceiveStatus((st, nextStatus) => {
            spans.delete(id);
            endCallSpan(span, { ok: st.code === Status.OK, error: st.code === Status.OK ? undefined : new Error(`${Status[st.code]}: ${st.details}`) });
            nextStatus(st);
          })
          .build();
        next(metadata, { ...listener, ...onStatus });
      })
      .build();
    return context.with(trace.setSpan(context.active(), span), () => new InterceptingCallClass(nextCall(options), requester));
  };
}
