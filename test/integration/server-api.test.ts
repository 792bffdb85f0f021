/**
 * podreg's server on real sockets, every response checked against its
 * OpenAPI document: REST reads and writes, the token, a table of bad
 * requests (each a 4xx that changes nothing), the SSE watch (snapshot,
 * changes, resume, keep-alive, slow clients) and 200 concurrent watchers.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { LocalRegistry } from "../../src/registry/local/registry.js";
import { startServer, type PodregServer } from "../../src/server/server.js";
import { checkedFetch, OpenApiChecker } from "../support/openapi.js";
import { eventually } from "../support/wait.js";

const TOKEN = "test-token-0123456789";

/** Reads an SSE stream into frames until `until` says stop. */
async function readFrames(url: string, o: { lastEventId?: string; until: (frames: Frame[]) => boolean; timeoutMs?: number; onFrame?: (f: Frame) => void }): Promise<Frame[]> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), o.timeoutMs ?? 10_000);
  const frames: Frame[] = [];
  try {
    const res = await request(url, { headers: o.lastEventId ? { "last-event-id": o.lastEventId } : {}, signal: ctl.signal, bodyTimeout: 0 });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
    let buf = "";
    for await (const chunk of res.body) {
      buf += String(chunk);
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const f = parseFrame(buf.slice(0, i));
        frames.push(f);
        o.onFrame?.(f);
        buf = buf.slice(i + 2);
      }
      if (o.until(frames)) break;
    }
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
  return frames;
}

interface Frame {
  id?: string;
  event?: string;
  data?: { type: string; revision: number; instances?: { id: string; port: number }[]; instance?: { id: string; port: number } };
  comment?: string;
}

function parseFrame(text: string): Frame {
  const f: Frame = {};
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) f.comment = line.slice(1);
    else if (line.startsWith("id: ")) f.id = line.slice(4);
    else if (line.startsWith("event: ")) f.event = line.slice(7);
    else if (line.startsWith("data: ")) f.data = JSON.parse(line.slice(6)) as Frame["data"];
  }
  return f;
}

