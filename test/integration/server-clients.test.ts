/**
 * The clients on a podreg server, unchanged: RemoteRegistry is a Discovery,
 * so PodregDispatcher and the gRPC resolver take it as they take kube-pods.
 * Real grpc-js and HTTP servers registered through the REST API.
 */
import assert from "node:assert/strict";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { registerPodregGrpc } from "../../src/client/grpc.js";
import { createFetch, PodregDispatcher } from "../../src/client/http.js";
import { LocalRegistry } from "../../src/registry/local/registry.js";
import { RemoteRegistry } from "../../src/registry/remote/registry.js";
import { startServer } from "../../src/server/server.js";
import { eventually } from "../support/wait.js";

const Echo = (grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("../fixtures/echo.proto", import.meta.url)))) as unknown as { podreg: { test: { Echo: grpc.ServiceClientConstructor } } }).podreg.test.Echo;
type EchoClient = grpc.Client & { Echo(req: { message: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { server: string }) => void): void };

describe("HTTP and gRPC clients through a podreg server", () => {
  const closers: (() => unknown)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("balances HTTP and gRPC calls across instances registered through REST, and follows a deregistration", async () => {
    const local = new LocalRegistry();
    const server = await startServer({ discovery: local, token: "t" });
    closers.push(() => local.close(), () => server.close());
    const provider = new RemoteRegistry({ url: server.url, token: "t" });
    closers.push(() => provider.close());

    const http: HttpServer[] = [];
    const grpcServers: grpc.Server[] = [];
    const handles = [];
    for (const name of ["a", "b"]) {
      const h = createServer((_q, res) => res.end(name));
      await new Promise<void>((r) => h.listen(0, "127.0.0.1", r));
      http.push(h);
      const g = new grpc.Server();
      g.addService(Echo.service, { Echo: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { server: name }) });
      const port = await new Promise<number>((resolve, reject) => g.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
      grpcServers.push(g);
      handles.push(await provider.register({ service: "echo", port: (h.address() as AddressInfo).port, host: "127.0.0.1", metadata: { name } }));
      handles.push(await provider.register({ service: "echo", port, host: "127.0.0.1", protocol: "grpc", metadata: { name } }));
    }
    closers.push(() => http.forEach((h) => h.close()), () => grpcServers.forEach((g) => g.forceShutdown()));

    const discovery = new RemoteRegistry({ url: server.url });
    closers.push(() => discovery.close());
    const dispatcher = new PodregDispatcher({ discovery, config: { services: { echo: { balancer: { policy: "round_robin" } } } } });
    closers.push(() => dispatcher.close());
    const fetch = createFetch(dispatcher);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await (await fetch("http://echo/")).text());
    assert.deepEqual([...seen].sort(), ["a", "b"]);

    const binding = registerPodregGrpc({ discovery, authority: "through-server", config: { services: { echo: { balancer: { policy: "round_robin" } } } } });
    closers.push(() => binding.close());
    const client = new Echo(binding.target("echo"), grpc.credentials.createInsecure()) as unknown as EchoClient;
    closers.push(() => client.close());
    const call = () => new Promise<string>((resolve, reject) => client.Echo({ message: "hi" }, { deadline: Date.now() + 10_000 }, (err, r) => (err ? reject(err) : resolve(r!.server))));
    const grpcSeen = new Set<string>();
    for (let i = 0; i < 6; i++) grpcSeen.add(await call());
    assert.deepEqual([...grpcSeen].sort(), ["a", "b"]);

    // b's HTTP instance deregisters: HTTP calls follow, gRPC still reaches both.
    await handles[2]!.close();
    await eventually("b's HTTP instance gone", () => discovery.instances("echo").filter((i) => i.protocol === "http").length === 1);
    for (let i = 0; i < 4; i++) assert.equal(await (await fetch("http://echo/")).text(), "a");
    const after = new Set<string>();
    for (let i = 0; i < 6; i++) after.add(await call());
    assert.deepEqual([...after].sort(), ["a", "b"]);
  });
});
