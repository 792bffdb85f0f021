/**
 * The package's public entry points, imported by name as a user would
 * (package self-reference through "exports", so from dist/: `npm ci` builds it
 * with the prepare script; run `npm run build` after changing src/).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

describe("package exports", () => {
  it("podreg/balancer: createPicker with every policy name, its public entry", async () => {
    const m = await import("podreg/balancer");
    assert.deepEqual([...m.POLICIES].sort(), ["least_connection", "least_request", "maglev", "never_queue", "random", "ring_hash", "round_robin", "shortest_expected_delay", "source_affinity", "weighted_round_robin"]);
    const instances = ["a", "b"].map((id, k) => ({ id, key: "s", service: "s", host: "10.0.0." + k, port: 80, protocol: "http", weight: k + 1, metadata: {}, labels: {}, ready: true, source: "t" }));
    for (const policy of m.POLICIES) {
      const p = m.createPicker(policy, instances);
      const got = p.pick({ hashKey: "user-1", clientAddress: "1.2.3.4" });
      assert.ok(got && instances.includes(got), policy);
      assert.equal(p.policy, policy);
    }
    const wrr = m.createPicker({ policy: "weighted_round_robin" }, instances, { random: () => 0 });
    assert.deepEqual([0, 1, 2, 3, 4, 5].map(() => wrr.pick()!.id), ["b", "a", "b", "b", "a", "b"]);
    assert.equal(typeof m.OutlierDetector, "function");
    assert.equal(typeof m.createLoadTracker, "function");
  });

  it("podreg/router, podreg/client, podreg/grpc and the root", async () => {
    const router = await import("podreg/router");
    const r = router.createRouter({ rules: [{ name: "canary", split: [{ subset: "version=v2", weight: 100 }] }] });
    const v2 = { id: "x", key: "s", service: "s", host: "h", port: 1, protocol: "http", weight: 1, metadata: { version: "v2" }, labels: {}, ready: true, source: "t" };
    const v1 = { ...v2, id: "y", metadata: { version: "v1" } };
    assert.deepEqual(r.route([v1, v2], {}, () => 0).instances.map((i) => i.id), ["x"]);
    const client = await import("podreg/client");
    assert.equal(typeof client.PodregDispatcher, "function");
    assert.throws(() => client.parseClientConfig({ defaults: { balancer: { policy: "nope" } } }), /defaults\.balancer\.policy/);
    const grpc = await import("podreg/grpc");
    assert.equal(typeof grpc.registerPodregGrpc, "function");
    const root = await import("podreg");
    assert.equal(typeof root.KubePodsRegistry, "function");
    assert.equal(typeof root.MemoryRegistry, "function");
    assert.equal(typeof root.LocalRegistry, "function");
    assert.equal(typeof root.RemoteRegistry, "function");
    const server = await import("podreg/server");
    assert.equal(typeof server.startServer, "function");
    assert.equal(server.openApiDocument.openapi, "3.1.0");
    const xds = await import("podreg/xds");
    assert.equal(typeof xds.startXdsServer, "function");
    assert.equal(xds.XDS_TYPE.listener, "type.googleapis.com/envoy.config.listener.v3.Listener");
  });
});
