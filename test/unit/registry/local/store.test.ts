import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DurableMap } from "../../../../src/registry/local/store.js";

describe("DurableMap (fsync'd log + atomic snapshots)", () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), "podreg-store-"));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("keeps puts and deletes across a reopen; get() sees a put only once it is acknowledged", async () => {
    const d = dir();
    const m = DurableMap.open<{ n: number }>({ dir: d });
    const p = m.put("a", { n: 1 });
    assert.equal(m.get("a"), undefined, "not yet on disk");
    await p;
    assert.deepEqual(m.get("a"), { n: 1 });
    await Promise.all([m.put("b", { n: 2 }), m.put("a", { n: 3 }), m.delete("b"), m.put("c", { n: 4 })]);
    await m.close();
    const again = DurableMap.open<{ n: number }>({ dir: d });
    assert.deepEqual(Object.fromEntries(["a", "b", "c"].map((k) => [k, again.get(k)])), { a: { n: 3 }, b: undefined, c: { n: 4 } });
    await again.close();
  });

  it("drops a torn or corrupt tail (never acknowledged) and truncates the log there", async () => {
    const d = dir();
    const m = DurableMap.open<string>({ dir: d });
    await m.put("a", "kept");
    await m.close();
    const log = join(d, "log.jsonl");
    const good = statSync(log).size;
    appendFileSync(log, '0badc0de {"op":"put","id":"b","value":"forged"}\n{"op":"put","id":"c"');
    const again = DurableMap.open<string>({ dir: d });
    assert.equal(again.get("a"), "kept");
    assert.equal(again.get("b"), undefined, "a line whose checksum fails is not replayed");
    assert.equal(statSync(log).size, good, "truncated at the last good record");
    await again.put("d", "after");
    await again.close();
    const third = DurableMap.open<string>({ dir: d });
    assert.deepEqual([third.get("a"), third.get("d")], ["kept", "after"]);
    await third.close();
  });

  it("compacts into a snapshot and an empty log, and reads back the same state", async () => {
    const d = dir();
    const m = DurableMap.open<number>({ dir: d, compactAfter: 10 });
    for (let i = 0; i < 50; i++) await m.put(`k${i % 5}`, i);
    await m.close();
    assert.ok(statSync(join(d, "snapshot.json")).size > 0);
    assert.ok(readFileSync(join(d, "log.jsonl"), "utf8").split("\n").length < 15, "the log was emptied by compaction");
    const again = DurableMap.open<number>({ dir: d });
    assert.deepEqual(again.values().sort((a, b) => a - b), [45, 46, 47, 48, 49]);
    await again.close();
  });

  it("refuses a directory held by a live process, takes over one left by a dead one, and refuses a damaged snapshot", async () => {
    const d = dir();
    const m = DurableMap.open<number>({ dir: d });
    assert.throws(() => DurableMap.open<number>({ dir: d }), { code: "PODREG_CONFIG", message: /in use by process/ });
    await m.close();
    writeFileSync(join(d, "lock"), "999999999"); // no such process
    const again = DurableMap.open<number>({ dir: d });
    await again.close();
    writeFileSync(join(d, "snapshot.json"), "{not json");
    assert.throws(() => DurableMap.open<number>({ dir: d }), { code: "PODREG_CONFIG", message: /damaged/ });
  });

  it("writes its files 0600 in a 0700 directory", async () => {
    const d = join(dir(), "data");
    const m = DurableMap.open<number>({ dir: d });
    await m.put("a", 1);
    assert.equal(statSync(d).mode & 0o777, 0o700);
    assert.equal(statSync(join(d, "log.jsonl")).mode & 0o777, 0o600);
    await m.close();
  });
});
