import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildInstance, type Instance } from "../../../src/model/instance.js";
import { subscribeBatches, type BatchEvent } from "../../../src/registry/batch.js";
import { InstanceHub } from "../../../src/registry/hub.js";
import { ManualClock } from "../../support/clock.js";

const inst = (id: string, service = "echo", weight = 100): Instance =>
  buildInstance({ source: "test", origin: id, service, host: "10.0.0.1", port: 8080, protocol: "http", weight });

const flush = () => new Promise<void>((r) => setImmediate(r));

function setup(opts: { debounceMs?: number; maxDelayMs?: number } = {}) {
  const hub = new InstanceHub();
  hub.markSynced();
  const clock = new ManualClock();
  const out: BatchEvent[] = [];
  const sub = subscribeBatches({ subscribe: (s, l) => hub.subscribe(s, l) }, "*", (ev) => out.push(ev), { ...opts, clock });
  return { hub, clock, out, sub };
}

describe("subscribeBatches", () => {
  it("a burst of 100 changes is one batch per service, after the quiet time", async () => {
    const { hub, clock, out } = setup({ debounceMs: 100 });
    await flush();
    assert.deepEqual(out.map((e) => e.type), ["snapshot"]);
    for (let k = 0; k < 100; k++) {
      hub.setGroup(`p${k}`, [inst(`p${k}`, k % 2 === 0 ? "echo" : "other")]);
      clock.advance(1);
    }
    assert.equal(out.length, 1, "nothing while changes keep coming");
    clock.advance(99);
    const batches = out.slice(1);
    assert.deepEqual(batches.map((b) => (b.type === "batch" ? [b.service, b.changes.length, b.revision] : [])), [
      ["echo", 50, 99],
      ["other", 50, 100],
    ]);
  });

  it("flushes at maxDelayMs even when changes never stop", async () => {
    const { hub, clock, out } = setup({ debounceMs: 100, maxDelayMs: 500 });
    await flush();
    for (let k = 0; k < 20; k++) {
      hub.setGroup("g", [inst("a", "echo", k + 1)]);
      clock.advance(50);
    }
    const batches = out.filter((e) => e.type === "batch");
    assert.ok(batches.length >= 1 && batches.length <= 2, `flushed by the max delay: ${batches.length}`);
    assert.equal(batches[0]!.type === "batch" && batches[0]!.changes.length, 10, "the first window closed 500 ms after it opened");
  });

  it("closing stops delivery and clears its timer", async () => {
    const { hub, clock, out, sub } = setup();
    await flush();
    hub.setGroup("g", [inst("a")]);
    sub.close();
    clock.advance(10_000);
    assert.equal(clock.timers.size, 0);
    assert.deepEqual(out.map((e) => e.type), ["snapshot"]);
  });
});
