/**
 * What the xDS server serves, kept current from a Discovery: services with
 * their instances and client configuration, and the xDS resources built from
 * them, cached with a version each (a hash of the resource: the same content
 * always has the same version, so a client that comes back holding it is not
 * sent it again, and a NACKed resource is not resent until it changes).
 *
 * Changes are debounced as Istio's DiscoveryServer does (pilot/pkg/xds/
 * discovery.go): a push waits until the registry has been quiet for
 * `debounceMs` (default 100), but never more than `debounceMaxMs` (default
 * 1000) after the first change, so a burst becomes one push and a steady
 * trickle still gets through.
 */
import { createHash } from "node:crypto";
import { serviceConfig, type ClientConfig } from "../../client/config.js";
import type { ServiceKey } from "../../model/service-key.js";
import type { Discovery, Subscription } from "../../registry/registry.js";
import { systemClock, type Clock } from "../../util/clock.js";
import type { Logger } from "../../util/logger.js";
import { parseServiceKey } from "../../model/service-key.js";
import type { ResourceType } from "./protos.js";
import { routeFamily, type Resource, type ServiceView } from "./resources.js";

/**
 * What a cached resource depends on: one service (its key), "routes" (the set
 * of services and where Envoy's route for each goes: Envoy's route
 * configuration, one resource naming every service), or nothing (null).
 */
export type Dependency = ServiceKey | "routes" | null;

export interface XdsStateOptions {
  discovery: Discovery;
  /** Encodes a resource to protobuf bytes (the server's protobufjs); without one, resources go out as objects (tests). */
  encode?: (type: ResourceType, resource: Resource) => Uint8Array;
  /** Per-service policy (the client configuration format: balancer, hashKey, outlier). */
  config?: ClientConfig;
  debounceMs?: number;
  debounceMaxMs?: number;
  clock?: Clock;
  logger: Logger;
}

/** A resource with its version. */
export interface Versioned {
  readonly resource: Resource;
  readonly version: string;
}

/** A short hash of a JSON value: resources, and a type's set of (name, version). */
export function versionOf(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("base64url").slice(0, 16);
}

export class XdsState {
  private readonly views = new Map<ServiceKey, ServiceView>();
  /** Encoded resources, per built (or patched) resource object: shared by every stream that sends it. */
  private readonly encoded = new WeakMap<Resource, { type_url: string; value: Uint8Array }>();
  private readonly cache = new Map<string, { deps: Dependency; value: Versioned | undefined }>();
  private readonly listeners = new Set<(changed: ReadonlySet<ServiceKey>) => void>();
  private readonly dirty = new Set<ServiceKey>();
  private sub: Subscription | undefined;
  private quietTimer: unknown;
  private maxTimer: unknown;
  private readonly clock: Clock;
  /** Pushes so far (flushes of the debounce window), for status. */
  generation = 0;
  /** The source's first snapshot has arrived: streams are answered from then on (as Istio waits for its caches). */
  synced = false;
  /** The last push window changed Envoy's route configuration (a service appeared, went or re-routed). */
  routesChanged = false;
  lastPushAt: number | undefined;

