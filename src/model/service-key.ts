/**
 * Which service an instance belongs to, with its scope, so `echo` in `shop`
 * and `echo` in `payments` never merge by accident.
 *
 * A service key is a string (usable as a Map key, an SSE id prefix, an xDS
 * cluster name):
 *   - `echo`                a global service: RPC interfaces such as dubbo-go's
 *                           `com.example.Echo` are global by design, and so is
 *                           a source configured with `scope: "global"`;
 *   - `shop/echo`           `echo` in namespace `shop`;
 *   - `east:shop/echo`      the same in cluster `east` (reserved for sources
 *                           that name their cluster).
 * Service names can't contain `/` (or start a key with `<cluster>:`), so a key
 * parses back to one (cluster, namespace, name).
 */

export type ServiceKey = string;

export interface ServiceKeyParts {
  readonly name: string;
  /** Undefined: a global service. */
  readonly namespace?: string;
  readonly cluster?: string;
}

/** How a source scopes the services it finds. */
export interface ServiceScope {
  /** `namespace`: services are per namespace (Kubernetes' own rule); `global`: one service per name. */
  readonly scope: "namespace" | "global";
  /** What a bare name means: the consumer's own namespace (or the only one watched). */
  readonly defaultNamespace?: string;
  readonly cluster?: string;
}

const CLUSTER = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?:/;

export function serviceKey(parts: ServiceKeyParts): ServiceKey {
  if (parts.namespace === undefined) return parts.name;
  return `${parts.cluster === undefined ? "" : `${parts.cluster}:`}${parts.namespace}/${parts.name}`;
}

export function parseServiceKey(key: ServiceKey): ServiceKeyParts {
  const slash = key.indexOf("/");
  if (slash < 0) return { name: key };
  let scope = key.slice(0, slash);
  let cluster: string | undefined;
  const m = CLUSTER.exec(scope);
  if (m) {
    cluster = m[0].slice(0, -1);
    scope = scope.slice(m[0].length);
  }
  return { name: key.slice(slash + 1), namespace: scope, ...(cluster === undefined ? {} : { cluster }) };
}

/** The key of a service called `name`, found in `namespace`, by a source with this scope. */
export function keyOf(name: string, namespace: string | undefined, scope: ServiceScope): ServiceKey {
  if (scope.scope === "global" || namespace === undefined) return name;
  return serviceKey({ name, namespace, cluster: scope.cluster });
}

/** `.svc` or `.svc.<cluster domain>`: Kubernetes DNS's way of naming a service in a namespace. */
const SVC_SUFFIX = /\.svc(\.[a-z0-9.-]+)?$/;

/**
 * What a consumer means by `name` (a CLI argument, an HTTP host, a gRPC
 * target), for a source with this scope:
 *   - `shop/echo` (or `east:shop/echo`): that key, as written;
 *   - `echo.shop.svc` (`.svc.cluster.local`...): `echo` in `shop`, as Kubernetes DNS names it;
 *   - `echo`: in a namespaced source, `echo` in its default namespace; in a global one, `echo`.
 * A global source ignores the namespace of the last two forms: its names are
 * global. A dotted name without `.svc` (`com.example.Echo`, `echo.shop`) is a
 * name, never a namespace qualifier: RPC interface names are dotted.
 */
export function resolveServiceName(name: string, scope: ServiceScope): ServiceKey {
  if (name.includes("/")) {
    const p = parseServiceKey(name);
    return scope.scope === "global" ? p.name : name;
  }
  const svc = SVC_SUFFIX.exec(name);
  if (svc) {
    const rest = name.slice(0, svc.index);
    const dot = rest.lastIndexOf(".");
    if (dot > 0) return keyOf(rest.slice(0, dot), rest.slice(dot + 1), scope);
  }
  return keyOf(name, scope.defaultNamespace, scope);
}

/** A service name a key can be built from: non-empty, no `/`, at most 253 characters. */
export function isServiceName(name: string): boolean {
  return typeof name === "string" && name.length > 0 && name.length <= 253 && !name.includes("/");
}
