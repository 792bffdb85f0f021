import assert from "node:assert/strict";
import { ClosedError } from "../../../src/errors.js";
import { describe, it } from "node:test";
import type { RegistryEvent } from "../../../src/model/events.js";
import { MemoryRegistry } from "../../../src/registry/memory.js";
import { RegistrationError, type RegistrationSpec } from "../../../src/registry/registry.js";

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Subscribes and waits for the snapshot, so only deltas follow. */
async function watch(reg: MemoryRegistry, selector: string) {
  const events: RegistryEvent[] = [];
  const sub = reg.subscribe(selector, (ev) => events.push(ev));
  await flush();
  assert.equal(events[0]?.type, "snapshot");
  return { events, deltas: () => events.slice(1), sub };
}

/** One class per code: PODREG_REGISTRATION is a RegistrationError, PODREG_CLOSED a ClosedError. */
function isCode(code: string) {
  const cls = code === "PODREG_CLOSED" ? ClosedError : RegistrationError;
  return (err: unknown) => {
    assert.ok(err instanceof cls, `a ${cls.name}, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.name, cls.name);
    return true;
  };
}

describe("MemoryRegistry", () => {
  it("is synced from the start", async () => {
    const reg = new MemoryRegistry();
    assert.equal(reg.synced, true);
    assert.equal(reg.name, "memory");
    await reg.whenSynced();
    const events: RegistryEvent[] = [];
    reg.subscribe("echo", (ev) => events.push(ev));
    await flush();
    assert.deepEqual(events, [{ type: "snapshot", instances: [], revision: 0 }]);
  });

  it("register makes an instance visible with defaults", async () => {
    const reg = new MemoryRegistry({ now: () => 1234 });
    const w = await watch(reg, "echo");
    const h = await reg.register({ service: "echo", port: 8080 });
    assert.equal(h.service, "echo");
    const list = reg.instances("echo");
    assert.equal(list.length, 1);
    const i = list[0]!;
    assert.equal(i.service, "echo");
    assert.equal(i.port, 8080);
    assert.equal(i.protocol, "http");
    assert.equal(i.weight, 100);
    assert.equal(i.host, "127.0.0.1");
    assert.deepEqual(i.metadata, {});
    assert.deepEqual(i.labels, {});
    assert.equal(i.ready, true);
    assert.equal(i.source, "memory");
    assert.equal(i.startTime, 1234);
    assert.ok(i.id.startsWith("memory:"), i.id);
    assert.deepEqual(reg.services(), ["echo"]);
    assert.deepEqual(w.deltas(), [{ type: "added", instance: i, revision: 1 }]);
  });

  it("register keeps the given protocol, weight, metadata, host, and the registry's labels/zone/node", async () => {
    const reg = new MemoryRegistry({ labels: { app: "x" }, zone: "z1", node: "n1" });
    const metadata = { version: "2" };
    await reg.register({ service: "echo", port: 9000, protocol: "grpc", weight: 0, metadata, host: "10.1.2.3" });
    const i = reg.instances("echo")[0]!;
    assert.equal(i.protocol, "grpc");
    assert.equal(i.weight, 0);
    assert.deepEqual(i.metadata, { version: "2" });
    assert.equal(i.host, "10.1.2.3");
    assert.deepEqual(i.labels, { app: "x" });
    assert.equal(i.zone, "z1");
    assert.equal(i.node, "n1");
    metadata.version = "changed by the caller";
    assert.deepEqual(reg.instances("echo")[0]!.metadata, { version: "2" }, "metadata is copied, not aliased");
  });

  it("two registrations of one service are two instances with distinct ids", async () => {
    const reg = new MemoryRegistry();
    await reg.register({ service: "echo", port: 8080 });
    await reg.register({ service: "echo", port: 8080 });
    const list = reg.instances("echo");
    assert.equal(list.length, 2);
    assert.notEqual(list[0]!.id, list[1]!.id);
  });

  it("update changes weight and metadata, as an updated event", async () => {
    const reg = new MemoryRegistry();
    const w = await watch(reg, "echo");
    const h = await reg.register({ service: "echo", port: 8080, metadata: { version: "1" } });
    const before = reg.instances("echo")[0]!;

    await h.update({ weight: 5 });
    const afterWeight = reg.instances("echo")[0]!;
    assert.equal(afterWeight.weight, 5);
    assert.deepEqual(afterWeight.metadata, { version: "1" }, "metadata kept when not given");
    assert.equal(afterWeight.id, before.id, "same registration, same id");

    await h.update({ metadata: { version: "2" } });
    const afterMeta = reg.instances("echo")[0]!;
    assert.equal(afterMeta.weight, 5, "weight kept when not given");
    assert.deepEqual(afterMeta.metadata, { version: "2" });

    assert.deepEqual(w.deltas(), [
      { type: "added", instance: before, revision: 1 },
      { type: "updated", instance: afterWeight, previous: before, revision: 2 },
      { type: "updated", instance: afterMeta, previous: afterWeight, revision: 3 },
    ]);

    await h.update({ weight: 5, metadata: { version: "2" } });
    assert.equal(w.deltas().length, 3, "an update that changes nothing is no event");
  });

  it("update rejects invalid values and keeps the instance as it was", async () => {
    const reg = new MemoryRegistry();
    const h = await reg.register({ service: "echo", port: 8080, weight: 10 });
    await assert.rejects(h.update({ weight: -1 }), isCode("PODREG_REGISTRATION"));
    await assert.rejects(h.update({ weight: Number.NaN }), isCode("PODREG_REGISTRATION"));
    assert.equal(reg.instances("echo")[0]!.weight, 10);
  });

  it("close removes the instance with a removed event; closing twice is fine", async () => {
    const reg = new MemoryRegistry();
    const w = await watch(reg, "*");
    const h = await reg.register({ service: "echo", port: 8080 });
    const i = reg.instances("echo")[0]!;
    await h.close();
    assert.deepEqual(reg.instances("echo"), []);
    assert.deepEqual(reg.services(), []);
    await h.close();
    assert.deepEqual(w.deltas(), [
      { type: "added", instance: i, revision: 1 },
      { type: "removed", instance: i, revision: 2 },
    ]);
    await assert.rejects(h.update({ weight: 1 }), isCode("PODREG_CLOSED"));
  });

  const invalid: Array<[string, RegistrationSpec]> = [
    ["port 0", { service: "echo", port: 0 }],
    ["port 70000", { service: "echo", port: 70000 }],
    ["port 1.5", { service: "echo", port: 1.5 }],
    ["weight -1", { service: "echo", port: 8080, weight: -1 }],
    ["weight Infinity", { service: "echo", port: 8080, weight: Number.POSITIVE_INFINITY }],
    ["empty service", { service: "", port: 8080 }],
    ["protocol 'a b'", { service: "echo", port: 8080, protocol: "a b" }],
    ["non-string metadata", { service: "echo", port: 8080, metadata: { n: 1 as unknown as string } }],
  ];
  for (const [what, spec] of invalid) {
    it(`rejects ${what} with PODREG_REGISTRATION and registers nothing`, async () => {
      const reg = new MemoryRegistry();
      const w = await watch(reg, "*");
      await assert.rejects(reg.register(spec), isCode("PODREG_REGISTRATION"));
      assert.deepEqual(reg.services(), []);
      assert.deepEqual(w.deltas(), []);
    });
  }

  it("accepts the edges of the valid ranges", async () => {
    const reg = new MemoryRegistry();
    await reg.register({ service: "echo", port: 1, weight: 0, protocol: "tri" });
    await reg.register({ service: "echo", port: 65535, protocol: "grpc+tls" });
    assert.equal(reg.instances("echo").length, 2);
  });

  it("registry close deregisters everything, then refuses registrations with PODREG_CLOSED", async () => {
    const reg = new MemoryRegistry();
    const w = await watch(reg, "*");
    const h1 = await reg.register({ service: "echo", port: 8080 });
    await reg.register({ service: "echo", port: 8081 });
    await reg.register({ service: "other", port: 9000 });
    assert.deepEqual(reg.services(), ["echo", "other"]);

    await reg.close();
    assert.deepEqual(reg.services(), []);
    assert.deepEqual(reg.instances("echo"), []);
    assert.deepEqual(
      w.deltas().map((e) => e.type),
      ["added", "added", "added", "removed", "removed", "removed"],
    );
    await h1.close(); // already closed by the registry: fine, no event
    assert.equal(w.deltas().length, 6);

    await assert.rejects(reg.register({ service: "echo", port: 8080 }), isCode("PODREG_CLOSED"));
    assert.deepEqual(reg.services(), []);
    await reg.close(); // twice is fine
  });
});
