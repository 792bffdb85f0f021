/**
 * An in-memory registry: same contract, no I/O. For unit tests of everything
 * built on a registry, and for a process that balances across a fixed set.
 */
import type { RegistryListener, ServiceSelector } from "../model/events.js";
import type { Instance, ServiceName } from "../model/instance.js";
import type { Logger } from "../util/logger.js";
import { InstanceHub } from "./hub.js";
import { RegistrationError, validateSpec, type RegistrationHandle, type RegistrationSpec, type Registry, type Subscription } from "./registry.js";

export interface MemoryRegistryOptions {
  /** Labels/zone/node given to every registered instance. */
  labels?: Record<string, string>;
  zone?: string;
  node?: string;
  now?: () => number;
  logger?: Logger;
}

export class MemoryRegistry implements Registry {
  readonly name = "memory";
  private readonly hub: InstanceHub;
  private seq = 0;
  private closed = false;
  private readonly handles = new Set<RegistrationHandle>();

  constructor(private readonly opts: MemoryRegistryOptions = {}) {
    this.hub = new InstanceHub(opts.logger);
    this.hub.markSynced();
  }

  async register(spec: RegistrationSpec): Promise<RegistrationHandle> {
    if (this.closed) throw new RegistrationError("PODREG_CLOSED", "registry is closed");
    const s = validateSpec(spec);
    const group = `memory-${++this.seq}`;
    let current: Instance = {
      id: `memory:${group}/${s.service}/${s.protocol}:${s.port}`,
      service: s.service,
      host: s.host ?? "127.0.0.1",
      port: s.port,
      protocol: s.protocol,
      weight: s.weight,
      metadata: s.metadata,
      labels: { ...this.opts.labels },
      zone: this.opts.zone,
      node: this.opts.node,
      ready: true,
      startTime: (this.opts.now ?? Date.now)(),
      source: "memory",
    };
    this.hub.setGroup(group, [current]);
    let open = true;
    const handle: RegistrationHandle = {
      service: s.service,
      update: async (change) => {
        if (!open) throw new RegistrationError("PODREG_CLOSED", "registration is closed");
        validateSpec({ ...spec, ...change });
        current = { ...current, weight: change.weight ?? current.weight, metadata: change.metadata ? { ...change.metadata } : current.metadata };
        this.hub.setGroup(group, [current]);
      },
      close: async () => {
        if (!open) return;
        open = false;
        this.handles.delete(handle);
        this.hub.deleteGroup(group);
      },
    };
    this.handles.add(handle);
    return handle;
  }

  /** Puts instances as they are (any id, host, source): for tests that need exact instances. */
  set(group: string, instances: readonly Instance[]): void {
    this.hub.setGroup(group, instances);
  }

  subscribe(selector: ServiceSelector, listener: RegistryListener): Subscription {
    return this.hub.subscribe(selector, listener);
  }

  instances(service: ServiceName): readonly Instance[] {
    return this.hub.instances(service);
  }

  services(): ServiceName[] {
    return this.hub.services();
  }

  get synced(): boolean {
    return true;
  }

  whenSynced(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const h of [...this.handles]) await h.close();
  }
}
