/**
 * Calls through the registry (`podreg/client`): an undici Dispatcher and
 * fetch for HTTP, per-service configuration, and the balancer they share.
 * gRPC lives in `podreg/grpc`, so HTTP users do not load grpc-js.
 */
export { PodregDispatcher, createFetch, type PodregFetch, type PodregHttpOptions } from "./http.js";
export { NoInstanceError } from "./http-handler.js";
export { ServiceBalancer, type CallRequest, type Selection, type ServiceBalancerOptions } from "./service-balancer.js";
export {
  parseClientConfig,
  loadClientConfig,
  serviceConfig,
  RETRY_ON,
  type ClientConfig,
  type RetryConfig,
  type RetryOn,
  type ServiceClientConfig,
  type ServiceClientConfigLayer,
} from "./config.js";
export { TRACER_NAME } from "./tracing.js";
