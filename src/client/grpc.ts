/**
 * gRPC through the registry, on @grpc/grpc-js's experimental API (pinned:
 * 1.14.7 — it changes across minors): a resolver for `podreg:///<service>`
 * and a load-balancing policy `podreg` that keeps one pick_first leaf per
 * endpoint, as grpc-js's round_robin does, and chooses among the ready ones
 * with podreg's routers and pickers. The resolver's service config selects
 * the policy, so `new Client("podreg:///echo", creds)` is all a caller needs.
 */
import {
  InterceptingCall as InterceptingCallClass,
  ListenerBuilder,
  Metadata,
  RequesterBuilder,
  status as Status,
  experimental,
  type Interceptor,
  type InterceptorOptions,
} from "@grpc/grpc-js";
import { context, trace, type Span } from "@opentelemetry/api";
import type { Registry, Subscription } from "../registry/registry.js";
import type { Clock } from "../util/clock.js";
import { parseClientConfig, serviceConfig, type ClientConfig } from "./config.js";
import { ServiceBalancer } from "./service-balancer.js";
import { endCallSpan, podregTracer, recordPick, startCallSpan } from "./tracing.js";

type Endpoint = experimental.Endpoint;
type ChannelControlHelper = experimental.ChannelControlHelper;
type ConnectivityState = Parameters<ChannelControlHelper["updateState"]>[0];

export const GRPC_SCHEME = "podreg";
export const GRPC_POLICY = "podreg";
/** Metadata key linking a call to its span; removed by the picker before the call goes on the wire. */
const CALL_KEY = "x-podreg-call";

/** Statuses that count against an instance in outlier detection (server trouble, not application errors). */
const FAILURES = new Set<number>([Status.UNAVAILABLE, Status.INTERNAL, Status.UNKNOWN, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED]);

export interface PodregGrpcOptions {
  registry: Registry;
  config?: ClientConfig;
  clock?: Clock;
  random?: () => number;
}

// grpc-js registers resolver and policy classes process-wide: they find their registry here.
let binding: { registry: Registry; config: ClientConfig; clock?: Clock; random?: () => number; balancers: Map<string, ServiceBalancer> } | undefined;
const spans = new Map<string, Span>();
let callSeq = 0;

function balancerFor(service: string): ServiceBalancer {
  if (!binding) throw new Error("podreg gRPC integration is not registered");
  let b = binding.balancers.get(service);
  if (!b) {
    b = new ServiceBalancer({ discovery: binding.registry, service, config: serviceConfig(binding.config, service), clock: binding.clock, random: binding.random });
    binding.balancers.set(service, b);
  }
  return b;
}

const endpointKey = (host: string, port: number) => experimental.subchannelAddressToString({ host, port });

class PodregResolver implements experimental.Resolver {
  private readonly service: string;
  private readonly sub: Subscription;
  private synced = false;

  constructor(
    target: { path: string },
    private readonly listener: experimental.ResolverListener,
  ) {
    this.service = target.path.replace(/^\/+/, "");
    const registry = binding!.registry;
    this.sub = registry.subscribe(this.service, () => this.report());
    void registry.whenSynced().then(() => {
      this.synced = true;
      this.report();
    });
  }

  static getDefaultAuthority(target: { path: string }): string {
    return target.path.replace(/^\/+/, "");
  }

  updateResolution(): void {
    this.report();
  }

  destroy(): void {
    this.sub.close();
  }

  private report(): void {
    if (!this.synced) return;
    const instances = binding!.registry.instances(this.service).filter((i) => i.ready);
    const endpoints: Endpoint[] = instances.map((i) => ({ addresses: [{ host: i.host, port: i.port }] }));
    const serviceConfig = { loadBalancingConfig: [{ [GRPC_POLICY]: { service: this.service } }], methodConfig: [] };
    this.listener(experimental.statusOrFromValue(endpoints), {}, experimental.statusOrFromValue(serviceConfig), `podreg: ${instances.length} instance(s) of ${this.service}`);
  }
}

class PodregLbConfig implements experimental.TypedLoadBalancingConfig {
  constructor(readonly service: string) {}
  getLoadBalancerName(): string {
    return GRPC_POLICY;
  }
  toJsonObject(): object {
    return { [GRPC_POLICY]: { service: this.service } };
  }
  static createFromJson(obj: { service?: unknown }): PodregLbConfig {
    if (typeof obj.service !== "string" || !obj.service) throw new Error("podreg load-balancing config needs a service");
    return new PodregLbConfig(obj.service);
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
      this.balancer = balancerFor(lbConfig.service);
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

// ConnectivityState values (grpc-js enum): IDLE 0, CONNECTING 1, READY 2, TRANSIENT_FAILURE 3.
const IDLE = 0 as ConnectivityState;
const CONNECTING = 1 as ConnectivityState;
const READY = 2 as ConnectivityState;
const TRANSIENT_FAILURE = 3 as ConnectivityState;

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
 * Registers the `podreg` scheme and policy for this process (grpc-js keeps them
 * globally), bound to `registry`. Calling it again rebinds. Throws
 * ConfigError for an invalid `config`, as parseClientConfig.
 */
export function registerPodregGrpc(opts: PodregGrpcOptions): { close(): void } {
  const config = parseClientConfig(opts.config ?? {}, "registerPodregGrpc options");
  for (const b of binding?.balancers.values() ?? []) b.close();
  binding = { registry: opts.registry, config, clock: opts.clock, random: opts.random, balancers: new Map() };
  experimental.registerResolver(GRPC_SCHEME, PodregResolver as unknown as Parameters<typeof experimental.registerResolver>[1]);
  experimental.registerLoadBalancerType(GRPC_POLICY, PodregLoadBalancer, PodregLbConfig);
  const mine = binding;
  return {
    close() {
      for (const b of mine.balancers.values()) b.close();
      mine.balancers.clear();
    },
  };
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
