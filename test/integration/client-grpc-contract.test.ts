/**
 * The gRPC integration keeps grpc-js's contracts, with real grpc-js servers
 * and channels: bindings without module-global state, a deferred resolver
 * listener never called after destroy(), fail-fast UNAVAILABLE when a
 * service has no gRPC instance, only gRPC instances handed to grpc-js, IPv6.
 */
import assert from "node:assert/strict";
import { createServer, type Server as NetServer } from "node:net";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { registerPodregGrpc } from "../../src/client/grpc.js";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { createTestCa } from "../../testenv/pki.js";

const proto = grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url)))) as unknown as {
  podreg: { test: { Echo: grpc.ServiceClientConstructor } };
};
const Echo = proto.podreg.test.Echo;
type EchoClient = grpc.Client & { Echo(req: { message: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { server: string }) => void): void };

async function server(name: string, host = "127.0.0.1"): Promise<{ server: grpc.Server; port: number; hits: () => number }> {
  let hits = 0;
  const s = new grpc.Server();
  s.addService(Echo.service, { Echo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => (hits++, cb(null, { server: name })) });
  const port = await new Promise<number>((resolve, reject) => s.bindAsync(`${host.includes(":") ? `[${host}]` : host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server: s, port, hits: () => hits };
}

const call = (c: EchoClient, md = new grpc.Metadata()) =>
  new Promise<{ server: string }>((resolve, reject) => c.Echo({ message: "hi" }, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!))));

describe("gRPC contract (real grpc-js servers and channels)", () => {
  const servers: grpc.Server[] = [];
  const clients: grpc.Client[] = [];
  const closers: (() => void)[] = [];
  after(() => {
    for (const c of clients) c.close();
    for (const s of servers) s.forceShutdown();
    for (const c of closers) c();
  });
  const serve = async (name: string, host?: string) => {
    const s = await server(name, host);
    servers.push(s.server);
    return s;
  };
  const client = (target: string) => {
    const c = new Echo(target, grpc.credentials.createInsecure()) as unknown as EchoClient;
    clients.push(c);
    return c;
  };
  const bind = (o: Parameters<typeof registerPodregGrpc>[0]) => {
    const b = registerPodregGrpc(o);
    closers.push(() => b.close());
    return b;
  };

  it("two bindings coexist; closing one leaves the other's channels working", async () => {
    const a = await serve("a");
    const b = await serve("b");
    const regA = new MemoryRegistry();
    const regB = new MemoryRegistry();
    await regA.register({ service: "echo", port: a.port, protocol: "grpc" });
    await regB.register({ service: "echo", port: b.port, protocol: "grpc" });
    const first = bind({ discovery: regA });
    const second = bind({ discovery: regB, authority: "other" });
    assert.throws(() => registerPodregGrpc({ discovery: regB }), { code: "PODREG_CONFIG" }, "the default binding is taken: no silent rebinding");
    const ca = client(first.target("echo"));
    const cb = client(second.target("echo"));
    assert.equal(first.target("echo"), "podreg:///echo");
    assert.equal((await call(ca)).server, "a");
    assert.equal((await call(cb)).server, "b");
    first.close();
    for (let i = 0; i < 5; i++) assert.equal((await call(cb)).server, "b", "the other binding's channel still works");
  });

  it("the resolver never calls its listener synchronously, nor after destroy()", async () => {
    const reg = new MemoryRegistry();
    await reg.register({ service: "echo", port: 1, protocol: "grpc" });
    const binding = bind({ discovery: reg, authority: "deferred" });
    const uri = { scheme: "podreg", authority: "deferred", path: "/echo" };
    let calls = 0;
    const listener = () => void calls++;
    const r = grpc.experimental.createResolver(uri, listener as unknown as grpc.experimental.ResolverListener, {});
    r.updateResolution();
    assert.equal(calls, 0, "not from the constructor or updateResolution()");
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(calls, 1, "one report, later");
    const gone = grpc.experimental.createResolver(uri, listener as unknown as grpc.experimental.ResolverListener, {});
    gone.updateResolution();
    gone.destroy();
    await reg.register({ service: "echo", port: 2, protocol: "grpc" });
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(calls, 2, "the live resolver reported the change; the destroyed one never did");
    r.destroy();
    binding.close();
  });

  it("a service with no gRPC instance fails fast with UNAVAILABLE naming it; waitForReady waits for one", async () => {
    const reg = new MemoryRegistry();
    await reg.register({ service: "web", port: 8080, protocol: "http" });
    const binding = bind({ discovery: reg, authority: "empty" });
    const c = client(binding.target("web"));
    const t0 = performance.now();
    const err = await call(c).then(
      () => assert.fail("no gRPC instance: should fail"),
      (e: grpc.ServiceError) => e,
    );
    const ms = performance.now() - t0;
    console.log(`no instance: UNAVAILABLE in ${ms.toFixed(0)} ms (deadline 10000 ms)`);
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /PODREG_NO_INSTANCE: no instance of web \(grpc\)/);
    assert.ok(ms < 2000, `fast, not at the deadline: ${ms} ms`);
    const s = await serve("late");
    const waiting = call(c, new grpc.Metadata({ waitForReady: true }));
    await new Promise((res) => setTimeout(res, 200));
    await reg.register({ service: "web", port: s.port, protocol: "grpc" });
    assert.equal((await waiting).server, "late");
  });

  it("hands grpc-js only the gRPC instances of a service that also has HTTP ones", async () => {
    let httpConnections = 0;
    const http: NetServer = createServer((sock) => {
      httpConnections++;
      sock.destroy();
    });
    await new Promise<void>((res) => http.listen(0, "127.0.0.1", res));
    const httpPort = (http.address() as { port: number }).port;
    const g = await serve("g");
    const reg = new MemoryRegistry();
    await reg.register({ service: "mixed", port: httpPort, protocol: "http" });
    await reg.register({ service: "mixed", port: g.port, protocol: "grpc" });
    const binding = bind({ discovery: reg, authority: "mixed" });
    const c = client(binding.target("mixed"));
    for (let i = 0; i < 12; i++) assert.equal((await call(c)).server, "g");
    assert.equal(httpConnections, 0, "grpc-js never dialled the HTTP port");
    http.close();
  });

  it("TLS: podreg:///echo verifies each instance's certificate against the service name, not the pod IP", async () => {
    const pki = createTestCa();
    const tlsServer = async (name: string, dnsNames: string[]) => {
      const s = new grpc.Server();
      s.addService(Echo.service, { Echo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { server: name }) });
      const pair = pki.serving(dnsNames);
      const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pair.certPem), private_key: Buffer.from(pair.keyPem) }]);
      const port = await new Promise<number>((resolve, reject) => s.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))));
      servers.push(s);
      return port;
    };
    const reg = new MemoryRegistry();
    await reg.register({ service: "secure-echo", port: await tlsServer("good", ["secure-echo"]), protocol: "grpc" });
    const binding = bind({ discovery: reg, authority: "tls" });
    const ssl = (ca: string) => {
      const c = new Echo(binding.target("secure-echo"), grpc.credentials.createSsl(Buffer.from(ca))) as unknown as EchoClient;
      clients.push(c);
      return c;
    };
    assert.equal((await call(ssl(pki.ca.certPem))).server, "good");
    // Another CA, or a certificate for another name: refused, never sent in the clear.
    await assert.rejects(call(ssl(createTestCa().ca.certPem)), { code: grpc.status.UNAVAILABLE });
    const other = new MemoryRegistry();
    await other.register({ service: "wrong-name", port: await tlsServer("wrong", ["payments"]), protocol: "grpc" });
    const wrong = bind({ discovery: other, authority: "tls-wrong" });
    const c = new Echo(wrong.target("wrong-name"), grpc.credentials.createSsl(Buffer.from(pki.ca.certPem))) as unknown as EchoClient;
    clients.push(c);
    await assert.rejects(call(c), { code: grpc.status.UNAVAILABLE });
  });

  it("reaches a gRPC server registered on ::1", async () => {
    const s = await serve("six", "::1");
    const reg = new MemoryRegistry();
    await reg.register({ service: "six", port: s.port, protocol: "grpc", host: "::1" });
    const binding = bind({ discovery: reg, authority: "six" });
    assert.equal((await call(client(binding.target("six")))).server, "six");
  });

  it("names another copy of @grpc/grpc-js instead of failing later with UNAVAILABLE", () => {
    const reg = new MemoryRegistry();
    assert.throws(() => registerPodregGrpc({ discovery: reg, authority: "copy", grpc: { experimental: {} } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "PODREG_CONFIG");
      assert.match(e.message, /another copy than podreg's \(.*@grpc\/grpc-js.*\); two copies are installed/);
      return true;
    });
    const ok = registerPodregGrpc({ discovery: reg, authority: "copy", grpc });
    ok.close();
  });
});
