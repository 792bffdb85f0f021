/**
 * One cache-memory measurement of bench/registry.ts, alone in its process:
 *   node --expose-gc --import tsx bench/registry-worker.ts <podreg|client-node|raw-list>
 * with PODREG_BENCH_WORKER_KUBECONFIG, _NAMESPACE and _PODS set by the parent.
 * The cache is synced twice; the first copy is dropped so module loading,
 * JIT and TLS setup are not counted, and the second copy is measured:
 * heapUsed after gc() once it holds all pods, minus heapUsed after gc()
 * before it started. Prints one JSON line.
 */
import { CoreV1Api, makeInformer, type V1Pod } from "@kubernetes/client-node";
import { KubePodsRegistry, silentLogger } from "../src/index.js";
import { KubeClient } from "../src/kube/index.js";
import { loadKubeConfig } from "../testenv/index.js";
import { codec, podsPath } from "./lib/fixture.js";
import { settledHeap, until } from "./lib/heap.js";

export interface WorkerResult {
  mode: string;
  pods: number;
  /** Pods (client-node, raw-list) or instances (podreg) the measured cache held. */
  held: number;
  heapBefore: number;
  heapAfter: number;
  bytesPerPod: number;
  syncMs: number;
}

interface Cache {
  held(): number;
  stop(): Promise<void>;
}

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (this worker is started by bench/registry.ts)`);
  return v;
};

const mode = process.argv[2] ?? "";
const kubeconfig = env("PODREG_BENCH_WORKER_KUBECONFIG");
const ns = env("PODREG_BENCH_WORKER_NAMESPACE");
const pods = Number(env("PODREG_BENCH_WORKER_PODS"));
const path = podsPath(ns);
const labelSelector = codec.labelSelector;

const kc = loadKubeConfig(kubeconfig);
const client = new KubeClient(kc);
const core = kc.makeApiClient(CoreV1Api);

const modes: Record<string, () => Promise<Cache>> = {
  async podreg() {
    const registry = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, logger: silentLogger });
    await registry.whenSynced();
    return {
      held: () => registry.services().reduce((sum, s) => sum + registry.instances(s).length, 0),
      stop: () => registry.close(),
    };
  },
  async "client-node"() {
    const informer = makeInformer<V1Pod>(kc, path, () => core.listNamespacedPod({ namespace: ns, labelSelector }), labelSelector);
    let failure: unknown;
    informer.on("error", (err) => (failure ??= err));
    await informer.start();
    await until(`client-node informer to hold ${pods} pods`, () => {
      if (failure) throw failure;
      return informer.list(ns).length >= pods;
    }, 60_000, 10);
    return { held: () => informer.list(ns).length, stop: () => informer.stop() };
  },
  async "raw-list"() {
    let list: { items: unknown[] } | undefined = await client.request<{ items: unknown[] }>({ path, query: { labelSelector } });
    return {
      held: () => list?.items.length ?? 0,
      stop: async () => {
        list = undefined;
      },
    };
  },
};

const make = modes[mode];
if (!make) throw new Error(`unknown mode ${JSON.stringify(mode)}; expected one of ${Object.keys(modes).join(", ")}`);
// Whatever happens, this process must not outlive the run.
setTimeout(() => {
  console.error(`registry-worker ${mode}: no result after 120 s`);
  process.exit(2);
}, 120_000).unref();

const warm = await make();
if (warm.held() !== pods) throw new Error(`${mode}: warm-up cache holds ${warm.held()}, expected ${pods}`);
await warm.stop();

const heapBefore = await settledHeap();
const t0 = performance.now();
const cache = await make();
const syncMs = performance.now() - t0;
const heapAfter = await settledHeap();
const held = cache.held();
await cache.stop();
client.close();

const result: WorkerResult = { mode, pods, held, heapBefore, heapAfter, bytesPerPod: (heapAfter - heapBefore) / pods, syncMs };
console.log(JSON.stringify(result));
// Sockets client-node leaves half-closed must not delay the parent.
process.exit(0);
