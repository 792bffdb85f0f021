/**
 * One informer per (client, collection, selector) per process, shared by all
 * its users and stopped when the last one releases it: many subscriptions to
 * one namespace cost one watch, not one each.
 */
import type { KubeClient } from "./client.js";
import type { Informer } from "./informer.js";
import type { Versioned } from "./store.js";

interface Entry {
  informer: Informer<Versioned>;
  refs: number;
}

const pools = new WeakMap<KubeClient, Map<string, Entry>>();

export interface Lease<T extends Versioned> {
  informer: Informer<T>;
  release(): Promise<void>;
}

export function acquireInformer<T extends Versioned>(client: KubeClient, key: string, create: () => Informer<T>): Lease<T> {
  let pool = pools.get(client);
  if (!pool) pools.set(client, (pool = new Map()));
  let entry = pool.get(key);
  if (!entry) {
    entry = { informer: create() as unknown as Informer<Versioned>, refs: 0 };
    pool.set(key, entry);
    entry.informer.start();
  }
  entry.refs++;
  const e = entry;
  const p = pool;
  let released = false;
  return {
    informer: e.informer as unknown as Informer<T>,
    async release() {
      if (released) return;
      released = true;
      if (--e.refs > 0) return;
      if (p.get(key) === e) p.delete(key);
      await e.informer.stop();
    },
  };
}

/** Number of informers running for `client` (for tests and metrics). */
export function informerCount(client: KubeClient): number {
  return pools.get(client)?.size ?? 0;
}
