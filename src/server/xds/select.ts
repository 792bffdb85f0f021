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
  clusterFamilies,
  clusterName,
  ENVOY_LISTENER,
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

/** What changed in a push window: these services, and whether Envoy's route configuration did. */
export interface Scope {
  keys: ReadonlySet<ServiceKey>;
  routes: boolean;
}

/** Whether the resource `name` of `type` may have changed within `scope` (else the last selection stands). */
export function inScope(state: XdsState, kind: ClientKind, type: ResourceType, name: string, scope: Scope): boolean {
  if (type === TYPE.listener) return false; // listeners depend on the client's node and the names it dials, not on services
  if (type === TYPE.route) {
    if (kind === "envoy") return scope.routes;
    const key = state.resolve(name);
    return key !== undefined && scope.keys.has(key);
  }
  const c = parseCluster(name);
  return c !== undefined && scope.keys.has(c.key);
}

/** `outbound|<family>|<key>` back into its parts. */
function parseCluster(name: string): { family: Family; key: ServiceKey } | undefined {
  const m = /^outbound\|(http|grpc)\|(.+)$/.exec(name);
  return m ? { family: m[1] as Family, key: m[2]! } : undefined;
}

/**
 * The resources of `type` a client of `kind` subscribed as `sub` should hold now, by name; with
 * `scope`, only those inScope() (the caller keeps the others from its last selection).
 */
export function selectResources(o: { state: XdsState; kind: ClientKind; node: NodeInfo; patch?: ResourcePatch; type: ResourceType; sub: Subscription; scope?: Scope }): Map<string, Versioned> {
  const out = new Map<string, Versioned>();
  const { state, kind, node, type, scope } = o;
  const sub = scope ? { wildcard: o.sub.wildcard, names: new Set([...o.sub.names].filter((n) => inScope(state, kind, type, n, scope))) } : o.sub;
  const add = (name: string, v: Versioned | undefined) => {
    if (!v) return;
    if (o.patch) {
      const resource = o.patch({ kind, node, type, name }, v.resource);
      out.set(name, { resource, version: versionOf(resource) });
    } else out.set(name, v);
  };
  if (type === TYPE.listener) {
    if (scope) return out;
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
        if (name === ENVOY_LISTENER && (!scope || scope.routes)) add(name, state.resource(`envoy|rds`, "routes", () => buildEnvoyRoutes(state.allViews(), state.defaultNamespace)));
        continue;
      }
      const key = state.resolve(name);
      if (key !== undefined) add(name, state.resource(`grpc|rds|${name}`, key, () => buildApiRoute(name, state.view(key))));
    }
    return out;
  }
  if (type === TYPE.cluster) {
    if (kind === "envoy" && sub.wildcard) {
      const views = scope ? [...scope.keys].map((k) => state.view(k)) : state.allViews();
      for (const view of views) {
        for (const family of clusterFamilies(view, "envoy")) {
          const name = clusterName(family, view.key);
          add(name, state.resource(`envoy|cds|${name}`, view.key, () => buildCluster(view, family, "envoy")));
        }
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

/**
 * The selection after a push window: `prev` (the last full or merged selection for the same
 * subscription) with the names in `scope` selected afresh; undefined when none of them changed.
 */
export function reselect(o: Parameters<typeof selectResources>[0] & { prev: ReadonlyMap<string, Versioned>; scope: Scope }): Map<string, Versioned> | undefined {
  const partial = selectResources(o);
  let changed = false;
  const next = new Map<string, Versioned>();
  for (const [name, v] of o.prev) {
    if (!inScope(o.state, o.kind, o.type, name, o.scope)) next.set(name, v);
    else if (partial.get(name)?.version !== v.version) changed = true;
  }
  for (const [name, v] of partial) {
    if (o.prev.get(name)?.version !== v.version) changed = true;
    next.set(name, v);
  }
  return changed ? next : undefined;
}

/** A type's version for state of the world: of its names and versions, whatever order they were selected in. */
export function selectionVersion(current: ReadonlyMap<string, Versioned>): string {
  return versionOf([...current].map(([n, v]) => [n, v.version]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0)));
}

