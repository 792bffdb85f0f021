import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { CodecRegistration } from "../../../src/registry/codec.js";
import { createDubboGoCodec, createNativeCodec } from "../../../src/registry/codecs/index.js";
import { OWNERS_ANNOTATION, parseOwners, processOwner } from "../../../src/registry/kube-pods/owners.js";
import { planWrite, type PlanInput, type PodMeta } from "../../../src/registry/kube-pods/plan.js";

const native = createNativeCodec();
const ANN = native.annotationKey;
const echo: CodecRegistration = { service: "echo", protocol: "http", host: "", port: 8080, weight: 100, metadata: { version: "v1" }, registeredAt: 1000 };
const empty: PodMeta = { labels: {}, annotations: {} };
const alive = (dead: string[] = []) => (o: string) => (dead.includes(o) ? false : undefined);

/** Applies a plan's final state to a pod, as the API server would after its PATCHes. */
function applyPlan(pod: PodMeta, input: Omit<PlanInput, "pod" | "codec" | "podName"> & { codec?: PlanInput["codec"] }): PodMeta {
  const codec = input.codec ?? native;
  const plan = planWrite({ codec, podName: "ns/p", pod, ...input });
  if (plan.noop) return pod;
  const annotations = { ...pod.annotations };
  const labels = { ...pod.labels };
  const value = plan.stages.at(-1);
  if (value === undefined) delete annotations[codec.annotationKey];
  else annotations[codec.annotationKey] = value;
  if (plan.owners === undefined) delete annotations[OWNERS_ANNOTATION];
  else annotations[OWNERS_ANNOTATION] = plan.owners;
  if (plan.label) labels[codec.labelKey] = codec.labelValue;
  else delete labels[codec.labelKey];
  return { labels, annotations };
}

const services = (pod: PodMeta) => native.endpoints(native.decode(pod.annotations[ANN] ?? "")).map((e) => `${e.service}:${e.port}`);

describe("registration plan: owners", () => {
  it("two owners share one entry; it goes only when the last one releases it", () => {
    let pod = applyPlan(empty, { owned: [echo], write: [echo], owner: "A", alive: alive() });
    pod = applyPlan(pod, { owned: [{ ...echo, registeredAt: 2000 }], write: [{ ...echo, registeredAt: 2000 }], owner: "B", alive: alive() });
    assert.deepEqual(services(pod), ["echo:8080"]);
    assert.deepEqual(parseOwners(pod.annotations[OWNERS_ANNOTATION]).get(native.identity(echo)), ["A", "B"]);

    pod = applyPlan(pod, { owned: [], release: new Set([native.identity(echo)]), owner: "A", alive: alive() });
    assert.deepEqual(services(pod), ["echo:8080"], "B still owns it");
    assert.equal(pod.labels[native.labelKey], native.labelValue);
    assert.deepEqual(parseOwners(pod.annotations[OWNERS_ANNOTATION]).get(native.identity(echo)), ["B"]);

    pod = applyPlan(pod, { owned: [], release: new Set([native.identity(echo)]), owner: "B", alive: alive() });
    assert.deepEqual(services(pod), []);
    assert.equal(pod.annotations[ANN], undefined);
    assert.equal(pod.annotations[OWNERS_ANNOTATION], undefined);
    assert.equal(pod.labels[native.labelKey], undefined);
  });

  it("an owner that is provably dead no longer holds the entry", () => {
    let pod = applyPlan(empty, { owned: [echo], write: [echo], owner: "A", alive: alive() });
    pod = applyPlan(pod, { owned: [echo], write: [echo], owner: "B", alive: alive() });
    // A was SIGKILLed (same container: /proc says so); B deregisters: the entry goes.
    pod = applyPlan(pod, { owned: [], release: new Set([native.identity(echo)]), owner: "B", alive: alive(["A"]) });
    assert.deepEqual(services(pod), []);
  });

  it("an owner that can't be checked (another container) counts as alive", () => {
    let pod = applyPlan(empty, { owned: [echo], write: [echo], owner: "A", alive: alive() });
    pod = applyPlan(pod, { owned: [echo], write: [echo], owner: "B", alive: alive() });
    pod = applyPlan(pod, { owned: [], release: new Set([native.identity(echo)]), owner: "B", alive: () => undefined });
    assert.deepEqual(services(pod), ["echo:8080"]);
  });

  it("a dead owner's entry goes at the next write of any process of the pod, but an entry without owner records stays", () => {
    const other = { ...echo, service: "other", port: 9090 };
    let pod = applyPlan(empty, { owned: [other], write: [other], owner: "A", alive: alive() });
    // An entry written by another tool: no owner record.
    const foreign = native.apply(native.decode(pod.annotations[ANN]!), { drop: new Set(), add: [{ ...echo, service: "foreign", port: 7070 }] });
    pod = { ...pod, annotations: { ...pod.annotations, [ANN]: native.encode(foreign) } };
    pod = applyPlan(pod, { owned: [echo], write: [echo], owner: "B", alive: alive(["A"]) });
    assert.deepEqual(services(pod).sort(), ["echo:8080", "foreign:7070"]);
  });

  it("a restarted process replaces the entry its predecessor left when the predecessor recorded no owner", () => {
    const legacy = { labels: { [native.labelKey]: native.labelValue }, annotations: { [ANN]: native.encode(native.apply([], { drop: new Set(), add: [echo] })) } };
    const pod = applyPlan(legacy, { owned: [{ ...echo, weight: 5 }], write: [{ ...echo, weight: 5 }], owner: "B", alive: alive() });
    const eps = native.endpoints(native.decode(pod.annotations[ANN]!));
    assert.deepEqual(eps.map((e) => e.weight), [5]);
    // and deregistering removes it
    const gone = applyPlan(pod, { owned: [], release: new Set([native.identity(echo)]), owner: "B", alive: alive() });
    assert.equal(gone.annotations[ANN], undefined);
  });
});

