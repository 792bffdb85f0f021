/**
 * The ADS protocol of one stream (src/server/xds/stream.ts) against the
 * state of a memory registry, with a manual clock for the debounce window:
 * ACK, NACK (counted, not resent), stale nonces, SotW vs changed-only
 * answers, per-client resources, nothing before sync.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { MemoryRegistry } from "../../../src/registry/memory.js";
import { TYPE } from "../../../src/server/xds/protos.js";
import { XdsState } from "../../../src/server/xds/state.js";
import { AdsStream, type DiscoveryRequest, type DiscoveryResponse } from "../../../src/server/xds/stream.js";
import { silentLogger, type Logger } from "../../../src/util/logger.js";
import { ManualClock } from "../../support/clock.js";
import { eventually } from "../../support/wait.js";

const GRPC_NODE = { id: "client-1", user_agent_name: "gRPC Node Pure JS", user_agent_version: "1.14.1" };
const ENVOY_NODE = { id: "envoy-1", user_agent_name: "envoy", metadata: { fields: { PODREG_LISTENER_PORT: { stringValue: "15001" } } } };

interface Setup {
  reg: MemoryRegistry;
  state: XdsState;
  clock: ManualClock;
  sent: DiscoveryResponse[];
  stream: AdsStream;
  nacks: string[];
  warnings: string[];
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
  await reg.register({ service: "web", host: "10.0.0.2", port: 80, protocol: "http", metadata: { zone: "z1" } });
  const clock = new ManualClock();
  const state = new XdsState({ discovery: reg, clock, logger: silentLogger });
  const sent: DiscoveryResponse[] = [];
  const nacks: string[] = [];
  const warnings: string[] = [];
  const logger: Logger = { ...silentLogger, warn: (_o, m) => void warnings.push(m ?? "") };
  const stream = new AdsStream({ id: 1, state, clock, logger, send: (r) => sent.push(r), onNack: (t) => nacks.push(t) });
  state.onChange((changed) => stream.push(changed));
  const s = { reg, state, clock, sent, stream, nacks, warnings };
  opened.push(s);
  if (o.start !== false) state.start();
  return s;
}

const req = (type: string, names: string[], extra: Partial<DiscoveryRequest> = {}): DiscoveryRequest => ({ type_url: type, resource_names: names, ...extra });
const ack = (r: DiscoveryResponse, names: string[]): DiscoveryRequest => req(r.type_url, names, { version_info: r.version_info, response_nonce: r.nonce });
const names = (r: DiscoveryResponse | undefined) => (r?.resources ?? []).map((x) => String(x.name ?? x.cluster_name)).sort();
const last = (s: Setup) => s.sent.at(-1)!;

/** Runs a gRPC client's first exchange for `echo`: LDS, RDS, CDS, EDS, each ACKed. */
function grpcHandshake(s: Setup): Record<string, DiscoveryResponse> {
  const out: Record<string, DiscoveryResponse> = {};
  const steps: [string, string][] = [
    [TYPE.listener, "echo"],
    [TYPE.route, "echo"],
    [TYPE.cluster, "outbound|grpc|default/echo"],
    [TYPE.endpoint, "outbound|grpc|default/echo"],
  ];
  for (const [type, name] of steps) {
    s.stream.handle(req(type, [name], type === TYPE.listener ? { node: GRPC_NODE } : {}));
    const r = last(s);
    assert.equal(r.type_url, type);
    out[type] = r;
    s.stream.handle(ack(r, [name]));
  }
  return out;
}

