/**
 * npm run bench -- xds-delta
 *
 * What one Envoy's ADS stream costs the server per registry change, state of
 * the world (src/server/xds/stream.ts) beside delta (delta.ts), with
 * PODREG_BENCH_SERVICES (1,000) services of 10 instances each: every service
 * gives Envoy two clusters (http and grpc), a virtual host and an EDS
 * resource. Both streams are driven in this process as Envoy drives them
 * (wildcard CDS and LDS, the route by name, EDS for every cluster), each
 * response ACKed; the resources are encoded to protobuf once, as the server
 * does. Two kinds of change, PODREG_BENCH_CHANGES (20) of each, alternating:
 *
 * - an instance added to (then removed from) one service: its EDS resource
 *   changes, nothing else;
 * - a service added (then removed): two clusters, two EDS resources and the
 *   route configuration (one resource holding every virtual host).
 *
 * Per kind of change and stream: responses, resources and protobuf bytes sent, and
 * the CPU time of the push (the selection is built once per change and
 * shared, as in the server, so the first stream to push pays for it: each
 * variant gets a state of its own). LIMIT: the bytes of the resources that
 * changed, which any protocol must carry. It asserts nothing.
 */
import { MemoryRegistry } from "../src/registry/memory.js";
import type { Instance } from "../src/model/instance.js";
import { DeltaAdsStream, type DeltaDiscoveryResponse } from "../src/server/xds/delta.js";
import { TYPE, xdsRuntime, type ResourceType } from "../src/server/xds/protos.js";
import { clusterNames as viewClusters } from "../src/server/xds/resources.js";
import { selectResources } from "../src/server/xds/select.js";
import { XdsState } from "../src/server/xds/state.js";
import { AdsStream, type DiscoveryResponse } from "../src/server/xds/stream.js";
import { silentLogger } from "../src/util/logger.js";
import { systemClock } from "../src/util/clock.js";
import { median, num, ratio, table } from "./lib/report.js";

const SERVICES = Number(process.env.PODREG_BENCH_SERVICES ?? 1000);
const CHANGES = Number(process.env.PODREG_BENCH_CHANGES ?? 20);
const PER_SERVICE = 10;
const NODE = { id: "envoy-bench", user_agent_name: "envoy", metadata: { fields: { PODREG_LISTENER_PORT: { stringValue: "15001" } } } };

const instance = (svc: string, i: number, k: number): Instance => {
  const host = `10.${(i >> 8) & 255}.${i & 255}.${k + 1}`;
  return { id: `${host}:8080`, key: `default/${svc}`, service: svc, namespace: "default", host, port: 8080, protocol: k % 2 ? "grpc" : "http", weight: 100, metadata: {}, labels: {}, ready: true, source: "memory" };
};

/** One variant: its own registry, state and stream. */
interface Variant {
  name: string;
  reg: MemoryRegistry;
  state: XdsState;
  /** Waits for the next push window, pushes it to the stream and plays Envoy's answers until quiet: what that cost. */
  push(): Promise<{ responses: number; resources: number; bytes: number; cpuUs: number }>;
}

type Response = DiscoveryResponse | DeltaDiscoveryResponse;
const isDelta = (r: Response): r is DeltaDiscoveryResponse => "removed_resources" in r;
const bytesOf = (r: Response) => (isDelta(r) ? r.resources.map((x) => x.resource) : r.resources).reduce<number>((a, x) => a + ((x as { value?: Uint8Array }).value?.length ?? 0), 0);
/** Envoy's clusters, by name, as CDS gives them to a wildcard Envoy client. */
const clusterNames = (state: XdsState) => state.allViews().flatMap((v) => viewClusters(v, "envoy"));

