import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { RegistryEvent } from "../../../src/model/events.js";
import { sameInstance, type Instance } from "../../../src/model/instance.js";
import { InstanceHub } from "../../../src/registry/hub.js";
import type { Logger } from "../../../src/util/logger.js";

function inst(id: string, over: Partial<Instance> = {}): Instance {
  return {
    id,
    service: "echo",
    host: "10.0.0.1",
    port: 8080,
    protocol: "http",
    weight: 100,
    metadata: {},
    labels: {},
    ready: true,
    source: "test",
    ...over,
    key: over.key ?? over.service ?? "echo",
  };
}

/** Lets queued microtasks (snapshot delivery) run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function record(hub: InstanceHub, selector: string) {
  const events: RegistryEvent[] = [];
  const sub = hub.subscribe(selector, (ev) => events.push(ev));
  return { events, sub };
}

/**
 * The hub catches what a listener throws and logs it; assertions made inside
 * listeners would be swallowed. This logger keeps them so a test can rethrow.
 */
function failingLogger() {
  const thrown: unknown[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (obj) => thrown.push((obj as { err?: unknown }).err ?? obj),
  };
  return {
    logger,
    rethrow() {
      if (thrown.length > 0) throw thrown[0];
    },
  };
}

const ids = (list: readonly Instance[]) => list.map((i) => i.id).sort();

/** A short, comparable form of an event. */
function brief(ev: RegistryEvent): string {
  if (ev.type === "snapshot") return `snapshot[${ids(ev.instances).join(",")}]`;
  return `${ev.type}:${ev.instance.id}`;
}

