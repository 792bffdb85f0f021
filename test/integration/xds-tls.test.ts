/**
 * The xDS port over TLS and mutual TLS (startXdsServer({ tls }), podreg serve
 * --xds-tls-cert/--xds-tls-key/--xds-client-ca) with a CA of the test's own:
 * the real Envoy and gRPC-Go, holding client certificates, get their
 * configuration and reach the servers; clients without a certificate, with
 * one from another CA, or in plaintext get nothing.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { request } from "undici";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { TYPE, xdsRuntime } from "../../src/server/xds/protos.js";
import { startXdsServer, type XdsServer } from "../../src/server/xds/server.js";
import { createTestCa, type TestCa } from "../../testenv/pki.js";
import { runCli } from "../support/cli.js";
import { eventually } from "../support/wait.js";
import { envoyBootstrap, freePort, startEnvoy, startGoXdsClient } from "../support/xds.js";

const Echo = (grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url)))) as unknown as { podreg: { test: { Echo: grpc.ServiceClientConstructor } } }).podreg.test.Echo;

describe("xDS over TLS and mutual TLS (real Envoy and gRPC-Go)", () => {
  let pki: TestCa;
  let other: TestCa;
  let dir: string;
  let reg: MemoryRegistry;
  let xds: XdsServer;
  let backend: Server;
  const files: Record<string, string> = {};
  const closers: (() => Promise<unknown> | unknown)[] = [];
  before(async () => {
    pki = createTestCa();
    other = createTestCa();
    dir = mkdtempSync(join(tmpdir(), "podreg-xds-tls-"));
    const serving = pki.serving(["localhost"], { loopbackIp: true });
    const envoy = pki.client("envoy-proxy");
    const put = (name: string, text: string) => {
      writeFileSync((files[name] = join(dir, name)), text, { mode: 0o600 });
    };
    put("ca.pem", pki.ca.certPem);
    put("server.crt", serving.certPem);
    put("server.key", serving.keyPem);
    put("envoy.crt", envoy.certPem);
    put("envoy.key", envoy.keyPem);
    const go = pki.client("grpc-go");
    put("go.crt", go.certPem);
    put("go.key", go.keyPem);
    backend = createServer((_q, res) => res.end("tls-backend"));
    await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise((r) => backend.close(r)));
    reg = new MemoryRegistry({ namespace: "default" });
    await reg.register({ service: "web", host: "127.0.0.1", port: (backend.address() as AddressInfo).port, protocol: "http" });
    closers.push(() => reg.close());
    const echo = new grpc.Server();
    echo.addService(Echo.service, { Echo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { server: "tls-echo" }) });
    const echoPort = await new Promise<number>((resolve, reject) => echo.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    closers.push(() => echo.forceShutdown());
    await reg.register({ service: "echo", host: "127.0.0.1", port: echoPort, protocol: "grpc" });
    xds = await startXdsServer({ discovery: reg, tls: { cert: serving.certPem, key: serving.keyPem, clientCa: pki.ca.certPem } });
    closers.push(() => xds.close());
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One ADS request with these credentials: what came back, or the error's code. */
  async function ads(credentials: grpc.ChannelCredentials): Promise<string> {
    const { ads: service } = xdsRuntime();
    const Client = grpc.makeGenericClientConstructor(service, "AggregatedDiscoveryService");
    const client = new Client(`localhost:${xds.port}`, credentials) as unknown as { StreamAggregatedResources(): grpc.ClientDuplexStream<object, { type_url: string }> } & grpc.Client;
    try {
      return await new Promise<string>((resolve) => {
        const call = client.StreamAggregatedResources();
        const timer = setTimeout(() => {
          call.cancel();
          resolve("no answer");
        }, 8000);
        call.on("data", (r) => {
          clearTimeout(timer);
          call.cancel();
          resolve(`answered ${r.type_url}`);
        });
        call.on("error", (err: grpc.ServiceError) => {
          clearTimeout(timer);
          resolve(`error ${grpc.status[err.code]}`);
        });
        call.write({ node: { id: "probe", user_agent_name: "envoy" }, type_url: TYPE.cluster, resource_names: [] });
      });
    } finally {
      client.close();
    }
  }

  it("Envoy with a client certificate gets its configuration over mutual TLS and routes", async () => {
    const listenerPort = await freePort();
    const envoy = await startEnvoy({
      bootstrap: envoyBootstrap({ xdsPort: xds.port, nodeId: "envoy-mtls", listenerPort, adminPort: 0, tls: { caFile: files["ca.pem"]!, sni: "localhost", certFile: files["envoy.crt"], keyFile: files["envoy.key"] } }),
      dir,
      id: listenerPort,
    });
    closers.push(() => envoy.stop());
    const get = async () => {
      try {
        const r = await request(`http://127.0.0.1:${listenerPort}/`, { headers: { host: "web" } });
        return `${r.statusCode} ${await r.body.text()}`;
      } catch (err) {
        return `error ${(err as Error).message}`;
      }
    };
    await eventually("Envoy routes over mutual TLS", async () => (await get()) === "200 tls-backend", 30_000);
    assert.ok(
      xds.clients().some((c) => c.node?.id === "envoy-mtls"),
      JSON.stringify(xds.clients()),
    );
  });

  it("gRPC-Go with a client certificate (bootstrap channel_creds tls) dials xds:///echo over mutual TLS", async () => {
    const bootstrap = JSON.stringify({
      xds_servers: [
        {
          server_uri: `localhost:${xds.port}`,
          channel_creds: [{ type: "tls", config: { ca_certificate_file: files["ca.pem"], certificate_file: files["go.crt"], private_key_file: files["go.key"] } }],
          server_features: ["xds_v3"],
        },
      ],
      node: { id: "grpc-go-mtls", locality: {} },
    });
    const go = await startGoXdsClient({ target: "xds:///echo", bootstrap });
    try {
      await eventually("gRPC-Go reaches the server through mutual TLS xDS", () => go.calls.some((c) => c.ok && c.server === "tls-echo"), 30_000);
      assert.equal(xds.clients().find((c) => c.node?.id === "grpc-go-mtls")?.kind, "grpc");
    } catch (err) {
      throw new Error(`${(err as Error).message}; gRPC-Go said: ${go.stderr().slice(-2000)}`);
    } finally {
      await go.stop();
    }
  });

  it("a client without a certificate, with one from another CA, or in plaintext gets nothing", async () => {
    const ca = Buffer.from(pki.ca.certPem);
    const stranger = other.client("stranger");
    const trusted = pki.client("probe");
    assert.equal(await ads(grpc.credentials.createSsl(ca, Buffer.from(trusted.keyPem), Buffer.from(trusted.certPem))), `answered ${TYPE.cluster}`, "the control: a certificate the CA signed");
    assert.equal(await ads(grpc.credentials.createSsl(ca)), "error UNAVAILABLE", "no client certificate");
    assert.equal(await ads(grpc.credentials.createSsl(ca, Buffer.from(stranger.keyPem), Buffer.from(stranger.certPem))), "error UNAVAILABLE", "another CA's certificate");
    assert.equal(await ads(grpc.credentials.createInsecure()), "error UNAVAILABLE", "plaintext");
  });

  it("podreg serve: half or misplaced xDS TLS flags fail first, naming the flag and never the key", async () => {
    const data = mkdtempSync(join(dir, "serve-"));
    const half = await runCli(["serve", "--port", "0", "--data-dir", data, "--xds-port", "0", "--xds-tls-cert", files["server.crt"]!], {});
    assert.equal(half.code, 1);
    assert.match(half.stderr, /^podreg: PODREG_CONFIG: --xds-tls-cert and --xds-tls-key go together$/m);
    const noPort = await runCli(["serve", "--port", "0", "--data-dir", data, "--xds-tls-cert", files["server.crt"]!, "--xds-tls-key", files["server.key"]!], {});
    assert.equal(noPort.code, 1);
    assert.match(noPort.stderr, /^podreg: PODREG_CONFIG: --xds-tls-cert and --xds-client-ca are for --xds-port$/m);
    writeFileSync(join(dir, "bad.key"), "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n");
    const bad = await runCli(["serve", "--port", "0", "--data-dir", data, "--xds-port", "0", "--xds-tls-cert", files["server.crt"]!, "--xds-tls-key", join(dir, "bad.key")], {});
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^podreg: PODREG_CONFIG: /m);
    assert.doesNotMatch(bad.stderr, /SECRETSECRET/);
  });
});
