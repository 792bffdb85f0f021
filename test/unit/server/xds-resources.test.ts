/** The model → xDS conversion (src/server/xds/resources.ts), table-driven. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serviceConfig, type ClientConfig } from "../../../src/client/config.js";
import type { Instance } from "../../../src/model/instance.js";
import { buildCluster, buildEnvoyRoutes, buildLoadAssignment, familyOf, serviceDomains, type ServiceView } from "../../../src/server/xds/resources.js";

const inst = (host: string, o: Partial<Instance> = {}): Instance => ({
  id: `t:${host}:${o.port ?? 80}`,
  key: "shop/api",
  service: "api",
  host,
  port: 80,
  protocol: "http",
  weight: 100,
  metadata: {},
  labels: {},
  ready: true,
  source: "test",
  ...o,
});

const view = (instances: Instance[], config: ClientConfig = {}, key = "shop/api"): ServiceView => ({ key, instances, config: serviceConfig(config, "api") });

describe("xDS resources", () => {
  it("protocol families: HTTP/1 and HTTP/2 (gRPC); the rest is not served", () => {
    const table: [string, string | undefined][] = [
      ["http", "http"],
      ["https", "http"],
      ["grpc", "grpc"],
      ["http2", "grpc"],
      ["h2c", "grpc"],
      ["tri", "grpc"],
      ["tcp", undefined],
      ["dubbo", undefined],
    ];
    for (const [p, f] of table) assert.equal(familyOf(p), f, p);
  });

  it("policies map onto the client's: Envoy takes all four, gRPC round robin and ring hash", () => {
    const table: [ClientConfig["defaults"], string, string][] = [
      [undefined, "ROUND_ROBIN", "ROUND_ROBIN"],
      [{ balancer: { policy: "weighted_round_robin" } }, "ROUND_ROBIN", "ROUND_ROBIN"],
      [{ balancer: { policy: "random" } }, "RANDOM", "ROUND_ROBIN"],
      [{ balancer: { policy: "least_request", leastRequest: { choiceCount: 3 } } }, "LEAST_REQUEST", "ROUND_ROBIN"],
      [{ balancer: { policy: "ring_hash", ringHash: { maxRingSize: 4096 } } }, "RING_HASH", "RING_HASH"],
      [{ balancer: { policy: "maglev", maglev: { tableSize: 65537 } } }, "MAGLEV", "RING_HASH"],
      [{ balancer: { policy: "source_affinity" } }, "RING_HASH", "RING_HASH"],
      [{ balancer: { policy: "least_connection" } }, "LEAST_REQUEST", "ROUND_ROBIN"],
      [{ balancer: { policy: "shortest_expected_delay" } }, "LEAST_REQUEST", "ROUND_ROBIN"],
      [{ balancer: { policy: "never_queue" } }, "LEAST_REQUEST", "ROUND_ROBIN"],
    ];
    for (const [defaults, envoy, grpc] of table) {
      const v = view([inst("10.0.0.1")], { defaults });
      assert.equal(buildCluster(v, "http", "envoy").lb_policy, envoy, JSON.stringify(defaults));
      assert.equal(buildCluster(v, "grpc", "grpc").lb_policy, grpc, JSON.stringify(defaults));
    }
    const lr = buildCluster(view([], { defaults: { balancer: { policy: "least_request", leastRequest: { choiceCount: 3 } } } }), "http", "envoy");
    assert.deepEqual(lr.least_request_lb_config, { choice_count: { value: 3 } });
    const rh = buildCluster(view([], { defaults: { balancer: { policy: "ring_hash", ringHash: { maxRingSize: 4096 } } } }), "grpc", "grpc");
    assert.deepEqual(rh.ring_hash_lb_config, { hash_function: "XX_HASH", maximum_ring_size: { value: "4096" } });
  });

  it("outlier detection: consecutive failures, failure rate and ejection times", () => {
    const c = buildCluster(view([], { defaults: { outlier: { consecutiveFailures: 3, failureRate: { threshold: 0.25, minRequests: 20, intervalMs: 10_000 }, baseEjectionMs: 1500, maxEjectionPercent: 50 } } }), "http", "envoy");
    assert.deepEqual(c.outlier_detection, {
      consecutive_5xx: { value: 3 },
      enforcing_consecutive_5xx: { value: 100 },
      interval: { seconds: "10", nanos: 0 },
      failure_percentage_threshold: { value: 25 },
      failure_percentage_request_volume: { value: 20 },
      failure_percentage_minimum_hosts: { value: 1 },
      enforcing_failure_percentage: { value: 100 },
      enforcing_success_rate: { value: 0 },
      base_ejection_time: { seconds: "1", nanos: 500_000_000 },
      max_ejection_percent: { value: 50 },
    });
    assert.equal(buildCluster(view([]), "http", "envoy").outlier_detection, undefined, "off unless configured");
  });

  it("endpoints: a locality per zone weighted by its ready endpoints; not ready UNHEALTHY, weight 0 DRAINING; names and other protocols left out", () => {
    const cla = buildLoadAssignment(
      view([
        inst("10.0.0.1", { zone: "a", weight: 30 }),
        inst("10.0.0.2", { zone: "a", weight: 10 }),
        inst("10.0.0.3", { zone: "b", ready: false }),
        inst("10.0.0.4", { zone: "b", weight: 0 }),
        inst("fd00::1", { zone: "b", weight: 5 }),
        inst("api.example.com"),
        inst("10.0.0.5", { protocol: "grpc" }),
      ]),
      "http",
    ) as { cluster_name: string; endpoints: { locality: { zone?: string }; load_balancing_weight: { value: number }; lb_endpoints: { endpoint: { address: { socket_address: { address: string } } }; health_status: string; load_balancing_weight: { value: number } }[] }[] };
    assert.equal(cla.cluster_name, "outbound|http|shop/api");
    const rows = cla.endpoints.map((l) => [l.locality.zone, l.load_balancing_weight.value, l.lb_endpoints.map((e) => `${e.endpoint.address.socket_address.address} ${e.health_status} ${e.load_balancing_weight.value}`)]);
    assert.deepEqual(rows, [
      ["a", 40, ["10.0.0.1 HEALTHY 30", "10.0.0.2 HEALTHY 10"]],
      ["b", 5, ["10.0.0.3 UNHEALTHY 100", "10.0.0.4 DRAINING 1", "fd00::1 HEALTHY 5"]],
    ]);
  });

  it("Envoy's routes: Kubernetes DNS names per service, the bare name in the default namespace, each domain once", () => {
    assert.deepEqual(serviceDomains("shop/api", "shop"), ["api", "api.shop", "api.shop.svc", "api.shop.svc.cluster.local"]);
    assert.deepEqual(serviceDomains("shop/api", "other"), ["api.shop", "api.shop.svc", "api.shop.svc.cluster.local"]);
    assert.deepEqual(serviceDomains("com.example.Echo", "shop"), ["com.example.echo"]);
    const routes = buildEnvoyRoutes(
      [
        view([inst("10.0.0.1")], {}, "shop/api"),
        view([inst("10.0.0.2", { key: "api.shop", service: "api.shop" })], {}, "api.shop"),
        view([inst("10.0.0.3", { protocol: "tcp" })], {}, "shop/db"),
        view([inst("10.0.0.4")], {}, "shop/Bad Name"),
      ],
      "shop",
    ) as { virtual_hosts: { name: string; domains: string[] }[] };
    assert.deepEqual(
      routes.virtual_hosts.map((v) => [v.name, v.domains]),
      [
        ["api.shop", ["api.shop"]],
        ["shop/api", ["api", "api.shop.svc", "api.shop.svc.cluster.local"]],
      ],
      "by key, first come first served: the global service api.shop takes its name, shop/api keeps the rest; tcp and non-host names are left out",
    );
  });

  it("hash policies: the configured header, else the source address for Envoy", () => {
    const hashed = buildEnvoyRoutes([view([inst("10.0.0.1")], { defaults: { balancer: { policy: "ring_hash" }, hashKey: { header: "X-User" } } })], "shop") as { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] };
    assert.deepEqual(hashed.virtual_hosts[0]!.routes[0]!.route.hash_policy, [{ header: { header_name: "x-user" } }]);
    const affinity = buildEnvoyRoutes([view([inst("10.0.0.1")], { defaults: { balancer: { policy: "source_affinity" } } })], "shop") as typeof hashed;
    assert.deepEqual(affinity.virtual_hosts[0]!.routes[0]!.route.hash_policy, [{ connection_properties: { source_ip: true } }]);
  });
});
