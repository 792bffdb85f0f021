/**
 * The informer's local cache: objects by key, and change notifications that
 * are emitted only after the map already holds the change. Single-threaded
 * (JavaScript), so no locking; handlers run synchronously, in order.
 */
export interface Versioned {
  readonly resourceVersion: string;
}

export interface StoreHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export class Store<T extends Versioned> {
  private readonly items = new Map<string, T>();

  constructor(
    private readonly keyOf: (obj: T) => string,
    private readonly handler: StoreHandler<T>,
  ) {}

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  /** Add or update. An object whose resourceVersion did not change is not an update (a replayed event). */
  upsert(obj: T): void {
    const key = this.keyOf(obj);
    const old = this.items.get(key);
    if (old && old.resourceVersion === obj.resourceVersion) return;
    this.items.set(key, obj);
    if (old) this.handler.onUpdate?.(old, obj);
    else this.handler.onAdd?.(obj);
  }

  /** Delete by the object's key; the handler gets the last known state. */
  remove(obj: T): void {
    const key = this.keyOf(obj);
    const old = this.items.get(key);
    if (!old) return;
    this.items.delete(key);
    this.handler.onDelete?.(old);
  }

  /**
   * Replace everything with a fresh LIST: objects that vanished are deleted
   * (a relist after 410 Gone must not leave phantoms), changed ones updated,
   * new ones added. Deletions go first so a consumer never sees more objects
   * than exist in either state.
   */
  replace(objs: readonly T[]): void {
    const fresh = new Map<string, T>();
    for (const o of objs) fresh.set(this.keyOf(o), o);
    for (const [key, old] of [...this.items]) {
      if (!fresh.has(key)) {
        this.items.delete(key);
        this.handler.onDelete?.(old);
      }
    }
    for (const o of fresh.values()) this.upsert(o);
  }
}
