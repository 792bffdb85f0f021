/**
 * Incremental (delta) ADS of one stream (src/server/xds/delta.ts) against the
 * state of a memory registry, with a manual clock for the debounce window:
 * wildcard and named subscriptions, only changes sent, removals, absent
 * names, reconnects with initial_resource_versions, NACKs, nothing before sync.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { MemoryRegistry } from "../../../src/registry/memory.js";
import { DeltaAdsStream, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from "../../../src/server/xds/delta.js";
import { TYPE } from "../../../src/server/xds/protos.js";
import { XdsState } from "../../../src/server/xds/state.js";
import { silentLogger, type Logger } from "../../../src/util/logger.js";
import { ManualClock } from "../../support/clock.js";
import { eventually } from "../../support/wait.js";

const ENVOY_NODE = { id: "envoy-1", user_agent_name: "envoy", metadata: { fields: { PODREG_LISTENER_PORT: { stringValue: "15001" } } } };
const ECHO = "outbound|grpc|default/echo";
const WEB = "outbound|http|default/web";

interface Setup {
  reg: MemoryRegistry;
  state: XdsState;
  clock: ManualClock;
  sent: DeltaDiscoveryResponse[];
  nacks: string[];
  warnings: string[];
  open: () => DeltaAdsStream;
  web: { close(): Promise<void> };
}

const opened: Setup[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) {
    s.state.close();
    await s.reg.close();
  }
});

async function setup(o: { start?: boolean } = {}): Promise<Setup> {
  const reg = new MemoryRegistry({ namespace: "default" });
  await reg.register({ service: "echo", host: "10.0.0.1", port: 8080, protocol: "grpc" });
  const web = await reg.register({ service: "web", host: "10.0.0.2", port: 80, protocol: "http" });
  const clock = new ManualClock();
  const state = new XdsState({ discovery: reg, clock, logger: silentLogger });
  const sent: DeltaDiscoveryResponse[] = [];
  const nacks: string[] = [];
  const warnings: string[] = [];
  const logger: Logger = { ...silentLogger, warn: (_o, m) => void warnings.push(m ?? "") };
  let ids = 0;
  const open = () => {
    const stream = new DeltaAdsStream({ id: ++ids, state, clock, logger, send: (r) => sent.push(r), onNack: (t) => nacks.push(t) });
    state.onChange((changed) => stream.push(changed));
    return stream;
  };
  const s = { reg, state, clock, sent, nacks, warnings, open, web };
  opened.push(s);
  if (o.start !== false) {
    state.start();
    await eventually("synced", () => state.synced);
  }
  return s;
}

const req = (type: string, extra: Partial<DeltaDiscoveryRequest> = {}): DeltaDiscoveryRequest => ({ type_url: type, ...extra });
const ack = (r: DeltaDiscoveryResponse, extra: Partial<DeltaDiscoveryRequest> = {}) => req(r.type_url, { response_nonce: r.nonce, ...extra });
const names = (r: DeltaDiscoveryResponse | undefined) => (r?.resources ?? []).map((x) => x.name).sort();
const last = (s: Setup) => s.sent.at(-1)!;
async function settle(s: Setup): Promise<void> {
  await eventually("event delivered", () => s.clock.timers.size > 0);
  s.clock.advance(100);
}

describe("xDS delta stream: incremental ADS", () => {
  it("answers nothing before the source's first snapshot, then the wildcard's every cluster", async () => {
    const s = await setup({ start: false });
    const stream = s.open();
    stream.handle(req(TYPE.cluster, { node: ENVOY_NODE }));
    assert.equal(s.sent.length, 0, "not synced yet: no answer");
    s.state.start();
    await eventually("synced and answered", () => s.sent.length === 1);
    assert.deepEqual(names(s.sent[0]), [ECHO, WEB]);
    assert.deepEqual(s.sent[0]!.removed_resources, []);
    assert.ok(s.sent[0]!.resources.every((r) => r.version.length > 0 && (r.resource as { "@type"?: string })["@type"] === TYPE.cluster));
  });

  it("a wildcard CDS client gets only what changed: a new service's cluster, then its removal", async () => {
    const s = await setup();
    const stream = s.open();
    stream.handle(req(TYPE.cluster, { node: ENVOY_NODE }));
    stream.handle(ack(last(s)));
    const before = s.sent.length;
    const cart = await s.reg.register({ service: "cart", host: "10.0.0.5", port: 80, protocol: "http" });
    await settle(s);
    assert.equal(s.sent.length, before + 1);
    assert.deepEqual(names(last(s)), ["outbound|http|default/cart"], "only the new cluster");
    assert.deepEqual(last(s).removed_resources, []);
    stream.handle(ack(last(s)));
    await cart.close();
    await settle(s);
    assert.deepEqual(names(last(s)), []);
    assert.deepEqual(last(s).removed_resources, ["outbound|http|default/cart"]);
    const st = stream.status().types.cds!;
    assert.equal(st.subscribed, "*");
    assert.equal(st.sent!.nonce, last(s).nonce);
  });

  it("named EDS: subscribed names only, absent ones answered as removed, unsubscribed ones dropped silently", async () => {
    const s = await setup();
    const stream = s.open();
    stream.handle(req(TYPE.endpoint, { node: ENVOY_NODE, resource_names_subscribe: [ECHO, "outbound|grpc|default/nope", "not-a-cluster"] }));
    // A cluster of a service with no instances has an empty assignment (no endpoints), as in state of the world.
    assert.deepEqual(names(last(s)), [ECHO, "outbound|grpc|default/nope"]);
    assert.deepEqual(last(s).removed_resources, ["not-a-cluster"], "absent: said so, not left to a timeout");
    stream.handle(ack(last(s)));
    stream.handle(req(TYPE.endpoint, { resource_names_subscribe: [WEB] }));
    assert.deepEqual(names(last(s)), [WEB], "a new subscription gets only its own resource");
    stream.handle(ack(last(s), { resource_names_unsubscribe: [WEB] }));
    const count = s.sent.length;
    await s.web.close();
    await settle(s);
    assert.equal(s.sent.length, count, "an unsubscribed resource's removal is not sent");
    await s.reg.register({ service: "echo", host: "10.0.0.9", port: 8080, protocol: "grpc" });
    await settle(s);
    assert.deepEqual(names(last(s)), [ECHO], "a change of a subscribed one is");
    assert.equal(stream.status().types.eds!.subscribed, 3, "echo, nope and not-a-cluster: web was unsubscribed");
  });

  it("a reconnecting client's initial_resource_versions: what it holds is not resent; stale and gone ones are fixed", async () => {
    const s = await setup();
    const first = s.open();
    first.handle(req(TYPE.cluster, { node: ENVOY_NODE }));
    const held = Object.fromEntries(last(s).resources.map((r) => [r.name, r.version]));
    const again = s.open();
    again.handle(req(TYPE.cluster, { node: ENVOY_NODE, initial_resource_versions: held }));
    assert.deepEqual(names(last(s)), [], "holds every current version: nothing to send");
    assert.deepEqual(last(s).removed_resources, []);
    const third = s.open();
    third.handle(req(TYPE.cluster, { node: ENVOY_NODE, initial_resource_versions: { [ECHO]: "old", "outbound|http|default/gone": held[WEB]! } }));
    assert.deepEqual(names(last(s)), [ECHO, WEB], "the stale one and the missing one");
    assert.deepEqual(last(s).removed_resources, ["outbound|http|default/gone"]);
  });

  it("a NACK is counted and logged, the refused versions are not resent, and a real change is", async () => {
    const s = await setup();
    const stream = s.open();
    stream.handle(req(TYPE.endpoint, { node: ENVOY_NODE, resource_names_subscribe: [ECHO] }));
    stream.handle(ack(last(s)));
    await s.reg.register({ service: "echo", host: "10.0.0.3", port: 8080, protocol: "grpc" });
    await settle(s);
    const bad = last(s);
    stream.handle(ack(bad, { error_detail: { code: 3, message: "endpoint rejected" } }));
    assert.deepEqual(s.nacks, [TYPE.endpoint]);
    assert.ok(s.warnings.some((w) => /NACK/.test(w)));
    assert.equal(stream.status().types.eds!.nacked!.error, "endpoint rejected");
    const count = s.sent.length;
    s.state["dirty"].add("default/echo");
    s.state["flush"]();
    assert.equal(s.sent.length, count, "the refused version is not pushed in a loop");
    await s.reg.register({ service: "echo", host: "10.0.0.4", port: 8080, protocol: "grpc" });
    await settle(s);
    assert.equal(s.sent.length, count + 1, "a change is pushed");
    assert.notEqual(last(s).resources[0]!.version, bad.resources[0]!.version);
  });

  it("a legacy wildcard ends when names are subscribed without `*`; an explicit `*` stays until unsubscribed", async () => {
    const s = await setup();
    const legacy = s.open();
    legacy.handle(req(TYPE.cluster, { node: ENVOY_NODE }));
    assert.equal(legacy.status().types.cds!.subscribed, "*");
    legacy.handle(ack(last(s), { resource_names_subscribe: [ECHO] }));
    assert.equal(legacy.status().types.cds!.subscribed, 1);
    assert.deepEqual(last(s).removed_resources, [WEB], "no longer a wildcard: the other cluster is removed");
    const explicit = s.open();
    explicit.handle(req(TYPE.cluster, { node: ENVOY_NODE, resource_names_subscribe: ["*", ECHO] }));
    assert.equal(explicit.status().types.cds!.subscribed, "*");
    assert.deepEqual(names(last(s)), [ECHO, WEB]);
    explicit.handle(ack(last(s), { resource_names_unsubscribe: ["*"] }));
    assert.equal(explicit.status().types.cds!.subscribed, 1);
  });
});
