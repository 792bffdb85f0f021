/**
 * npm run bench -- pickers
 *
 * Time per pick of every balancing policy (src/balancer, createPicker) at 10,
 * 100 and 1,000 instances, beside, from the same run:
 *   LIMIT: a bare array round robin (index with wrap, no call, no object);
 *   PEER:  grpc-js's round_robin picker, as a grpc-js channel calls it per call;
 * and the time to build each picker, which happens on every change of the
 * instance set. It asserts nothing.
 *
 * Method: per size, every row is warmed up, then ROUNDS rounds of PICKS picks
 * (fewer for slow rows: about ROUND_NS per round) run with the rows
 * interleaved (row A, B, ... then again), each round timed with
 * process.hrtime.bigint(); the median round is reported. Every loop adds the
 * picked instance's id length to a checksum, so V8 cannot drop the picks.
 *
 * Before and after the alias table (random), the counts array (least_request)
 * and the IPVS policies, at 1,000 instances, ns per pick: this benchmark's
 * median round, two runs each at load average ~2 on a shared 2-vCPU machine
 * (rows that did not change varied up to 3x between runs there), then the
 * same picker alone in a process, its best round of CPU time (of 30 or more):
 *
 *   row                         before (bench)  after (bench)  before (alone)  after (alone)
 *   LIMIT (bare array loop)     2.8, 2.8        6.4, 2.9       -               -
 *   random, weights 1..5        87.0, 91.6      48.9, 69.5     67.7            15.9
 *   least_request, equal        157.3, 157.6    61.8, 77.2     115.4           22.6
 *   least_request, weights 1..5 278.5, 275.4    74.6, 81.9     197.0           32.2
 *   least_connection, 1..5      -               38.2, 51.4     -               7.1
 *   shortest_expected_delay,    -               54.9, 69.7     -               18.7
 *     weights 1..5
 *   never_queue, weights 1..5   -               75.7, 75.9     -               22.1
 *   the three, all busy         -               3,190-4,047    -               1,564-1,949
 */
import { createRequire } from "node:module";
import os from "node:os";
import { connectivityState, experimental, Metadata } from "@grpc/grpc-js";
import { createLoadTracker, createPicker, POLICIES, type LoadTracker, type Picker, type PickRequest, type PolicyName } from "../src/balancer/index.js";
import { POINTS } from "../src/balancer/source-affinity.js";
import type { Instance } from "../src/model/instance.js";
import { median, num, ratio, table } from "./lib/report.js";

const SIZES = [10, 100, 1000];
const KEYS = 4096; // distinct request keys per hash policy, cycled (the loops use k & 4095)
const WARMUP = 200_000;
const PICKS = 1_000_000;
const ROUND_NS = 100e6; // slower rows: fewer picks, so that a round takes about 100 ms
const ROUNDS = 7;
const BUILD_BUDGET_MS = 100; // per row: rebuild until this much time has passed (at least 3 builds)
/** These also run with weights 1, 2, 3, 4, 5, 1, 2, ... */
const MIXED: ReadonlySet<PolicyName> = new Set(["weighted_round_robin", "random", "least_request", "least_connection", "shortest_expected_delay", "never_queue"]);
/** These read the calls in flight of a LoadTracker. */
const LOADED: ReadonlySet<PolicyName> = new Set(["least_request", "least_connection", "shortest_expected_delay", "never_queue"]);
/** These scan every instance while none is idle: they also run with every instance busy, their worst case. */
const SCANNING: ReadonlySet<PolicyName> = new Set(["least_connection", "shortest_expected_delay", "never_queue"]);
const KEYED: Partial<Record<PolicyName, "hashKey" | "clientAddress">> = { ring_hash: "hashKey", maglev: "hashKey", source_affinity: "clientAddress" };

