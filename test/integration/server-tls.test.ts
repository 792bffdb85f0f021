/**
 * `podreg serve` over HTTPS (--tls-cert, --tls-key) and its clients with a CA
 * of the test's own: the library's startServer and RemoteRegistry, then the
 * CLI as real processes (serve, register, ls, watch --server https:// --ca-file).
 * The token never crosses the wire in the clear, and a client that does not
 * trust the certificate sends nothing.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Agent, request } from "undici";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { LocalRegistry } from "../../src/registry/local/registry.js";
import { RemoteRegistry } from "../../src/registry/remote/registry.js";
import { startServer } from "../../src/server/server.js";
import { createTestCa, type TestCa } from "../../testenv/pki.js";
import { runCli, startCli, type CliProcess } from "../support/cli.js";
import { eventually } from "../support/wait.js";

describe("podreg serve over HTTPS", () => {
  let pki: TestCa;
  let dir: string;
  let caFile: string;
  let certFile: string;
  let keyFile: string;
  const procs: CliProcess[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  before(() => {
    pki = createTestCa();
    dir = mkdtempSync(join(tmpdir(), "podreg-tls-"));
    const serving = pki.serving(["localhost"], { loopbackIp: true });
    writeFileSync((caFile = join(dir, "ca.pem")), pki.ca.certPem);
    writeFileSync((certFile = join(dir, "tls.crt")), serving.certPem);
    writeFileSync((keyFile = join(dir, "tls.key")), serving.keyPem, { mode: 0o600 });
  });
  after(async () => {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
    for (const c of closers.reverse()) await c().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("startServer({ tls }) serves https; RemoteRegistry({ ca }) registers and watches through it; untrusted clients send nothing", async () => {
    const local = new LocalRegistry({ dataDir: mkdtempSync(join(dir, "data-")), ttlMs: 10_000 });
    const server = await startServer({ discovery: local, token: "t0ken-for-tls-test", tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) } });
    closers.push(() => local.close(), () => server.close());
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

    const remote = new RemoteRegistry({ url: server.url, token: "t0ken-for-tls-test", ca: pki.ca.certPem });
    closers.push(() => remote.close());
    const handle = await remote.register({ service: "secure", port: 8443, host: "10.1.2.3" });
    const sub = remote.subscribe("secure", () => {});
    closers.push(async () => sub.close());
    await eventually("watched over https", () => remote.instances("secure").length === 1, 10_000);
    assert.equal(remote.instances("secure")[0]!.host, "10.1.2.3");

    // A client without the CA fails the handshake: no request (and no token) reaches the server.
    const untrusted = new RemoteRegistry({ url: server.url, token: "t0ken-for-tls-test" });
    await assert.rejects(untrusted.register({ service: "nope", port: 1, host: "10.1.2.4" }), (err: Error) => {
      assert.match(`${err.message} ${String((err as { cause?: { code?: string } }).cause?.code)}`, /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
      return true;
    });
    await untrusted.close();
    assert.deepEqual(local.instances("nope"), []);

    // Plain HTTP to the TLS port gets no API answer.
    const plain = await new Promise<string>((resolve) => {
      const s = connect(server.port, "127.0.0.1", () => s.write("GET /v1/services HTTP/1.1\r\nHost: x\r\n\r\n"));
      let got = "";
      s.on("data", (d) => (got += d.toString("latin1")));
      s.on("close", () => resolve(got));
      s.on("error", () => resolve(got));
      s.setTimeout(5000, () => s.destroy());
    });
    assert.doesNotMatch(plain, /"services"|secure/);

    const agent = new Agent({ connect: { ca: pki.ca.certPem } });
    closers.push(() => agent.close());
    const res = await request(`${server.url}/v1/services`, { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    assert.match(await res.body.text(), /secure/);
    await handle.close();
    await eventually("deregistered over https", () => local.instances("secure").length === 0, 10_000);
  });

  it("a certificate or key that is not PEM is a configuration error that shows neither", async () => {
    await assert.rejects(startServer({ discovery: new MemoryRegistry(), tls: { cert: "not a certificate", key: "SECRET-KEY-MATERIAL" } }), (err: Error & { code?: string }) => {
      assert.equal(err.code, "PODREG_CONFIG");
      assert.doesNotMatch(err.message, /SECRET-KEY-MATERIAL|not a certificate/);
      return true;
    });
  });

  it("podreg serve --tls-cert --tls-key; register, ls and watch --server https:// --ca-file; bad flags fail first", async () => {
    const data = mkdtempSync(join(dir, "serve-"));
    const serve = startCli(["serve", "--port", "0", "--data-dir", data, "--log-level", "warn", "--tls-cert", certFile, "--tls-key", keyFile], {});
    procs.push(serve);
    const line = await serve.line(/^podreg server on https:\/\/127\.0\.0\.1:\d+/, 20_000);
    const url = /(https:\S+)/.exec(line)![1]!;
    const tokenFile = join(data, "token");

    const watch = startCli(["watch", "--server", url, "--ca-file", caFile], {});
    procs.push(watch);
    const reg = startCli(["register", "--server", url, "--ca-file", caFile, "--token-file", tokenFile, "--service", "tls-cli", "--port", "9443"], {});
    procs.push(reg);
    await reg.line(/^registered tls-cli http:9443/);
    await watch.line(/^added\s+tls-cli 127\.0\.0\.1:9443/);
    const ls = await runCli(["ls", "tls-cli", "--server", url, "--ca-file", caFile], {});
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /tls-cli\s+127\.0\.0\.1:9443/);
    reg.proc.kill("SIGTERM");
    assert.equal((await reg.exited).code, 0, reg.stderr());
    await watch.line(/^removed\s+tls-cli 127\.0\.0\.1:9443/);
    watch.proc.kill("SIGTERM");
    await watch.exited;

    const untrusted = await runCli(["ls", "--server", url, "--timeout", "5000"], {});
    assert.equal(untrusted.code, 1);
    assert.doesNotMatch(untrusted.stdout, /tls-cli/);

    const half = await runCli(["serve", "--port", "0", "--data-dir", data, "--tls-cert", certFile], {});
    assert.equal(half.code, 1);
    assert.match(half.stderr, /^podreg: PODREG_CONFIG: --tls-cert and --tls-key go together$/m);
    const missing = await runCli(["serve", "--port", "0", "--data-dir", data, "--tls-cert", join(dir, "nope.crt"), "--tls-key", keyFile], {});
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^podreg: PODREG_CONFIG: cannot read --tls-cert .*nope\.crt: ENOENT$/m);
    const plainCa = await runCli(["ls", "--server", "http://127.0.0.1:1", "--ca-file", caFile], {});
    assert.equal(plainCa.code, 1);
    assert.match(plainCa.stderr, /^podreg: PODREG_CONFIG: --ca-file is for an https:\/\/ --server$/m);

    serve.proc.kill("SIGTERM");
    assert.equal((await serve.exited).code, 0, serve.stderr());
  });
});
