/**
 * Calling a service through podreg's HTTP client: `http://echo/` names the
 * service, the balancer picks an instance per call. With the in-memory
 * registry and two local servers, so it runs anywhere; swap in
 * `new KubePodsRegistry()` for the registry in a cluster.
 *
 *   node --import tsx examples/http-client.ts
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { MemoryRegistry } from "podreg";
import { createFetch, PodregDispatcher } from "podreg/client";

const servers = await Promise.all(
  ["a", "b"].map(async (name) => {
    const server = createServer((_req, res) => res.end(name));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return server;
  }),
);
const discovery = new MemoryRegistry();
for (const s of servers) await discovery.register({ service: "echo", port: (s.address() as AddressInfo).port, host: "127.0.0.1" });

const dispatcher = new PodregDispatcher({ discovery, config: { services: { echo: { balancer: { policy: "round_robin" } } } } });
const fetch = createFetch(dispatcher);
const answers: string[] = [];
for (let i = 0; i < 4; i++) answers.push(await (await fetch("http://echo/")).text());
console.log(`answers: ${answers.join(" ")}`);

try {
  await fetch("http://nosuch/");
} catch (err) {
  console.log(`nosuch: ${(err as { code?: string }).code}`); // PODREG_NO_INSTANCE, at once
}

await dispatcher.close();
await discovery.close();
for (const s of servers) s.close();
