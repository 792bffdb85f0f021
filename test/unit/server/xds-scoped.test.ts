/**
 * Scoped pushes (select.ts reselect: after a push window only the resources
 * of the changed services are selected again) against full selections: two
 * streams of each variant and client kind see the same registry changes, one
 * with an identity patch (which makes every push select everything), and
 * must send the same responses, change after change (property test).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Instance } from "../../../src/model/instance.js";
import { MemoryRegistry } from "../../../src/registry/memory.js";
import { DeltaAdsStream, type DeltaDiscoveryResponse } from "../../../src/server/xds/delta.js";
import { TYPE } from "../../../src/server/xds/protos.js";
import { clusterName, clusterNames } from "../../../src/server/xds/resources.js";
import { XdsState } from "../../../src/server/xds/state.js";
import { AdsStream, type DiscoveryResponse } from "../../../src/server/xds/stream.js";
import { silentLogger } from "../../../src/util/logger.js";
import { ManualClock } from "../../support/clock.js";
import { eventually } from "../../support/wait.js";

const ENVOY = { id: "envoy", user_agent_name: "envoy", metadata: { fields: { PODREG_LISTENER_PORT: { stringValue: "15001" } } } };
const GRPC = { id: "grpc", user_agent_name: "gRPC Go" };
const SERVICES = ["a", "b", "c", "d"];

type Op = { kind: "set"; svc: number; count: number; grpc: boolean } | { kind: "clear"; svc: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), svc: fc.nat(SERVICES.length - 1), count: fc.integer({ min: 1, max: 3 }), grpc: fc.boolean() }),
  fc.record({ kind: fc.constant("clear" as const), svc: fc.nat(SERVICES.length - 1) }),
);

const instances = (svc: string, count: number, grpc: boolean): Instance[] =>
  Array.from({ length: count }, (_, k) => ({ id: `${svc}-${k}`, key: `default/${svc}`, service: svc, namespace: "default", host: `10.0.${SERVICES.indexOf(svc)}.${k + 1}`, port: grpc ? 9090 : 8080, protocol: grpc ? "grpc" : "http", weight: 100 + k, metadata: {}, labels: {}, ready: true, source: "memory" }));

type Response = DiscoveryResponse | DeltaDiscoveryResponse;

/** A client of one variant and kind, playing its side of the protocol; `patch` makes its server side select everything. */
function client(state: XdsState, variant: "sotw" | "delta", kind: "envoy" | "grpc", patch: boolean) {
  const sent: Response[] = [];
  const common = { id: 1, state, clock: new ManualClock(), logger: silentLogger, send: (r: Response) => void sent.push(r), ...(patch ? { patch: (_c: unknown, r: Record<string, unknown>) => r } : {}) };
  const clusters = () => state.allViews().flatMap((v) => clusterNames(v, "envoy"));
  const grpcNames = SERVICES.map((s) => clusterName("grpc", `default/${s}`));
  let stream: AdsStream | DeltaAdsStream;
  let answer: (r: Response) => void;
  if (variant === "delta") {
    const s = new DeltaAdsStream(common);
    stream = s;
    answer = (r) => {
      const d = r as DeltaDiscoveryResponse;
      s.handle({ type_url: d.type_url, response_nonce: d.nonce });
      if (kind === "envoy" && d.type_url === TYPE.cluster && (d.resources.length || d.removed_resources.length)) {
        s.handle({ type_url: TYPE.endpoint, resource_names_subscribe: d.resources.map((x) => x.name), resource_names_unsubscribe: d.removed_resources });
      }
    };
    if (kind === "envoy") {
      s.handle({ node: ENVOY, type_url: TYPE.cluster });
      s.handle({ type_url: TYPE.listener });
      s.handle({ type_url: TYPE.route, resource_names_subscribe: ["podreg_http"] });
    } else {
      s.handle({ node: GRPC, type_url: TYPE.listener, resource_names_subscribe: SERVICES });
      s.handle({ type_url: TYPE.route, resource_names_subscribe: SERVICES });
      s.handle({ type_url: TYPE.cluster, resource_names_subscribe: grpcNames });
      s.handle({ type_url: TYPE.endpoint, resource_names_subscribe: grpcNames });
    }
  } else {
    const s = new AdsStream(common);
    stream = s;
    const names: Record<string, string[]> =
      kind === "envoy" ? { [TYPE.cluster]: [], [TYPE.listener]: [], [TYPE.route]: ["podreg_http"], [TYPE.endpoint]: [] } : { [TYPE.listener]: SERVICES, [TYPE.route]: SERVICES, [TYPE.cluster]: grpcNames, [TYPE.endpoint]: grpcNames };
    answer = (r) => {
      const d = r as DiscoveryResponse;
      s.handle({ type_url: d.type_url, version_info: d.version_info, response_nonce: d.nonce, resource_names: names[d.type_url] });
      if (kind === "envoy" && d.type_url === TYPE.cluster) {
        names[TYPE.endpoint] = clusters();
        s.handle({ type_url: TYPE.endpoint, resource_names: names[TYPE.endpoint] });
      }
    };
    const first = kind === "envoy" ? ENVOY : GRPC;
    for (const type of [TYPE.cluster, TYPE.listener, TYPE.route, ...(kind === "grpc" ? [TYPE.endpoint] : [])]) {
      s.handle({ type_url: type, resource_names: names[type], ...(type === TYPE.cluster ? { node: first } : {}) });
    }
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
  return { stream, drain };
}

/** What a response says, without its nonce (streams number them alike, but that is not the point). */
const said = (r: Response) => JSON.stringify({ ...r, nonce: undefined });

describe("xDS scoped pushes", () => {
  it("send what full selections send, for both variants and both kinds of client, change after change (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const reg = new MemoryRegistry({ namespace: "default" });
        reg.set("a", instances("a", 2, false));
        reg.set("b", instances("b", 1, true));
        const clock = new ManualClock();
        const state = new XdsState({ discovery: reg, clock, logger: silentLogger });
        state.start();
        await eventually("synced", () => state.synced);
        const pairs = (["sotw", "delta"] as const).flatMap((variant) => (["envoy", "grpc"] as const).map((kind) => ({ name: `${variant}/${kind}`, scoped: client(state, variant, kind, false), full: client(state, variant, kind, true) })));
        state.onChange((changed) => {
          for (const p of pairs) {
            p.scoped.stream.push(changed);
            p.full.stream.push(changed);
          }
        });
        try {
          for (const p of pairs) assert.deepEqual(p.scoped.drain().map(said), p.full.drain().map(said), `${p.name}: handshake`);
          for (const o of ops) {
            const svc = SERVICES[o.svc]!;
            reg.set(svc, o.kind === "clear" ? [] : instances(svc, o.count, o.grpc));
            if (clock.timers.size > 0) clock.advance(100);
            for (const p of pairs) {
              const a = p.scoped.drain().map(said);
              const b = p.full.drain().map(said);
              if (process.env.XDS_DEBUG && JSON.stringify(a) !== JSON.stringify(b)) console.error(p.name, JSON.stringify(o), "\nSCOPED", a, "\nFULL", b);
              assert.deepEqual(a, b, `${p.name} after ${JSON.stringify(o)}`);
            }
          }
        } finally {
          state.close();
          await reg.close();
        }
      }),
      { numRuns: 60, examples: [[[{ kind: "set", svc: 0, count: 1, grpc: true }, { kind: "set", svc: 0, count: 1, grpc: false }]]] },
    );
  });
});
