/**
 * The server's Prometheus metrics, with prom-client on a registry of its own
 * (two servers in one process never share counters). Gauges are read when
 * scraped, from the source, the watch fan-out and the local registry, so
 * nothing is counted twice.
 */
import { Counter, Gauge, Histogram, Registry as PromRegistry } from "prom-client";
import type { Discovery } from "../registry/registry.js";
import type { XdsServer } from "./xds/server.js";
import type { WatchFanout } from "./watch.js";

/** What the server can tell about its sources beyond the Discovery contract (kube-pods' watch stats, local leases). */
export interface SourceStats {
  /** Relists and watch restarts of list/watch sources. */
  watches?: () => { relists: number; resumes: number; errors: number };
  /** Leases that expired (local registry). */
  leaseExpiries?: () => number;
  /** The xDS server beside this one (podreg serve --xds-port). */
  xds?: Pick<XdsServer, "clients" | "stats">;
}

export class ServerMetrics {
  readonly registry = new PromRegistry();
  readonly requests: Histogram<"method" | "route" | "status">;

  constructor(discovery: Discovery, fanout: WatchFanout, stats: SourceStats) {
    const registers = [this.registry];
    new Gauge({
      name: "podreg_instances",
      help: "Instances per service and source, as the server holds them",
      labelNames: ["service", "source", "ready"],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const i of discovery.instances("*")) {
          const k = JSON.stringify([i.key, i.source, String(i.ready)]);
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
        for (const [k, n] of counts) {
          const [service, source, ready] = JSON.parse(k) as [string, string, string];
          this.set({ service, source, ready }, n);
        }
      },
    });
    new Counter({
      name: "podreg_events_total",
      help: "Changes the server received from its sources",
      labelNames: ["type"],
      registers,
      collect() {
        this.reset();
        for (const [type, n] of Object.entries(fanout.stats.events)) this.inc({ type }, n);
      },
    });
    new Gauge({
      name: "podreg_watch_clients",
      help: "Connected SSE watch clients",
      registers,
      collect() {
        this.set(fanout.clientCount);
      },
    });
    new Counter({
      name: "podreg_watch_slow_disconnects_total",
      help: "SSE clients disconnected for not reading",
      registers,
      collect() {
        this.reset();
        this.inc(fanout.stats.slowDisconnects);
      },
    });
    new Counter({
      name: "podreg_watch_resumes_total",
      help: "SSE clients resumed from Last-Event-ID without a snapshot",
      registers,
      collect() {
        this.reset();
        this.inc(fanout.stats.resumed);
      },
    });
    new Counter({
      name: "podreg_source_relists_total",
      help: "Relists (410 Gone) of the source's list/watch",
      registers,
      collect() {
        this.reset();
        this.inc(stats.watches?.().relists ?? 0);
      },
    });
    new Counter({
      name: "podreg_source_watch_restarts_total",
      help: "Watches of the source restarted from a resourceVersion",
      registers,
      collect() {
        this.reset();
        this.inc(stats.watches?.().resumes ?? 0);
      },
    });
    new Counter({
      name: "podreg_lease_expiries_total",
      help: "Ephemeral instances removed because their lease expired",
      registers,
      collect() {
        this.reset();
        this.inc(stats.leaseExpiries?.() ?? 0);
      },
    });
    const xds = stats.xds;
    if (xds) {
      new Gauge({
        name: "podreg_xds_clients",
        help: "Connected xDS clients (ADS streams), by kind",
        labelNames: ["kind"],
        registers,
        collect() {
          this.reset();
          for (const kind of ["envoy", "grpc"]) this.set({ kind }, 0);
          for (const c of xds.clients()) if (c.kind) this.inc({ kind: c.kind });
        },
      });
      new Counter({
        name: "podreg_xds_pushes_total",
        help: "xDS responses sent, by type",
        labelNames: ["type"],
        registers,
        collect() {
          this.reset();
          for (const [type, n] of Object.entries(xds.stats.pushes)) this.inc({ type }, n);
        },
      });
      new Counter({
        name: "podreg_xds_nacks_total",
        help: "xDS responses clients refused (NACK), by type",
        labelNames: ["type"],
        registers,
        collect() {
          this.reset();
          for (const [type, n] of Object.entries(xds.stats.nacks)) this.inc({ type }, n);
        },
      });
    }
    this.requests = new Histogram({
      name: "podreg_http_request_duration_seconds",
      help: "HTTP requests to the server (watch streams are counted when they end)",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
  }
}