  constructor(private readonly o: XdsStateOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Subscribes to every service; the snapshot fills the state at once (no debounce before the first answer). */
  start(): void {
    if (this.sub) return;
    let initial = true;
    this.sub = this.o.discovery.subscribe("*", (ev) => {
      if (ev.type === "snapshot") {
        const keys = new Set([...this.views.keys(), ...ev.instances.map((i) => i.key)]);
        for (const k of keys) this.dirty.add(k);
        if (initial) {
          initial = false;
          this.synced = true;
          return this.flush(true);
        }
      } else this.dirty.add(ev.instance.key);
      this.schedule();
    });
  }

  close(): void {
    this.sub?.close();
    this.clock.clearTimeout(this.quietTimer);
    this.clock.clearTimeout(this.maxTimer);
    this.listeners.clear();
  }

  /** Called after each push window with the services that changed. */
  onChange(listener: (changed: ReadonlySet<ServiceKey>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get defaultNamespace(): string | undefined {
    const probe = this.o.discovery.resolve("x");
    return parseServiceKey(probe).namespace;
  }

  resolve(name: string): ServiceKey | undefined {
    try {
      return this.o.discovery.resolve(name);
    } catch {
      return undefined;
    }
  }

  /** A service as last flushed; one without instances is an empty view with its configuration. */
  view(key: ServiceKey): ServiceView {
    return this.views.get(key) ?? { key, instances: [], config: this.configOf(key) };
  }

  /** Services with instances, by key. */
  allViews(): ServiceView[] {
    return [...this.views.values()];
  }

  /**
   * A resource by cache key, built once per change of what it depends on
   * (see Dependency; a gRPC client's listener depends only on its name).
   * `build` returning undefined means the resource does not exist.
   */
  resource(cacheKey: string, deps: Dependency, build: () => Resource | undefined): Versioned | undefined {
    const hit = this.cache.get(cacheKey);
    if (hit) return hit.value;
    const resource = build();
    const value = resource === undefined ? undefined : { resource, version: versionOf(resource) };
    // Bounded by what clients ask for; cleared whole if a client asks for absurdly many names.
    if (this.cache.size > 200_000) this.cache.clear();
    this.cache.set(cacheKey, { deps, value });
    return value;
  }

  /** A resource as a response carries it: an Any of bytes encoded once, or the object with its @type. */
  wire(type: ResourceType, resource: Resource): Resource {
    const encode = this.o.encode;
    if (!encode) return { "@type": type, ...resource };
    let any = this.encoded.get(resource);
    if (!any) this.encoded.set(resource, (any = { type_url: type, value: encode(type, resource) }));
    return any;
  }

  private configOf(key: ServiceKey): ServiceView["config"] {
    const config = this.o.config ?? {};
    const own = config.services !== undefined && Object.prototype.hasOwnProperty.call(config.services, key);
    return serviceConfig(config, own ? key : parseServiceKey(key).name);
  }

  private schedule(): void {
    const after = this.o.debounceMs ?? 100;
    this.clock.clearTimeout(this.quietTimer);
    this.quietTimer = this.clock.setTimeout(() => this.flush(), after);
    this.maxTimer ??= this.clock.setTimeout(() => this.flush(), Math.max(after, this.o.debounceMaxMs ?? 1000));
  }

  private flush(force = false): void {
    this.clock.clearTimeout(this.quietTimer);
    this.clock.clearTimeout(this.maxTimer);
    this.quietTimer = this.maxTimer = undefined;
    if (this.dirty.size === 0 && !force) return;
    const changed = new Set(this.dirty);
    this.dirty.clear();
    // Envoy's route configuration names every service (140 KB at 1,000 services): rebuilt only when a service
    // appears, goes or changes where its route goes, not for every endpoint change (bench xds-delta: 7.6-10.0
    // -> 4.8-7.6 ms of push CPU per endpoint change and Envoy stream).
    let routes = false;
    for (const key of changed) {
      const before = this.views.get(key);
      const instances = this.o.discovery.instances(key);
      const after = instances.length === 0 ? undefined : { key, instances, config: this.configOf(key) };
      if (after) this.views.set(key, after);
      else this.views.delete(key);
      if ((before && routeFamily(before, "envoy")) !== (after && routeFamily(after, "envoy"))) routes = true;
    }
    for (const [k, entry] of this.cache) if (entry.deps === "routes" ? routes : entry.deps !== null && changed.has(entry.deps)) this.cache.delete(k);
    this.routesChanged = routes;
    this.generation++;
    this.lastPushAt = this.clock.now();
    for (const l of [...this.listeners]) {
      try {
        l(changed);
      } catch (err) {
        this.o.logger.error({ err }, "xds: a push failed");
      }
    }
  }
}
