import type { Instance, ServiceName } from "./instance.js";

/**
 * What a subscriber receives: one `snapshot` first (everything that matches,
 * once the cache is synced), then deltas in the order the cache changed.
 * Each event is delivered after the cache has applied it, so `instances()`
 * called from a listener already reflects it.
 */
export type RegistryEvent =
  | { readonly type: "snapshot"; readonly instances: readonly Instance[] }
  | { readonly type: "added"; readonly instance: Instance }
  | { readonly type: "updated"; readonly instance: Instance; readonly previous: Instance }
  | { readonly type: "removed"; readonly instance: Instance };

export type DeltaEvent = Exclude<RegistryEvent, { type: "snapshot" }>;

export type RegistryListener = (event: RegistryEvent) => void;

/** Subscribe to one service, or to all with `"*"`. */
export type ServiceSelector = ServiceName | "*";

export const ALL_SERVICES = "*";
