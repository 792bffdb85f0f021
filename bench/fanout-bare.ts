/**
 * The fan-out benchmark's LIMIT: node:http holding SSE sockets and, on
 * POST /fire, writing one SSE frame (the size of podreg's `added` event) to
 * every one in a loop. Nothing else: no registry, no JSON of its own.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

const clients = new Set<ServerResponse>();
const pad = JSON.stringify({ type: "added", revision: 1, instance: { id: "local:00000000-0000-0000-0000-000000000000/bench/http:10000", key: "bench", service: "bench", host: "127.0.0.1", port: 10000, protocol: "http", weight: 100, labels: {}, ready: true, startTime: 0, source: "local" } });
const server = createServer((req, res) => {
  if (req.url === "/watch") {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.flushHeaders();
    clients.add(res);
    req.on("close", () => clients.delete(res));
    return;
  }
  const k = new URL(req.url ?? "/", "http://x").searchParams.get("k") ?? "";
  const frame = `id: 1\nevent: added\ndata: {"k":"${k}",${pad.slice(1)}\n\n`;
  for (const c of clients) c.write(frame);
  res.end();
});
server.listen(0, "127.0.0.1", () => console.log(`bare http://127.0.0.1:${(server.address() as AddressInfo).port}`));
