/**
 * Reflector + Store + handler fan-out, after client-go's SharedInformer.
 * Handlers see every change after the store holds it; a handler added after
 * the first sync is first told of every cached object (as adds). A throwing
 * handler is logged and never stops the informer or other handlers.
 */
import { systemClock } from "../util/clock.js";
import { Latch } from "../util/latch.js";
import { silentLogger, type Logger } from "../util/logger.js";
import { Reflector, type ReflectorOptions, type ReflectorStats } from "./reflector.js";
import { Store, type StoreHandler, type Versioned } from "./store.js";

export interface InformerOptions<T extends Versioned> extends Omit<ReflectorOptions<T>, "store" | "onSynced" | "onHealthy"> {
  key: (obj: T) => string;
}

/** The informer's connection to the API server changed: it started failing (retried), or answers again. */
export type InformerHealth = { readonly type: "failing"; readonly error: Error } | { readonly type: "recovered"; readonly downMs: number };

export class Informer<T extends Versioned> {
  readonly store: Store<T>;
  private readonly handlers = new Set<StoreHandler<T>>();
  private readonly reflector: Reflector<T>;
  private readonly logger: Logger;
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private readonly syncedLatch = new Latch();
  private lastErr: Error | undefined;
  private failingSince: number | undefined;
  private readonly healthListeners = new Set<(h: InformerHealth) => void>();

  constructor(private readonly opts: InformerOptions<T>) {
    this.logger = opts.logger ?? silentLogger;
    this.store = new Store<T>(opts.key, {
      onAdd: (o) => this.each((h) => h.onAdd?.(o)),
      onUpdate: (a, b) => this.each((h) => h.onUpdate?.(a, b)),
      onDelete: (o) => this.each((h) => h.onDelete?.(o)),
    });
    this.reflector = new Reflector<T>({
      ...opts,
      store: this.store,
      onError: (err) => {
        this.lastErr = err;
        opts.onError?.(err);
        if (this.failingSince !== undefined) return;
        this.failingSince = (opts.clock ?? systemClock).now();
        this.emitHealth({ type: "failing", error: err });
      },
      onSynced: () => {
        this.lastErr = undefined;
        this.syncedLatch.set();
      },
      onHealthy: () => {
        if (this.failingSince === undefined) return;
        const downMs = (opts.clock ?? systemClock).now() - this.failingSince;
        this.failingSince = undefined;
        this.lastErr = undefined;
        this.emitHealth({ type: "recovered", downMs });
      },
    });
  }

  get synced(): boolean {
    return this.syncedLatch.isSet;
  }

  /** The last list/watch failure since the API server last answered (it is retried). */
  get lastError(): Error | undefined {
    return this.lastErr;
  }

  /** True from the first failure until the API server answers again. */
  get failing(): boolean {
    return this.failingSince !== undefined;
  }

  /** Transitions between failing and answering, one call each, in order. */
  onHealth(listener: (h: InformerHealth) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  get stats(): Readonly<ReflectorStats> {
    return this.reflector.stats;
  }

  get resourceVersion(): string | undefined {
    return this.reflector.resourceVersion;
  }

  list(): T[] {
    return this.store.list();
  }

  addHandler(handler: StoreHandler<T>): () => void {
    this.handlers.add(handler);
    if (this.syncedLatch.isSet) for (const o of this.store.list()) this.call(() => handler.onAdd?.(o));
    return () => this.handlers.delete(handler);
  }

  /** Starts the reflector once; later calls do nothing. */
  start(): void {
    if (this.running) return;
    this.abort = new AbortController();
    this.running = this.reflector.run(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.running;
    this.running = undefined;
  }

  /** Resolves at the first successful LIST; rejects with AbortedError if `signal` fires first. */
  whenSynced(signal?: AbortSignal): Promise<void> {
    return this.syncedLatch.wait(signal, "aborted before the cache synced");
  }

  private emitHealth(h: InformerHealth): void {
    for (const l of this.healthListeners) this.call(() => l(h));
  }

  private each(fn: (h: StoreHandler<T>) => void): void {
    for (const h of this.handlers) this.call(() => fn(h));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ path: this.opts.path, err: err as Error }, "informer handler threw");
    }
  }
}