function instances(n: number, weight: (i: number) => number): Instance[] {
  return Array.from({ length: n }, (_, i) => {
    const host = `10.0.${i >> 8}.${i & 255}`;
    return { id: `${host}:8080`, key: "bench", service: "bench", host, port: 8080, protocol: "grpc", weight: weight(i), metadata: {}, labels: {}, ready: true, source: "memory" };
  });
}

// ---------------------------------------------------------------- loops

// Each row gets its own compiled copy of its loop (fresh inline caches), so the
// pick() call site sees one picker class, as an application's call site does,
// instead of turning megamorphic across rows and charging every row for it.
// The sources below reference nothing outside themselves: they survive the
// round trip through Function.prototype.toString.
type Loop<T> = (target: T, n: number) => number;
const fresh = <T>(fn: Loop<T>): Loop<T> => new Function(`return ${fn.toString()}`)() as Loop<T>;

interface Keyed {
  picker: Picker;
  requests: readonly PickRequest[];
}
interface GrpcTarget {
  picker: experimental.Picker;
  args: experimental.PickArgs;
}

function bareLoop(list: readonly Instance[], n: number): number {
  const len = list.length;
  let i = 0;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += (list[i] as Instance).id.length;
    if (++i === len) i = 0;
  }
  return sum;
}
function plainLoop(picker: Picker, n: number): number {
  let sum = 0;
  for (let k = 0; k < n; k++) sum += picker.pick()?.id.length ?? 0;
  return sum;
}
function keyedLoop(t: Keyed, n: number): number {
  const { picker, requests } = t;
  let sum = 0;
  for (let k = 0; k < n; k++) sum += picker.pick(requests[k & 4095])?.id.length ?? 0;
  return sum;
}
function grpcLoop(t: GrpcTarget, n: number): number {
  let sum = 0;
  for (let k = 0; k < n; k++) sum += (t.picker.pick(t.args).subchannel as unknown as { id: string } | null)?.id.length ?? 0;
  return sum;
}

// ---------------------------------------------------------------- grpc-js

// PEER: grpc-js's own round_robin picker (@grpc/grpc-js pinned at 1.14.7; these
// are internals and change across minors). The class, RoundRobinPicker in
// build/src/load-balancer-round-robin.js, is not exported (the module exports
// RoundRobinLoadBalancer and setup only), so it is obtained as a channel gets
// it: grpc-js's experimental ChildLoadBalancerHandler runs the registered
// round_robin policy over one endpoint per instance, with a stub channel
// helper whose subchannels are READY at once. round_robin keeps a pick_first
// LeafLoadBalancer per endpoint; the READY picker it reports is a
// RoundRobinPicker over their PickFirstPickers, and its pick() is the whole
// per-call cost: a modulo, a child pick() and a PickResult object per call.

/** The parts of SubchannelInterface that round_robin and pick_first call; `id` is for the checksum. */
class StubSubchannel {
  constructor(readonly id: string) {}
  getConnectivityState = () => connectivityState.READY;
  getAddress = () => this.id;
  isHealthy = () => true;
  realSubchannelEquals = (other: unknown) => other === this;
  getChannelzRef = () => ({ kind: "subchannel", id: 0, name: this.id });
  ref = () => {};
  unref = () => {};
  startConnecting = () => {};
  addConnectivityStateListener = () => {};
  removeConnectivityStateListener = () => {};
  addHealthStateWatcher = () => {};
  removeHealthStateWatcher = () => {};
}

const grpcRoundRobinConfig = experimental.parseLoadBalancingConfig({ round_robin: {} });

function grpcRoundRobin(list: readonly Instance[]): experimental.Picker {
  let ready: experimental.Picker | undefined;
  const helper: experimental.ChannelControlHelper = {
    createSubchannel: (address) => new StubSubchannel(experimental.subchannelAddressToString(address)) as unknown as experimental.SubchannelInterface,
    updateState: (state, picker) => void (state === connectivityState.READY && (ready = picker)),
    requestReresolution: () => {},
    addChannelzChild: () => {},
    removeChannelzChild: () => {},
  };
  const endpoints = list.map((i) => ({ addresses: [{ host: i.host, port: i.port }] }));
  new experimental.ChildLoadBalancerHandler(helper).updateAddressList(experimental.statusOrFromValue(endpoints), grpcRoundRobinConfig, {}, "bench");
  if (ready?.constructor.name !== "RoundRobinPicker") throw new Error(`grpc-js round_robin reported ${ready?.constructor.name ?? "no READY picker"}`);
  return ready;
}

