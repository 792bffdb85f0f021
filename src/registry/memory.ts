/**
 * An in-memory registry: same contract, no I/O. For unit tests of everything
 * built on a registry, and for a process that balances across a fixed set.
 */
import { buildInstance, type Instance } from "../model/instance.js";
import { resolveServiceName, type ServiceKey, type ServiceScope } from "../model/service-key.js";
import { silentLogger, type Logger } from "../util/logger.js";
import { HubDiscovery } from "./hub-discovery.js";
import { validateSpec, type RegistrationHandle, type RegistrationSpec, type Registry } from "./registry.js";
import { ClosedError } from "../errors.js";

export interface MemoryRegistryOptions {
  /**
   * Namespace of the registered instances. Without one, services are global
   * (`echo`); with one, they are keyed `namespace/echo` and a bare name
   * resolves in it.
   */
  namespace?: string;
  /** Labels/zone/node given to every registered instance. */
  labels?: Record<string, string>;
  zone?: string;
  node?: string;
  now?: () => number;
  logger?: Logger;
}

export class MemoryRegistry extends HubDiscovery implements Registry {
  readonly name = "memory";
  private seq = 0;
  private closed = false;
  private readonly handles = new Set<RegistrationHandle>();
  private readonly scope: ServiceScope;

  constructor(private readonly opts: MemoryRegistryOptions = {}) {
    super({ logger: opts.logger ?? silentLogger, now: opts.now ?? Date.now });
    this.scope = { scope: "namespace", defaultNamespace: opts.namespace };
    this.markSynced();
  }

  resolve(name: string): ServiceKey {
    return resolveServiceName(name, this.scope);
  }

  async register(spec: RegistrationSpec): Promise<RegistrationHandle> {
    if (this.closed) throw new ClosedError("registry is closed");
    const s = validateSpec(spec);
    const group = `memory-${++this.seq}`;
    let current: Instance = buildInstance({
      source: "memory",
      origin: group,
      service: s.service,
      host: s.host ?? "127.0.0.1",
      port: s.port,
      protocol: s.protocol,
      weight: s.weight,
      metadata: s.metadata,
      labels: { ...this.opts.labels },
      zone: this.opts.zone,
      node: this.opts.node,
      namespace: this.opts.namespace,
      startTime: (this.opts.now ?? Date.now)(),
      scope: this.scope,
    });
    this.hub.setGroup(group, [current]);
    let open = true;
    const handle: RegistrationHandle = {
      service: s.service,
      update: async (change) => {
        if (!open) throw new ClosedError("registration is closed");
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const h of [...this.handles]) await h.close();
    this.hub.close();
  }
}
