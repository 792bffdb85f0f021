/**
 * The local registry: podreg's embedded default, with Nacos's two kinds of
 * instance.
 *
 * - ephemeral: registered by a live process and held by a lease. Each
 *   heartbeat renews it for `ttlMs`; a lease not renewed in time expires and
 *   the instance is removed. Kept in memory only: after a restart of the
 *   server, live processes find their lease unknown and register again.
 * - persistent: registered by an operator for what can't register itself (a
 *   database, an external API). No lease; it stays until deleted and
 *   survives restarts through the DurableMap under `dataDir`. A write is
 *   acknowledged only once it is on disk.
 *
 * In-process registrations (`register()`) are ephemeral instances owned by
 * this process: no lease (the process is the registry), removed by their
 * handle's close() or the registry's.
 */
import { randomUUID } from "node:crypto";
import { ClosedError, NotFoundError, RegistrationError } from "../../errors.js";
import { buildInstance, type Instance } from "../../model/instance.js";
import { resolveServiceName, type ServiceKey, type ServiceScope } from "../../model/service-key.js";
import { systemClock, unref, type Clock } from "../../util/clock.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import { HubDiscovery } from "../hub-discovery.js";
import { validateSpec, type Registry, type RegistrationHandle, type RegistrationSpec } from "../registry.js";
import { DurableMap } from "./store.js";

export type LocalKind = "ephemeral" | "persistent";

export interface LocalRegistryOptions {
  /** Where persistent instances are kept. Without it they live in memory only (tests, a throwaway demo). */
  dataDir?: string;
  /** Namespace of every instance: services are keyed `namespace/name` and a bare name resolves in it. Default: none (global names). */
  namespace?: string;
  /** Default lease of an ephemeral instance (default 10 s; clients renew at a third of it). */
  ttlMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface LocalRegistration extends RegistrationSpec {
  kind?: LocalKind;
  /** The lease of this ephemeral instance; default the registry's ttlMs. */
  ttlMs?: number;
  /** A stable id chosen by the caller (1-64 of A-Z a-z 0-9 . _ -): registering it again replaces the entry instead of adding one. */
  id?: string;
}

/** What the registry holds per registration: the spec as validated, and for ephemeral ones the lease. */
export interface LocalEntry {
  readonly id: string;
  readonly kind: LocalKind;
  readonly spec: Required<Omit<RegistrationSpec, "host">> & { host: string };
  readonly registeredAt: number;
  /** Ephemeral entries registered remotely: the lease, in ms, and when it expires (epoch ms). */
  readonly ttlMs?: number;
  readonly expiresAt?: number;
}

export const DEFAULT_TTL_MS = 10_000;
export const MAX_TTL_MS = 3_600_000;
const ID = /^[A-Za-z0-9._-]{1,64}$/;

export class LocalRegistry extends HubDiscovery implements Registry {
  readonly name = "local";
  private readonly store: DurableMap<LocalEntry> | undefined;
  /** Persistent entries when there is no dataDir. */
  private readonly volatile = new Map<string, LocalEntry>();
  private readonly ephemeral = new Map<string, LocalEntry>();
  private readonly timers = new Map<string, unknown>();
  private readonly scope: ServiceScope;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ttlMs: number;
  private readonly own = new Set<string>();
  private closed = false;
  /** Leases that ran out (for metrics). */
  expiries = 0;

  /** Opens the store under dataDir (throws ConfigError if another process holds it or it is damaged). */
  constructor(private readonly opts: LocalRegistryOptions = {}) {
    super({ logger: opts.logger ?? silentLogger, now: () => (opts.clock ?? systemClock).now() });
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
    this.scope = { scope: "namespace", defaultNamespace: opts.namespace };
    this.store = opts.dataDir ? DurableMap.open<LocalEntry>({ dir: opts.dataDir }) : undefined;
    for (const e of this.store?.values() ?? []) this.publish(e);
    this.markSynced();
  }

  resolve(name: string): ServiceKey {
    return resolveServiceName(name, this.scope);
  }

  /** Registers for this process: an ephemeral instance without lease (or a persistent one), removed by the handle's close(). */
  async register(spec: RegistrationSpec & { kind?: LocalKind }, _opts?: { signal?: AbortSignal }): Promise<RegistrationHandle> {
    const entry = await this.add({ ...spec, ttlMs: undefined }, { lease: false });
    this.own.add(entry.id);
    let open = true;
    return {
      service: entry.spec.service,
      update: async (change) => {
        if (!open) throw new ClosedError("registration is closed");
        await this.update(entry.id, change);
      },
      close: async () => {
        if (!open) return;
        open = false;
        this.own.delete(entry.id);
        await this.remove(entry.id);
      },
    };
  }

