/**
 * npm run bench -- services
 *
 * The kube-services source at PODREG_BENCH_SERVICES (1,000) Services x
 * PODREG_BENCH_ENDPOINTS (10) endpoints each (hand-written EndpointSlices, so
 * no pods are needed): cold sync time and heap per endpoint of a synced
 * KubeServicesRegistry beside @kubernetes/client-node's informers on the same
 * Services and EndpointSlices (the PEER). Each measurement runs in a child
 * process of its own, synced twice (the first copy dropped, so module
 * loading, JIT and TLS are not counted), heapUsed after gc() minus before.
 * It asserts nothing. A third row, the FLOOR, is what podreg's informers
 * fetch before any work of their own: the same LISTs (Services,
 * EndpointSlices, Pods; paged by 500 as its reflector pages them), parsed,
 * the raw items kept.
 *
 * Environment: PODREG_BENCH_KUBECONFIG (default: start a testenv control
 * plane), PODREG_BENCH_SERVICES, PODREG_BENCH_ENDPOINTS, PODREG_BENCH_REPS (3).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CoreV1Api, DiscoveryV1Api, makeInformer, type V1EndpointSlice, type V1Service } from "@kubernetes/client-node";
import { KubeServicesRegistry, silentLogger } from "../src/index.js";
import { KubeClient } from "../src/kube/index.js";
import { createNamespace, loadKubeConfig, startControlPlane } from "../testenv/index.js";
import { median, num, ratio, table } from "./lib/report.js";

const S = Number(process.env.PODREG_BENCH_SERVICES ?? 1000);
const E = Number(process.env.PODREG_BENCH_ENDPOINTS ?? 10);
const REPS = Number(process.env.PODREG_BENCH_REPS ?? 3);
const SELF = fileURLToPath(import.meta.url);

interface Result {
  mode: string;
  held: number;
  bytes: number;
  syncMs: number;
}

interface Cache {
  held(): number;
  stop(): Promise<void>;
}

async function open(mode: string, kubeconfig: string, ns: string): Promise<Cache> {
  if (mode === "floor") {
    const client = new KubeClient(loadKubeConfig(kubeconfig));
    const paths = [`/api/v1/namespaces/${ns}/services`, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, `/api/v1/namespaces/${ns}/pods`];
    const lists = await Promise.all(
      paths.map(async (path) => {
        const items: unknown[] = [];
        let cont: string | undefined;
        do {
          const page = await client.request<{ items?: unknown[]; metadata?: { continue?: string } }>({ path, query: { limit: 500, continue: cont } });
          items.push(...(page.items ?? []));
          cont = page.metadata?.continue || undefined;
        } while (cont);
        return items;
      }),
    );
    const slices = lists[1] as V1EndpointSlice[];
    return {
      held: () => slices.reduce((n, s) => n + (s.endpoints ?? []).reduce((m, e) => m + e.addresses.length, 0), 0),
      stop: async () => client.close(),
    };
  }
  if (mode === "podreg") {
    const client = new KubeClient(loadKubeConfig(kubeconfig));
    const reg = new KubeServicesRegistry({ client, namespaces: [ns], watchNodes: false, logger: silentLogger });
    await reg.whenSynced();
    return {
      held: () => reg.instances("*").length,
      stop: async () => {
        await reg.close();
        client.close();
      },
    };
  }
  const kc = loadKubeConfig(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const disc = kc.makeApiClient(DiscoveryV1Api);
  const services = makeInformer<V1Service>(kc, `/api/v1/namespaces/${ns}/services`, () => core.listNamespacedService({ namespace: ns }));
  const slices = makeInformer<V1EndpointSlice>(kc, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, () => disc.listNamespacedEndpointSlice({ namespace: ns }));
  await Promise.all([services.start(), slices.start()]);
  return {
    // What the peer holds: every endpoint address of every slice.
    held: () => slices.list().reduce((n, s) => n + (s.endpoints ?? []).reduce((m, e) => m + e.addresses.length, 0), 0),
    stop: async () => {
      await services.stop();
      await slices.stop();
    },
  };
}

async function worker(mode: string, kubeconfig: string, ns: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const warm = await open(mode, kubeconfig, ns);
  await warm.stop();
  const before = heap();
  const t0 = performance.now();
  const cache = await open(mode, kubeconfig, ns);
  const syncMs = performance.now() - t0;
  const held = cache.held();
  const bytes = heap() - before;
  console.log(JSON.stringify({ mode, held, bytes, syncMs } satisfies Result));
  await cache.stop();
  process.exit(0);
}

function run(mode: string, kubeconfig: string, ns: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", SELF, "worker", mode, kubeconfig, ns], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("exit", (code) => {
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as Result);
      } catch {
        reject(new Error(`worker ${mode} exited ${code}: ${out.slice(0, 300)}`));
      }
    });
  });
}

async function main(): Promise<void> {
  let kubeconfig = process.env.PODREG_BENCH_KUBECONFIG;
  let stop: (() => Promise<void>) | undefined;
  if (!kubeconfig) {
    const cp = await startControlPlane();
    stop = () => cp.stop();
    kubeconfig = cp.kubeconfigPath;
  }
  try {
    const kc = loadKubeConfig(kubeconfig);
    const ns = `podreg-bench-svc-${Date.now().toString(36)}`;
    await createNamespace(kc, ns);
    const core = kc.makeApiClient(CoreV1Api);
    const disc = kc.makeApiClient(DiscoveryV1Api);
    const t0 = Date.now();
    let next = 0;
    const createOne = async (k: number) => {
      const name = `svc-${k}`;
      await core.createNamespacedService({ namespace: ns, body: { metadata: { name, labels: { app: `app-${k % 20}` } }, spec: { clusterIP: "None", ports: [{ name: "http-web", port: 80, targetPort: 8080 }] } } }); // headless: testenv's service CIDR holds too few IPs for 1,000
      await disc.createNamespacedEndpointSlice({
        namespace: ns,
        body: {
          metadata: { name: `${name}-manual`, labels: { "kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "podreg-bench" } },
          addressType: "IPv4",
          ports: [{ name: "http-web", port: 8080, protocol: "TCP" }],
          endpoints: Array.from({ length: E }, (_, e) => ({ addresses: [`10.${(k >> 8) & 255}.${k & 255}.${e + 1}`], conditions: { ready: true }, zone: `zone-${e % 3}` })),
        },
      });
    };
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let k = next++; k < S; k = next++) {
          await createOne(k);
          if (k % 200 === 199) process.stderr.write(`created ${k + 1} of ${S} Services (${E} endpoints each), ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
        }
      }),
    );
    const results = new Map<string, Result[]>([
      ["podreg", []],
      ["client-node", []],
      ["floor", []],
    ]);
    for (let r = 0; r < REPS; r++) for (const mode of results.keys()) results.get(mode)!.push(await run(mode, kubeconfig, ns));
    const rows = [...results].map(([mode, rs]) => {
      const per = rs.map((x) => x.bytes / (S * E));
      const label = mode === "podreg" ? "podreg: KubeServicesRegistry (instances)" : mode === "floor" ? "FLOOR: podreg's LISTs + JSON.parse (raw items)" : "PEER: client-node informers (Services + EndpointSlices)";
      return [label, num(rs[0]!.held), num(median(rs.map((x) => x.syncMs)), 1), num(median(per)), num(Math.min(...per)), num(Math.max(...per))];
    });
    console.log(`\nkube-services: ${S} Services x ${E} endpoints = ${S * E} endpoints; ${REPS} child processes per row (median, min, max)\n`);
    console.log(table(["cache", "endpoints", "sync ms", "bytes/endpoint", "min", "max"], rows));
    const med = (m: string, f: (x: Result) => number) => median(results.get(m)!.map(f));
    console.log(`\n   podreg / client-node: sync ${ratio(med("podreg", (x) => x.syncMs), med("client-node", (x) => x.syncMs))}, memory ${ratio(med("podreg", (x) => x.bytes), med("client-node", (x) => x.bytes))}`);
    const above = med("podreg", (x) => x.syncMs) - med("floor", (x) => x.syncMs);
    console.log(`   podreg above its floor: sync ${above < 0 ? "" : "+"}${num(above, 1)} ms`);
  } finally {
    await stop?.();
  }
}

if (process.argv[2] === "worker") await worker(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else {
  await main();
  process.exit(0);
}