async function variant(name: "state of the world" | "delta"): Promise<Variant> {
  const { encode } = xdsRuntime();
  const reg = new MemoryRegistry({ namespace: "default" });
  for (let i = 0; i < SERVICES; i++) reg.set(`svc-${i}`, Array.from({ length: PER_SERVICE }, (_, k) => instance(`svc-${i}`, i, k)));
  const state = new XdsState({ discovery: reg, encode, debounceMs: 0, debounceMaxMs: 0, clock: systemClock, logger: silentLogger });
  let changed: ReadonlySet<string> = new Set();
  let flushed: (() => void) | undefined;
  state.onChange((c) => {
    changed = c;
    flushed?.();
  });
  state.start();
  // The streams' first requests are answered at once once the state holds the first snapshot.
  while (!state.synced) await new Promise((r) => setTimeout(r, 10));
  const sent: Response[] = [];
  const common = { id: 1, state, clock: systemClock, logger: silentLogger, send: (r: Response) => void sent.push(r) };
  let push: (c: ReadonlySet<string>) => void;
  /** Envoy's answer to one response: an ACK, and for CDS the EDS subscriptions that follow. */
  let answer: (r: Response) => void;
  if (name === "delta") {
    const s = new DeltaAdsStream(common);
    push = (c) => s.push(c);
    answer = (r) => {
      const d = r as DeltaDiscoveryResponse;
      s.handle({ type_url: d.type_url, response_nonce: d.nonce });
      // Envoy subscribes to the EDS of every cluster CDS brought, and drops those removed.
      if (d.type_url === TYPE.cluster && (d.resources.length || d.removed_resources.length)) {
        s.handle({ type_url: TYPE.endpoint, resource_names_subscribe: d.resources.map((x) => x.name), resource_names_unsubscribe: d.removed_resources });
      }
    };
    s.handle({ node: NODE, type_url: TYPE.cluster });
    s.handle({ type_url: TYPE.listener });
    s.handle({ type_url: TYPE.route, resource_names_subscribe: ["podreg_http"] });
  } else {
    const s = new AdsStream(common);
    let eds: string[] = [];
    push = (c) => s.push(c);
    answer = (r) => {
      const d = r as DiscoveryResponse;
      const names = d.type_url === TYPE.route ? ["podreg_http"] : d.type_url === TYPE.endpoint ? eds : [];
      s.handle({ type_url: d.type_url, version_info: d.version_info, response_nonce: d.nonce, resource_names: names });
      if (d.type_url === TYPE.cluster) {
        // State of the world: CDS lists every cluster; Envoy then asks EDS for exactly those.
        eds = clusterNames(state);
        s.handle({ type_url: TYPE.endpoint, resource_names: eds, version_info: "", response_nonce: "" });
      }
    };
    s.handle({ node: NODE, type_url: TYPE.cluster, resource_names: [] });
    s.handle({ type_url: TYPE.listener, resource_names: [] });
    s.handle({ type_url: TYPE.route, resource_names: ["podreg_http"] });
  }
  const drain = (): Response[] => {
    const out: Response[] = [];
    for (let round = 0; round < 8 && sent.length; round++) {
      const batch = sent.splice(0);
      out.push(...batch);
      for (const r of batch) answer(r);
    }
    return out;
  };
  drain(); // the handshake
  return {
    name,
    reg,
    state,
    push: () =>
      new Promise((resolve) => {
        flushed = () => {
          flushed = undefined;
          const c0 = process.cpuUsage();
          push(changed);
          const out = drain();
          const cpu = process.cpuUsage(c0);
          resolve({ responses: out.length, resources: out.reduce((a, r) => a + r.resources.length, 0), bytes: out.reduce((a, r) => a + bytesOf(r), 0), cpuUs: cpu.user + cpu.system });
        };
      }),
  };
}

/** Every resource a wildcard Envoy holds, by type and name, with its version and protobuf bytes. */
function holdings(state: XdsState): Map<string, { version: string; bytes: number }> {
  const out = new Map<string, { version: string; bytes: number }>();
  const node = { id: "oracle", userAgent: "envoy", metadata: { PODREG_LISTENER_PORT: "15001" } };
  const subs: [ResourceType, boolean, string[]][] = [
    [TYPE.cluster, true, []],
    [TYPE.listener, true, []],
    [TYPE.route, false, ["podreg_http"]],
    [TYPE.endpoint, false, clusterNames(state)],
  ];
  for (const [type, wildcard, names] of subs) {
    for (const [n, v] of selectResources({ state, kind: "envoy", node, type, sub: { wildcard, names: new Set(names) } })) {
      out.set(`${type}|${n}`, { version: v.version, bytes: (state.wire(type, v.resource) as { value: Uint8Array }).value.length });
    }
  }
  return out;
}

