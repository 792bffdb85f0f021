import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serviceConfig } from "../../../src/client/config.js";
import { ServiceBalancer } from "../../../src/client/service-balancer.js";
import type { Instance } from "../../../src/model/instance.js";
import { MemoryRegistry } from "../../../src/registry/memory.js";

function inst(id: string, metadata: Record<string, string> = {}): Instance {
  return { id, key: "echo", service: "echo", host: "10.0.0.1", port: 8080, protocol: "http", weight: 100, metadata, labels: {}, ready: true, source: "memory" };
}

describe("ServiceBalancer", () => {
  it("keeps one rotation per instance subset: requests with ever new unmatched tags still alternate exactly", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", [inst("a"), inst("b"), inst("gray", { tag: "gray" })]);
    const b = new ServiceBalancer({ discovery: reg, service: "echo", config: serviceConfig({ defaults: { routing: { tag: {} } } }, "echo") });
    try {
      await b.whenReady();
      const picks = Array.from({ length: 8 }, (_, i) => b.select({ tag: `unknown-${i}` })!.instance.id);
      assert.deepEqual(
        picks.filter((_, i) => i % 2 === 0),
        Array<string>(4).fill(picks[0]!),
        `one picker shared by every unmatched tag: ${picks.join(",")}`,
      );
      assert.ok(picks.every((id, i) => i === 0 || id !== picks[i - 1]), `alternates: ${picks.join(",")}`);
      assert.equal(b.select({ tag: "gray" })!.instance.id, "gray");
    } finally {
      b.close();
    }
  });

  it("reads the hash key from the configured header, case-insensitively", async () => {
    const reg = new MemoryRegistry();
    reg.set("g", Array.from({ length: 10 }, (_, i) => inst(`i${i}`)));
    const b = new ServiceBalancer({ discovery: reg, service: "echo", config: serviceConfig({ defaults: { balancer: { policy: "ring_hash" }, hashKey: { header: "X-Session" } } }, "echo") });
    try {
      await b.whenReady();
      for (const user of ["u1", "u2", "u3"]) {
        const first = b.select({ headers: { "x-session": user } })!.instance.id;
        for (let k = 0; k < 5; k++) assert.equal(b.select({ headers: { "X-Session": user } })!.instance.id, first, user);
        assert.equal(b.select({ hashKey: user })!.instance.id, first, "an explicit hashKey hashes the same");
      }
    } finally {
      b.close();
    }
  });

  it("sessionAffinity: ClientIP on every instance means source_affinity, unless a policy is configured", async () => {
    const reg = new MemoryRegistry();
    const sticky = { "podreg.io/session-affinity": "ClientIP" };
    reg.set("g", Array.from({ length: 6 }, (_, i) => inst(`s${i}`, sticky)));
    const b = new ServiceBalancer({ discovery: reg, service: "echo", config: serviceConfig({}, "echo") });
    const configured = new ServiceBalancer({ discovery: reg, service: "echo", config: serviceConfig({ defaults: { balancer: { policy: "round_robin" } } }, "echo") });
    try {
      await b.whenReady();
      await configured.whenReady();
      const sel = b.select({ clientAddress: "192.0.2.7" })!;
      assert.equal(sel.policy, "source_affinity");
      for (let k = 0; k < 5; k++) assert.equal(b.select({ clientAddress: "192.0.2.7" })!.instance.id, sel.instance.id);
      assert.equal(configured.select({ clientAddress: "192.0.2.7" })!.policy, "round_robin");
    } finally {
      b.close();
      configured.close();
    }
  });
});
