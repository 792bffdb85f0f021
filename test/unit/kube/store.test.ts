import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Store } from "../../../src/kube/store.js";

interface Obj {
  readonly key: string;
  readonly resourceVersion: string;
}

type Ev = { type: "add"; obj: Obj } | { type: "update"; old: Obj; obj: Obj } | { type: "delete"; obj: Obj };

const o = (key: string, resourceVersion: string): Obj => ({ key, resourceVersion });

/** A store whose handler records events and checks, inside each handler, that the store already holds the change. */
function recording() {
  const events: Ev[] = [];
  const problems: string[] = [];
  const store: Store<Obj> = new Store<Obj>((x) => x.key, {
    onAdd(obj) {
      if (store.get(obj.key) !== obj) problems.push(`add ${obj.key}: store.get is not the added object`);
      events.push({ type: "add", obj });
    },
    onUpdate(old, obj) {
      if (store.get(obj.key) !== obj) problems.push(`update ${obj.key}: store.get is not the new object`);
      events.push({ type: "update", old, obj });
    },
    onDelete(obj) {
      if (store.get(obj.key) !== undefined) problems.push(`delete ${obj.key}: still in the store`);
      events.push({ type: "delete", obj });
    },
  });
  return { store, events, problems };
}

const brief = (e: Ev) => (e.type === "update" ? `update:${e.obj.key}@${e.old.resourceVersion}->${e.obj.resourceVersion}` : `${e.type}:${e.obj.key}@${e.obj.resourceVersion}`);

const byKey = (list: readonly Obj[]) => new Map([...list].sort((a, b) => a.key.localeCompare(b.key)).map((x) => [x.key, x] as const));

