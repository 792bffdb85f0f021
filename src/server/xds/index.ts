/**
 * podreg's xDS server for embedding (`podreg/xds`): ADS (state of the world)
 * for Envoy and proxyless gRPC clients over any Discovery. Needs the optional
 * peers @grpc/grpc-js, @grpc/proto-loader and @grpc/grpc-js-xds. See docs/xds.md.
 */
export { startXdsServer, type XdsServer, type XdsServerOptions, type XdsStats, type XdsTypeName } from "./server.js";
export type { NodeInfo, ResourcePatch, StreamStatus, TypeStatus } from "./stream.js";
export type { ClientKind, Resource } from "./resources.js";
export { TYPE as XDS_TYPE } from "./protos.js";
