/**
 * One incremental (delta) ADS stream, as Envoy speaks it with
 * `api_type: DELTA_GRPC` (the xDS protocol's "incremental xDS"): the client
 * subscribes and unsubscribes resource names, and each response carries only
 * the resources that changed, with a version each, and the names removed.
 * Independent of grpc-js, as stream.ts; what exists comes from the same
 * selection (select.ts), so both variants serve the same resources.
 *
 * - Wildcard: `*` subscribed, or a first LDS or CDS request that names none
 *   (legacy wildcard, which naming resources later ends unless `*` is named).
 * - A reconnecting client says what it holds (initial_resource_versions): only
 *   what differs is sent, and what is gone comes back in removed_resources.
 * - A subscribed name that does not exist is answered in removed_resources,
 *   so the client does not wait for it (the protocol's way of saying so).
 * - Every response has a nonce of its own; the client ACKs or NACKs each. A
 *   NACK (error_detail) is logged and counted, the resources of that response
 *   count as not held, and those versions are not sent again: only a change
 *   makes a new push, as in stream.ts.
 * - The server sends without waiting for ACKs (as Istio does); it answers the
 *   first request of each type even when there is nothing, and nothing at all
 *   before the source's first snapshot.
 */
import type { ServiceKey } from "../../model/service-key.js";
import type { Clock } from "../../util/clock.js";
import type { Logger } from "../../util/logger.js";
import { requestType, type NodeInfo, type RequestNode, type ResourcePatch, type StreamStatus } from "./node.js";
import { RESOURCE_TYPES, TYPE, TYPE_NAMES, type ResourceType } from "./protos.js";
import type { ClientKind, Resource } from "./resources.js";
import { reselect, selectResources, type Scope } from "./select.js";
import { versionOf, type Versioned, type XdsState } from "./state.js";

export interface DeltaDiscoveryRequest {
  node?: RequestNode | null;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: { name: string; version: string; resource: Resource }[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
}

export interface DeltaStreamOptions {
  id: number;
  state: XdsState;
  send: (res: DeltaDiscoveryResponse) => void;
  logger: Logger;
  clock: Clock;
  patch?: ResourcePatch;
  onPush?: (type: ResourceType) => void;
  onNack?: (type: ResourceType) => void;
}

/** Responses awaiting an ACK or NACK, per type; older ones are forgotten (their ACK changes nothing we keep). */
const MAX_UNANSWERED = 16;

interface Sent {
  version: string;
  at: number;
  /** Per resource sent: its version, and what the client held before (undefined: nothing). */
  resources: Map<string, { version: string; before: string | undefined }>;
}

interface TypeState {
  wildcard: boolean;
  /** The client subscribed to `*` itself (not the legacy wildcard of an empty first request). */
  explicitWildcard: boolean;
  names: Set<string>;
  /** What the client holds, or will once it applies what was sent: name -> version. */
  holds: Map<string, string>;
  /** Versions the client refused, per name: not sent again until they change. */
  refused: Map<string, string>;
  /** Names subscribed since the last answer that must be answered even if absent. */
  asked: Set<string>;
  /** A response is owed (first request, new subscriptions) whatever changed. */
  owed: boolean;
  unanswered: Map<string, Sent>;
  last?: { version: string; nonce: string; at: number; resources: number };
  acked?: { version: string; at: number };
  nacked?: { version: string; error: string; at: number; count: number };
  /** The last selection for the current subscription: a push reselects only what changed (select.ts). */
  selected?: Map<string, Versioned>;
}

export class DeltaAdsStream {
  node: NodeInfo | undefined;
  kind: ClientKind | undefined;
  readonly connectedAt: number;
  private readonly types = new Map<ResourceType, TypeState>();
  private nonces = 0;

  constructor(private readonly o: DeltaStreamOptions) {
    this.connectedAt = o.clock.now();
  }

  handle(req: DeltaDiscoveryRequest): void {
    const type = requestType(this, req, this.o);
    if (type === undefined) return;
    const subscribe = req.resource_names_subscribe ?? [];
    const unsubscribe = req.resource_names_unsubscribe ?? [];
    let ts = this.types.get(type);
    if (!ts) {
      const legacy = (type === TYPE.listener || type === TYPE.cluster) && subscribe.length === 0;
      ts = { wildcard: legacy, explicitWildcard: false, names: new Set(), holds: new Map(), refused: new Map(), asked: new Set(), owed: true, unanswered: new Map() };
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) if (typeof version === "string") ts.holds.set(name, version);
      this.types.set(type, ts);
    }
    const nonce = req.response_nonce ?? "";
    if (nonce !== "") this.settle(type, ts, nonce, req.error_detail ?? undefined);
    let changed = false;
    for (const name of subscribe) {
      if (name === "*") {
        changed ||= !ts.wildcard;
        ts.wildcard = ts.explicitWildcard = true;
      } else if (!ts.names.has(name)) {
        ts.names.add(name);
        ts.asked.add(name);
        changed = true;
      }
    }
    // Naming resources ends a legacy wildcard; an explicit `*` stays until unsubscribed.
    if (subscribe.some((n) => n !== "*") && ts.wildcard && !ts.explicitWildcard) ts.wildcard = false;
    for (const name of unsubscribe) {
      if (name === "*") {
        ts.wildcard = ts.explicitWildcard = false;
        continue;
      }
      ts.names.delete(name);
      ts.asked.delete(name);
      // The client dropped it: nothing to remove later.
      ts.holds.delete(name);
    }
    if (changed || unsubscribe.length > 0 || subscribe.length > 0) ts.selected = undefined;
    if (changed) ts.owed = true;
    if (ts.owed || unsubscribe.includes("*")) this.answer(type, ts);
  }

