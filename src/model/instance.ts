/**
 * Provider-free model, after Istio's pilot/pkg/model: every registry backend
 * converts what it reads into these types, and nothing downstream (balancers,
 * routers, clients, servers) imports Kubernetes types.
 */

/** A service is named by a string: an RPC interface (`com.example.Echo`) or a Web service name (`echo`). */
export type ServiceName = string;

export interface Instance {
  /** Stable across updates of the same registration: `<source>:<namespace>/<pod>/<service>/<protocol>:<port>` for pods. */
  readonly id: string;
  readonly service: ServiceName;
  readonly host: string;
  readonly port: number;
  /** Application protocol: `http`, `grpc`, `dubbo`, `tri`, ... */
  readonly protocol: string;
  /** Relative weight for balancing, >= 0 (0 = take no new traffic). Default 100. */
  readonly weight: number;
  /** Registered metadata: version, group, methods, tags, ... */
  readonly metadata: Readonly<Record<string, string>>;
  /** Labels of the workload (pod labels), for routing by label. */
  readonly labels: Readonly<Record<string, string>>;
  readonly zone?: string;
  readonly node?: string;
  readonly namespace?: string;
  readonly ready: boolean;
  /** Epoch milliseconds the instance came up (pod start), for slow start. */
  readonly startTime?: number;
  /** The registry it came from: `memory`, `kube-pods`, `kube-services`, ... */
  readonly source: string;
}

export const DEFAULT_WEIGHT = 100;

/** Field-by-field equality: updates that change nothing are not delivered. */
export function sameInstance(a: Instance, b: Instance): boolean {
  return (
    a.id === b.id &&
    a.service === b.service &&
    a.host === b.host &&
    a.port === b.port &&
    a.protocol === b.protocol &&
    a.weight === b.weight &&
    a.zone === b.zone &&
    a.node === b.node &&
    a.namespace === b.namespace &&
    a.ready === b.ready &&
    a.startTime === b.startTime &&
    a.source === b.source &&
    sameRecord(a.metadata, b.metadata) &&
    sameRecord(a.labels, b.labels)
  );
}

export function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
}
