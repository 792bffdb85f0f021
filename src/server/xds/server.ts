/**
 * podreg's xDS server: the Aggregated Discovery Service, state of the world
 * and incremental (delta), on a gRPC port of its own, serving LDS, RDS, CDS
 * and EDS built from any Discovery to Envoy and to proxyless gRPC clients
 * (docs/xds.md). grpc-js carries the streams; the protocol is stream.ts
 * (state of the world) and delta.ts, the resources resources.ts and
 * select.ts, the debounced state state.ts.
 */
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { ClientConfig } from "../../client/config.js";
import { ClosedError, ConfigError } from "../../errors.js";
import type { Discovery } from "../../registry/registry.js";
import { systemClock, type Clock } from "../../util/clock.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import { TYPE_NAMES, xdsRuntime, type ResourceType } from "./protos.js";
import { DeltaAdsStream, type DeltaDiscoveryRequest } from "./delta.js";
import { AdsStream, type DiscoveryRequest, type ResourcePatch, type StreamStatus } from "./stream.js";
import { XdsState } from "./state.js";

export interface XdsServerOptions {
  discovery: Discovery;
  /** Per-service policy, in the client configuration format (balancer, hashKey, outlier). */
  config?: ClientConfig;
  /** Default 127.0.0.1: nothing is reachable from elsewhere unless said. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Quiet period before a push (default 100 ms, Istio's) and its bound after the first change (default 1000 ms). */
  debounceMs?: number;
  debounceMaxMs?: number;
  patch?: ResourcePatch;
  /**
   * Serve over TLS with this certificate chain and key (PEM). With `clientCa`, mutual TLS: only
   * clients presenting a certificate that CA signed may connect (the proxies' identity), which
   * is the authentication the xDS port otherwise lacks.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; clientCa?: string | Buffer };
  logger?: Logger;
  clock?: Clock;
}

export type XdsTypeName = "cds" | "eds" | "lds" | "rds";

export interface XdsStats {
  /** Responses sent, per type. */
  pushes: Record<XdsTypeName, number>;
  /** Responses refused by clients, per type. */
  nacks: Record<XdsTypeName, number>;
  /** Push windows flushed (debounced changes of the registry). */
  generations: number;
  streams: number;
}

export interface XdsServer {
  /** `host:port` the server listens on. */
  readonly address: string;
  readonly port: number;
  /** Connected clients with, per type, the version sent, ACKed and NACKed (istioctl proxy-status). */
  clients(): StreamStatus[];
  readonly stats: Readonly<XdsStats>;
  close(): Promise<void>;
}

const zero = (): Record<XdsTypeName, number> => ({ cds: 0, eds: 0, lds: 0, rds: 0 });