describe("Store", () => {
  it("upsert adds, then updates on a new resourceVersion, and ignores a replayed one", () => {
    const { store, events, problems } = recording();
    const a1 = o("a", "1");
    store.upsert(a1);
    assert.equal(store.size, 1);
    assert.equal(store.get("a"), a1);
    store.upsert(o("a", "1")); // replay: same RV, even as a fresh object
    assert.equal(store.get("a"), a1, "a replay does not replace the stored object");
    const a2 = o("a", "2");
    store.upsert(a2);
    assert.equal(store.get("a"), a2);
    assert.equal(store.size, 1);
    assert.deepEqual(events, [
      { type: "add", obj: a1 },
      { type: "update", old: a1, obj: a2 },
    ]);
    assert.deepEqual(problems, []);
  });

  it("remove emits the last known state and ignores unknown keys", () => {
    const { store, events, problems } = recording();
    const a2 = o("a", "2");
    store.upsert(o("a", "1"));
    store.upsert(a2);
    events.length = 0;
    store.remove(o("a", "1")); // a stale copy: the handler gets the stored one
    assert.equal(store.get("a"), undefined);
    assert.equal(store.size, 0);
    assert.deepEqual(events, [{ type: "delete", obj: a2 }]);
    assert.equal((events[0] as { obj: Obj }).obj, a2);
    store.remove(o("a", "3"));
    store.remove(o("nope", "1"));
    assert.equal(events.length, 1, "removing an unknown key emits nothing");
    assert.deepEqual(problems, []);
  });

  it("list returns everything", () => {
    const { store } = recording();
    store.upsert(o("a", "1"));
    store.upsert(o("b", "1"));
    store.upsert(o("c", "1"));
    store.remove(o("b", "1"));
    assert.deepEqual(byKey(store.list()), byKey([o("a", "1"), o("c", "1")]));
  });

  it("replace deletes vanished keys first, then updates changed RVs and adds new ones; unchanged ones emit nothing", () => {
    const { store, events, problems } = recording();
    const keep = o("keep", "1");
    const change1 = o("change", "1");
    const gone1 = o("gone1", "1");
    const gone2 = o("gone2", "5");
    for (const x of [keep, change1, gone1, gone2]) store.upsert(x);
    events.length = 0;

    const change2 = o("change", "2");
    const fresh = o("fresh", "1");
    const keepCopy = o("keep", "1");
    // new ones listed before the vanished ones would have been reached: deletions must still come first
    store.replace([fresh, keepCopy, change2]);

    const kinds = events.map((e) => e.type);
    assert.deepEqual(kinds.slice(0, 2), ["delete", "delete"], `deletions first: ${events.map(brief).join(" ")}`);
    assert.deepEqual(
      events.slice(0, 2).map(brief).sort(),
      ["delete:gone1@1", "delete:gone2@5"],
    );
    assert.deepEqual(events.slice(2).map(brief).sort(), ["add:fresh@1", "update:change@1->2"]);
    assert.equal(events.length, 4, "nothing for the unchanged object");
    assert.deepEqual(byKey(store.list()), byKey([keep, change2, fresh]));
    assert.equal(store.get("keep"), keep, "unchanged object is not replaced");
    assert.deepEqual(problems, []);
  });

  it("replace with an empty list deletes everything; replace on an empty store adds everything", () => {
    const { store, events, problems } = recording();
    store.replace([o("a", "1"), o("b", "1")]);
    assert.deepEqual(events.map(brief).sort(), ["add:a@1", "add:b@1"]);
    events.length = 0;
    store.replace([]);
    assert.deepEqual(events.map(brief).sort(), ["delete:a@1", "delete:b@1"]);
    assert.equal(store.size, 0);
    assert.deepEqual(problems, []);
  });

  it("works without handlers", () => {
    const store = new Store<Obj>((x) => x.key, {});
    store.upsert(o("a", "1"));
    store.upsert(o("a", "2"));
    store.replace([o("b", "1")]);
    store.remove(o("b", "1"));
    assert.equal(store.size, 0);
  });

  it("property: replace(list) makes the store equal the list, and its events transform old content into new", () => {
    const KEYS = ["a", "b", "c", "d", "e"];
    // fc.record builds null-prototype objects: rebuild plain ones so deepEqual compares like with like
    const obj = fc.record({ key: fc.constantFrom(...KEYS), resourceVersion: fc.constantFrom("1", "2", "3") }).map((x) => o(x.key, x.resourceVersion));
    const op = fc.oneof(
      fc.record({ kind: fc.constant("upsert" as const), obj }),
      fc.record({ kind: fc.constant("remove" as const), obj }),
      fc.record({ kind: fc.constant("replace" as const), list: fc.uniqueArray(obj, { selector: (x) => x.key, maxLength: KEYS.length }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), fc.uniqueArray(obj, { selector: (x) => x.key, maxLength: KEYS.length }), (ops, list) => {
        const { store, events, problems } = recording();
        for (const x of ops) {
          if (x.kind === "upsert") store.upsert(x.obj);
          else if (x.kind === "remove") store.remove(x.obj);
          else store.replace(x.list);
        }
        const before = new Map(store.list().map((x) => [x.key, x] as const));
        events.length = 0;

        store.replace(list);

        // store equals the list (objects with an unchanged RV keep the stored copy, which is equal)
        assert.deepEqual(byKey(store.list()), byKey(list));
        assert.equal(store.size, list.length);

        // applying the events to the previous content yields the new content
        const view = new Map(before);
        let seenNonDelete = false;
        for (const e of events) {
          const k = e.obj.key;
          if (e.type === "delete") {
            assert.equal(seenNonDelete, false, "deletions come first");
            assert.equal(view.get(k), e.obj, "deleted object is the one the consumer had");
            assert.ok(!list.some((x) => x.key === k), "only vanished keys are deleted");
            view.delete(k);
          } else {
            seenNonDelete = true;
            if (e.type === "update") {
              assert.equal(view.get(k), e.old, "update's old is what the consumer had");
              assert.notEqual(e.old.resourceVersion, e.obj.resourceVersion, "update only on a changed RV");
            } else {
              assert.ok(!view.has(k), "add only for a new key");
            }
            view.set(k, e.obj);
          }
        }
        assert.deepEqual(byKey([...view.values()]), byKey(list));

        // no event for what did not change: exactly one event per vanished, changed or new key
        const expected =
          [...before.keys()].filter((k) => !list.some((x) => x.key === k)).length +
          list.filter((x) => before.get(x.key)?.resourceVersion !== x.resourceVersion).length;
        assert.equal(events.length, expected);
        assert.deepEqual(problems, []);
      }),
      { numRuns: 500 },
    );
  });
});