  /** After a push window: every subscribed type sends what changed. */
  push(changed: ReadonlySet<ServiceKey>): void {
    if (!this.node) return;
    const scope: Scope = { keys: changed, routes: this.o.state.routesChanged };
    for (const type of RESOURCE_TYPES) {
      const ts = this.types.get(type);
      if (ts) this.answer(type, ts, scope);
    }
  }

  status(): StreamStatus {
    const types: StreamStatus["types"] = {};
    for (const [type, ts] of this.types) {
      types[TYPE_NAMES[type]] = {
        subscribed: ts.wildcard ? "*" : ts.names.size,
        ...(ts.last ? { sent: { ...ts.last } } : {}),
        ...(ts.acked ? { acked: { ...ts.acked } } : {}),
        ...(ts.nacked ? { nacked: { ...ts.nacked } } : {}),
      };
    }
    return { id: this.o.id, node: this.node, kind: this.kind, connectedAt: this.connectedAt, types };
  }

  private settle(type: ResourceType, ts: TypeState, nonce: string, error: { message?: string } | undefined): void {
    const sent = ts.unanswered.get(nonce);
    if (!sent) return; // forgotten, or never ours
    ts.unanswered.delete(nonce);
    const now = this.o.clock.now();
    if (!error) {
      ts.acked = { version: sent.version, at: now };
      return;
    }
    const message = String(error.message ?? "").slice(0, 2000);
    ts.nacked = { version: sent.version, error: message, at: now, count: (ts.nacked?.count ?? 0) + 1 };
    for (const [name, r] of sent.resources) {
      ts.refused.set(name, r.version);
      // The client rejected the whole response: it still holds what it held before, if it does not already hold something newer.
      if (ts.holds.get(name) === r.version) {
        if (r.before === undefined) ts.holds.delete(name);
        else ts.holds.set(name, r.before);
      }
    }
    this.o.onNack?.(type);
    this.o.logger.warn({ stream: this.o.id, node: this.node?.id, type: TYPE_NAMES[type], nonce, error: message }, "xds: the client refused a delta response (NACK); it keeps what it held, and these versions are not sent again");
  }

  private answer(type: ResourceType, ts: TypeState, scope?: Scope): void {
    if (!this.o.state.synced) return;
    const select = { state: this.o.state, kind: this.kind!, node: this.node!, patch: this.o.patch, type, sub: ts };
    let current: Map<string, Versioned>;
    // A push with a selection to start from: only what the changed services touch (a patch may change anything: all).
    if (scope && ts.selected && !ts.owed && ts.asked.size === 0 && !this.o.patch) {
      const next = reselect({ ...select, scope, prev: ts.selected });
      if (!next) return; // nothing this client holds changed
      current = next;
    } else current = selectResources(select);
    ts.selected = current;
    const send: [string, { version: string; resource: Resource }][] = [];
    for (const [name, v] of current) if (ts.holds.get(name) !== v.version && ts.refused.get(name) !== v.version) send.push([name, v]);
    // By name: the same answer whichever order the resources were selected in (a full or a scoped selection).
    send.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const removed = new Set<string>();
    for (const name of ts.holds.keys()) if (!current.has(name)) removed.add(name);
    // Asked for and absent: say so, once, so the client stops waiting for it.
    for (const name of ts.asked) if (!current.has(name)) removed.add(name);
    ts.asked.clear();
    if (send.length === 0 && removed.size === 0 && !ts.owed) return;
    ts.owed = false;
    for (const name of removed) {
      ts.holds.delete(name);
      ts.refused.delete(name);
    }
    const resources = new Map<string, { version: string; before: string | undefined }>();
    for (const [name, v] of send) {
      resources.set(name, { version: v.version, before: ts.holds.get(name) });
      ts.holds.set(name, v.version);
      ts.refused.delete(name);
    }
    const version = versionOf([...ts.holds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const nonce = String(++this.nonces);
    const now = this.o.clock.now();
    ts.unanswered.set(nonce, { version, at: now, resources });
    if (ts.unanswered.size > MAX_UNANSWERED) ts.unanswered.delete(ts.unanswered.keys().next().value as string);
    ts.last = { version, nonce, at: now, resources: send.length };
    this.o.onPush?.(type);
    this.o.send({
      system_version_info: version,
      type_url: type,
      nonce,
      removed_resources: [...removed].sort(),
      resources: send.map(([name, v]) => ({ name, version: v.version, resource: this.o.state.wire(type, v.resource) })),
    });
  }
}