// ---------------------------------------------------------------- rows

interface Row {
  name: string;
  kind: "limit" | "peer" | "podreg";
  /** Runs n picks, returns the checksum. */
  run: (n: number) => number;
  /** Builds the picker (or grpc-js's balancer up to its READY picker) once. */
  build?: () => unknown;
  /** Picks per measured round. */
  picks: number;
  ns: number[];
  buildUs?: number;
}

function requests(field: "hashKey" | "clientAddress"): PickRequest[] {
  return Array.from({ length: KEYS }, (_, i) => (field === "hashKey" ? { hashKey: `session-${(i * 2654435761) >>> 0}` } : { clientAddress: `192.168.${i >> 8}.${i & 255}` }));
}

function rows(n: number, load: LoadTracker, busy: LoadTracker): Row[] {
  const equal = instances(n, () => 100);
  const mixed = instances(n, (i) => 1 + (i % 5));
  const out: Row[] = [];
  const add = (name: string, kind: Row["kind"], run: Row["run"], build?: Row["build"]) => out.push({ name, kind, run, picks: PICKS, ns: [], ...(build && { build }) });

  const bare = fresh(bareLoop);
  add("LIMIT: bare array loop, index with wrap", "limit", (k) => bare(equal, k));
  const grpc = fresh(grpcLoop);
  const gt: GrpcTarget = { picker: grpcRoundRobin(equal), args: { metadata: new Metadata(), extraPickInfo: {} } };
  add("PEER: grpc-js round_robin", "peer", (k) => grpc(gt, k), () => grpcRoundRobin(equal));

  for (const policy of POLICIES) {
    const field = KEYED[policy];
    const variants: (readonly [weights: string, list: Instance[], tracker?: LoadTracker])[] = MIXED.has(policy) ? [["equal weights", equal], ["weights 1..5", mixed]] : [["", equal]];
    if (SCANNING.has(policy)) variants.push(["weights 1..5, every instance busy: full scan", mixed, busy]);
    for (const [weights, list, tracker] of variants) {
      const ctx = LOADED.has(policy) ? { load: tracker ?? load } : {};
      const picker = createPicker(policy, list, ctx);
      // Ring sizes: ring_hash reports its own; source_affinity puts POINTS per instance (equal weights).
      const extra = policy === "source_affinity" ? POINTS * n : (picker as Partial<{ ringSize: number }>).ringSize;
      const what = [weights, field && `${field} hashed per pick`, LOADED.has(policy) && !tracker && "calls in flight", extra && `${num(extra)}-point ring`, policy === "maglev" && "65,537-slot table"];
      const name = `${policy}${what.some(Boolean) ? ` (${what.filter(Boolean).join(", ")})` : ""}`;
      const build = () => createPicker(policy, list, ctx);
      if (field) {
        const loop = fresh(keyedLoop);
        const t: Keyed = { picker, requests: requests(field) };
        add(name, "podreg", (k) => loop(t, k), build);
      } else {
        const loop = fresh(plainLoop);
        add(name, "podreg", (k) => loop(picker, k), build);
      }
    }
  }
  return out;
}

function nsPerPick(row: Row, picks: number): { ns: number; sum: number } {
  const t0 = process.hrtime.bigint();
  const sum = row.run(picks);
  return { ns: Number(process.hrtime.bigint() - t0) / picks, sum };
}

