/**
 * podreg: Kubernetes-native service registration and client-side discovery.
 *
 *   const registry = new KubePodsRegistry();            // KUBECONFIG, ~/.kube/config or in-cluster
 *   await registry.register({ service: "echo", port: 8080, metadata: { version: "v2" } });
 *   registry.subscribe("echo", (event) => { ... });     // snapshot, then added/updated/removed
 */
export { PodregError, ConfigError, AbortedError } from "./errors.js";
export * from "./model/index.js";
export {
  RegistrationError,
  type Registry,
  type RegistrationSpec,
  type RegistrationHandle,
  type Subscription,
} from "./registry/registry.js";
export { MemoryRegistry, type MemoryRegistryOptions } from "./registry/memory.js";
export { InstanceHub } from "./registry/hub.js";
export { KubePodsRegistry, type KubePodsRegistryOptions, type KubePodsStats } from "./registry/kube-pods/registry.js";
export { podIdentity, ownNamespace, type PodIdentity } from "./registry/kube-pods/identity.js";
export { MAX_ANNOTATIONS_BYTES } from "./registry/kube-pods/writer.js";
export { CodecError, type AnnotationCodec, type AnnotationEntry, type CodecRegistration, type DecodedEndpoint } from "./registry/codec.js";
export * from "./registry/codecs/index.js";
export { KubeClient, type KubeClientOptions, type KubeRequest, type WatchEvent, type WatchRequest } from "./kube/client.js";
export { loadKubeConfig, KubeConfigError, type KubeConfigOptions } from "./kube/config.js";
export { KubeApiError, KubeUnreachableError, WatchStreamError } from "./kube/errors.js";
export { Informer, type InformerOptions } from "./kube/informer.js";
export { Reflector, type ReflectorOptions, type ReflectorStats, type RawObject } from "./kube/reflector.js";
export { Store, type StoreHandler, type Versioned } from "./kube/store.js";
export { type Clock, systemClock } from "./util/clock.js";
export { type Logger, stderrLogger, silentLogger } from "./util/logger.js";
