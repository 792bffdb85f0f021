/**
 * One measurement of bench/scale.ts, alone in its process:
 *   node --expose-gc --import tsx bench/lib/scale-worker.ts sync <podreg|peer|limit> <kubeconfig> <namespace> <pods>
 *     cold sync: synced once and dropped (module loading, JIT, TLS not
 *     counted), then timed from construction to a synced snapshot; heapUsed
 *     after gc() with the cache minus before it. Prints one JSON line.
 *   node --import tsx bench/lib/scale-worker.ts churn <podreg|bare> <kubeconfig> <namespace> <pods>
 *     prints {"ready":true} once synced, records when each change (the seq
 *     annotation / registration rev) arrives until a line on stdin, then
 *     prints its CPU seconds since ready and the arrival times.
 */
import { createInterface } from "node:readline";
import { CoreV1Api, makeInformer, type V1Pod } from "@kubernetes/client-node";
import { KubePodsRegistry, silentLogger } from "../../src/index.js";
import { KubeClient } from "../../src/kube/index.js";
import { loadKubeConfig } from "../../testenv/index.js";
import { codec, podsPath, SEQ_ANNOTATION } from "./fixture.js";
import { settledHeap, until } from "./heap.js";

export interface SyncResult {
  mode: string;
  pods: number;
  /** Instances (podreg) or pods (peer, limit) the measured cache held or the LIST returned. */
  held: number;
  syncMs: number;
  /** heapUsed after gc() with the cache minus before it (the limit keeps nothing). */
  heapBytes: number;
  /** Bytes of JSON received (limit only). */
  listBytes?: number;
}

export interface ChurnResult {
  mode: string;
  cpuUserS: number;
  cpuSystemS: number;
  /** [seq, absolute ms] of each first arrival. */
  seen: [number, number][];
}

interface Cache {
  held(): number;
  stop(): Promise<void>;
  listBytes?: number;
}

const [kind, mode, kubeconfig, ns, podsArg] = process.argv.slice(2) as [string, string, string, string, string];
const pods = Number(podsArg);
const path = podsPath(ns);
const labelSelector = codec.labelSelector;
const kc = loadKubeConfig(kubeconfig);
const now = () => performance.timeOrigin + performance.now();

// Whatever happens, this process must not outlive the run.
setTimeout(
  () => {
    console.error(`scale-worker ${kind} ${mode}: no result in time`);
    process.exit(2);
  },
  kind === "sync" ? 600_000 : 1_800_000,
).unref();

const caches: Record<string, () => Promise<Cache>> = {
  async podreg() {
    const client = new KubeClient(kc, { userAgent: "podreg-bench-scale" });
    const registry = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, logger: silentLogger });
    await registry.whenSynced();
    return {
      held: () => registry.services().reduce((sum, s) => sum + registry.instances(s).length, 0),
      stop: async () => (await registry.close(), client.close()),
    };
  },
  async peer() {
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kc, path, () => core.listNamespacedPod({ namespace: ns, labelSelector }), labelSelector);
    let failure: unknown;
    informer.on("error", (err) => (failure ??= err));
    await informer.start();
    await until(`client-node informer to hold ${pods} pods`, () => {
      if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
      return informer.list(ns).length >= pods;
    }, 300_000);
    return { held: () => informer.list(ns).length, stop: () => informer.stop() };
  },
  /** THE LIMIT: the paginated LIST podreg's reflector makes (500 a page), each page's bytes parsed and dropped. */
  async limit() {
    const client = new KubeClient(kc, { userAgent: "podreg-bench-scale-limit" });
    let held = 0;
    let bytes = 0;
    let cont: string | undefined;
    do {
      const page = await client.request<{ items?: unknown[]; metadata?: { continue?: string } }>({ path, query: { labelSelector, limit: 500, continue: cont } });
      held += page.items?.length ?? 0;
      bytes += Buffer.byteLength(JSON.stringify(page)); // what was parsed, re-measured (the client keeps no raw bytes)
      cont = page.metadata?.continue || undefined;
    } while (cont);
    client.close();
    return { held: () => held, stop: async () => undefined, listBytes: bytes };
  },
};


async function sync(): Promise<void> {
  const make = caches[mode];
  if (!make) throw new Error(`unknown mode ${mode}`);
  const warm = await make();
  if (warm.held() !== pods) throw new Error(`${mode}: warm-up holds ${warm.held()}, expected ${pods}`);
  await warm.stop();
  const before = await settledHeap();
  const t0 = performance.now();
  const cache = await make();
  const syncMs = performance.now() - t0;
  const after = await settledHeap();
  const held = cache.held();
  await cache.stop();
  const result: SyncResult = { mode, pods, held, syncMs, heapBytes: mode === "limit" ? 0 : after - before, listBytes: cache.listBytes };
  console.log(JSON.stringify(result));
  process.exit(0);
}

async function churn(): Promise<void> {
  const seen = new Map<number, number>();
  const saw = (seq: number, t: number) => {
    if (Number.isInteger(seq) && !seen.has(seq)) seen.set(seq, t);
  };
  let stop: () => Promise<void>;
  if (mode === "podreg") {
    const client = new KubeClient(kc, { userAgent: "podreg-bench-scale-churn" });
    const registry = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, logger: silentLogger });
    const sub = registry.subscribe("*", (ev) => {
      const t = now();
      if (ev.type === "updated") saw(Number(ev.instance.metadata.rev), t);
    });
    await registry.whenSynced();
    stop = async () => (sub.close(), await registry.close(), client.close());
  } else if (mode === "bare") {
    // A bare watch: the stream parsed line by line, the seq annotation read, nothing else.
    const client = new KubeClient(kc, { userAgent: "podreg-bench-scale-bare" });
    const abort = new AbortController();
    const head = await client.request<{ metadata?: { resourceVersion?: string } }>({ path, query: { labelSelector, limit: 1 } });
    void client
      .watch({
        path,
        query: { labelSelector, resourceVersion: head.metadata?.resourceVersion, allowWatchBookmarks: true },
        signal: abort.signal,
        inactivityTimeoutMs: 600_000,
        onEvent: (ev) => {
          const t = now();
          if (ev.type !== "MODIFIED") return;
          const seq = (ev.object as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations?.[SEQ_ANNOTATION];
          if (seq !== undefined) saw(Number(seq), t);
        },
      })
      .catch((err: Error) => !abort.signal.aborted && console.error(`bare watch: ${err.message}`));
    stop = async () => (abort.abort(), client.close());
  } else throw new Error(`unknown mode ${mode}`);
  const cpu0 = process.cpuUsage();
  console.log(JSON.stringify({ ready: true }));
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => rl.once("line", () => resolve()));
  const cpu = process.cpuUsage(cpu0);
  rl.close();
  await stop();
  const result: ChurnResult = { mode, cpuUserS: cpu.user / 1e6, cpuSystemS: cpu.system / 1e6, seen: [...seen] };
  console.log(JSON.stringify(result));
  process.exit(0);
}

if (kind === "sync") await sync();
else if (kind === "churn") await churn();
else throw new Error(`unknown kind ${kind}; expected sync or churn`);
