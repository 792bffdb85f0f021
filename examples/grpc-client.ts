/**
 * Calling a gRPC service through podreg: `podreg:///echo` names the service,
 * podreg's resolver and policy pick a ready gRPC instance per call. With the
 * in-memory registry and two local grpc-js servers, so it runs anywhere.
 *
 *   node --import tsx examples/grpc-client.ts
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { MemoryRegistry } from "podreg";
import { registerPodregGrpc } from "podreg/grpc";

type EchoClient = grpc.Client & {
  Echo(req: { message: string }, cb: (err: grpc.ServiceError | null, res?: { server: string }) => void): void;
};
const proto = grpc.loadPackageDefinition(loadSync(fileURLToPath(new URL("./echo.proto", import.meta.url)))) as unknown as {
  example: { Echo: grpc.ServiceClientConstructor };
};
const Echo = proto.example.Echo;

const discovery = new MemoryRegistry();
const servers: grpc.Server[] = [];
for (const name of ["a", "b"]) {
  const server = new grpc.Server();
  server.addService(Echo.service, { Echo: (_call: unknown, cb: grpc.sendUnaryData<{ server: string }>) => cb(null, { server: name }) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  servers.push(server);
  await discovery.register({ service: "echo", port, protocol: "grpc" });
}

// `grpc`: podreg checks that your @grpc/grpc-js is the copy it registers into.
const binding = registerPodregGrpc({ discovery, grpc });
const client = new Echo("podreg:///echo", grpc.credentials.createInsecure()) as unknown as EchoClient;
const answers: string[] = [];
for (let i = 0; i < 10; i++) {
  answers.push(await new Promise<string>((resolve, reject) => client.Echo({ message: "hi" }, (err, res) => (err ? reject(err) : resolve(res!.server)))));
}
// Both instances serve (the first calls go to whichever connected first).
console.log(`served by: ${[...new Set(answers)].sort().join(" ")}`);

client.close();
binding.close();
for (const s of servers) s.forceShutdown();
await discovery.close();
