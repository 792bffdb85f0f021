import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseServiceKey, resolveServiceName, serviceKey, type ServiceScope } from "../../../src/model/service-key.js";

const shop: ServiceScope = { scope: "namespace", defaultNamespace: "shop" };
const global: ServiceScope = { scope: "global", defaultNamespace: "shop" };

describe("service keys", () => {
  it("carry their scope and parse back", () => {
    assert.equal(serviceKey({ name: "echo" }), "echo");
    assert.equal(serviceKey({ name: "echo", namespace: "shop" }), "shop/echo");
    assert.equal(serviceKey({ name: "echo", namespace: "shop", cluster: "east" }), "east:shop/echo");
    fc.assert(
      fc.property(
        fc.record({
          name: fc.string({ minLength: 1 }).filter((s) => !s.includes("/")),
          namespace: fc.option(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/), { nil: undefined }),
          cluster: fc.option(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/), { nil: undefined }),
        }),
        (p) => {
          const parts = p.namespace === undefined ? { name: p.name } : p.cluster === undefined ? { name: p.name, namespace: p.namespace } : { name: p.name, namespace: p.namespace, cluster: p.cluster };
          assert.deepEqual(parseServiceKey(serviceKey(parts)), parts);
        },
      ),
    );
  });

  it("resolve what consumers write: a bare name in the own namespace, ns/name, name.ns.svc; RPC names stay names", () => {
    assert.equal(resolveServiceName("echo", shop), "shop/echo");
    assert.equal(resolveServiceName("payments/echo", shop), "payments/echo");
    assert.equal(resolveServiceName("echo.payments.svc", shop), "payments/echo");
    assert.equal(resolveServiceName("echo.payments.svc.cluster.local", shop), "payments/echo");
    assert.equal(resolveServiceName("echo.payments", shop), "shop/echo.payments", "without .svc a dotted name is a name");
    assert.equal(resolveServiceName("com.example.Echo", shop), "shop/com.example.Echo");
    assert.equal(resolveServiceName("com.example.Echo", global), "com.example.Echo");
    assert.equal(resolveServiceName("payments/echo", global), "echo", "a global source has no namespaces");
    assert.equal(resolveServiceName("echo", { scope: "namespace" }), "echo", "no namespace known: the bare key");
  });
});
