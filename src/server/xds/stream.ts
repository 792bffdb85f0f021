/**
 * One ADS stream, state of the world: what the client subscribed to per
 * type, what was sent (version and nonce), ACKed and NACKed. Independent of
 * grpc-js (the server hands it requests and a send function), so the
 * protocol's rules are unit-tested on their own:
 *
 * - a request whose response_nonce is not the last one sent for its type is
 *   stale and ignored (go-control-plane's rule);
 * - an ACK moves the type's acked version; a NACK (error_detail set) is
 *   logged with its detail and counted, the client keeps its last good
 *   config, and the version it refused is not sent again: only a change of
 *   the resources makes a new push (go-control-plane resends the same bad
 *   config in a loop: envoyproxy/go-control-plane#46, #962);
 * - LDS and CDS answers carry every resource (the protocol reads a missing
 *   one as deleted); RDS and EDS answers carry only the resources that
 *   changed since the client last accepted them;
 * - nothing is answered before the source's first snapshot, so a client
 *   never sees a half-known registry as the truth.
 */
import type { ServiceKey } from "../../model/service-key.js";
import type { Logger } from "../../util/logger.js";
import type { Clock } from "../../util/clock.js";
import { RESOURCE_TYPES, TYPE, TYPE_NAMES, type ResourceType } from "./protos.js";
import type { ClientKind, Resource } from "./resources.js";
import { requestType, type NodeInfo, type RequestNode, type ResourcePatch, type StreamStatus } from "./node.js";
import { reselect, selectionVersion, selectResources, type Scope } from "./select.js";
import type { Versioned, XdsState } from "./state.js";

export { clientKind, type NodeInfo, type ResourcePatch, type StreamStatus, type TypeStatus } from "./node.js";

export interface DiscoveryRequest {
  version_info?: string;
  node?: RequestNode | null;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: Resource[];
  type_url: string;
  nonce: string;
}

export interface AdsStreamOptions {
  id: number;
  state: XdsState;
  send: (res: DiscoveryResponse) => void;
  logger: Logger;
  clock: Clock;
  patch?: ResourcePatch;
  /** Counts a push and a NACK (metrics). */
  onPush?: (type: ResourceType) => void;
  onNack?: (type: ResourceType) => void;
}

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** An answer is owed (first request, new names) but the state was not synced yet. */
  owed: boolean;
  nonce?: string;
  sentVersion?: string;
  sentAt?: number;
  sentCount?: number;
  /** What the client holds once it accepts the last answer. */
  pending: Map<string, string>;
  /** What it holds: names and versions it accepted (reset to this on a NACK). */
  acked: Map<string, string>;
  ackedVersion?: { version: string; at: number };
  nacked?: { version: string; error: string; at: number; count: number };
  /** The last selection for the current subscription: a push reselects only what changed (select.ts). */
  selected?: Map<string, Versioned>;
}

