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
 * Method: every row, LIMIT and PEER included, runs in a child process of its
 * own (this file, forked with --import tsx), started for its size and ended
 * after it. In one process the rows polluted each other even with a fresh
 * copy of the loop per row: the call sites inside shared code (the alias
 * table, the load tracker's arrays, the random source, the instance objects)
 * saw every row's classes and shapes and lost V8's inlining, and earlier
 * rows left garbage and compiled code behind, so a row's figure depended on
 * the rows before it (least_request at 1,000 instances: 22.6 and 32.2 ns
 * alone, 40.4 and 52.3 ns in the full run). A process per row sees what an
 * application with one policy sees. The parent drives the children
 * one at a time over IPC, so the method is otherwise the one before: per
 * size, every row is warmed up, then ROUNDS rounds of PICKS picks (fewer for
 * slow rows: about ROUND_NS per round) run with the rows interleaved (row A,
 * B, ... then again), each round SETTLE_MS after a gc(); the median round is
 * reported. A round is timed by the CPU time of its process
 * (process.cpuUsage(); the wait after gc() lets V8's concurrent sweeping end
 * first, whose threads it would count), not the wall clock: on a shared
 * machine the wall clock also counts the time the process waited for a CPU,
 * which varies from run to run and row to row. Each table is followed by how
 * far the wall clock was off; PODREG_BENCH_CLOCK=wall reports the wall clock
 * instead. Every loop adds the picked instance's id length to a checksum, so
 * V8 cannot drop the picks.
 *
 * Before and after the alias table (random), the counts array (least_request)
 * and the IPVS policies, at 1,000 instances, ns per pick: this benchmark's
 * median round when it still ran every row in one process (wall clock), two
 * runs each at load average ~2 on a shared 2-vCPU machine (rows that did not
 * change varied up to 3x between runs there), then the same picker alone in a
 * process, its best round of CPU time (of 30 or more):
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
import { fork, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import os from "node:os";
import { fileURLToPath } from "node:url";
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
const SETTLE_MS = 20; // between a round's gc() and its timing
const CLOCK: "cpu" | "wall" = process.env.PODREG_BENCH_CLOCK === "wall" ? "wall" : "cpu";
const SELF = fileURLToPath(import.meta.url);
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

// One row per process, so each loop's pick() call site sees one picker class, as an application's does.

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
function keyedLoop(picker: Picker, requests: readonly PickRequest[], n: number): number {
  let sum = 0;
  for (let k = 0; k < n; k++) sum += picker.pick(requests[k & 4095])?.id.length ?? 0;
  return sum;
}
function grpcLoop(picker: experimental.Picker, args: experimental.PickArgs, n: number): number {
  let sum = 0;
  for (let k = 0; k < n; k++) sum += (picker.pick(args).subchannel as unknown as { id: string } | null)?.id.length ?? 0;
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

/** A row, built in its own process. */
interface Row {
  name: string;
  /** Runs n picks, returns the checksum. */
  run: (n: number) => number;
  /** Builds the picker (or grpc-js's balancer up to its READY picker) once. */
  build?: () => unknown;
}

/** The rows at one size, in table order: what each is, and how to build it (in its child). */
interface RowSpec {
  kind: "limit" | "peer" | "podreg";
  make: () => Row;
}

function requests(field: "hashKey" | "clientAddress"): PickRequest[] {
  return Array.from({ length: KEYS }, (_, i) => (field === "hashKey" ? { hashKey: `session-${(i * 2654435761) >>> 0}` } : { clientAddress: `192.168.${i >> 8}.${i & 255}` }));
}

/**
 * The calls in flight: every third instance has one (as before the IPVS rows, when the comment
 * said "1 to 3": the loop gave each one call); busy, every instance has 1 to 3.
 */
function tracker(n: number, busy: boolean): LoadTracker {
  const load = createLoadTracker();
  for (let i = 0; i < n; i++) {
    const calls = busy ? 1 + (i % 3) : i % 3 === 0 ? 1 : 0;
    for (let c = 0; c < calls; c++) load.start(`10.0.${i >> 8}.${i & 255}:8080`);
  }
  return load;
}

function podregRow(n: number, policy: PolicyName, weights: string, mixed: boolean, busy: boolean): Row {
  const list = instances(n, mixed ? (i) => 1 + (i % 5) : () => 100);
  const field = KEYED[policy];
  const ctx = LOADED.has(policy) ? { load: tracker(n, busy) } : {};
  const picker = createPicker(policy, list, ctx);
  // Ring sizes: ring_hash reports its own; source_affinity puts POINTS per instance (equal weights).
  const extra = policy === "source_affinity" ? POINTS * n : (picker as Partial<{ ringSize: number }>).ringSize;
  const what = [weights, field && `${field} hashed per pick`, LOADED.has(policy) && !busy && "calls in flight", extra && `${num(extra)}-point ring`, policy === "maglev" && "65,537-slot table"];
  const name = `${policy}${what.some(Boolean) ? ` (${what.filter(Boolean).join(", ")})` : ""}`;
  const build = () => createPicker(policy, list, ctx);
  if (!field) return { name, run: (k) => plainLoop(picker, k), build };
  const reqs = requests(field);
  return { name, run: (k) => keyedLoop(picker, reqs, k), build };
}

function specs(n: number): RowSpec[] {
  const equal = () => instances(n, () => 100);
  const out: RowSpec[] = [
    {
      kind: "limit",
      make: () => {
        const list = equal();
        return { name: "LIMIT: bare array loop, index with wrap", run: (k) => bareLoop(list, k) };
      },
    },
    {
      kind: "peer",
      make: () => {
        const list = equal();
        const picker = grpcRoundRobin(list);
        const args: experimental.PickArgs = { metadata: new Metadata(), extraPickInfo: {} };
        return { name: "PEER: grpc-js round_robin", run: (k) => grpcLoop(picker, args, k), build: () => grpcRoundRobin(list) };
      },
    },
  ];
  for (const policy of POLICIES) {
    const variants: (readonly [weights: string, mixed: boolean, busy: boolean])[] = MIXED.has(policy) ? [["equal weights", false, false], ["weights 1..5", true, false]] : [["", false, false]];
    if (SCANNING.has(policy)) variants.push(["weights 1..5, every instance busy: full scan", true, true]);
    for (const [weights, mixed, busy] of variants) out.push({ kind: "podreg", make: () => podregRow(n, policy, weights, mixed, busy) });
  }
  return out;
}

// ---------------------------------------------------------------- a row's process

/** Parent to child. */
type Ask = { op: "round"; picks: number } | { op: "build" };
/** Child to parent: ready (name), a round (ns per pick by each clock, checksum), or a build (us). */
type Answer = { name: string; builds: boolean } | { cpu: number; wall: number; sum: number } | { us: number };

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU time of this process, ns (µs resolution). It counts V8's threads too: hence SETTLE_MS after a gc(). */
function cpuNs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) * 1000;
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

/** In the child: builds row `index` at n instances, then answers the parent's asks until it disconnects. */
function rowProcess(n: number, index: number): void {
  const spec = specs(n)[index];
  if (!spec || !process.send) throw new Error(`no row ${index} at ${n} instances, or no IPC channel`);
  const row = spec.make();
  const send = (a: Answer) => process.send?.(a);
  process.on("message", (ask: Ask) => {
    if (ask.op === "build") return send({ us: row.build ? buildUs(row.build) : NaN });
    gc();
    // Let V8's threads finish after the collection (sweeping runs concurrently), so that they do not share the round's CPU.
    void sleep(SETTLE_MS).then(() => {
      const c0 = cpuNs();
      const t0 = process.hrtime.bigint();
      const sum = row.run(ask.picks);
      const wall = Number(process.hrtime.bigint() - t0);
      send({ cpu: (cpuNs() - c0) / ask.picks, wall: wall / ask.picks, sum });
    });
  });
  process.on("disconnect", () => process.exit(0));
  send({ name: row.name, builds: row.build !== undefined });
}

/** In the parent: a row's child process, asked one thing at a time. */
class RowChild {
  name = "";
  builds = false;
  picks = PICKS;
  readonly cpu: number[] = [];
  readonly wall: number[] = [];
  buildUs: number | undefined;
  private readonly proc: ChildProcess;
  private waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void } | undefined;
  private failed: Error | undefined;

  constructor(
    readonly kind: RowSpec["kind"],
    n: number,
    index: number,
  ) {
    this.proc = fork(SELF, ["row", String(n), String(index)], { execArgv: ["--expose-gc", "--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.proc.on("message", (a: Answer) => this.settle(a));
    this.proc.on("exit", (code, signal) => this.settle((this.failed = new Error(`row ${index} at ${n} instances: its process exited (${code ?? signal})`))));
  }

  private settle(a: Answer | Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (a instanceof Error) w?.reject(a);
    else w?.resolve(a);
  }

  private next(): Promise<Answer> {
    return new Promise((resolve, reject) => (this.failed ? reject(this.failed) : (this.waiting = { resolve, reject })));
  }

  async ready(): Promise<void> {
    const a = (await this.next()) as { name: string; builds: boolean };
    this.name = a.name;
    this.builds = a.builds;
  }

  /** One timed run of `picks` picks: ns per pick by the chosen clock, both recorded; returns the checksum. */
  async round(picks: number, record: boolean): Promise<{ ns: number; sum: number }> {
    const answer = this.next();
    this.proc.send({ op: "round", picks } satisfies Ask);
    const a = (await answer) as { cpu: number; wall: number; sum: number };
    if (record) {
      this.cpu.push(a.cpu);
      this.wall.push(a.wall);
    }
    return { ns: CLOCK === "cpu" ? a.cpu : a.wall, sum: a.sum };
  }

  async build(): Promise<void> {
    if (!this.builds) return;
    const answer = this.next();
    this.proc.send({ op: "build" } satisfies Ask);
    this.buildUs = ((await answer) as { us: number }).us;
  }

  close(): Promise<void> {
    if (this.proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.removeAllListeners("exit");
      this.proc.once("exit", () => resolve());
      this.proc.disconnect();
    });
  }
}

/** Starts one child per row, `os.availableParallelism()` at a time (starting is CPU-bound, and no row is being timed yet). */
async function startRows(n: number): Promise<RowChild[]> {
  const all = specs(n).map((spec, index) => ({ spec, index }));
  const children: RowChild[] = [];
  let next = 0;
  const starter = async () => {
    for (let i = next++; i < all.length; i = next++) {
      const { spec, index } = all[i] as (typeof all)[number];
      const child = new RowChild(spec.kind, n, index);
      children[index] = child;
      await child.ready();
    }
  };
  await Promise.all(Array.from({ length: os.availableParallelism() }, starter));
  return children;
}

async function measure(n: number): Promise<void> {
  const all = await startRows(n);
  let checksum = 0;
  try {
    for (const row of all) {
      const warm = await row.round(WARMUP, false);
      checksum += warm.sum;
      row.picks = Math.min(PICKS, Math.max(10_000, Math.round(ROUND_NS / warm.ns / 10_000) * 10_000));
    }
    for (let r = 0; r < ROUNDS; r++) for (const row of all) checksum += (await row.round(row.picks, true)).sum;
    for (const row of all) await row.build();
  } finally {
    await Promise.all(all.map((row) => row.close()));
  }
  if (checksum === 0) throw new Error("nothing picked");

  const ns = (row: RowChild) => median(CLOCK === "cpu" ? row.cpu : row.wall);
  const limit = ns(all.find((r) => r.kind === "limit") as RowChild);
  const peer = ns(all.find((r) => r.kind === "peer") as RowChild);
  const body = all.map((row) => [row.name, num(ns(row), 1), ratio(ns(row), limit), ratio(ns(row), peer), row.buildUs === undefined ? "-" : num(row.buildUs, row.buildUs < 100 ? 1 : 0)]);
  console.log(`\n${num(n)} instances`);
  console.log(table(["policy", "ns/pick", "x LIMIT", "x grpc-js round_robin", "build us"], body));
  // How far the wall clock was from the CPU time, round by round: the time the row's process waited for a CPU.
  const off = all.flatMap((row) => row.wall.map((w, i) => w / (row.cpu[i] as number))).sort((a, b) => a - b);
  const pct = (q: number) => (off[Math.min(off.length - 1, Math.floor(q * off.length))] as number).toFixed(2);
  console.log(`  ${CLOCK === "cpu" ? "CPU time" : "wall clock"}; wall clock / CPU time per round: median ${pct(0.5)}x, 90th percentile ${pct(0.9)}x, max ${pct(1)}x`);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const grpcVersion = (createRequire(import.meta.url)("@grpc/grpc-js/package.json") as { version: string }).version;
  const cpus = os.cpus();
  console.log("podreg picker benchmark");
  console.log(`  machine:      ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? "?"}), ${os.type()} ${os.release()}`);
  console.log(`  node:         ${process.version}; @grpc/grpc-js ${grpcVersion}`);
  console.log(`  load average: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (1, 5, 15 min) at start`);
  console.log(`  Every row in a child process of its own. Per size: ${num(WARMUP)} warm-up picks per row, then ${ROUNDS} interleaved rounds`);
  console.log(`  of ${num(PICKS)} picks per row (fewer for rows slower than ${ROUND_NS / PICKS} ns/pick: a round of about ${ROUND_NS / 1e6} ms, at least 10,000`);
  console.log(`  picks); median round, timed by ${CLOCK === "cpu" ? "the CPU time of the row's process (PODREG_BENCH_CLOCK=wall: the wall clock)" : "the wall clock (PODREG_BENCH_CLOCK=wall)"}.`);
  console.log(`  Instances "10.0.x.y:8080"; weights 100 unless the row says "weights 1..5" (1, 2, 3, 4, 5, 1, ...).`);
  console.log(`  Hash policies get ${num(KEYS)} distinct requests, cycled: hashKey "session-<u32>" (ring_hash, maglev), clientAddress`);
  console.log("  192.168.x.y (source_affinity); the key is hashed (xxHash32) on every pick and that cost is in ns/pick.");
  console.log("  Policies over calls in flight get a LoadTracker in which every third instance has one; the \"every instance");
  console.log("  busy\" rows, one in which every instance has 1 to 3 (least_connection, shortest_expected_delay and never_queue");
  console.log("  then scan all instances, their worst case; with an idle instance they stop at the first one that cannot be beaten).");
  console.log("  LIMIT: a bare array round robin, no call. PEER: grpc-js's RoundRobinPicker over pick_first children, with stub");
  console.log("  subchannels, called as a channel calls it; it allocates a PickResult per pick. build us: median time for one");
  console.log("  createPicker() (every instance change rebuilds); for the PEER, round_robin's updateAddressList() to a READY picker.");
  for (const n of SIZES) await measure(n);
  console.log(`\ntotal ${num((performance.now() - t0) / 1000, 1)} s; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
}

if (process.argv[2] === "row") rowProcess(Number(process.argv[3]), Number(process.argv[4]));
else await main();