describe("InstanceHub snapshot", () => {
  it("delivers no snapshot before markSynced, then exactly one containing the state", async () => {
    const hub = new InstanceHub();
    const { events } = record(hub, "echo");
    hub.setGroup("g1", [inst("a")]);
    await flush();
    assert.deepEqual(events, [], "nothing before the hub is synced");
    assert.equal(hub.synced, false);

    hub.markSynced();
    assert.equal(hub.synced, true);
    // Present subscribers get theirs inside markSynced, so it is in before whenSynced() resolves.
    assert.deepEqual(events.map(brief), ["snapshot[a]"]);

    hub.markSynced(); // second call is a no-op: no second snapshot
    await flush();
    assert.equal(events.length, 1);
  });

  it("delivers the snapshot after subscribe returns, in a microtask", async () => {
    const log = failingLogger();
    const hub = new InstanceHub(log.logger);
    hub.setGroup("g1", [inst("a"), inst("b")]);
    hub.markSynced();
    const events: RegistryEvent[] = [];
    let returned = false;
    hub.subscribe("echo", (ev) => {
      assert.equal(returned, true, "listener called only after subscribe returned");
      events.push(ev);
    });
    returned = true;
    assert.equal(events.length, 0);
    await Promise.resolve();
    log.rethrow();
    assert.deepEqual(events.map(brief), ["snapshot[a,b]"]);
  });

  it("snapshot of a service with no instances is empty", async () => {
    const hub = new InstanceHub();
    hub.setGroup("g1", [inst("a", { service: "other" })]);
    hub.markSynced();
    const { events } = record(hub, "echo");
    await flush();
    assert.deepEqual(events, [{ type: "snapshot", instances: [], revision: 0 }]);
  });

  it("whenSynced resolves once markSynced is called", async () => {
    const hub = new InstanceHub();
    let done = false;
    const p = hub.whenSynced().then(() => (done = true));
    await flush();
    assert.equal(done, false);
    hub.markSynced();
    await p;
    assert.equal(done, true);
    await hub.whenSynced(); // already synced: resolves
  });

  it("folds deltas between subscribe and snapshot delivery into the snapshot, not delivered twice", async () => {
    const hub = new InstanceHub();
    hub.setGroup("g1", [inst("a")]);
    hub.setGroup("g2", [inst("b")]);
    hub.markSynced();
    const { events } = record(hub, "echo");
    // before the snapshot microtask runs:
    hub.setGroup("g3", [inst("c")]); // add
    hub.deleteGroup("g2"); // remove
    hub.setGroup("g1", [inst("a", { weight: 5 })]); // update
    await flush();
    assert.equal(events.length, 1, `only the snapshot: ${events.map(brief).join(" ")}`);
    const snap = events[0];
    assert.ok(snap?.type === "snapshot");
    assert.deepEqual(ids(snap.instances), ["a", "c"]);
    assert.equal(snap.instances.find((i) => i.id === "a")?.weight, 5);

    hub.setGroup("g3", []);
    assert.deepEqual(events.slice(1).map(brief), ["removed:c"]);
  });

  it("delivers the snapshot of a subscriber present at markSynced before whenSynced resolves, then deltas", async () => {
    const hub = new InstanceHub();
    const { events } = record(hub, "*");
    const seenAtSync: string[][] = [];
    const synced = hub.whenSynced().then(() => seenAtSync.push(events.map(brief)));
    hub.setGroup("g1", [inst("a")]);
    hub.markSynced();
    hub.setGroup("g2", [inst("b")]);
    hub.deleteGroup("g1");
    await synced;
    assert.deepEqual(seenAtSync[0]!.slice(0, 1), ["snapshot[a]"]);
    assert.deepEqual(events.map(brief), ["snapshot[a]", "added:b", "removed:a"]);
  });

  it("numbers changes: revisions grow by one per change, a snapshot carries the revision it reflects", async () => {
    const hub = new InstanceHub();
    hub.setGroup("g1", [inst("a"), inst("b", { service: "other" })]);
    hub.markSynced();
    assert.equal(hub.revision, 2);
    assert.equal(hub.revisionOf("echo"), 1);
    assert.equal(hub.revisionOf("other"), 2);
    const { events } = record(hub, "echo");
    await flush();
    hub.setGroup("g1", [inst("a", { weight: 1 }), inst("b", { service: "other" })]);
    hub.deleteGroup("g1");
    assert.deepEqual(
      events.map((e) => [e.type, e.revision]),
      [
        ["snapshot", 1],
        ["updated", 3],
        ["removed", 4],
      ],
    );
    assert.equal(hub.revisionOf("echo"), 4, "kept after the service emptied: ids never go back");
  });

  it("after close: whenSynced rejects with PODREG_CLOSED, nothing more is delivered", async () => {
    const hub = new InstanceHub();
    const { events } = record(hub, "*");
    const pending = hub.whenSynced();
    hub.close();
    await assert.rejects(pending, { code: "PODREG_CLOSED" });
    await assert.rejects(hub.whenSynced(), { code: "PODREG_CLOSED" });
    hub.setGroup("g1", [inst("a")]);
    hub.markSynced();
    await flush();
    assert.deepEqual(events, []);
  });

  it("keys services by scope: the same name in two namespaces never merges", async () => {
    const hub = new InstanceHub();
    hub.setGroup("g1", [inst("a", { key: "shop/echo", namespace: "shop" })]);
    hub.setGroup("g2", [inst("b", { key: "payments/echo", namespace: "payments" })]);
    hub.markSynced();
    assert.deepEqual(hub.services(), ["payments/echo", "shop/echo"]);
    assert.deepEqual(ids(hub.instances("shop/echo")), ["a"]);
    assert.deepEqual(hub.instances("echo"), []);
  });
});

