/**
 * Everything a client needs to choose an instance of one service: the
 * registry's instances, minus the not-ready, unhealthy (active check) and
 * ejected (outlier detection) ones, routed (tags, rules, splits), then
 * balanced by the configured policy. Pickers are cached per route and
 * rebuilt only when the usable set changes; pick() stays synchronous.
 */
import { createLoadTracker, createPicker } from "../balancer/index.js";
import { HealthChecker } from "../balancer/health-check.js";
import { OutlierDetector } from "../balancer/outlier.js";
import type { LoadTracker, Picker, PickRequest, PolicyName } from "../balancer/types.js";
import { AbortedError, NoInstanceError } from "../errors.js";
import { SESSION_AFFINITY_METADATA, type Instance } from "../model/instance.js";
import type { Discovery, Subscription } from "../registry/registry.js";
import { createRouter, headerValues, type RouteRequest, type Router } from "../router/router.js";
import { systemClock, type Clock } from "../util/clock.js";
import type { Logger } from "../util/logger.js";
import type { ServiceClientConfig } from "./config.js";

export interface CallRequest extends RouteRequest, PickRequest {
  /** Instances not to choose (tried already by this call). */
  exclude?: ReadonlySet<string>;
}

export interface Selection {
  instance: Instance;
  route: string;
  policy: PolicyName;
}

export interface ServiceBalancerOptions {
  discovery: Discovery;
  /** The service as the consumer names it (resolved by the discovery: `echo`, `shop/echo`, `com.example.Echo`). */
  service: string;
  /**
   * Only instances of these protocols (the transport's family: `http`,
   * `https`, `h2c` for HTTP; `grpc` for gRPC). Instances of other protocols of
   * the same service are not this client's to call. Default: any.
   */
  protocols?: readonly string[];
  config: ServiceClientConfig;
  clock?: Clock;
  random?: () => number;
  /** For active health checks; default global fetch. */
  fetch?: typeof fetch;
  /** For outlier detection and health checks (ejections, probe failures, state changes); default warnings on stderr. */
  logger?: Logger;
  /** Calls in flight per instance, when other balancers of the same instances share them (http:// and https:// calls of one service); default its own. */
  load?: LoadTracker;
}

export class ServiceBalancer {
  readonly service: string;
  readonly config: ServiceClientConfig;
  private readonly all = new Map<string, Instance>();
  private usableCache: Instance[] | undefined;
  /** By RouteResult.key: one picker (and its rotation) per instance subset. */
  private readonly pickers = new Map<string, Picker>();
  private readonly load: LoadTracker;
  private readonly router: Router | undefined;
  private readonly outlier: OutlierDetector | undefined;
  private readonly health: HealthChecker | undefined;
  private readonly sub: Subscription;
  private readonly listeners = new Set<() => void>();
  private readonly random: () => number;
  private readonly clock: Clock;
  private reachable: ((instance: Instance) => boolean) | undefined;

  constructor(private readonly o: ServiceBalancerOptions) {
    this.service = o.service;
    this.config = o.config;
    this.load = o.load ?? createLoadTracker();
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.router = o.config.routing ? createRouter(o.config.routing) : undefined;
    const invalidate = () => this.invalidate();
    this.outlier = o.config.outlier ? new OutlierDetector(o.config.outlier, { clock: this.clock, onChange: invalidate, logger: o.logger }) : undefined;
    this.health = o.config.healthCheck ? new HealthChecker(o.config.healthCheck, { clock: this.clock, fetch: o.fetch, onChange: invalidate, logger: o.logger }) : undefined;
    const protocols = o.protocols && new Set(o.protocols.map((p) => p.toLowerCase()));
    const wanted = (i: Instance) => protocols === undefined || protocols.has(i.protocol.toLowerCase());
    this.sub = o.discovery.subscribe(o.service, (ev) => {
      if (ev.type === "snapshot") {
        this.all.clear();
        for (const i of ev.instances) if (wanted(i)) this.all.set(i.id, i);
      } else if (ev.type === "removed" || !wanted(ev.instance)) {
        if (!this.all.delete(ev.instance.id)) return;
      } else this.all.set(ev.instance.id, ev.instance);
      const list = [...this.all.values()];
      this.outlier?.setInstances(list.map((i) => i.id));
      this.health?.setInstances(list);
      this.invalidate();
    });
  }