describe("registration plan: self-healing", () => {
  it("is a no-op when the pod holds exactly what we wrote", () => {
    const pod = applyPlan(empty, { owned: [echo], write: [echo], owner: "A", alive: alive() });
    assert.equal(planWrite({ codec: native, podName: "ns/p", pod, owned: [echo], owner: "A", alive: alive() }).noop, true);
  });

  it("restores a removed label, a removed entry and a changed sole-owned entry", () => {
    const pod = applyPlan(empty, { owned: [echo], write: [echo], owner: "A", alive: alive() });
    const unlabelled = { ...pod, labels: {} };
    assert.equal(planWrite({ codec: native, podName: "ns/p", pod: unlabelled, owned: [echo], owner: "A", alive: alive() }).noop, false);
    const wiped = { labels: {}, annotations: {} };
    const restored = applyPlan(wiped, { owned: [echo], owner: "A", alive: alive() });
    assert.deepEqual(services(restored), ["echo:8080"]);
    assert.equal(restored.labels[native.labelKey], native.labelValue);
    const tampered = { ...pod, annotations: { ...pod.annotations, [ANN]: native.encode(native.apply([], { drop: new Set(), add: [{ ...echo, weight: 1_000_000 }] })) } };
    const fixed = applyPlan(tampered, { owned: [echo], owner: "A", alive: alive() });
    assert.deepEqual(native.endpoints(native.decode(fixed.annotations[ANN]!)).map((e) => e.weight), [100]);
  });

  it("does not fight a co-owner over a shared entry's fields, but restores it if removed", () => {
    let pod = applyPlan(empty, { owned: [echo], write: [echo], owner: "A", alive: alive() });
    const b = { ...echo, registeredAt: 5000, weight: 50 };
    pod = applyPlan(pod, { owned: [b], write: [b], owner: "B", alive: alive() });
    // A sees B's version of the shared entry: nothing to restore.
    assert.equal(planWrite({ codec: native, podName: "ns/p", pod, owned: [echo], owner: "A", alive: alive() }).noop, true);
    assert.equal(planWrite({ codec: native, podName: "ns/p", pod, owned: [b], owner: "B", alive: alive() }).noop, true);
    const wiped = { labels: pod.labels, annotations: { [OWNERS_ANNOTATION]: pod.annotations[OWNERS_ANNOTATION]! } };
    assert.deepEqual(services(applyPlan(wiped, { owned: [echo], owner: "A", alive: alive() })), ["echo:8080"]);
  });

  it("never overwrites an undecodable annotation", () => {
    const pod = { labels: {}, annotations: { [ANN]: "%%%not base64" } };
    assert.throws(() => planWrite({ codec: native, podName: "ns/p", pod, owned: [echo], write: [echo], owner: "A", alive: alive() }), { code: "PODREG_ANNOTATION_CORRUPT" });
  });

  it("converges: after any history of owners joining and leaving, one more plan is a no-op and live registrations are present", () => {
    const owners = ["A", "B", "C"];
    const regs = [echo, { ...echo, port: 8081 }, { ...echo, service: "other" }];
    const step = fc.record({ owner: fc.integer({ min: 0, max: 2 }), reg: fc.integer({ min: 0, max: 2 }), join: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        let pod: PodMeta = empty;
        const held = owners.map(() => new Set<number>());
        for (const s of steps) {
          const mine = held[s.owner]!;
          if (s.join && !mine.has(s.reg)) {
            mine.add(s.reg);
            pod = applyPlan(pod, { owned: [...mine].map((i) => regs[i]!), write: [regs[s.reg]!], owner: owners[s.owner]!, alive: alive() });
          } else if (!s.join && mine.has(s.reg)) {
            mine.delete(s.reg);
            pod = applyPlan(pod, { owned: [...mine].map((i) => regs[i]!), release: new Set([native.identity(regs[s.reg]!)]), owner: owners[s.owner]!, alive: alive() });
          }
        }
        const live = new Set(held.flatMap((h) => [...h]).map((i) => `${regs[i]!.service}:${regs[i]!.port}`));
        assert.deepEqual(new Set(services(pod)), live);
        assert.equal(pod.labels[native.labelKey] === native.labelValue, live.size > 0);
        held.forEach((h, i) => assert.ok(planWrite({ codec: native, podName: "ns/p", pod, owned: [...h].map((j) => regs[j]!), owner: owners[i]!, alive: alive() }).noop));
      }),
      { numRuns: 300 },
    );
  });
});

