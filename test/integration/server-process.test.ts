/**
 * `podreg serve` as a real process: lease expiry, persistence across a
 * restart, kill -9 in the middle of writes (no acknowledged write lost, the
 * store always readable), a subscriber that lives through a restart of the
 * server, and the CLI's --server mode.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import { RemoteRegistry } from "../../src/registry/remote/registry.js";
import { runCli, startCli, type CliProcess } from "../support/cli.js";
import { eventually } from "../support/wait.js";
import { grpcBootstrap, startGoXdsClient } from "../support/xds.js";

const Echo = (grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url)))) as unknown as { podreg: { test: { Echo: grpc.ServiceClientConstructor } } }).podreg.test.Echo;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("podreg serve (real processes)", () => {
  const dirs: string[] = [];
  const procs: CliProcess[] = [];
  after(() => {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), "podreg-serve-"));
    dirs.push(d);
    return d;
  };
  const serve = async (dir: string, port: number, extra: string[] = []) => {
    const p = startCli(["serve", "--port", String(port), "--data-dir", dir, "--log-level", "warn", ...extra], {});
    procs.push(p);
    const line = await p.line(/^podreg server on http:\/\/127\.0\.0\.1:\d+/, 20_000);
    const url = /(http:\S+)/.exec(line)![1]!;
    const token = readFileSync(join(dir, "token"), "utf8").trim();
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
    };
    return { p, url, token, call };
  };
  const stop = async (p: CliProcess, signal: NodeJS.Signals = "SIGTERM") => {
    p.proc.kill(signal);
    return (await p.exited).code;
  };

  it("creates its token 0600 on first start, and an ephemeral instance without heartbeats expires with its lease", async () => {
    const dir = dataDir();
    const s = await serve(dir, 0, ["--ttl", "1000"]);
    assert.equal(statSync(join(dir, "token")).mode & 0o777, 0o600);
    assert.equal((await s.call("POST", "/v1/instances", { service: "brief", port: 80 })).status, 201);
    const t0 = Date.now();
    await eventually("lease expired", async () => (await s.call("GET", "/v1/services/brief")).status === 404, 5000);
    const took = Date.now() - t0;
    assert.ok(took >= 700 && took < 3000, `expired after ${took} ms (lease 1000 ms)`);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /^podreg_lease_expiries_total 1$/m);
    assert.equal(await stop(s.p), 0);
  });

  it("persistent instances survive a restart; ephemeral ones are gone", async () => {
    const dir = dataDir();
    const port = await freePort();
    const a = await serve(dir, port);
    assert.equal((await a.call("POST", "/v1/instances", { service: "db", port: 5432, host: "db.internal", kind: "persistent", id: "db-1" })).status, 201);
    assert.equal((await a.call("POST", "/v1/instances", { service: "eph", port: 80 })).status, 201);
    assert.equal(await stop(a.p), 0, a.p.stderr());
    const b = await serve(dir, port);
    const db = await b.call("GET", "/v1/instances/db-1");
    assert.equal(db.status, 200);
    assert.equal((db.body as { spec: { host: string } }).spec.host, "db.internal");
    assert.equal((await b.call("GET", "/v1/services/eph")).status, 404);
    assert.equal(await stop(b.p), 0);
  });

  it("kill -9 in the middle of writes: every acknowledged write is there after a restart, and the store opens every time", async (t) => {
    const dir = dataDir();
    const port = await freePort();
    const present = new Set<string>();
    const deleted = new Set<string>();
    let acked = 0;
    for (let round = 0; round < 6; round++) {
      const s = await serve(dir, port);
      // What earlier rounds acknowledged is all there.
      for (const id of present) assert.equal((await s.call("GET", `/v1/instances/${id}`)).status, 200, `acknowledged ${id} lost`);
      for (const id of [...deleted].slice(-20)) assert.equal((await s.call("GET", `/v1/instances/${id}`)).status, 404, `acknowledged delete of ${id} undone`);
      let killed = false;
      const writer = async (w: number) => {
        for (let n = 0; !killed; n++) {
          const id = `r${round}-w${w}-${n}`;
          try {
            if (n % 5 === 4 && present.size > 0) {
              const victim = [...present][Math.floor(Math.random() * present.size)]!;
              // Until the answer comes, the delete may or may not land (the kill can fall in between): not checked either way.
              present.delete(victim);
              const r = await s.call("DELETE", `/v1/instances/${victim}`);
              if (r.status === 204) {
                deleted.add(victim);
                acked++;
              }
              continue;
            }
            const r = await s.call("POST", "/v1/instances", { service: `svc${w}`, port: 1000 + (n % 60000), host: "10.1.2.3", kind: "persistent", id, metadata: { round: String(round) } });
            if (r.status === 201) {
              present.add(id);
              acked++;
            }
          } catch {
            return; // the server is gone: this write was never acknowledged
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 450));
      killed = true;
      s.p.proc.kill("SIGKILL");
      await s.p.exited;
      await Promise.all(writers);
    }
    const last = await serve(dir, port);
    for (const id of present) assert.equal((await last.call("GET", `/v1/instances/${id}`)).status, 200, `acknowledged ${id} lost`);
    for (const id of deleted) assert.equal((await last.call("GET", `/v1/instances/${id}`)).status, 404, `acknowledged delete of ${id} undone`);
    t.diagnostic(`6 kill -9 rounds: ${acked} acknowledged writes, ${present.size} instances present, ${deleted.size} deleted, none lost`);
    assert.ok(acked > 50, `enough writes to mean something: ${acked}`);
    assert.equal(await stop(last.p), 0);
  });

  it("a subscriber lives through a restart of the server and ends with exactly its state", async () => {
    const dir = dataDir();
    const port = await freePort();
    const a = await serve(dir, port);
    await a.call("POST", "/v1/instances", { service: "keep", port: 1, host: "10.0.0.1", kind: "persistent", id: "keep" });
    await a.call("POST", "/v1/instances", { service: "gone", port: 2, host: "10.0.0.2", kind: "persistent", id: "gone" });
    // A provider with a lease: it must come back by itself after the restart.
    const provider = new RemoteRegistry({ url: a.url, token: a.token, ttlMs: 1500 });
    await provider.register({ service: "live", port: 3, host: "10.0.0.3" });
    const consumer = new RemoteRegistry({ url: a.url });
    await consumer.whenSynced();
    await eventually("three", () => consumer.instances("*").length === 3);
    assert.equal(await stop(a.p), 0);
    const b = await serve(dir, port);
    // While the consumer was away: one deleted, one added.
    assert.equal((await b.call("DELETE", "/v1/instances/gone")).status, 204);
    await b.call("POST", "/v1/instances", { service: "new", port: 4, host: "10.0.0.4", kind: "persistent", id: "new" });
    const server = async () => {
      const all = (await (await fetch(`${b.url}/v1/services`)).json()) as { services: { key: string }[] };
      const ids: string[] = [];
      for (const s of all.services) {
        const r = (await (await fetch(`${b.url}/v1/services/${encodeURIComponent(s.key)}/instances`)).json()) as { instances: { id: string }[] };
        ids.push(...r.instances.map((i) => i.id));
      }
      return ids.sort();
    };
    await eventually("the provider re-registered", async () => (await server()).some((id) => id.includes("/live/")), 10_000);
    await eventually("the consumer holds exactly the server's state", async () => JSON.stringify(consumer.instances("*").map((i) => i.id).sort()) === JSON.stringify(await server()), 10_000);
    assert.deepEqual(consumer.services(), ["keep", "live", "new"]);
    assert.ok(consumer.reconnects >= 1);
    await provider.close();
    await eventually("deregistered", () => !consumer.instances("*").some((i) => i.service === "live"));
    await consumer.close();
    assert.equal(await stop(b.p), 0);
  });

  it("podreg register/ls/watch --server: a lease kept by heartbeats, a removal on SIGTERM, writes refused without the token", async () => {
    const dir = dataDir();
    const s = await serve(dir, 0, ["--ttl", "1500"]);
    const tokenFile = join(dir, "token");
    const watch = startCli(["watch", "--server", s.url], {});
    procs.push(watch);
    const reg = startCli(["register", "--server", s.url, "--token-file", tokenFile, "--service", "cli", "--port", "9000", "--meta", "version=v3"], {});
    procs.push(reg);
    await reg.line(/^registered cli http:9000/);
    await watch.line(/^added\s+cli 127\.0\.0\.1:9000 http weight=100 .*version=v3/);
    await new Promise((r) => setTimeout(r, 3000)); // two leases' worth: heartbeats keep it
    const ls = await runCli(["ls", "cli", "--server", s.url], {});
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /cli\s+127\.0\.0\.1:9000\s+http/);
    reg.proc.kill("SIGTERM");
    assert.equal((await reg.exited).code, 0, reg.stderr());
    await watch.line(/^removed\s+cli 127\.0\.0\.1:9000/);
    const refused = await runCli(["register", "--server", s.url, "--service", "x", "--port", "1"], { PODREG_TOKEN: "wrong" });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^podreg: PODREG_UNAUTHORIZED: the token is not this server's$/m);
    watch.proc.kill("SIGTERM");
    await watch.exited;
    assert.equal(await stop(s.p), 0);
  });

  it("serve --xds-port --config: gRPC-Go dials xds:///echo through it, follows the local registry, and /v1/xds/clients lists it; bad values fail first", async () => {
    const dir = dataDir();
    const policy = join(dir, "policy.yaml");
    writeFileSync(policy, "services:\n  echo:\n    balancer: { policy: ring_hash }\n");
    const s = await serve(dir, 0, ["--xds-port", "0", "--config", policy]);
    const line = await s.p.line(/^xDS \(ADS\) on 127\.0\.0\.1:\d+/, 10_000);
    const xdsAddress = /on (127\.0\.0\.1:\d+)/.exec(line)![1]!;
    const backend = new grpc.Server();
    backend.addService(Echo.service, { Echo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { server: "local-1" }) });
    const port = await new Promise<number>((resolve, reject) => backend.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    try {
      assert.equal((await s.call("POST", "/v1/instances", { service: "echo", host: "127.0.0.1", port, protocol: "grpc", kind: "persistent", id: "echo-1" })).status, 201);
      const go = await startGoXdsClient({ target: "xds:///echo", bootstrap: grpcBootstrap(xdsAddress, "cli-go") });
      try {
        await eventually("gRPC-Go reaches the local instance", () => go.calls.some((c) => c.ok && c.server === "local-1"), 20_000);
        const status = (await s.call("GET", "/v1/xds/clients")).body as { clients: { kind: string; node: { id: string }; types: Record<string, { acked?: unknown }> }[] };
        assert.deepEqual(status.clients.map((c) => [c.kind, c.node.id]), [["grpc", "cli-go"]]);
        assert.deepEqual(Object.keys(status.clients[0]!.types).sort(), ["cds", "eds", "lds", "rds"]);
        assert.ok(Object.values(status.clients[0]!.types).every((t) => t.acked), "every type ACKed");
        // The same policy file reaches the console's API.
        const policies = (await s.call("GET", "/v1/policies")).body as { services: Record<string, { balancer: { policy: string } }> };
        assert.equal(Object.values(policies.services)[0]?.balancer.policy, "ring_hash");
        assert.equal((await s.call("DELETE", "/v1/instances/echo-1")).status, 204);
        const t0 = Date.now();
        await eventually("gRPC-Go sees it go", () => go.calls.some((c) => !c.ok && c.at > t0), 20_000);
      } finally {
        await go.stop();
      }
    } finally {
      backend.forceShutdown();
    }
    assert.equal(await stop(s.p), 0, s.p.stderr());
    // Configuration is checked before anything opens: one line, exit 1.
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "services:\n  echo:\n    balancer: { policy: fastest }\n");
    const r = await runCli(["serve", "--port", "0", "--data-dir", dir, "--xds-port", "0", "--config", bad], {});
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^podreg: PODREG_CONFIG: invalid client config in .*bad\.yaml:/m);
    const port99 = await runCli(["serve", "--xds-port", "99999"], {});
    assert.equal(port99.code, 1);
    assert.match(port99.stderr, /--xds-port must be an integer in 0\.\.65535/);
  });
});