describe("podreg server API (real sockets, checked against /openapi.json)", () => {
  let reg: LocalRegistry;
  let server: PodregServer;
  let checker: OpenApiChecker;
  let api: ReturnType<typeof checkedFetch>;

  before(async () => {
    reg = new LocalRegistry({ ttlMs: 60_000 });
    server = await startServer({ discovery: reg, token: TOKEN, port: 0, watch: { keepAliveMs: 200, replay: 8, maxBufferedBytes: 64 * 1024 } });
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as ConstructorParameters<typeof OpenApiChecker>[0] & { openapi: string };
    assert.equal(doc.openapi, "3.1.0");
    checker = new OpenApiChecker(doc);
    api = checkedFetch(server.url, checker);
  });
  after(async () => {
    await server.close();
    await reg.close();
  });

  it("binds loopback by default and answers health, readiness and metrics", async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual((await api("GET", "/healthz")).body, { status: "ok" });
    assert.deepEqual((await api("GET", "/readyz")).body, { status: "ready", synced: true });
    const metrics = await api("GET", "/metrics");
    assert.match(String(metrics.body), /^podreg_watch_clients \d+$/m);
    assert.match(String(metrics.body), /^podreg_http_request_duration_seconds_count\{method="GET",route="\/readyz",status="200"\} 1$/m);
  });

  it("registers, reads, filters, heartbeats, updates and deregisters through REST", async () => {
    const a = await api("POST", "/v1/instances", { token: TOKEN, body: { service: "echo", port: 8080, metadata: { version: "v1" } } });
    assert.equal(a.status, 201);
    const entry = a.body as { id: string; spec: { host: string }; expiresAt: number };
    assert.equal(entry.spec.host, "127.0.0.1", "an ephemeral instance without a host is the caller, as the server sees it");
    assert.equal(a.headers.get("location"), `/v1/instances/${entry.id}`);
    const b = await api("POST", "/v1/instances", { token: TOKEN, body: { service: "echo", port: 8081, host: "::1", metadata: { version: "v2" }, id: "echo-v2" } });
    assert.equal(b.status, 201);
    const db = await api("POST", "/v1/instances", { token: TOKEN, body: { service: "db", port: 5432, host: "db.example.com", protocol: "postgres", kind: "persistent" } });
    assert.equal(db.status, 201);

    const services = (await api("GET", "/v1/services")).body as { services: { key: string; instances: number; protocols: string[] }[] };
    assert.deepEqual(services.services.map((s) => [s.key, s.instances, s.protocols]), [["db", 1, ["postgres"]], ["echo", 2, ["http"]]]);
    assert.equal(((await api("GET", "/v1/services/echo")).body as { ready: number }).ready, 2);
    const v2 = (await api("GET", `/v1/services/echo/instances?selector=${encodeURIComponent("version in (v2)")}`)).body as { instances: { host: string }[] };
    assert.deepEqual(v2.instances.map((i) => i.host), ["::1"]);
    assert.equal(((await api("GET", "/v1/services/echo/instances?ready=false")).body as { instances: unknown[] }).instances.length, 0);

    const hb = await api("PUT", `/v1/instances/${entry.id}/heartbeat`, { token: TOKEN });
    assert.ok((hb.body as { expiresAt: number }).expiresAt >= entry.expiresAt);
    const up = await api("PATCH", "/v1/instances/echo-v2", { token: TOKEN, body: { weight: 0 } });
    assert.equal((up.body as { spec: { weight: number } }).spec.weight, 0);
    assert.equal((await api("GET", "/v1/instances/echo-v2")).status, 200);
    assert.equal((await api("DELETE", "/v1/instances/echo-v2", { token: TOKEN })).status, 204);
    assert.equal((await api("DELETE", `/v1/instances/${entry.id}`, { token: TOKEN })).status, 204);
    assert.equal((await api("DELETE", `/v1/instances/${(db.body as { id: string }).id}`, { token: TOKEN })).status, 204);
    assert.deepEqual((await api("GET", "/v1/services")).body, { services: [] });
  });

  it("refuses every bad request with a 4xx {code, message} and changes nothing", async () => {
    await api("POST", "/v1/instances", { token: TOKEN, body: { service: "keep", port: 1, id: "keep" } });
    const before = JSON.stringify((await api("GET", "/v1/services")).body);
    const big = { service: "s", port: 80, metadata: { blob: "x".repeat(70 * 1024) } };
    const cases: [string, string, Parameters<typeof api>[2], number, string][] = [
      ["no token", "/v1/instances", { body: { service: "s", port: 80 } }, 401, "PODREG_UNAUTHORIZED"],
      ["wrong token", "/v1/instances", { token: "nope", body: { service: "s", port: 80 } }, 401, "PODREG_UNAUTHORIZED"],
      ["not JSON", "/v1/instances", { token: TOKEN, raw: "{", headers: { "content-type": "application/json" } }, 400, "PODREG_BAD_REQUEST"],
      ["not declared JSON", "/v1/instances", { token: TOKEN, raw: "{}", headers: { "content-type": "text/plain" } }, 400, "PODREG_BAD_REQUEST"],
      ["missing port", "/v1/instances", { token: TOKEN, body: { service: "s" } }, 400, "PODREG_BAD_REQUEST"],
      ["unknown field", "/v1/instances", { token: TOKEN, body: { service: "s", port: 80, colour: "red" } }, 400, "PODREG_BAD_REQUEST"],
      ["port as text", "/v1/instances", { token: TOKEN, body: { service: "s", port: "80" } }, 400, "PODREG_BAD_REQUEST"],
      ["port 0", "/v1/instances", { token: TOKEN, body: { service: "s", port: 0 } }, 400, "PODREG_REGISTRATION"],
      ["port 70000", "/v1/instances", { token: TOKEN, body: { service: "s", port: 70000 } }, 400, "PODREG_REGISTRATION"],
      ["bad host", "/v1/instances", { token: TOKEN, body: { service: "s", port: 80, host: "a/b" } }, 400, "PODREG_REGISTRATION"],
      ["negative weight", "/v1/instances", { token: TOKEN, body: { service: "s", port: 80, weight: -1 } }, 400, "PODREG_REGISTRATION"],
      ["metadata not text", "/v1/instances", { token: TOKEN, body: { service: "s", port: 80, metadata: { n: 1 } } }, 400, "PODREG_BAD_REQUEST"],
      ["control characters", "/v1/instances", { token: TOKEN, body: { service: "s\u001b[2J", port: 80 } }, 400, "PODREG_REGISTRATION"],
      ["persistent without host", "/v1/instances", { token: TOKEN, body: { service: "s", port: 80, kind: "persistent" } }, 400, "PODREG_BAD_REQUEST"],
      ["ttl too short", "/v1/instances", { token: TOKEN, body: { service: "s", port: 80, ttlMs: 5 } }, 400, "PODREG_REGISTRATION"],
      ["oversized body", "/v1/instances", { token: TOKEN, body: big }, 413, "PODREG_TOO_LARGE"],
      ["kind change of an id", "/v1/instances", { token: TOKEN, body: { service: "keep", port: 1, id: "keep", kind: "persistent", host: "h.example" } }, 400, "PODREG_REGISTRATION"],
    ];
    for (const [what, path, init, status, code] of cases) {
      const r = await api("POST", path, init);
      assert.equal(r.status, status, what);
      assert.equal((r.body as { code: string }).code, code, what);
    }
    const more: [string, string, string, Parameters<typeof api>[2], number, string][] = [
      ["unknown service", "GET", "/v1/services/nosuch", {}, 404, "PODREG_NOT_FOUND"],
      ["unknown service's instances", "GET", "/v1/services/nosuch/instances", {}, 404, "PODREG_NOT_FOUND"],
      ["bad selector", "GET", "/v1/services/keep/instances?selector=a%3D(b)", {}, 400, "PODREG_SELECTOR"],
      ["bad ready", "GET", "/v1/services/keep/instances?ready=yes", {}, 400, "PODREG_BAD_REQUEST"],
      ["heartbeat of nothing", "PUT", "/v1/instances/nosuch/heartbeat", { token: TOKEN }, 404, "PODREG_NOT_FOUND"],
      ["heartbeat without token", "PUT", "/v1/instances/keep/heartbeat", {}, 401, "PODREG_UNAUTHORIZED"],
      ["update of nothing", "PATCH", "/v1/instances/nosuch", { token: TOKEN, body: { weight: 1 } }, 404, "PODREG_NOT_FOUND"],
      ["update with unknown field", "PATCH", "/v1/instances/keep", { token: TOKEN, body: { port: 2 } }, 400, "PODREG_BAD_REQUEST"],
      ["update without token", "PATCH", "/v1/instances/keep", { body: { weight: 1 } }, 401, "PODREG_UNAUTHORIZED"],
      ["delete without token", "DELETE", "/v1/instances/keep", {}, 401, "PODREG_UNAUTHORIZED"],
      ["delete of nothing", "DELETE", "/v1/instances/nosuch", { token: TOKEN }, 404, "PODREG_NOT_FOUND"],
    ];
    for (const [what, method, path, init, status, code] of more) {
      const r = await api(method, path, init);
      assert.equal(r.status, status, what);
      assert.equal((r.body as { code: string }).code, code, what);
    }
    // Not in the document, so checked by hand: an unknown route and a method a route does not take.
    const unknown = await fetch(`${server.url}/v2/nothing`);
    assert.deepEqual([unknown.status, ((await unknown.json()) as { code: string }).code], [404, "PODREG_NOT_FOUND"]);
    const put = await fetch(`${server.url}/v1/services`, { method: "PUT" });
    assert.deepEqual([put.status, put.headers.get("allow")], [405, "GET"]);
    await put.body?.cancel();
    assert.equal(JSON.stringify((await api("GET", "/v1/services")).body), before, "nothing changed");
    assert.equal((await api("DELETE", "/v1/instances/keep", { token: TOKEN })).status, 204);
  });

  it("watch: a snapshot, then changes with revisions as ids; resumes from the buffer, or snapshots when the id is too old", async () => {
    const first = await readFrames(`${server.url}/v1/watch?service=w`, { until: (f) => f.some((x) => x.event === "snapshot") });
    const snap = first.find((f) => f.event === "snapshot")!;
    assert.deepEqual(snap.data?.instances, []);
    const [epoch, rev] = snap.id!.split(".");
    const snapshots = server.fanout.stats.snapshots;
    const changes = readFrames(`${server.url}/v1/watch?service=w`, { until: (f) => f.filter((x) => x.event === "removed").length === 1 });
    await eventually("watcher attached", () => server.fanout.stats.snapshots > snapshots);
    await reg.add({ service: "other", port: 1 }); // another service: not on this stream
    const w = await reg.add({ service: "w", port: 10, id: "w1" });
    await reg.update(w.id, { weight: 5 });
    await reg.remove(w.id);
    const got = (await changes).filter((f) => f.event !== undefined);
    assert.deepEqual(got.map((f) => f.event), ["snapshot", "added", "updated", "removed"]);
    const revs = got.slice(1).map((f) => Number(f.id!.split(".")[1]));
    assert.ok(revs.every((r, i) => r > Number(rev) && (i === 0 || r > revs[i - 1]!)), `rising revisions ${revs}`);
    assert.ok(got.every((f) => f.id!.startsWith(`${epoch}.`)));

    // Resume after "added": only what came after it.
    const resumed = await readFrames(`${server.url}/v1/watch?service=w`, { lastEventId: got[1]!.id, until: (f) => f.some((x) => x.event === "removed") });
    assert.deepEqual(resumed.filter((f) => f.event).map((f) => f.event), ["updated", "removed"]);
    // Too old (the buffer holds 8 events) or another epoch: a fresh snapshot instead.
    for (let i = 0; i < 10; i++) await reg.add({ service: "churn", port: 100 + i });
    for (const id of [`${epoch}.${rev}`, `00000000.1`, "garbage"]) {
      const again = await readFrames(`${server.url}/v1/watch?service=w`, { lastEventId: id, until: (f) => f.some((x) => x.event) });
      assert.equal(again.find((f) => f.event)?.event, "snapshot", id);
    }
  });

  it("watch: keep-alive comments on an idle stream", async () => {
    const frames = await readFrames(`${server.url}/v1/watch?service=idle`, { until: (f) => f.filter((x) => x.comment === "keep-alive").length >= 2 });
    assert.ok(frames.filter((f) => f.comment === "keep-alive").length >= 2);
  });

  it("watch: a client that does not read is disconnected once 64 KiB wait for it, and the server carries on", async () => {
    const before = server.fanout.stats.slowDisconnects;
    const sock = connect(server.port, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write(`GET /v1/watch HTTP/1.1\r\nhost: x\r\n\r\n`);
    sock.pause(); // never reads
    await eventually("attached", () => server.fanout.clientCount >= 1);
    const closed = new Promise<void>((r) => sock.once("close", () => r()));
    // The kernel's socket buffers take a few MB first; then the server's own buffer grows past 64 KiB.
    for (let i = 0; i < 3000 && server.fanout.stats.slowDisconnects === before; i++) {
      await reg.add({ service: "flood", port: 1 + (i % 60000), metadata: { pad: "p".repeat(30_000) } });
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(server.fanout.stats.slowDisconnects, before + 1);
    sock.resume();
    await closed;
    assert.equal((await api("GET", "/healthz")).status, 200);
    for (const e of reg.entries()) if (e.spec.service === "flood") await reg.remove(e.id);
  });

  it("watch: a snapshot larger than the 64 KiB limit reaches a client that reads it, which then gets the next event", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await reg.add({ service: "big", port: 1000 + i, metadata: { pad: "b".repeat(10_000) } })).id);
    const before = server.fanout.stats.slowDisconnects;
    const frames = await readFrames(`${server.url}/v1/watch?service=big`, {
      until: (f) => f.some((x) => x.event === "snapshot") && f.some((x) => x.event === "removed"),
      onFrame: (f) => void (f.event === "snapshot" && reg.remove(ids[0]!)),
    });
    assert.equal(frames.find((f) => f.event === "snapshot")!.data!.instances!.length, 20, "about 200 KB in one frame");
    assert.equal(server.fanout.stats.slowDisconnects, before, "not taken for a slow reader");
    for (const id of ids.slice(1)) await reg.remove(id);
  });

  it("200 concurrent watchers receive the same events in the same order", async () => {
    const N = 200;
    const CHANGES = 30;
    const done = (f: Frame[]) => f.filter((x) => x.event === "removed").length === CHANGES / 2;
    const readers = Array.from({ length: N }, () => readFrames(`${server.url}/v1/watch?service=fan`, { until: done, timeoutMs: 30_000 }));
    await eventually("all attached", () => server.fanout.clientCount >= N, 15_000);
    const ids: string[] = [];
    for (let i = 0; i < CHANGES / 2; i++) ids.push((await reg.add({ service: "fan", port: 2000 + i })).id);
    for (const id of ids) await reg.remove(id);
    const all = await Promise.all(readers);
    const seq = (f: Frame[]) => f.filter((x) => x.event && x.event !== "snapshot").map((x) => `${x.id} ${x.event} ${x.data?.instance?.port}`);
    const first = seq(all[0]!);
    assert.equal(first.length, CHANGES);
    for (const f of all) assert.deepEqual(seq(f), first);
  });
});
