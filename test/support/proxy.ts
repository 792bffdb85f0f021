/**
 * A loopback TCP proxy in front of the API server. `cut()` severs every open
 * connection (a watch breaks as it would when a load balancer or node drops
 * it); `pause()` also refuses new ones until `resume()`.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export interface Proxy {
  port: number;
  url: string;
  cut(): void;
  /** Open connections stay open but carry nothing more (a dead peer, a dropped NAT entry). */
  freeze(): void;
  /** New connections are accepted and then hang: nothing is forwarded (a server that stopped answering). Until resume(). */
  stall(): void;
  pause(): void;
  resume(): void;
  readonly connections: number;
  close(): Promise<void>;
}

export async function startProxy(target: { host: string; port: number }): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let paused = false;
  let stalled = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (paused) {
      client.destroy();
      return;
    }
    if (stalled) {
      sockets.add(client);
      client.on("close", () => sockets.delete(client));
      client.on("error", () => {});
      return;
    }
    accepted++;
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on("close", () => pairs.delete(pair));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    cut,
    freeze: () => {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
      pairs.clear();
    },
    stall: () => {
      stalled = true;
    },
    pause: () => {
      paused = true;
      cut();
    },
    resume: () => {
      paused = false;
      stalled = false;
    },
    get connections() {
      return accepted;
    },
    close: () =>
      new Promise<void>((r) => {
        cut();
        server.close(() => r());
      }),
  };
}
