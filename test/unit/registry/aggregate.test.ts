import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StatusEvent, StatusListener } from "../../../src/model/events.js";
import { buildInstance, type Instance } from "../../../src/model/instance.js";
import { AggregateDiscovery } from "../../../src/registry/aggregate.js";
import { MemoryRegistry } from "../../../src/registry/memory.js";
import { ManualClock } from "../../support/clock.js";

const inst = (source: string, host: string, port: number, o: Partial<Parameters<typeof buildInstance>[0]> = {}): Instance =>
  buildInstance({ source, origin: `shop/${host}`, service: "echo", host, port, protocol: "http", namespace: "shop", ...o });

/** A memory registry whose status the test drives (a source that never syncs, fails, recovers). */
class Controlled extends MemoryRegistry {
  private readonly listeners = new Set<StatusListener>();
  override onStatus(listener: StatusListener) {
    this.listeners.add(listener);
    return { close: () => void this.listeners.delete(listener) };
  }
  emit(ev: StatusEvent): void {
    for (const l of this.listeners) l(ev);
  }
}
const tick = () => new Promise((r) => setImmediate(r));

describe("AggregateDiscovery", () => {
  it("one instance per endpoint seen by several sources: strongest fields, merged metadata, all sources listed, ready only if all are", async () => {
    const pods = new MemoryRegistry({ namespace: "shop" });
    const services = new MemoryRegistry({ namespace: "shop" });
    pods.set("p", [inst("kube-pods", "10.0.0.1", 8080, { metadata: { version: "v2", group: "g1" }, weight: 50 })]);
    services.set("s", [
      inst("kube-services", "10.0.0.1", 8080, { metadata: { version: "v1", "podreg.io/port-name": "http" }, labels: { app: "echo" }, zone: "zone-a", ready: false }),
      inst("kube-services", "10.0.0.2", 8080, { metadata: { "podreg.io/port-name": "http" } }),
    ]);
    const agg = new AggregateDiscovery({ sources: [pods, services] });
    await agg.whenSynced();
    const list = [...agg.instances("echo")].sort((a, b) => a.host.localeCompare(b.host));
    assert.equal(list.length, 2);
    const [both, only] = list;
    assert.deepEqual(both!.metadata, { version: "v2", group: "g1", "podreg.io/port-name": "http" }, "annotation wins on conflict");
    assert.deepEqual(both!.sources, ["kube-pods", "kube-services"]);
    assert.equal(both!.source, "kube-pods");
    assert.equal(both!.weight, 50);
    assert.deepEqual(both!.labels, { app: "echo" });
    assert.equal(both!.zone, "zone-a");
    assert.equal(both!.ready, false, "not ready when any source says so");
    assert.equal(only!.sources, undefined);
    await agg.close();
  });

  it("follows each source's changes through one subscription", async () => {
    const a = new MemoryRegistry({ namespace: "shop" });
    const b = new MemoryRegistry({ namespace: "shop" });
    const agg = new AggregateDiscovery({ sources: [a, b] });
    const seen: string[] = [];
    agg.subscribe("echo", (ev) => seen.push(ev.type === "snapshot" ? `snapshot ${ev.instances.length}` : `${ev.type} ${ev.instance.host} ${(ev.instance.sources ?? [ev.instance.source]).join("+")}`));
    await agg.whenSynced();
    a.set("x", [inst("kube-pods", "10.0.0.1", 80)]);
    b.set("y", [inst("local", "10.0.0.1", 80)]);
    b.set("z", [inst("local", "10.0.0.9", 80)]);
    a.set("x", []);
    await tick();
    assert.deepEqual(seen, ["snapshot 0", "added 10.0.0.1 kube-pods", "updated 10.0.0.1 kube-pods+local", "added 10.0.0.9 local", "updated 10.0.0.1 local"]);
    await agg.close();
  });

  it("clusters: instances tagged with their cluster, one service across clusters", async () => {
    const east = new MemoryRegistry({ namespace: "shop" });
    const west = new MemoryRegistry({ namespace: "shop" });
    east.set("e", [inst("kube-services", "10.0.0.1", 80)]);
    west.set("w", [inst("kube-services", "10.0.0.1", 80)]);
    const agg = new AggregateDiscovery({ sources: [{ discovery: east, cluster: "east" }, { discovery: west, cluster: "west" }] });
    await agg.whenSynced();
    const list = agg.instances("echo");
    assert.deepEqual(list.map((i) => [i.key, i.cluster, i.id]).sort(), [["shop/echo", "east", "aggregate:east/shop/echo/10.0.0.1:80"], ["shop/echo", "west", "aggregate:west/shop/echo/10.0.0.1:80"]], "the same address in two clusters is two instances");
    assert.deepEqual(agg.services(), ["shop/echo"]);
    await agg.close();
  });

  it("a failing source never blocks sync; its instances are kept for staleAfterMs, dropped after, and back when it recovers", async () => {
    const clock = new ManualClock();
    const good = new MemoryRegistry({ namespace: "shop" });
    const flaky = new Controlled({ namespace: "shop" });
    const never = new Controlled({ namespace: "shop" });
    good.set("g", [inst("local", "10.0.0.1", 80)]);
    flaky.set("f", [inst("kube-pods", "10.0.0.2", 80)]);
    const agg = new AggregateDiscovery({ sources: [good, { discovery: flaky, cluster: "b" }, { discovery: never, cluster: "c" }], staleAfterMs: 60_000, clock });
    const statuses: string[] = [];
    agg.onStatus((s) => statuses.push(s.type));
    flaky.emit({ type: "synced" });
    never.emit({ type: "failing", error: Object.assign(new Error("connect ECONNREFUSED"), { code: "PODREG_KUBE_UNREACHABLE" }) });
    await agg.whenSynced();
    assert.equal(agg.instances("echo").length, 2);
    flaky.emit({ type: "failing", error: new Error("gone") });
    clock.advance(59_999);
    assert.equal(agg.instances("echo").length, 2, "stale but kept");
    clock.advance(1);
    assert.deepEqual(agg.instances("echo").map((i) => i.host), ["10.0.0.1"], "dropped after staleAfterMs");
    flaky.emit({ type: "recovered", downMs: 60_000 });
    assert.equal(agg.instances("echo").length, 2, "back when it answers");
    await tick();
    assert.equal(statuses[0], "failing");
    assert.ok(statuses.includes("synced"));
    await agg.close();
  });

  it("close() closes the sources and settles whenSynced with PODREG_CLOSED", async () => {
    const a = new MemoryRegistry();
    const agg = new AggregateDiscovery({ sources: [a] });
    await agg.whenSynced();
    await agg.close();
    await assert.rejects(agg.whenSynced(), { code: "PODREG_CLOSED" });
    await assert.rejects(a.whenSynced(), { code: "PODREG_CLOSED" });
  });
});
