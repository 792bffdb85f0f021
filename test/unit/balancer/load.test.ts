import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createLoadTracker, createPicker } from "../../../src/balancer/index.js";
import type { Instance } from "../../../src/model/instance.js";

const inst = (id: string): Instance => ({ id, key: "echo", service: "echo", host: "10.0.0.1", port: 8080, protocol: "http", weight: 100, metadata: {}, labels: {}, ready: true, source: "memory" });

describe("createLoadTracker", () => {
  it("counts calls in flight per instance id, independently", () => {
    const load = createLoadTracker();
    assert.equal(load.inFlight("a"), 0);
    load.start("a");
    load.start("a");
    load.start("b");
    assert.deepEqual([load.inFlight("a"), load.inFlight("b"), load.inFlight("c")], [2, 1, 0]);
    load.end("a");
    assert.deepEqual([load.inFlight("a"), load.inFlight("b")], [1, 1]);
    load.end("a");
    load.end("b");
    assert.deepEqual([load.inFlight("a"), load.inFlight("b")], [0, 0]);
  });

  it("an unmatched end() never drives a count below 0 (nor owes a later start)", () => {
    const load = createLoadTracker();
    load.end("a");
    assert.equal(load.inFlight("a"), 0);
    load.start("a");
    load.end("a");
    load.end("a");
    load.end("a");
    assert.equal(load.inFlight("a"), 0);
    load.start("a");
    assert.equal(load.inFlight("a"), 1, "the extra end() calls were not banked against this start()");
  });

  it("property: equals a model where end() floors at 0", () => {
    const op = fc.record({ start: fc.boolean(), id: fc.constantFrom("a", "b", "c", "__proto__", "") });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const load = createLoadTracker();
        const model = new Map<string, number>();
        for (const { start, id } of ops) {
          if (start) load.start(id);
          else load.end(id);
          model.set(id, Math.max(0, (model.get(id) ?? 0) + (start ? 1 : -1)));
          assert.equal(load.inFlight(id), model.get(id));
        }
        for (const [id, n] of model) assert.equal(load.inFlight(id), n);
      }),
    );
  });

  it("survives picker rebuilds: least_request keeps avoiding a busy instance", () => {
    const load = createLoadTracker();
    const [a, b] = [inst("a"), inst("b")];
    for (let k = 0; k < 10; k++) load.start("a");
    for (const set of [[a, b], [b, a]]) {
      const picker = createPicker("least_request", set, { load });
      for (let k = 0; k < 50; k++) assert.equal(picker.pick()?.id, "b");
    }
    for (let k = 0; k < 10; k++) load.end("a");
    load.start("b");
    const picker = createPicker("least_request", [a, b], { load });
    assert.equal(picker.pick()?.id, "a");
  });
});