function buildUs(build: () => unknown): number {
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 3 || performance.now() - start < BUILD_BUDGET_MS) {
    const t0 = process.hrtime.bigint();
    build();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return median(samples);
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function measure(n: number): void {
  // The trackers: every third instance has a call in flight (as before the IPVS rows, when the comment
  // said "1 to 3": the loop gave each one call); every instance has 1 to 3 (busy).
  const load = createLoadTracker();
  const busy = createLoadTracker();
  for (let i = 0; i < n; i++) {
    const id = `10.0.${i >> 8}.${i & 255}:8080`;
    for (let c = 0; c <= i % 3; c++) {
      if (i % 3 === 0) load.start(id);
      busy.start(id);
    }
  }
  const all = rows(n, load, busy);
  let checksum = 0;
  for (const row of all) {
    const warm = nsPerPick(row, WARMUP);
    checksum += warm.sum;
    row.picks = Math.min(PICKS, Math.max(10_000, Math.round(ROUND_NS / warm.ns / 10_000) * 10_000));
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const row of all) {
      gc();
      const { ns, sum } = nsPerPick(row, row.picks);
      row.ns.push(ns);
      checksum += sum;
    }
  }
  for (const row of all) if (row.build) row.buildUs = buildUs(row.build);
  if (checksum === 0) throw new Error("nothing picked");

  const limit = median(all.find((r) => r.kind === "limit")?.ns ?? []);
  const peer = median(all.find((r) => r.kind === "peer")?.ns ?? []);
  const body = all.map((row) => {
    const ns = median(row.ns);
    return [row.name, num(ns, 1), ratio(ns, limit), ratio(ns, peer), row.buildUs === undefined ? "-" : num(row.buildUs, row.buildUs < 100 ? 1 : 0)];
  });
  console.log(`\n${num(n)} instances`);
  console.log(table(["policy", "ns/pick", "x LIMIT", "x grpc-js round_robin", "build us"], body));
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const grpcVersion = (createRequire(import.meta.url)("@grpc/grpc-js/package.json") as { version: string }).version;
  const cpus = os.cpus();
  console.log("podreg picker benchmark");
  console.log(`  machine:      ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? "?"}), ${os.type()} ${os.release()}`);
  console.log(`  node:         ${process.version}; @grpc/grpc-js ${grpcVersion}`);
  console.log(`  load average: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (1, 5, 15 min) at start`);
  console.log(`  per size: ${num(WARMUP)} warm-up picks per row, then ${ROUNDS} interleaved rounds of ${num(PICKS)} picks per row`);
  console.log(`  (fewer for rows slower than ${ROUND_NS / PICKS} ns/pick: a round of about ${ROUND_NS / 1e6} ms, at least 10,000 picks); median round.`);
  console.log(`  Instances "10.0.x.y:8080"; weights 100 unless the row says "weights 1..5" (1, 2, 3, 4, 5, 1, ...).`);
  console.log(`  Hash policies get ${num(KEYS)} distinct requests, cycled: hashKey "session-<u32>" (ring_hash, maglev), clientAddress`);
  console.log("  192.168.x.y (source_affinity); the key is hashed (xxHash32) on every pick and that cost is in ns/pick.");
  console.log("  Policies over calls in flight share a LoadTracker in which every third instance has one; the \"every instance");
  console.log("  busy\" rows, one in which every instance has 1 to 3 (least_connection, shortest_expected_delay and never_queue");
  console.log("  then scan all instances, their worst case; with an idle instance they stop at the first one that cannot be beaten).");
  console.log("  LIMIT: a bare array round robin, no call. PEER: grpc-js's RoundRobinPicker over pick_first children, with stub");
  console.log("  subchannels, called as a channel calls it; it allocates a PickResult per pick. build us: median time for one");
  console.log("  createPicker() (every instance change rebuilds); for the PEER, round_robin's updateAddressList() to a READY picker.");
  for (const n of SIZES) measure(n);
  console.log(`\ntotal ${num((performance.now() - t0) / 1000, 1)} s; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
}

await main();
