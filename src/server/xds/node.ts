/**
 * Who is on the other end of an xDS stream (its Node), what kind of client
 * that is, and the status both kinds of stream report: shared by the
 * state-of-the-world stream (stream.ts), the delta one (delta.ts) and the
 * resource selection (select.ts).
 */
import type { Logger } from "../../util/logger.js";
import { RESOURCE_TYPES, type ResourceType } from "./protos.js";
import type { ClientKind, Resource } from "./resources.js";

export interface NodeInfo {
  id: string;
  cluster?: string;
  userAgent?: string;
  userAgentVersion?: string;
  metadata: Record<string, string>;
}

/** A google.protobuf.Value: protobufjs names the well-known types' fields in camel case, whatever keepCase says. */
type StructValue = { string_value?: string; stringValue?: string; number_value?: number; numberValue?: number; bool_value?: boolean; boolValue?: boolean };

/** The Node of a request, as protobufjs decodes it. */
export type RequestNode = { id?: string; cluster?: string; user_agent_name?: string; user_agent_version?: string; metadata?: { fields?: Record<string, StructValue> } };

/** Per type, what the status view shows (istioctl proxy-status). */
export interface TypeStatus {
  subscribed: number | "*";
  sent?: { version: string; nonce: string; at: number; resources: number };
  acked?: { version: string; at: number };
  nacked?: { version: string; error: string; at: number; count: number };
}

export interface StreamStatus {
  id: number;
  node: NodeInfo | undefined;
  kind: ClientKind | undefined;
  connectedAt: number;
  types: Partial<Record<"cds" | "eds" | "lds" | "rds", TypeStatus>>;
}

/** A last say over a resource before it is sent to a client (extensions; what it breaks is NACKed and counted). */
export type ResourcePatch = (ctx: { kind: ClientKind; node: NodeInfo; type: ResourceType; name: string }, resource: Resource) => Resource;

const KINDS = new Set(["envoy", "grpc"]);

export function nodeOf(n: RequestNode): NodeInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(n.metadata?.fields ?? {})) {
    const scalar = v.string_value ?? v.stringValue ?? v.number_value ?? v.numberValue ?? v.bool_value ?? v.boolValue;
    const value = scalar === undefined ? undefined : String(scalar);
    if (value !== undefined) metadata[k] = value;
  }
  return { id: n.id ?? "", cluster: n.cluster || undefined, userAgent: n.user_agent_name || undefined, userAgentVersion: n.user_agent_version || undefined, metadata };
}

/** Envoy says so in user_agent_name; PODREG_CLIENT in node metadata overrides. Everything else is a proxyless gRPC client. */
export function clientKind(node: NodeInfo): ClientKind {
  const said = node.metadata.PODREG_CLIENT?.toLowerCase();
  if (said && KINDS.has(said)) return said as ClientKind;
  return node.userAgent?.toLowerCase() === "envoy" ? "envoy" : "grpc";
}

/**
 * What both kinds of stream do first with a request: its first request names the client (a stream
 * without one is ignored), and every request must be for a type podreg serves. The request's type,
 * or undefined when it is to be ignored (logged).
 */
export function requestType(
  stream: { node: NodeInfo | undefined; kind: ClientKind | undefined },
  req: { node?: RequestNode | null; type_url?: string },
  log: { logger: Logger; id: number },
): ResourceType | undefined {
  if (!stream.node) {
    if (!req.node) {
      log.logger.warn({ stream: log.id }, "xds: first request without a node: ignored");
      return undefined;
    }
    stream.node = nodeOf(req.node);
    stream.kind = clientKind(stream.node);
  }
  const type = req.type_url as ResourceType;
  if (RESOURCE_TYPES.includes(type)) return type;
  log.logger.debug({ stream: log.id, type: req.type_url }, "xds: a type podreg does not serve: ignored");
  return undefined;
}