  /** Whether select() looks at request headers (routing or a hash key header is configured). */
  get readsHeaders(): boolean {
    return this.router !== undefined || this.config.hashKey?.header !== undefined;
  }

  /** Ready, healthy, reachable and not ejected instances (all of them if every one is ejected: panic mode). */
  usable(): Instance[] {
    let usable = this.usableCache;
    if (!usable) {
      const reachable = this.reachable;
      const ready = [...this.all.values()].filter((i) => i.ready && (this.health?.isHealthy(i.id) ?? true) && (reachable === undefined || reachable(i)));
      this.usableCache = usable = this.outlier ? this.outlier.filter(ready) : ready;
    }
    return usable;
  }

  /**
   * Resolves once the discovery has synced and the service has at least one
   * instance (of the wanted protocols). Once synced, a service with none
   * fails at once with NoInstanceError unless `wait` is set (then it waits
   * for one until `signal` fires).
   */
  async whenReady(signal?: AbortSignal, opts: { wait?: boolean } = {}): Promise<void> {
    await this.o.discovery.whenSynced(signal);
    if (this.all.size === 0 && !opts.wait) throw this.noInstance("none registered");
    while (this.all.size === 0) {
      if (signal?.aborted) throw new AbortedError(`no instance of ${this.service}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          this.listeners.delete(done);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        this.listeners.add(done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** The error for "nothing to call", naming the service and the protocols this client takes. */
  noInstance(why: string): NoInstanceError {
    return new NoInstanceError(this.service, why, this.o.protocols?.join("|"));
  }

  select(req: CallRequest = {}): Selection | undefined {
    const usable = this.usable();
    const routed = this.router ? this.router.route(usable, req, this.random) : { route: "default", key: "default", instances: usable };
    const hashHeader = this.config.hashKey?.header;
    const hashKey = req.hashKey ?? (hashHeader === undefined ? undefined : headerValues(req.headers, hashHeader.toLowerCase())[0]);
    const pickReq: PickRequest = { hashKey, clientAddress: req.clientAddress };
    // A Service with sessionAffinity: ClientIP gets source_affinity, unless a policy was configured.
    const balancer =
      this.config.balancerIsDefault && routed.instances.length > 0 && routed.instances.every((i) => i.metadata[SESSION_AFFINITY_METADATA] === "ClientIP")
        ? ({ policy: "source_affinity" } as const)
        : this.config.balancer;
    let picker: Picker;
    if (req.exclude && req.exclude.size > 0) {
      // Retries are rare: an uncached picker over what is left.
      const left = routed.instances.filter((i) => !req.exclude!.has(i.id));
      picker = createPicker(balancer, left.length > 0 ? left : routed.instances, this.pickerContext());
    } else {
      let cached = this.pickers.get(routed.key);
      if (cached === undefined) {
        cached = createPicker(balancer, routed.instances, this.pickerContext());
        this.pickers.set(routed.key, cached);
      }
      picker = cached;
    }
    const instance = picker.pick(pickReq);
    return instance && { instance, route: routed.route, policy: picker.policy };
  }

  /**
   * Restricts choices to instances the transport can reach now (gRPC: those
   * whose subchannel is READY), so cached pickers keep their rotation state
   * instead of being rebuilt on every pick. Does not notify onChange
   * listeners: the transport calls it from its own state-change handler.
   */
  setReachable(filter: ((instance: Instance) => boolean) | undefined): void {
    this.reachable = filter;
    this.usableCache = undefined;
    this.pickers.clear();
  }

  /** A call to `id` started (least_request counts calls in flight). */
  begin(id: string): void {
    this.load.start(id);
  }

  /** The call ended: success or failure feeds outlier detection. */
  end(id: string, ok: boolean): void {
    this.load.end(id);
    this.outlier?.record(id, ok);
  }

  /** Called whenever the usable set may have changed (registry, ejection, health). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.sub.close();
    this.outlier?.close();
    this.health?.close();
    this.listeners.clear();
  }

  private pickerContext() {
    return { load: this.load, now: () => this.clock.now(), random: this.random };
  }

  private invalidate(): void {
    this.usableCache = undefined;
    this.pickers.clear();
    for (const l of [...this.listeners]) l();
  }
}
