import type { Instance } from "./instance.js";
import type { ServiceKey } from "./service-key.js";

/**
 * What a subscriber receives: one `snapshot` first (everything that matches,
 * once the cache is synced), then deltas in the order the cache changed.
 * Each event is delivered after the cache has applied it, so `instances()`
 * called from a listener already reflects it.
 *
 * Revisions: every change gets the next number of its source (monotonic in
 * the process), and a service's revision is the number of its last change;
 * a snapshot carries the revision it reflects. A server uses them as SSE
 * event ids and xDS `version_info`: "everything up to revision R".
 */
export type RegistryEvent =
  | { readonly type: "snapshot"; readonly instances: readonly Instance[]; readonly revision: number }
  | { readonly type: "added"; readonly instance: Instance; readonly revision: number }
  | { readonly type: "updated"; readonly instance: Instance; readonly previous: Instance; readonly revision: number }
  | { readonly type: "removed"; readonly instance: Instance; readonly revision: number };

export type DeltaEvent = Exclude<RegistryEvent, { type: "snapshot" }>;

export type RegistryListener = (event: RegistryEvent) => void;

/** Subscribe to one service (a name, resolved by the source, or a key), or to all with `"*"`. */
export type ServiceSelector = ServiceKey | "*";

export const ALL_SERVICES = "*";

/**
 * A source's connection to what it discovers from: `synced` once its first
 * full state is in; `failing` when it starts failing (it keeps retrying and
 * keeps serving what it has); `recovered` when it answers again.
 */
export type StatusEvent =
  | { readonly type: "synced" }
  | { readonly type: "failing"; readonly error: Error & { readonly code?: string } }
  | { readonly type: "recovered"; readonly downMs: number };

export type StatusListener = (event: StatusEvent) => void;
