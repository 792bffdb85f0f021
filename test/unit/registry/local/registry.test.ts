import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { RegistryEvent } from "../../../../src/model/events.js";
import { LocalRegistry } from "../../../../src/registry/local/registry.js";
import { ManualClock } from "../../../support/clock.js";

describe("LocalRegistry", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), "podreg-local-"));
    dirs.push(d);
    return d;
  };

  it("an ephemeral lease expires without heartbeats and is renewed by them", async () => {
    const clock = new ManualClock();
    const reg = new LocalRegistry({ clock, ttlMs: 3000 });
    const events: RegistryEvent[] = [];
    reg.subscribe("echo", (e) => events.push(e));
    const a = await reg.add({ service: "echo", port: 8080, host: "10.0.0.1" });
    await reg.add({ service: "echo", port: 8080, host: "10.0.0.2", ttlMs: 5000 });
    assert.equal(a.expiresAt, 3000);
    clock.advance(2000);
    reg.heartbeat(a.id); // now expires at 5000
    clock.advance(2999);
    assert.equal(reg.instances("echo").length, 2, "both still leased at t=4999");
    clock.advance(2);
    assert.deepEqual(reg.instances("echo").map((i) => i.host), [], "a at 5000 and b at 5000 expired");
    assert.equal(reg.expiries, 2);
    assert.throws(() => reg.heartbeat(a.id), { code: "PODREG_NOT_FOUND" });
    await new Promise((r) => setImmediate(r));
    // The snapshot (a microtask after subscribe) already holds a, added in the same tick.
    assert.deepEqual(events.map((e) => e.type), ["snapshot", "added", "removed", "removed"]);
    const first = events[0];
    assert.deepEqual(first?.type === "snapshot" && first.instances.map((i) => i.host), ["10.0.0.1"]);
    await reg.close();
  });

  it("persistent instances survive a restart; ephemeral ones do not", async () => {
    const dir = dataDir();
    const one = new LocalRegistry({ dataDir: dir });
    const db = await one.add({ service: "db", port: 5432, host: "db.example.com", protocol: "postgres", kind: "persistent", metadata: { role: "primary" } });
    await one.add({ service: "echo", port: 80 });
    await one.update(db.id, { weight: 50 });
    await one.close();
    const two = new LocalRegistry({ dataDir: dir });
    const [inst] = two.instances("db");
    assert.equal(inst?.host, "db.example.com");
    assert.equal(inst?.weight, 50);
    assert.deepEqual(inst?.metadata, { role: "primary" });
    assert.deepEqual(two.instances("echo"), []);
    assert.equal(await two.remove(db.id), true);
    await two.close();
    const three = new LocalRegistry({ dataDir: dir });
    assert.deepEqual(three.services(), []);
    await three.close();
  });

  it("registering a known id replaces its entry; a kind change is refused", async () => {
    const reg = new LocalRegistry();
    await reg.add({ id: "web-1", service: "web", port: 80 });
    await reg.add({ id: "web-1", service: "web", port: 81 });
    assert.deepEqual(reg.instances("web").map((i) => i.port), [81]);
    await assert.rejects(reg.add({ id: "web-1", service: "web", port: 81, kind: "persistent" }), { code: "PODREG_REGISTRATION" });
    await reg.close();
  });

  it("refuses bad registrations with PODREG_REGISTRATION and changes nothing", async () => {
    const reg = new LocalRegistry();
    const bad: Parameters<LocalRegistry["add"]>[0][] = [
      { service: "", port: 80 },
      { service: "s", port: 0 },
      { service: "s", port: 80, host: "a/b" },
      { service: "s", port: 80, host: "::g" },
      { service: "s", port: 80, weight: -1 },
      { service: "s", port: 80, ttlMs: 10 },
      { service: "s", port: 80, id: "has space" },
      { service: "s", port: 80, kind: "forever" as "persistent" },
    ];
    for (const spec of bad) await assert.rejects(reg.add(spec), { code: "PODREG_REGISTRATION" }, JSON.stringify(spec));
    assert.deepEqual(reg.entries(), []);
    await assert.rejects(reg.update("nope", { weight: 1 }), { code: "PODREG_NOT_FOUND" });
    await reg.close();
  });

  it("close() removes this process's own registrations at once, and later calls fail with PODREG_CLOSED", async () => {
    const reg = new LocalRegistry();
    const seen: RegistryEvent[] = [];
    reg.subscribe("*", (e) => seen.push(e));
    const h = await reg.register({ service: "echo", port: 80 });
    await h.update({ metadata: { version: "v2" } });
    assert.equal(reg.instances("echo")[0]?.metadata.version, "v2");
    await reg.close();
    assert.deepEqual(reg.instances("echo"), []);
    await assert.rejects(reg.add({ service: "echo", port: 80 }), { code: "PODREG_CLOSED" });
    await assert.rejects(reg.whenSynced(), { code: "PODREG_CLOSED" });
  });

  it("keys services by namespace when given one", async () => {
    const reg = new LocalRegistry({ namespace: "shop" });
    await reg.add({ service: "echo", port: 80 });
    assert.deepEqual(reg.services(), ["shop/echo"]);
    assert.equal(reg.instances("echo").length, 1);
    assert.equal(reg.instances("payments/echo").length, 0);
    await reg.close();
  });
});