/** The LIMIT of one change: the bytes of the resources it made new or different, which any protocol must carry. */
function changedBytes(before: Map<string, { version: string; bytes: number }>, after: Map<string, { version: string; bytes: number }>): number {
  let bytes = 0;
  for (const [k, v] of after) if (before.get(k)?.version !== v.version) bytes += v.bytes;
  return bytes;
}

interface Row {
  responses: number[];
  resources: number[];
  bytes: number[];
  cpuUs: number[];
  limit: number[];
}
const row = (): Row => ({ responses: [], resources: [], bytes: [], cpuUs: [], limit: [] });

const t0 = performance.now();
const variants = [await variant("state of the world"), await variant("delta")];
const held = new Map(variants.map((v) => [v.name, holdings(v.state)]));
/** The LIMIT of the change just pushed to `v`, and what its Envoy now holds. */
const limitOf = (v: Variant): number => {
  const after = holdings(v.state);
  const bytes = changedBytes(held.get(v.name)!, after);
  held.set(v.name, after);
  return bytes;
};
const KINDS = ["an instance added", "an instance removed", "a service added", "a service removed"] as const;
type Kind = (typeof KINDS)[number];
const results = new Map<string, Map<Kind, Row>>(variants.map((v) => [v.name, new Map(KINDS.map((k) => [k, row()]))]));
const record = (v: Variant, kind: Kind, m: { responses: number; resources: number; bytes: number; cpuUs: number }) => {
  const r = results.get(v.name)!.get(kind)!;
  r.responses.push(m.responses);
  r.resources.push(m.resources);
  r.bytes.push(m.bytes);
  r.cpuUs.push(m.cpuUs);
  r.limit.push(limitOf(v));
};
for (let k = 0; k < 2 * CHANGES; k++) {
  const adding = k % 2 === 0;
  for (const v of variants) {
    // An instance added to one service, then removed from it (the next change).
    const i = ((k >> 1) * 7919) % SERVICES;
    const svc = `svc-${i}`;
    const p1 = v.push();
    v.reg.set(svc, Array.from({ length: PER_SERVICE + (adding ? 1 : 0) }, (_, n) => instance(svc, i, n)));
    record(v, adding ? "an instance added" : "an instance removed", await p1);
    // A service added, then removed.
    const extra = `new-${k >> 1}`;
    const p2 = v.push();
    v.reg.set(extra, adding ? Array.from({ length: PER_SERVICE }, (_, n) => instance(extra, SERVICES + (k >> 1), n)) : []);
    record(v, adding ? "a service added" : "a service removed", await p2);
  }
}
for (const v of variants) {
  v.state.close();
  await v.reg.close();
}

const body: string[][] = [];
for (const kind of KINDS) {
  const sotw = results.get("state of the world")!.get(kind)!;
  for (const [name, byKind] of results) {
    const r = byKind.get(kind)!;
    const limit = median(r.limit);
    body.push([kind, name, num(median(r.responses)), num(median(r.resources)), num(median(r.bytes)), num(limit), ratio(median(r.bytes), limit), ratio(median(r.bytes), median(sotw.bytes)), num(median(r.cpuUs))]);
  }
}
console.log(`\nxds-delta: one Envoy stream, ${num(SERVICES)} services x ${PER_SERVICE} instances (${num(2 * SERVICES)} clusters), ${CHANGES} changes of each kind; medians per change`);
console.log(table(["change", "variant", "responses", "resources", "bytes sent", "LIMIT: changed resources' bytes", "x LIMIT", "x state of the world", "push CPU us"], body));
console.log("\n  Responses and resources include Envoy's follow-up EDS requests for new clusters. A removal carries names only:");
console.log("  removed_resources in delta; in state of the world the whole CDS answer without them. LIMIT: the resources the");
console.log("  change made new or different, which any protocol must carry. The route configuration is one resource holding");
console.log("  every virtual host: both variants resend it whole when the set of services changes.");
console.log(`\ntotal ${num((performance.now() - t0) / 1000, 1)} s`);