describe("xDS stream: the ADS protocol", () => {
  it("answers nothing before the source's first snapshot, then what was asked", async () => {
    const s = await setup({ start: false });
    s.stream.handle(req(TYPE.listener, ["echo"], { node: GRPC_NODE }));
    assert.equal(s.sent.length, 0, "not synced yet: no answer");
    s.state.start();
    await eventually("synced and answered", () => s.sent.length === 1);
    assert.deepEqual(names(s.sent[0]), ["echo"]);
  });

  it("a gRPC client gets an API listener, its route, an EDS cluster and weighted endpoints; ACKs move nothing", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    const r = grpcHandshake(s);
    const listener = r[TYPE.listener]!.resources[0]!;
    const hcm = (listener.api_listener as { api_listener: Record<string, unknown> }).api_listener;
    assert.equal(hcm["@type"], TYPE.hcm);
    assert.deepEqual(hcm.rds, { route_config_name: "echo", config_source: { ads: {}, resource_api_version: "V3" } });
    assert.equal((hcm.http_filters as { name: string }[]).at(-1)!.name, "envoy.filters.http.router", "the router filter ends the chain");
    const vh = (r[TYPE.route]!.resources[0]!.virtual_hosts as { domains: string[]; routes: { route: { cluster: string } }[] }[])[0]!;
    assert.deepEqual(vh.domains, ["*"]);
    assert.equal(vh.routes[0]!.route.cluster, "outbound|grpc|default/echo");
    const cluster = r[TYPE.cluster]!.resources[0]!;
    assert.equal(cluster.type, "EDS");
    assert.equal(cluster.lb_policy, "ROUND_ROBIN");
    const cla = r[TYPE.endpoint]!.resources[0]! as { endpoints: { lb_endpoints: { endpoint: unknown; health_status: string }[]; load_balancing_weight: { value: number } }[] };
    assert.deepEqual(cla.endpoints[0]!.lb_endpoints[0]!.endpoint, { address: { socket_address: { address: "10.0.0.1", port_value: 8080 } } });
    assert.equal(cla.endpoints[0]!.lb_endpoints[0]!.health_status, "HEALTHY");
    assert.equal(cla.endpoints[0]!.load_balancing_weight.value, 100, "localities carry a weight: gRPC ignores those without");
    const count = s.sent.length;
    s.clock.advance(5000);
    assert.equal(s.sent.length, count, "ACKs ask for nothing more");
    const st = s.stream.status();
    assert.equal(st.kind, "grpc");
    assert.equal(st.types.eds!.acked!.version, r[TYPE.endpoint]!.version_info);
  });

  it("a change reaches only the types it touches, after the debounce window, and RDS/EDS answers carry only what changed", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    grpcHandshake(s);
    s.stream.handle(req(TYPE.endpoint, ["outbound|grpc|default/echo", "outbound|grpc|default/other"], { response_nonce: last(s).nonce, version_info: last(s).version_info }));
    const before = s.sent.length;
    s.stream.handle(ack(last(s), ["outbound|grpc|default/echo", "outbound|grpc|default/other"]));
    await s.reg.register({ service: "echo", host: "10.0.0.3", port: 8080, protocol: "grpc" });
    await eventually("event delivered", () => s.clock.timers.size > 0);
    assert.equal(s.sent.length, before, "nothing before the window closes");
    s.clock.advance(100);
    const pushed = s.sent.slice(before);
    assert.deepEqual(pushed.map((p) => p.type_url), [TYPE.endpoint], "listener, route and cluster did not change: not resent");
    assert.deepEqual(names(pushed[0]), ["outbound|grpc|default/echo"], "EDS carries only the changed assignment");
  });

  it("a NACK is counted and logged, the refused version is not resent, and a real change is", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    grpcHandshake(s);
    await s.reg.register({ service: "echo", host: "10.0.0.3", port: 8080, protocol: "grpc" });
    await eventually("event delivered", () => s.clock.timers.size > 0);
    s.clock.advance(100);
    const bad = last(s);
    s.stream.handle(req(TYPE.endpoint, ["outbound|grpc|default/echo"], { response_nonce: bad.nonce, version_info: "old", error_detail: { code: 3, message: "endpoint rejected" } }));
    assert.deepEqual(s.nacks, [TYPE.endpoint]);
    assert.ok(s.warnings.some((w) => /NACK/.test(w)));
    const st = s.stream.status().types.eds!;
    assert.equal(st.nacked!.version, bad.version_info);
    assert.equal(st.nacked!.error, "endpoint rejected");
    const count = s.sent.length;
    // A snapshot re-delivery (a resync) with nothing changed: same version, not sent again.
    s.state["dirty"].add("default/echo");
    s.state["flush"]();
    assert.equal(s.sent.length, count, "the refused version is not pushed in a loop");
    await s.reg.register({ service: "echo", host: "10.0.0.4", port: 8080, protocol: "grpc" });
    await eventually("event delivered", () => s.clock.timers.size > 0);
    s.clock.advance(100);
    assert.equal(s.sent.length, count + 1, "a change is pushed");
    assert.notEqual(last(s).version_info, bad.version_info);
  });

  it("ignores requests with a stale nonce", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    s.stream.handle(req(TYPE.cluster, ["outbound|grpc|default/echo"], { node: GRPC_NODE }));
    const first = last(s);
    s.stream.handle(req(TYPE.cluster, ["outbound|grpc|default/echo", "outbound|grpc|default/web"], { response_nonce: first.nonce }));
    const second = last(s);
    assert.notEqual(second.nonce, first.nonce);
    const count = s.sent.length;
    s.stream.handle(req(TYPE.cluster, ["outbound|grpc|default/x"], { response_nonce: first.nonce, error_detail: { message: "late" } }));
    assert.equal(s.sent.length, count, "stale: no answer");
    assert.equal(s.nacks.length, 0, "stale: not a NACK either");
    assert.equal(s.stream.status().types.cds!.subscribed, 2);
  });

  it("Envoy gets one HTTP listener on its metadata's port, every cluster (wildcard) and routes by host", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    s.stream.handle(req(TYPE.cluster, [], { node: ENVOY_NODE }));
    const cds = last(s);
    assert.deepEqual(names(cds), ["outbound|grpc|default/echo", "outbound|http|default/web"]);
    const grpcCluster = cds.resources.find((r) => r.name === "outbound|grpc|default/echo")!;
    assert.ok(JSON.stringify(grpcCluster.typed_extension_protocol_options).includes("http2_protocol_options"), "gRPC upstreams over HTTP/2");
    s.stream.handle(req(TYPE.listener, []));
    const lds = last(s);
    assert.deepEqual(names(lds), ["podreg_http"]);
    assert.deepEqual(lds.resources[0]!.address, { socket_address: { address: "127.0.0.1", port_value: 15001 } });
    assert.equal(JSON.stringify(lds.resources).includes("api_listener"), false, "no API listener for Envoy");
    s.stream.handle(req(TYPE.route, ["podreg_http"]));
    const vhs = last(s).resources[0]!.virtual_hosts as { name: string; domains: string[]; routes: { route: { cluster: string } }[] }[];
    assert.deepEqual(
      vhs.map((v) => [v.name, v.domains[0], v.routes[0]!.route.cluster]),
      [
        ["default/echo", "echo", "outbound|grpc|default/echo"],
        ["default/web", "web", "outbound|http|default/web"],
      ],
    );
    assert.ok(vhs[1]!.domains.includes("web.default.svc.cluster.local"));
    assert.equal(s.stream.status().kind, "envoy");
  });

  it("debounces: a burst is one push; a steady trickle is pushed at least every debounceMaxMs", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    const gen = s.state.generation;
    for (let i = 0; i < 5; i++) {
      await s.reg.register({ service: "echo", host: `10.0.1.${i}`, port: 8080, protocol: "grpc" });
      await eventually("delivered", () => s.clock.timers.size > 0);
      s.clock.advance(50);
    }
    assert.equal(s.state.generation, gen, "still inside the window");
    s.clock.advance(100);
    assert.equal(s.state.generation, gen + 1, "one push for the burst");
    for (let i = 0; i < 25; i++) {
      await s.reg.register({ service: "echo", host: `10.0.2.${i}`, port: 8080, protocol: "grpc" });
      await eventually("delivered", () => s.clock.timers.size > 0);
      s.clock.advance(60);
    }
    assert.ok(s.state.generation >= gen + 2, `1,500 ms of changes 60 ms apart: pushed by the 1,000 ms bound (${s.state.generation - gen - 1})`);
  });

  it("a client that disconnects and comes back gets a consistent snapshot: the versions a live stream holds", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    grpcHandshake(s);
    await s.reg.register({ service: "echo", host: "10.0.0.7", port: 8080, protocol: "grpc" });
    await eventually("event delivered", () => s.clock.timers.size > 0);
    s.clock.advance(100);
    s.stream.handle(ack(last(s), ["outbound|grpc|default/echo"]));
    const live = s.stream.status().types;
    // The same client on a new stream: no state carried over, the same versions for everything.
    const sent2: DiscoveryResponse[] = [];
    const again = new AdsStream({ id: 2, state: s.state, clock: s.clock, logger: silentLogger, send: (r) => sent2.push(r) });
    const steps: [string, string, "lds" | "rds" | "cds" | "eds"][] = [
      [TYPE.listener, "echo", "lds"],
      [TYPE.route, "echo", "rds"],
      [TYPE.cluster, "outbound|grpc|default/echo", "cds"],
      [TYPE.endpoint, "outbound|grpc|default/echo", "eds"],
    ];
    for (const [type, name, short] of steps) {
      again.handle(req(type, [name], type === TYPE.listener ? { node: GRPC_NODE } : {}));
      assert.equal(sent2.at(-1)!.version_info, live[short]!.acked!.version, short);
    }
    const cla = sent2.at(-1)!.resources[0]! as { endpoints: { lb_endpoints: unknown[] }[] };
    assert.equal(cla.endpoints[0]!.lb_endpoints.length, 2, "the whole current endpoint set, not a delta");
  });

  it("Envoy's route configuration follows services appearing and changing protocol, and is not rebuilt for endpoint changes", async () => {
    const s = await setup();
    await eventually("synced", () => s.state.synced);
    s.stream.handle(req(TYPE.route, ["podreg_http"], { node: ENVOY_NODE }));
    const routes = (r: DiscoveryResponse) =>
      Object.fromEntries((r.resources[0]!.virtual_hosts as { name: string; routes: { route: { cluster: string } }[] }[]).map((v) => [v.name, v.routes[0]!.route.cluster]));
    assert.deepEqual(routes(last(s)), { "default/echo": "outbound|grpc|default/echo", "default/web": "outbound|http|default/web" });
    s.stream.handle(ack(last(s), ["podreg_http"]));
    const built = s.state.resource("envoy|rds", "routes", () => undefined)!.resource;
    // An endpoint of an existing service: the cached route configuration stands, nothing is pushed.
    const count = s.sent.length;
    await s.reg.register({ service: "web", host: "10.0.0.3", port: 80, protocol: "http" });
    await eventually("event delivered", () => s.clock.timers.size > 0);
    s.clock.advance(100);
    assert.equal(s.sent.length, count);
    assert.equal(s.state.resource("envoy|rds", "routes", () => undefined)!.resource, built, "not rebuilt");
    // A new service: routed.
    await s.reg.register({ service: "cart", host: "10.0.0.4", port: 80, protocol: "http" });
    await eventually("event delivered", () => s.clock.timers.size > 0);
    s.clock.advance(100);
    assert.equal(routes(last(s))["default/cart"], "outbound|http|default/cart");
    s.stream.handle(ack(last(s), ["podreg_http"]));
    // echo gains an HTTP instance: its route moves to the HTTP cluster (HTTP first, as Envoy routes by host).
    await s.reg.register({ service: "echo", host: "10.0.0.5", port: 8081, protocol: "http" });
    await eventually("event delivered", () => s.clock.timers.size > 0);
    s.clock.advance(100);
    assert.equal(routes(last(s))["default/echo"], "outbound|http|default/echo");
  });
});