export async function startXdsServer(o: XdsServerOptions): Promise<XdsServer> {
  const { grpc, ads, encode } = xdsRuntime();
  const logger = o.logger ?? silentLogger;
  const clock = o.clock ?? systemClock;
  const host = o.host ?? "127.0.0.1";
  const state = new XdsState({ discovery: o.discovery, encode, config: o.config, debounceMs: o.debounceMs, debounceMaxMs: o.debounceMaxMs, clock, logger });
  /** Either kind of stream: the server feeds it requests and pushes, and reads its status. */
  interface OpenStream {
    readonly node: { id: string } | undefined;
    handle(req: never): void;
    push(changed: ReadonlySet<string>): void;
    status(): StreamStatus;
  }
  const streams = new Map<number, { stream: OpenStream; call: ServerDuplexStream<unknown, unknown> }>();
  const stats: XdsStats = { pushes: zero(), nacks: zero(), generations: 0, streams: 0 };
  let ids = 0;
  let closed = false;

  /** Serves one call with the stream `make` builds: requests in, responses out, and a bug of ours ends this stream only. */
  const serve = <Req>(call: ServerDuplexStream<Req, unknown>, make: (id: number, send: (res: object) => void) => OpenStream & { handle(req: Req): void }) => {
    if (closed) return call.destroy(new ClosedError("the xDS server is closing"));
    const id = ++ids;
    stats.streams++;
    const stream = make(id, (res) => call.write(res));
    streams.set(id, { stream, call: call as ServerDuplexStream<unknown, unknown> });
    const drop = () => {
      if (!streams.delete(id)) return;
      logger.debug({ stream: id, node: stream.node?.id }, "xds: client gone");
    };
    call.on("data", (req: Req) => {
      try {
        stream.handle(req);
      } catch (err) {
        // A bug of ours must end this stream, never the process or the other streams.
        logger.error({ err, stream: id }, "xds: request failed");
        call.destroy(err instanceof Error ? err : new Error(String(err)));
        drop();
      }
    });
    call.on("end", () => {
      drop();
      call.end();
    });
    call.on("error", drop);
    call.on("close", drop);
    call.on("cancelled", drop);
  };
  const common = (id: number) => ({
    id,
    state,
    clock,
    logger,
    patch: o.patch,
    onPush: (t: ResourceType) => stats.pushes[TYPE_NAMES[t]]++,
    onNack: (t: ResourceType) => stats.nacks[TYPE_NAMES[t]]++,
  });

  const server = new grpc.Server({ "grpc.keepalive_permit_without_calls": 1 });
  server.addService(ads, {
    StreamAggregatedResources(call: ServerDuplexStream<DiscoveryRequest, unknown>) {
      serve(call, (id, send) => new AdsStream({ ...common(id), send }));
    },
    DeltaAggregatedResources(call: ServerDuplexStream<DeltaDiscoveryRequest, unknown>) {
      serve(call, (id, send) => new DeltaAdsStream({ ...common(id), send }));
    },
  });

  state.onChange((changed) => {
    stats.generations = state.generation;
    for (const { stream, call } of streams.values()) {
      try {
        stream.push(changed);
      } catch (err) {
        logger.error({ err, node: stream.node?.id }, "xds: push failed");
        call.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    }
  });

  let credentials: ReturnType<typeof grpc.ServerCredentials.createInsecure>;
  try {
    credentials = o.tls
      ? grpc.ServerCredentials.createSsl(o.tls.clientCa === undefined ? null : Buffer.from(o.tls.clientCa), [{ cert_chain: Buffer.from(o.tls.cert), private_key: Buffer.from(o.tls.key) }], o.tls.clientCa !== undefined)
      : grpc.ServerCredentials.createInsecure();
  } catch (err) {
    // The reason only (grpc-js or OpenSSL's words), never the PEM itself.
    throw new ConfigError(`the xDS TLS certificate, key or client CA is not usable: ${(err as Error).message.slice(0, 200)}`);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${o.port ?? 0}`, credentials, (err, p) => {
      if (!err) return resolve(p);
      // grpc-js reports a certificate or key OpenSSL can't read only here, as a bind failure: say which it is.
      const tlsFault = o.tls !== undefined && !/EADDRINUSE|EACCES|EADDRNOTAVAIL|ENOTFOUND|EAI_/.test(err.message);
      const what = tlsFault ? "the xDS TLS certificate, key or client CA is not usable" : `the xDS server cannot listen on ${host}:${o.port ?? 0}`;
      reject(new ConfigError(`${what}: ${err.message.slice(0, 200)}`, { cause: err }));
    }),
  );
  state.start();
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  logger.info({ address, tls: o.tls ? (o.tls.clientCa ? "mutual" : "server") : "off" }, "xds: serving ADS");

  return {
    address,
    port,
    stats,
    clients: () => [...streams.values()].map((s) => s.stream.status()).sort((a, b) => a.id - b.id),
    async close() {
      if (closed) return;
      closed = true;
      state.close();
      // ADS streams are long-lived and clients keep their last config: nothing to drain. A graceful
      // shutdown would wait on clients that reopen their stream at once; end every stream and session now.
      for (const { call } of streams.values()) call.destroy(Object.assign(new Error("the xDS server is shutting down"), { code: grpc.status.UNAVAILABLE }));
      streams.clear();
      server.forceShutdown();
    },
  };
}

