/**
 * podreg: Kubernetes-native service registration and client-side discovery.
 *
 *   const registry = new KubePodsRegistry();            // KUBECONFIG, ~/.kube/config or in-cluster
 *   await registry.register({ service: "echo", port: 8080, metadata: { version: "v2" } });
 *   registry.subscribe("echo", (event) => { ... });     // snapshot, then added/updated/removed
 *
 * The root is the public API: the model, the contracts (Discovery,
 * Registrar), the sources, the codecs and the errors. The list/watch cache
 * underneath (KubeClient, Informer, Reflector, Store) is at `podreg/kube`.
 */
export * from "./errors.js";
export * from "./model/index.js";
export type { Discovery, Registrar, Registry, RegistrationSpec, RegistrationHandle, Subscription } from "./registry/registry.js";
export { validateSpec } from "./registry/registry.js";
export { subscribeBatches, type BatchEvent, type BatchOptions } from "./registry/batch.js";
export { MemoryRegistry, type MemoryRegistryOptions } from "./registry/memory.js";
export { LocalRegistry, DEFAULT_TTL_MS, type LocalRegistryOptions, type LocalRegistration, type LocalEntry, type LocalKind } from "./registry/local/registry.js";
export { RemoteRegistry, type RemoteRegistryOptions } from "./registry/remote/registry.js";
export { KubeServicesRegistry, type KubeServicesRegistryOptions } from "./registry/kube-services/registry.js";
export { inferProtocol, META as KUBE_SERVICES_METADATA } from "./registry/kube-services/convert.js";
export { AggregateDiscovery, type AggregateOptions, type AggregateSource } from "./registry/aggregate.js";
export { KubePodsRegistry, type KubePodsRegistryOptions, type KubePodsStats } from "./registry/kube-pods/registry.js";
export { podIdentity, ownNamespace, type PodIdentity } from "./registry/kube-pods/identity.js";
export { MAX_ANNOTATIONS_BYTES } from "./registry/kube-pods/writer.js";
export { SERVICES_ANNOTATION, HOSTS_ANNOTATION } from "./registry/kube-pods/declarations.js";
export type { AnnotationCodec, AnnotationEntry, CodecRegistration, DecodedEndpoint } from "./registry/codec.js";
export * from "./registry/codecs/index.js";
export type { KubeConfigOptions } from "./kube/options.js";
export { type Clock, systemClock } from "./util/clock.js";
export { type Logger, stderrLogger, silentLogger } from "./util/logger.js";