describe("InstanceHub deltas", () => {
  it("delivers added, updated, removed in order, with previous on updates", async () => {
    const hub = new InstanceHub();
    hub.markSynced();
    const { events } = record(hub, "echo");
    await flush();
    const a1 = inst("a");
    const a2 = inst("a", { weight: 7, metadata: { version: "2" } });
    hub.setGroup("g1", [a1]);
    hub.setGroup("g1", [a2]);
    hub.setGroup("g2", [inst("b")]);
    hub.deleteGroup("g1");
    assert.deepEqual(events.map(brief), ["snapshot[]", "added:a", "updated:a", "added:b", "removed:a"]);
    assert.deepEqual(events[1], { type: "added", instance: a1, revision: 1 });
    assert.deepEqual(events[2], { type: "updated", instance: a2, previous: a1, revision: 2 });
    assert.deepEqual(events[4], { type: "removed", instance: a2, revision: 4 }, "removed carries the last known state");
  });

  it("does not deliver an update that changes nothing", async () => {
    const hub = new InstanceHub();
    hub.markSynced();
    const { events } = record(hub, "*");
    await flush();
    hub.setGroup("g1", [inst("a", { metadata: { v: "1" }, labels: { app: "x" } })]);
    // equal content in fresh objects
    hub.setGroup("g1", [inst("a", { metadata: { v: "1" }, labels: { app: "x" } })]);
    assert.deepEqual(events.map(brief), ["snapshot[]", "added:a"]);
    // a change in a record field is an update
    hub.setGroup("g1", [inst("a", { metadata: { v: "2" }, labels: { app: "x" } })]);
    hub.setGroup("g1", [inst("a", { metadata: { v: "2" }, labels: { app: "y" } })]);
    hub.setGroup("g1", [inst("a", { metadata: { v: "2" }, labels: { app: "y" }, ready: false })]);
    assert.deepEqual(events.map(brief), ["snapshot[]", "added:a", "updated:a", "updated:a", "updated:a"]);
  });

  it("setGroup with new content yields removals first, then updates and additions", async () => {
    const hub = new InstanceHub();
    hub.setGroup("g", [inst("keep"), inst("change"), inst("drop1"), inst("drop2")]);
    hub.markSynced();
    const { events } = record(hub, "*");
    await flush();
    events.length = 0;
    hub.setGroup("g", [inst("new1"), inst("keep"), inst("change", { weight: 1 }), inst("new2")]);
    const kinds = events.map((e) => e.type);
    const firstNonRemoval = kinds.findIndex((k) => k !== "removed");
    assert.ok(firstNonRemoval >= 0);
    assert.ok(kinds.slice(firstNonRemoval).every((k) => k !== "removed"), `removals first: ${kinds.join(",")}`);
    assert.deepEqual(events.map(brief).sort(), ["added:new1", "added:new2", "removed:drop1", "removed:drop2", "updated:change"]);
    assert.deepEqual(ids(hub.all()), ["change", "keep", "new1", "new2"]);
  });

  it("instances() called from a listener already reflects the event", async () => {
    const log = failingLogger();
    const hub = new InstanceHub(log.logger);
    hub.setGroup("g0", [inst("z")]);
    hub.markSynced();
    const seen: string[] = [];
    hub.subscribe("echo", (ev) => {
      const now = hub.instances("echo");
      if (ev.type === "snapshot") {
        assert.deepEqual(ids(now), ids(ev.instances));
      } else if (ev.type === "removed") {
        assert.ok(!now.some((i) => i.id === ev.instance.id), "removed instance is gone");
        assert.ok(!hub.all().some((i) => i.id === ev.instance.id));
      } else {
        assert.ok(now.some((i) => sameInstance(i, ev.instance)), `${ev.type} instance is present in its new state`);
      }
      seen.push(brief(ev));
    });
    await flush();
    hub.setGroup("g1", [inst("a")]);
    hub.setGroup("g1", [inst("a", { weight: 3 })]);
    hub.deleteGroup("g1");
    log.rethrow();
    assert.deepEqual(seen, ["snapshot[z]", "added:a", "updated:a", "removed:a"]);
  });

  it("a service selector sees only its service; '*' sees everything", async () => {
    const hub = new InstanceHub();
    hub.markSynced();
    const echo = record(hub, "echo");
    const other = record(hub, "other");
    const all = record(hub, "*");
    await flush();
    hub.setGroup("g1", [inst("a"), inst("b", { service: "other" })]);
    hub.setGroup("g2", [inst("c", { service: "third" })]);
    assert.deepEqual(echo.events.map(brief), ["snapshot[]", "added:a"]);
    assert.deepEqual(other.events.map(brief), ["snapshot[]", "added:b"]);
    assert.deepEqual(all.events.map(brief), ["snapshot[]", "added:a", "added:b", "added:c"]);
    assert.deepEqual(ids(hub.instances("echo")), ["a"]);
    assert.deepEqual(ids(hub.instances("nope")), []);
    assert.deepEqual(ids(hub.all()), ["a", "b", "c"]);
  });

  it("an instance moving to another service is removed for the old service and added for the new", async () => {
    const hub = new InstanceHub();
    hub.setGroup("g1", [inst("a", { service: "old" })]);
    hub.markSynced();
    const oldSub = record(hub, "old");
    const newSub = record(hub, "new");
    const all = record(hub, "*");
    await flush();
    const moved = inst("a", { service: "new" });
    hub.setGroup("g1", [moved]);
    assert.deepEqual(oldSub.events.slice(1), [{ type: "removed", instance: inst("a", { service: "old" }), revision: 2 }]);
    assert.deepEqual(newSub.events.slice(1), [{ type: "added", instance: moved, revision: 2 }], "the new service's subscriber never had it");
    assert.deepEqual(all.events.slice(1), [{ type: "updated", instance: moved, previous: inst("a", { service: "old" }), revision: 2 }]);
    assert.deepEqual(ids(hub.instances("old")), []);
    assert.deepEqual(ids(hub.instances("new")), ["a"]);
    assert.deepEqual(hub.services(), ["new"]);
  });

  it("a throwing listener does not stop delivery to the others, and is logged", async () => {
    const errors: Array<{ obj: object; msg?: string }> = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (obj, msg) => errors.push({ obj, msg }),
    };
    const hub = new InstanceHub(logger);
    hub.markSynced();
    const boom = new Error("boom");
    hub.subscribe("*", () => {
      throw boom;
    });
    const good = record(hub, "*");
    await flush();
    hub.setGroup("g1", [inst("a")]);
    hub.setGroup("g1", [inst("a"), inst("b")]);
    assert.deepEqual(good.events.map(brief), ["snapshot[]", "added:a", "added:b"]);
    assert.equal(errors.length, 3, "one error per failed delivery (snapshot + 2 deltas)");
    assert.deepEqual(
      errors.map((e) => (e.obj as { event: string }).event),
      ["snapshot", "added", "added"],
    );
    for (const e of errors) assert.equal((e.obj as { err: unknown }).err, boom);
    assert.deepEqual(ids(hub.all()), ["a", "b"], "the cache applied every change");
  });

  it("close() stops delivery, is idempotent, and drops the subscriber", async () => {
    const hub = new InstanceHub();
    hub.markSynced();
    const a = record(hub, "*");
    const b = record(hub, "*");
    assert.equal(hub.subscriberCount, 2);
    await flush();
    hub.setGroup("g1", [inst("a")]);
    a.sub.close();
    a.sub.close();
    assert.equal(hub.subscriberCount, 1);
    hub.setGroup("g1", [inst("a"), inst("b")]);
    hub.deleteGroup("g1");
    assert.deepEqual(a.events.map(brief), ["snapshot[]", "added:a"]);
    assert.deepEqual(b.events.map(brief), ["snapshot[]", "added:a", "added:b", "removed:a", "removed:b"]);
  });

  it("close() before the snapshot is delivered means no snapshot", async () => {
    const hub = new InstanceHub();
    hub.markSynced();
    const a = record(hub, "*");
    a.sub.close();
    hub.setGroup("g1", [inst("a")]);
    await flush();
    assert.deepEqual(a.events, []);
    assert.equal(hub.subscriberCount, 0);
  });

  it("services() is sorted and drops services without instances", () => {
    const hub = new InstanceHub();
    hub.setGroup("g1", [inst("1", { service: "charlie" }), inst("2", { service: "alpha" })]);
    hub.setGroup("g2", [inst("3", { service: "bravo" }), inst("4", { service: "alpha" })]);
    assert.deepEqual(hub.services(), ["alpha", "bravo", "charlie"]);
    hub.deleteGroup("g2");
    assert.deepEqual(hub.services(), ["alpha", "charlie"]);
    hub.setGroup("g1", [inst("2", { service: "alpha" })]);
    assert.deepEqual(hub.services(), ["alpha"]);
    hub.setGroup("g1", [inst("2", { service: "zulu" })]);
    assert.deepEqual(hub.services(), ["zulu"]);
    hub.deleteGroup("g1");
    assert.deepEqual(hub.services(), []);
    assert.deepEqual(hub.all(), []);
  });
});

