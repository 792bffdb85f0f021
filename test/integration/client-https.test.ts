/**
 * HTTPS through the registry, with real TLS servers on loopback whose
 * certificates a CA of the test's own issued: `https://echo/` reaches only
 * instances registered as `https`, and every attempt verifies the
 * certificate against the service name, never the pod IP it dials.
 */
import assert from "node:assert/strict";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Server } from "node:net";
import type { TLSSocket } from "node:tls";
import { after, before, describe, it } from "node:test";
import { Agent, request } from "undici";
import { createFetch, PodregDispatcher } from "../../src/client/http.js";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { eventually } from "../support/wait.js";
import { createTestCa, type TestCa } from "../../testenv/pki.js";

interface Seen {
  host: string | undefined;
  /** The name the client sent in SNI; false on a plaintext connection. */
  sni: string | false | null | undefined;
}

describe("HTTPS client (real TLS servers, a CA of the test's own)", () => {
  let pki: TestCa;
  const servers: Server[] = [];
  const dispatchers: PodregDispatcher[] = [];
  before(() => {
    pki = createTestCa();
  });
  after(async () => {
    for (const d of dispatchers) await d.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  /** A server answering with its own name; records what each request showed. */
  async function serve(name: string, tls: { names: readonly string[] } | undefined, seen: Seen[] = []): Promise<{ port: number; seen: Seen[] }> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket as Partial<TLSSocket>;
      seen.push({ host: req.headers.host, sni: socket.encrypted ? socket.servername : false });
      res.end(name);
    };
    const server = tls ? createHttpsServer({ ...keyCert(pki.serving(tls.names)) }, handler) : createHttpServer(handler);
    server.keepAliveTimeout = 100;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    return { port: (server.address() as AddressInfo).port, seen };
  }
  /** Without retries unless `retries`: a failed attempt shows as the call's error. */
  const dispatcher = (reg: MemoryRegistry, o: { ca?: boolean; preserveHost?: boolean; retries?: number } = {}) => {
    const d = new PodregDispatcher({
      discovery: reg,
      dispatcher: new Agent({ connect: o.ca === false ? {} : { ca: pki.ca.certPem } }),
      preserveHost: o.preserveHost,
      config: { defaults: { timeoutMs: 10_000, retries: { attempts: o.retries ?? 0 } } },
    });
    dispatchers.push(d);
    return d;
  };

  it("https://echo/ goes only to https instances, verified against `echo`; http://echo/ goes to both", async () => {
    const seen: Seen[] = [];
    const a = await serve("a", { names: ["echo"] }, seen);
    const b = await serve("b", { names: ["echo"] }, seen);
    const plain = await serve("plain", undefined, seen);
    const reg = new MemoryRegistry();
    await reg.register({ service: "echo", port: a.port, protocol: "https" });
    await reg.register({ service: "echo", port: b.port, protocol: "https" });
    await reg.register({ service: "echo", port: plain.port, protocol: "http" });
    const fetch = createFetch(dispatcher(reg));

    const tlsCounts: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const res = await fetch("https://echo/");
      const who = await res.text();
      tlsCounts[who] = (tlsCounts[who] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(tlsCounts).sort(), ["a", "b"], `https calls: ${JSON.stringify(tlsCounts)}`);
    assert.ok(seen.every((s) => s.sni === "echo" && s.host === "echo"), JSON.stringify(seen.slice(0, 3)));

    seen.length = 0;
    const plainCounts: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const who = await (await fetch("http://echo/")).text();
      plainCounts[who] = (plainCounts[who] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(plainCounts).sort(), ["a", "b", "plain"], `http calls: ${JSON.stringify(plainCounts)}`);
    // The https instances are reached over TLS even from http://echo/, verified the same way.
    assert.ok(seen.every((s) => (s.sni === false ? true : s.sni === "echo")), JSON.stringify(seen));
    assert.equal(seen.filter((s) => s.sni === false).length, plainCounts.plain);
  });

  it("verifies against the service name also when the Host header is the pod's address (preserveHost: false)", async () => {
    const seen: Seen[] = [];
    const a = await serve("a", { names: ["echo2"] }, seen);
    const reg = new MemoryRegistry();
    await reg.register({ service: "echo2", port: a.port, protocol: "https" });
    const { body, statusCode } = await request("https://echo2/", { dispatcher: dispatcher(reg, { preserveHost: false }) });
    assert.equal(statusCode, 200);
    assert.equal(await body.text(), "a");
    assert.deepEqual(seen, [{ host: `127.0.0.1:${a.port}`, sni: "echo2" }]);
  });

  it("refuses a certificate for another name or from an unknown CA, and never falls back to plaintext", async () => {
    const seen: Seen[] = [];
    const other = await serve("other", { names: ["payments"] }, seen);
    const reg = new MemoryRegistry();
    await reg.register({ service: "shop", port: other.port, protocol: "https" });
    const fetch = createFetch(dispatcher(reg));
    await assert.rejects(fetch("https://shop/"), (err: Error) => {
      const cause = (err as { cause?: { code?: string } }).cause;
      assert.equal(cause?.code, "ERR_TLS_CERT_ALTNAME_INVALID", String(cause?.code ?? err));
      return true;
    });

    const good = await serve("good", { names: ["shop2"] }, seen);
    await reg.register({ service: "shop2", port: good.port, protocol: "https" });
    const noCa = createFetch(dispatcher(reg, { ca: false }));
    await assert.rejects(noCa("https://shop2/"), (err: Error) => {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      assert.match(String(code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN/);
      return true;
    });
    // The handshake failed before any request was read: the servers saw none.
    assert.deepEqual(seen, []);
  });

  it("an instance whose certificate does not verify is skipped: the call is retried on another (it never left)", async () => {
    const seen: Seen[] = [];
    const bad = await serve("bad", { names: ["not-cart"] }, seen);
    const good = await serve("good", { names: ["cart"] }, seen);
    const reg = new MemoryRegistry();
    await reg.register({ service: "cart", port: bad.port, protocol: "https" });
    await reg.register({ service: "cart", port: good.port, protocol: "https" });
    const fetch = createFetch(dispatcher(reg, { retries: 1 }));
    // POST with a body: a retry is allowed for it only because the request was never written.
    for (let i = 0; i < 10; i++) assert.equal(await (await fetch("https://cart/", { method: "POST", body: "x" })).text(), "good");
    assert.equal(seen.length, 10, "only the good instance saw requests");
  });

  it("http:// and https:// calls of one service share the calls in flight: least_request avoids an instance busy with either", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let hangs = 0;
    const busy = createHttpsServer({ ...keyCert(pki.serving(["lr"])) }, (req, res) => {
      if (req.url === "/hang") void (hangs++, held.then(() => res.end("busy")));
      else res.end("busy");
    });
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    servers.push(busy);
    const reg = new MemoryRegistry();
    await reg.register({ service: "lr", port: (busy.address() as AddressInfo).port, protocol: "https" });
    const d = new PodregDispatcher({
      discovery: reg,
      dispatcher: new Agent({ connect: { ca: pki.ca.certPem } }),
      config: { defaults: { timeoutMs: 10_000, retries: { attempts: 0 }, balancer: { policy: "least_request" } } },
    });
    dispatchers.push(d);
    const fetch = createFetch(d);
    // An http:// call holds the only instance, over TLS (it is registered as https).
    const hanging = fetch("http://lr/hang");
    await eventually("the http:// call is in flight", () => hangs === 1, 5_000);
    const idle = await serve("idle", { names: ["lr"] });
    await reg.register({ service: "lr", port: idle.port, protocol: "https" });
    await eventually("both instances usable", () => d.balancer("lr", "https").usable().length === 2, 5_000);
    const got: string[] = [];
    for (let i = 0; i < 12; i++) got.push(await (await fetch("https://lr/")).text());
    assert.deepEqual([...new Set(got)], ["idle"], `https:// calls avoid the instance busy with the http:// call: ${got.join(",")}`);
    release();
    assert.equal(await (await hanging).text(), "busy");
  });

  it("https://svc/ with only plaintext instances fails at once with PODREG_NO_INSTANCE naming https", async () => {
    const plain = await serve("plain", undefined);
    const reg = new MemoryRegistry();
    await reg.register({ service: "cleartext", port: plain.port, protocol: "http" });
    const fetch = createFetch(dispatcher(reg));
    const t0 = performance.now();
    await assert.rejects(fetch("https://cleartext/"), (err: Error & { code?: string }) => {
      assert.equal(err.code, "PODREG_NO_INSTANCE");
      assert.match(err.message, /^no instance of cleartext \(https\)/);
      return true;
    });
    assert.ok(performance.now() - t0 < 5_000, "at once, not after the call's timeout");
    assert.equal(plain.seen.length, 0, "never sent in the clear");
  });
});

function keyCert(pair: { keyPem: string; certPem: string }): { key: string; cert: string } {
  return { key: pair.keyPem, cert: pair.certPem };
}
