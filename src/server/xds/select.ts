/**
 * What a client should hold now, for one type: the resources by name with
 * their versions, built (and cached) by the state, for the client's kind and
 * subscription. Shared by the state-of-the-world stream (stream.ts) and the
 * delta one (delta.ts): they differ in what they send, not in what exists.
 */
import { TYPE, type ResourceType } from "./protos.js";
import {
  buildApiListener,
  buildApiRoute,
  buildCluster,
  buildEnvoyListener,
  buildEnvoyRoutes,
  buildLoadAssignment,
  ENVOY_LISTENER,
  serviceClusters,
  type ClientKind,
  type Family,
} from "./resources.js";
import { versionOf, type Versioned, type XdsState } from "./state.js";
import type { ServiceKey } from "../../model/service-key.js";
import type { NodeInfo, ResourcePatch } from "./node.js";

export interface Subscription {
  /** LDS and CDS: every resource, whatever the names. */
  wildcard: boolean;
  names: ReadonlySet<string>;
}

/** `outbound|<family>|<key>` back into its parts. */
function parseCluster(name: string): { family: Family; key: ServiceKey } | undefined {
  const m = /^outbound\|(http|grpc)\|(.+)$/.exec(name);
  return m ? { family: m[1] as Family, key: m[2]! } : undefined;
}

/** The resources of `type` a client of `kind` subscribed as `sub` should hold now, by name. */
export function selectResources(o: { state: XdsState; kind: ClientKind; node: NodeInfo; patch?: ResourcePatch; type: ResourceType; sub: Subscription }): Map<string, Versioned> {
  const out = new Map<string, Versioned>();
  const { state, kind, node, type, sub } = o;
  const add = (name: string, v: Versioned | undefined) => {
    if (!v) return;
    if (o.patch) {
      const resource = o.patch({ kind, node, type, name }, v.resource);
      out.set(name, { resource, version: versionOf(resource) });
    } else out.set(name, v);
  };
  if (type === TYPE.listener) {
    if (kind === "envoy") {
      const address = node.metadata.PODREG_LISTENER_ADDRESS ?? "127.0.0.1";
      const port = Number(node.metadata.PODREG_LISTENER_PORT ?? 10000);
      if (Number.isInteger(port) && port > 0 && port < 65536) add(ENVOY_LISTENER, state.resource(`envoy|lds|${address}|${port}`, null, () => buildEnvoyListener(address, port)));
      return out;
    }
    for (const name of sub.names) if (state.resolve(name) !== undefined) add(name, state.resource(`grpc|lds|${name}`, null, () => buildApiListener(name)));
    return out;
  }
  if (type === TYPE.route) {
    for (const name of sub.names) {
      if (kind === "envoy") {
        if (name === ENVOY_LISTENER) add(name, state.resource(`envoy|rds`, "routes", () => buildEnvoyRoutes(state.allViews(), state.defaultNamespace)));
        continue;
      }
      const key = state.resolve(name);
      if (key !== undefined) add(name, state.resource(`grpc|rds|${name}`, key, () => buildApiRoute(name, state.view(key))));
    }
    return out;
  }
  if (type === TYPE.cluster) {
    if (kind === "envoy" && sub.wildcard) {
      for (const view of state.allViews()) {
        for (const c of serviceClusters(view, "envoy")) add(String(c.name), state.resource(`envoy|cds|${String(c.name)}`, view.key, () => c));
      }
      return out;
    }
    for (const name of sub.names) {
      const c = parseCluster(name);
      if (c && (kind === "envoy" || c.family === "grpc")) add(name, state.resource(`${kind}|cds|${name}`, c.key, () => buildCluster(state.view(c.key), c.family, kind)));
    }
    return out;
  }
  for (const name of sub.names) {
    const c = parseCluster(name);
    if (c) add(name, state.resource(`eds|${name}`, c.key, () => buildLoadAssignment(state.view(c.key), c.family)));
  }
  return out;
}