const byName = (a: readonly [string, unknown], b: readonly [string, unknown]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export class AdsStream {
  node: NodeInfo | undefined;
  kind: ClientKind | undefined;
  readonly connectedAt: number;
  private readonly types = new Map<ResourceType, TypeState>();
  private nonces = 0;

  constructor(private readonly o: AdsStreamOptions) {
    this.connectedAt = o.clock.now();
  }

  handle(req: DiscoveryRequest): void {
    const type = requestType(this, req, this.o);
    if (type === undefined) return;
    let ts = this.types.get(type);
    const nonce = req.response_nonce ?? "";
    if (nonce !== "" && nonce !== ts?.nonce) return; // stale: answers a response superseded since
    const names = (req.resource_names ?? []).filter((n) => n !== "*");
    if (!ts) {
      // Legacy wildcard: the first LDS or CDS request with no names means every resource.
      const wildcard = (type === TYPE.listener || type === TYPE.cluster) && (names.length === 0 || (req.resource_names ?? []).includes("*"));
      ts = { wildcard, names: new Set(), owed: false, pending: new Map(), acked: new Map() };
      this.types.set(type, ts);
    } else if ((req.resource_names ?? []).includes("*")) ts.wildcard = true;
    if (nonce !== "") this.settle(type, ts, req);
    const before = ts.names;
    ts.names = new Set(names);
    const changed = before.size !== ts.names.size || [...ts.names].some((n) => !before.has(n));
    if (changed || (req.resource_names ?? []).includes("*")) ts.selected = undefined;
    if (nonce === "" || changed) {
      ts.owed = true;
      if (this.o.state.synced) this.answer(type, ts, true);
    }
  }

  /** After a push window: every subscribed type answers if its resources changed. */
  push(changed: ReadonlySet<ServiceKey>): void {
    if (!this.node) return;
    const scope: Scope = { keys: changed, routes: this.o.state.routesChanged };
    for (const type of RESOURCE_TYPES) {
      const ts = this.types.get(type);
      if (ts) this.answer(type, ts, ts.owed, scope);
    }
  }

  status(): StreamStatus {
    const types: StreamStatus["types"] = {};
    for (const [type, ts] of this.types) {
      types[TYPE_NAMES[type]] = {
        subscribed: ts.wildcard ? "*" : ts.names.size,
        ...(ts.nonce !== undefined ? { sent: { version: ts.sentVersion!, nonce: ts.nonce, at: ts.sentAt!, resources: ts.sentCount! } } : {}),
        ...(ts.ackedVersion ? { acked: { ...ts.ackedVersion } } : {}),
        ...(ts.nacked ? { nacked: { ...ts.nacked } } : {}),
      };
    }
    return { id: this.o.id, node: this.node, kind: this.kind, connectedAt: this.connectedAt, types };
  }

  /** The client answered our last response for `type`: ACK or NACK. */
  private settle(type: ResourceType, ts: TypeState, req: DiscoveryRequest): void {
    const now = this.o.clock.now();
    if (req.error_detail) {
      const error = String(req.error_detail.message ?? "").slice(0, 2000);
      ts.nacked = { version: ts.sentVersion ?? "", error, at: now, count: (ts.nacked?.count ?? 0) + 1 };
      // The client keeps what it accepted last; later answers are computed against that.
      ts.pending = new Map(ts.acked);
      this.o.onNack?.(type);
      this.o.logger.warn({ stream: this.o.id, node: this.node?.id, type: TYPE_NAMES[type], version: ts.sentVersion, error }, "xds: the client refused a configuration (NACK); it keeps its last accepted one, and this version is not sent again");
      return;
    }
    ts.acked = ts.pending;
    ts.ackedVersion = { version: req.version_info ?? ts.sentVersion ?? "", at: now };
  }

  private answer(type: ResourceType, ts: TypeState, force: boolean, scope?: Scope): void {
    if (!this.o.state.synced) return;
    let current: Map<string, Versioned>;
    // A push with a selection to start from: only what the changed services touch (a patch may change anything: all).
    if (scope && ts.selected && !force && !this.o.patch) {
      const next = reselect({ state: this.o.state, kind: this.kind!, node: this.node!, type, sub: ts, scope, prev: ts.selected });
      if (!next) return; // nothing this client holds changed
      current = next;
    } else current = this.current(type, ts);
    ts.selected = current;
    const version = selectionVersion(current);
    const sotw = type === TYPE.listener || type === TYPE.cluster;
    const base = ts.pending;
    if (!force && version === ts.sentVersion) return; // nothing changed, or the version the client refused
    // By name: the same answer whichever order the resources were selected in (a full or a scoped selection).
    const send = (sotw ? [...current] : [...current].filter(([n, v]) => base.get(n) !== v.version)).sort(byName);
    ts.owed = false;
    if (!sotw && send.length === 0 && ts.nonce !== undefined) {
      ts.sentVersion = version;
      return;
    }
    const nonce = String(++this.nonces);
    ts.nonce = nonce;
    ts.sentVersion = version;
    ts.sentAt = this.o.clock.now();
    ts.sentCount = send.length;
    ts.pending = sotw ? new Map(send.map(([n, v]) => [n, v.version])) : new Map([...base, ...send.map(([n, v]) => [n, v.version] as const)]);
    this.o.onPush?.(type);
    this.o.send({ version_info: version, type_url: type, nonce, resources: send.map(([, v]) => this.o.state.wire(type, v.resource)) });
  }

  /** The resources of `type` this client should hold now, by name. */
  private current(type: ResourceType, ts: TypeState): Map<string, Versioned> {
    return selectResources({ state: this.o.state, kind: this.kind!, node: this.node!, patch: this.o.patch, type, sub: ts });
  }
}
