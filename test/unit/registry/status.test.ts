import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StatusEvent } from "../../../src/model/events.js";
import { StatusTracker } from "../../../src/registry/status.js";

describe("registry status", () => {
  it("is failing from the first failing watch until all answer again, and tells listeners later, in order", async () => {
    let now = 1000;
    const t = new StatusTracker(() => now);
    const seen: StatusEvent[] = [];
    t.onStatus((e) => seen.push(e));
    const [a, b] = [{}, {}];
    t.markSynced();
    t.fail(a, new Error("a down"));
    assert.equal(seen.length, 0, "never from inside the call");
    t.fail(b, new Error("b down"));
    now = 4000;
    t.recover(a);
    t.markSynced();
    now = 6500;
    t.recover(b);
    t.recover(b);
    await Promise.resolve();
    assert.deepEqual(
      seen.map((e) => (e.type === "failing" ? `failing ${e.error.message}` : e.type === "recovered" ? `recovered ${e.downMs}` : e.type)),
      ["synced", "failing a down", "recovered 5500"],
    );
  });

  it("a closed listener gets nothing more, even what was queued", async () => {
    const t = new StatusTracker(() => 0);
    const seen: string[] = [];
    const sub = t.onStatus((e) => seen.push(e.type));
    t.fail({}, new Error("x"));
    sub.close();
    await Promise.resolve();
    assert.deepEqual(seen, []);
  });
});
