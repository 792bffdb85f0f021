/**
 * Envoy's xDS protos, loaded at run time from the copy @grpc/grpc-js-xds
 * ships under deps/ (the maintained package grpc-js's own xDS client uses),
 * never copied into podreg. @grpc/grpc-js, @grpc/proto-loader and
 * @grpc/grpc-js-xds are optional peer dependencies: only the xDS server needs
 * them, and it says so when one is missing.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as Grpc from "@grpc/grpc-js";
import type * as ProtoLoader from "@grpc/proto-loader";
import { ConfigError } from "../../errors.js";

export const TYPE = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  httpOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
} as const;

/** The four resource types podreg serves, in the order ADS clients should apply them (CDS, EDS, LDS, RDS: make before break). */
export const RESOURCE_TYPES = [TYPE.cluster, TYPE.endpoint, TYPE.listener, TYPE.route] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** Short names, for logs, metrics and status. */
export const TYPE_NAMES: Record<ResourceType, "cds" | "eds" | "lds" | "rds"> = {
  [TYPE.cluster]: "cds",
  [TYPE.endpoint]: "eds",
  [TYPE.listener]: "lds",
  [TYPE.route]: "rds",
};

const FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
];

export type GrpcModule = typeof Grpc;

export interface XdsRuntime {
  grpc: GrpcModule;
  /** The ADS service definition, for grpc.Server.addService. */
  ads: Grpc.ServiceDefinition;
  /** A resource's protobuf bytes: encoded once per version and shared by every stream, not once per send. */
  encode(type: ResourceType, resource: Record<string, unknown>): Uint8Array;
}

/** The part of protobufjs used here (proto-loader's own copy, so the two read the protos alike). */
interface ProtobufRoot {
  resolvePath: (origin: string, target: string) => string | null;
  loadSync(files: string[], options: { keepCase: boolean }): ProtobufRoot;
  resolveAll(): ProtobufRoot;
  lookupType(name: string): { fromObject(o: object): unknown; encode(m: unknown): { finish(): Uint8Array } };
}

const require = createRequire(import.meta.url);

function load<T>(name: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    throw new ConfigError(`the xDS server needs ${name}: npm install @grpc/grpc-js @grpc/proto-loader @grpc/grpc-js-xds (${(err as Error).message.split("\n")[0]})`, { cause: err });
  }
}

let cached: XdsRuntime | undefined;

/** Loads grpc-js, and the ADS service with every resource type it sends, once per process. */
export function xdsRuntime(): XdsRuntime {
  if (cached) return cached;
  const grpc = load<GrpcModule>("@grpc/grpc-js");
  const loader = load<typeof ProtoLoader>("@grpc/proto-loader");
  let deps: string;
  try {
    deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  } catch (err) {
    throw new ConfigError("the xDS server needs @grpc/grpc-js-xds (it ships Envoy's protos): npm install @grpc/grpc-js-xds", { cause: err });
  }
  const includeDirs = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(deps, d));
  const definition = loader.loadSync(FILES, { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, json: true, includeDirs });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: { service: Grpc.ServiceDefinition } } } } };
  };
  cached = { grpc, ads: pkg.envoy.service.discovery.v3.AggregatedDiscoveryService.service, encode: encoder(includeDirs) };
  return cached;
}

/**
 * Encodes resources with protobufjs as proto-loader does (same library, same
 * files, keepCase), so a response can carry each resource as an Any of
 * ready bytes: with 100 streams and 1,000 endpoints, one encoding per version
 * instead of one per stream and push.
 */
function encoder(includeDirs: string[]): XdsRuntime["encode"] {
  const fromLoader = createRequire(require.resolve("@grpc/proto-loader"));
  const protobuf = fromLoader("protobufjs") as { Root: new () => ProtobufRoot };
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const full = join(dir, target);
      if (existsSync(full)) return full;
    }
    return target; // google/protobuf/*: protobufjs's bundled copies
  };
  root.loadSync(FILES, { keepCase: true }).resolveAll();
  const types = new Map<string, ReturnType<ProtobufRoot["lookupType"]>>();
  return (type, resource) => {
    let t = types.get(type);
    if (!t) types.set(type, (t = root.lookupType(type.slice(type.indexOf("/") + 1))));
    return t.encode(t.fromObject(resource)).finish();
  };
}
