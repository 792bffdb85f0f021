/**
 * `podreg/kube`: the list/watch cache podreg's Kubernetes sources stand on,
 * after client-go's tools/cache (reflector -> store -> informer), for users
 * who build a source of their own. Knows nothing of registrations.
 */
export { KubeClient, type KubeClientOptions, type KubeRequest, type WatchEvent, type WatchRequest } from "./client.js";
export { loadKubeConfig } from "./config.js";
export type { KubeConfigOptions, KubeConfigLike } from "./options.js";
export { Informer, type InformerOptions } from "./informer.js";
export { Reflector, type ReflectorOptions, type ReflectorStats, type RawObject } from "./reflector.js";
export { Store, type StoreHandler, type Versioned } from "./store.js";
export { acquireInformer, informerCount, type Lease } from "./shared.js";