describe("registration plan: dubbo-go stages", () => {
  const dubbo = createDubboGoCodec();
  const greeter: CodecRegistration = { service: "com.example.Greeter", protocol: "dubbo", host: "10.0.0.1", port: 20000, weight: 100, metadata: { methods: "SayHello" }, registeredAt: 1_700_000_000_000 };

  it("writes the label and folder first, then the URL", () => {
    const plan = planWrite({ codec: dubbo, podName: "ns/p", pod: empty, owned: [greeter], write: [greeter], owner: "A", alive: alive() });
    assert.equal(plan.stages.length, 2);
    assert.deepEqual(dubbo.decode(plan.stages[0]!), [{ k: "/dubbo/com.example.Greeter/providers", v: "" }]);
    assert.equal(dubbo.decode(plan.stages[1]!).length, 2);
    assert.equal(plan.label, true);
  });
});

describe("process owner", () => {
  it("names this process and finds it alive; a made-up pid in the same namespace is dead", () => {
    const me = processOwner();
    assert.match(me.id, new RegExp(`^\\d+:${process.pid}:\\d+:\\d+$`));
    assert.equal(me.alive(me.id), true);
    assert.notEqual(processOwner().id, me.id, "one id per writer");
    const [ns, , start] = me.id.split(":");
    assert.equal(me.alive(`${ns}:${process.pid}:${Number(start) + 1}`), false, "same pid, other start time: a reused pid");
    assert.equal(me.alive(`${ns}:4194304:1`), false);
    assert.equal(me.alive(`1:${process.pid}:${start}`), undefined, "another pid namespace can't be checked");
  });
});