describe("InstanceHub property: subscribers' folded view equals the cache", () => {
  const GROUPS = ["g0", "g1", "g2"];
  const SERVICES = ["s0", "s1", "s2"];

  type Op =
    | { kind: "set"; group: number; members: Array<{ n: number; service: number; weight: number; ready: boolean; v: number }> }
    | { kind: "delete"; group: number }
    /** Sets a group again with equal content in fresh objects, possibly changing one field of one member. */
    | { kind: "resend"; group: number; tweak: number }
    | { kind: "sync" }
    | { kind: "subscribe"; selector: number }
    | { kind: "close"; which: number }
    | { kind: "tick" };

  const member = fc.record({
    n: fc.integer({ min: 0, max: 3 }),
    service: fc.integer({ min: 0, max: SERVICES.length - 1 }),
    weight: fc.constantFrom(0, 100),
    ready: fc.boolean(),
    v: fc.integer({ min: 0, max: 2 }),
  });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("set" as const), group: fc.integer({ min: 0, max: GROUPS.length - 1 }), members: fc.array(member, { maxLength: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), group: fc.integer({ min: 0, max: GROUPS.length - 1 }) }) },
    // tweak 0 = same content, 1 = one member's weight changes, 2 = one member's metadata changes
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("resend" as const), group: fc.integer({ min: 0, max: GROUPS.length - 1 }), tweak: fc.integer({ min: 0, max: 2 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "sync" as const }) },
    // selector 0..2 = a service, 3 = "*"
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("subscribe" as const), selector: fc.integer({ min: 0, max: SERVICES.length }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const), which: fc.nat() }) },
    { weight: 2, arbitrary: fc.constant({ kind: "tick" as const }) },
  );

  /** Folds one subscriber's events strictly: every delta must be consistent with what it was told before. */
  class Folder {
    readonly view = new Map<string, Instance>();
    snapshots = 0;
    closed = false;
    constructor(readonly selector: string) {}

    apply(ev: RegistryEvent): void {
      assert.equal(this.closed, false, "no delivery after close");
      const inScope = (i: Instance) => this.selector === "*" || i.service === this.selector;
      if (ev.type === "snapshot") {
        assert.equal(this.snapshots, 0, "exactly one snapshot");
        this.snapshots++;
        for (const i of ev.instances) {
          assert.ok(inScope(i), `snapshot instance ${i.id} of ${i.service} is in scope of ${this.selector}`);
          assert.ok(!this.view.has(i.id), `duplicate id ${i.id} in snapshot`);
          this.view.set(i.id, i);
        }
        return;
      }
      assert.equal(this.snapshots, 1, `${ev.type} before snapshot`);
      const id = ev.instance.id;
      if (ev.type === "added") {
        assert.ok(inScope(ev.instance));
        assert.ok(!this.view.has(id), `added ${id} twice to ${this.selector}`);
        this.view.set(id, ev.instance);
      } else if (ev.type === "updated") {
        assert.ok(inScope(ev.instance));
        assert.ok(this.view.has(id), `updated ${id} unknown to ${this.selector}`);
        assert.deepEqual(this.view.get(id), ev.previous, "previous is what the subscriber had");
        assert.ok(!sameInstance(ev.previous, ev.instance), "no-op updates are not delivered");
        this.view.set(id, ev.instance);
      } else {
        assert.ok(this.view.has(id), `removed ${id} unknown to ${this.selector}`);
        assert.deepEqual(this.view.get(id), ev.instance, "removed carries the state the subscriber had");
        this.view.delete(id);
      }
    }
  }

  function check(hub: InstanceHub, folders: Folder[]): void {
    for (const f of folders) {
      if (f.closed || f.snapshots === 0) continue;
      const expected = f.selector === "*" ? hub.all() : hub.instances(f.selector);
      assert.deepEqual(
        new Map([...f.view].sort(([a], [b]) => a.localeCompare(b))),
        new Map(expected.map((i) => [i.id, i] as const).sort(([a], [b]) => a.localeCompare(b))),
        `view of ${f.selector}`,
      );
    }
    // services() lists exactly the services with instances, sorted
    const svcs = [...new Set(hub.all().map((i) => i.service))].sort();
    assert.deepEqual(hub.services(), svcs);
    for (const s of SERVICES) assert.ok(hub.instances(s).every((i) => i.service === s));
  }

  it("holds for random setGroup/deleteGroup sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(op, { maxLength: 40 }), async (syncFirst, ops) => {
        const log = failingLogger();
        const hub = new InstanceHub(log.logger);
        const lastSet = new Map<string, Instance[]>();
        const folders: Folder[] = [];
        const subs: Array<{ close(): void }> = [];
        const subscribe = (selector: string) => {
          const f = new Folder(selector);
          folders.push(f);
          subs.push(hub.subscribe(selector, (ev) => f.apply(ev)));
        };
        subscribe("*");
        for (const s of SERVICES) subscribe(s);
        if (syncFirst) {
          hub.markSynced();
          await flush();
        }
        for (const o of ops) {
          switch (o.kind) {
            case "set": {
              const g = GROUPS[o.group]!;
              // ids are scoped to their group, as backends build them (pod or registration in the id)
              const members = o.members.map((m) =>
                inst(`${g}/i${m.n}`, { service: SERVICES[m.service]!, weight: m.weight, ready: m.ready, metadata: m.v === 0 ? {} : { v: String(m.v) } }),
              );
              lastSet.set(g, members);
              hub.setGroup(g, members);
              break;
            }
            case "delete":
              lastSet.delete(GROUPS[o.group]!);
              hub.deleteGroup(GROUPS[o.group]!);
              break;
            case "resend": {
              const g = GROUPS[o.group]!;
              const members = (lastSet.get(g) ?? []).map((i) => ({ ...i, metadata: { ...i.metadata }, labels: { ...i.labels } }));
              const first = members[0];
              if (first && o.tweak === 1) members[0] = { ...first, weight: first.weight + 1 };
              if (first && o.tweak === 2) members[0] = { ...first, metadata: { ...first.metadata, extra: "x" } };
              lastSet.set(g, members);
              hub.setGroup(g, members);
              break;
            }
            case "sync":
              hub.markSynced();
              break;
            case "subscribe":
              subscribe(o.selector === SERVICES.length ? "*" : SERVICES[o.selector]!);
              break;
            case "close": {
              // never close the first four, so the final check always has subscribers
              const i = folders.length > 4 ? 4 + (o.which % (folders.length - 4)) : -1;
              if (i >= 0) {
                subs[i]!.close();
                folders[i]!.closed = true;
              }
              break;
            }
            case "tick":
              await flush();
              log.rethrow();
              check(hub, folders);
              break;
          }
        }
        hub.markSynced();
        await flush();
        log.rethrow();
        for (const f of folders) if (!f.closed) assert.equal(f.snapshots, 1, `${f.selector} got its snapshot`);
        check(hub, folders);
      }),
      { numRuns: 300 },
    );
  });
});