  /**
   * Adds (or, with a known `id`, replaces) an entry. Ephemeral ones get a
   * lease unless `lease: false` (in-process). Resolves once a persistent
   * entry is on disk. Throws RegistrationError for a bad spec.
   */
  async add(reg: LocalRegistration, o: { lease?: boolean; defaultHost?: string } = {}): Promise<LocalEntry> {
    if (this.closed) throw new ClosedError("the local registry is closed");
    const kind = reg.kind ?? "ephemeral";
    if (kind !== "ephemeral" && kind !== "persistent") throw new RegistrationError(`kind must be "ephemeral" or "persistent", not ${JSON.stringify(String(kind)).slice(0, 40)}`);
    if (reg.id !== undefined && (typeof reg.id !== "string" || !ID.test(reg.id))) throw new RegistrationError("id must be 1-64 characters of A-Z a-z 0-9 . _ -");
    const v = validateSpec(reg);
    const lease = kind === "ephemeral" && o.lease !== false;
    const ttlMs = reg.ttlMs ?? this.ttlMs;
    if (lease && (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TTL_MS)) throw new RegistrationError(`ttl must be an integer number of ms in 1000..${MAX_TTL_MS}`);
    const id = reg.id ?? randomUUID();
    const now = this.clock.now();
    const previous = this.entry(id);
    if (previous && previous.kind !== kind) throw new RegistrationError(`id ${id} is a ${previous.kind} instance; delete it first`);
    const entry: LocalEntry = {
      id,
      kind,
      spec: { ...v, host: v.host ?? o.defaultHost ?? "127.0.0.1" },
      registeredAt: previous?.registeredAt ?? now,
      ...(lease ? { ttlMs, expiresAt: now + ttlMs } : {}),
    };
    this.publish(entry); // throws RegistrationError before anything is stored
    if (kind === "persistent") await this.persist(entry, previous);
    else {
      this.ephemeral.set(id, entry);
      if (lease) this.arm(entry);
    }
    return entry;
  }

  /** Renews an ephemeral entry's lease. Throws NotFoundError when it is unknown or already expired (the client registers again). */
  heartbeat(id: string): LocalEntry {
    const e = this.ephemeral.get(id);
    if (!e || e.ttlMs === undefined) throw new NotFoundError(`no leased instance ${JSON.stringify(id).slice(0, 80)}: it expired or was never registered`);
    const renewed = { ...e, expiresAt: this.clock.now() + e.ttlMs };
    this.ephemeral.set(id, renewed);
    this.arm(renewed);
    return renewed;
  }

  /** Replaces weight and/or metadata. Throws NotFoundError, RegistrationError. */
  async update(id: string, change: { weight?: number; metadata?: Readonly<Record<string, string>> }): Promise<LocalEntry> {
    if (this.closed) throw new ClosedError("the local registry is closed");
    const e = this.entry(id);
    if (!e) throw new NotFoundError(`no instance ${JSON.stringify(id).slice(0, 80)}`);
    const v = validateSpec({ ...e.spec, weight: change.weight ?? e.spec.weight, metadata: change.metadata ?? e.spec.metadata });
    const next: LocalEntry = { ...e, spec: { ...e.spec, weight: v.weight, metadata: v.metadata } };
    this.publish(next);
    if (next.kind === "persistent") await this.persist(next, e);
    else this.ephemeral.set(id, next);
    return next;
  }

  /** Deletes an entry; false when there was none. */
  async remove(id: string): Promise<boolean> {
    const e = this.entry(id);
    if (!e) return false;
    this.hub.deleteGroup(id);
    if (e.kind === "persistent") {
      if (this.store) await this.store.delete(id);
      else this.volatile.delete(id);
    } else {
      this.ephemeral.delete(id);
      this.disarm(id);
    }
    return true;
  }

  entry(id: string): LocalEntry | undefined {
    return this.ephemeral.get(id) ?? this.store?.get(id) ?? this.volatile.get(id);
  }

  entries(): LocalEntry[] {
    return [...this.ephemeral.values(), ...(this.store?.values() ?? this.volatile.values())];
  }

  /** Deregisters this process's own registrations at once, stops leases, and releases the store (persistent entries stay on disk). */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const id of [...this.own]) await this.remove(id);
    this.closed = true;
    for (const id of [...this.timers.keys()]) this.disarm(id);
    this.hub.close();
    await this.store?.close();
  }

  private publish(e: LocalEntry): void {
    let instance: Instance;
    try {
      instance = buildInstance({
        source: "local",
        origin: e.id,
        service: e.spec.service,
        host: e.spec.host,
        port: e.spec.port,
        protocol: e.spec.protocol,
        weight: e.spec.weight,
        metadata: e.spec.metadata,
        namespace: this.opts.namespace,
        startTime: e.registeredAt,
        scope: this.scope,
      });
    } catch (err) {
      throw new RegistrationError(`invalid registration of ${JSON.stringify(e.spec.service)}: ${(err as Error).message}`);
    }
    this.hub.setGroup(e.id, [instance]);
  }

  /** Stores a published entry; if the disk refuses it, consumers see `previous` again (or nothing) and the caller the error. */
  private async persist(e: LocalEntry, previous: LocalEntry | undefined): Promise<void> {
    if (!this.store) return void this.volatile.set(e.id, e);
    try {
      await this.store.put(e.id, e);
    } catch (err) {
      if (previous) this.publish(previous);
      else this.hub.deleteGroup(e.id);
      throw err;
    }
  }

  private arm(e: LocalEntry): void {
    this.disarm(e.id);
    const handle = this.clock.setTimeout(() => this.expire(e.id), Math.max(0, (e.expiresAt ?? 0) - this.clock.now()));
    unref(handle);
    this.timers.set(e.id, handle);
  }

  private disarm(id: string): void {
    const h = this.timers.get(id);
    if (h !== undefined) this.clock.clearTimeout(h);
    this.timers.delete(id);
  }

  private expire(id: string): void {
    const e = this.ephemeral.get(id);
    this.timers.delete(id);
    if (!e || e.expiresAt === undefined) return;
    if (e.expiresAt > this.clock.now()) return this.arm(e); // renewed in the meantime
    this.expiries++;
    this.logger.info({ id, service: e.spec.service }, "lease expired");
    this.ephemeral.delete(id);
    this.hub.deleteGroup(id);
  }
}
