/**
 * The pods the registry benchmark runs against: what a Deployment's pods look
 * like once a kubelet runs them (owner reference, env, resources, probes, the
 * service-account volume the API server adds, container statuses), each with
 * a native podreg registration (label + annotation) written at creation.
 */
import { createHash } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { createNativeCodec, type AnnotationCodec, type CodecRegistration } from "../../src/index.js";
import type { KubeClient } from "../../src/kube/index.js";
import { createNamespace, createNode } from "../../testenv/index.js";

export const codec: AnnotationCodec = createNativeCodec();
/** A plain annotation carrying the same counter as the registration's `rev`: what the bare watch and client-node match on. */
export const SEQ_ANNOTATION = "bench.podreg.io/seq";

const APPS = ["checkout", "cart", "catalog", "user", "payment", "shipping", "search", "review", "inventory", "notification"];
const ZONES = ["zone-a", "zone-b", "zone-c"];
const NODES = 4;

export interface BenchPod {
  name: string;
  app: string;
  version: string;
  zone: string;
  node: string;
  podIP: string;
  registeredAt: number;
}

const hex = (s: string, n: number) => createHash("sha256").update(s).digest("hex").slice(0, n);
const alnum = (s: string, n: number) =>
  [...createHash("sha256").update(s).digest()].slice(0, n).map((b) => "bcdfghjklmnpqrstvwxz2456789"[b % 27]).join("");

export function nodeNames(suffix: string): string[] {
  return Array.from({ length: NODES }, (_, i) => `podreg-bench-${suffix}-node-${i}`);
}

export function benchPods(n: number, suffix: string): BenchPod[] {
  const nodes = nodeNames(suffix);
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const app = APPS[i % APPS.length] as string;
    const version = i % 4 === 0 ? "v2" : "v1";
    const k = i + 1;
    return {
      name: `${app}-${alnum(`${app}/${version}`, 10)}-${alnum(`${suffix}/${i}`, 5)}`,
      app,
      version,
      zone: ZONES[i % ZONES.length] as string,
      node: nodes[i % nodes.length] as string,
      podIP: `10.244.${Math.floor(k / 250)}.${(k % 250) + 1}`,
      registeredAt: now - 3_600_000 + i,
    };
  });
}

/** The pod's registration; `rev` is the metadata value the latency benchmark changes. */
export function registration(p: BenchPod, rev: number): CodecRegistration {
  return {
    service: p.app,
    protocol: "http",
    host: "",
    port: 8080,
    weight: 100,
    metadata: {
      version: p.version,
      zone: p.zone,
      methods: `GET /${p.app},GET /${p.app}/{id},POST /${p.app},PUT /${p.app}/{id},DELETE /${p.app}/{id}`,
      env: "prod",
      build: "2025.06.3-7f3c2e1",
      rev: String(rev),
    },
    registeredAt: p.registeredAt,
  };
}

export function annotationValue(p: BenchPod, rev: number): string {
  return codec.encode(codec.apply([], { drop: new Set(), add: [registration(p, rev)] }));
}

function podBody(p: BenchPod): object {
  const rsHash = alnum(`${p.app}/${p.version}`, 10);
  const image = `registry.example.com/shop/${p.app}:${p.version === "v2" ? "2.1.0" : "1.9.4"}`;
  return {
    metadata: {
      name: p.name,
      generateName: `${p.app}-${rsHash}-`,
      labels: {
        app: p.app,
        version: p.version,
        "pod-template-hash": rsHash,
        "app.kubernetes.io/name": p.app,
        "app.kubernetes.io/part-of": "shop",
        [codec.labelKey]: codec.labelValue,
      },
      annotations: {
        [codec.annotationKey]: annotationValue(p, 0),
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: `${p.app}-${rsHash}`,
          uid: `${hex(`rs/${p.app}/${p.version}`, 8)}-1c2d-4e5f-8a9b-${hex(`rs2/${p.app}/${p.version}`, 12)}`,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      nodeName: p.node,
      serviceAccountName: "default",
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: p.app,
          image,
          imagePullPolicy: "IfNotPresent",
          ports: [
            { name: "http", containerPort: 8080, protocol: "TCP" },
            { name: "metrics", containerPort: 9090, protocol: "TCP" },
          ],
          env: [
            { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
            { name: "POD_NAMESPACE", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } } },
            { name: "POD_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.podIP" } } },
            { name: "NODE_ENV", value: "production" },
            { name: "LOG_LEVEL", value: "info" },
            { name: "PODREG_SERVICE", value: p.app },
          ],
          resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
          readinessProbe: { httpGet: { path: "/healthz", port: 8080, scheme: "HTTP" }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
          livenessProbe: { httpGet: { path: "/livez", port: 8080, scheme: "HTTP" }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
        },
      ],
    },
  };
}

function podStatus(p: BenchPod, image: string): object {
  const t = new Date(p.registeredAt - 5_000).toISOString().replace(/\.\d+Z$/, "Z");
  const cond = (type: string) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: t });
  const hostIP = `192.168.0.${10 + Number(p.node.slice(p.node.lastIndexOf("-") + 1))}`;
  return {
    status: {
      phase: "Running",
      conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map(cond),
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP: p.podIP,
      podIPs: [{ ip: p.podIP }],
      startTime: t,
      containerStatuses: [
        {
          name: p.app,
          state: { running: { startedAt: t } },
          lastState: {},
          ready: true,
          restartCount: 0,
          image,
          imageID: `${image.replace(/:[^:]+$/, "")}@sha256:${createHash("sha256").update(image).digest("hex")}`,
          containerID: `containerd://${createHash("sha256").update(p.name).digest("hex")}`,
          started: true,
        },
      ],
    },
  };
}

export const podsPath = (ns: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`;

/**
 * What testenv's createReadyPod does (create a pod bound to a node, then
 * write Running/Ready and its IP through pods/status), with a full spec and
 * the status a kubelet writes, which createReadyPod's fixed spec cannot carry.
 */
export async function createBenchPod(client: Pick<KubeClient, "request">, ns: string, p: BenchPod): Promise<void> {
  const body = podBody(p) as { spec: { containers: { image: string }[] } };
  await client.request({ method: "POST", path: podsPath(ns), body });
  await client.request({
    method: "PATCH",
    path: `${podsPath(ns)}/${p.name}/status`,
    body: podStatus(p, body.spec.containers[0]?.image ?? ""),
    contentType: "application/merge-patch+json",
  });
}

export async function createNodes(kc: KubeConfig, suffix: string): Promise<void> {
  for (const [i, name] of nodeNames(suffix).entries()) await createNode(kc, name, { zone: ZONES[i % ZONES.length] });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    try {
      while (next < items.length && !failed) await fn(items[next++] as T);
    } catch (err) {
      failed = true; // the other workers stop after their current item
      throw err;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * A namespace `<prefix>-<suffix>` and the fixture's Nodes for one run, both
 * removed through `cleanups`. The namespace's deletion removes its pods
 * (kube-controller-manager); deleting them first only speeds it up (no
 * kubelet confirms graceful deletion here). At 50,000 pods that collection
 * DELETE outlasts the API server's 60 s request timeout (it goes on
 * server-side), so its failure must not keep the namespace.
 */
export async function benchNamespace(
  kc: KubeConfig,
  admin: Pick<KubeClient, "request">,
  cleanups: { what: string; fn: () => unknown }[],
  prefix: string,
  suffix: string,
): Promise<string> {
  const ns = `${prefix}-${suffix}`;
  await createNamespace(kc, ns);
  cleanups.push({
    what: `namespace ${ns}`,
    fn: async () => {
      await admin.request({ method: "DELETE", path: podsPath(ns), query: { gracePeriodSeconds: 0 }, timeoutMs: 600_000 }).catch(() => undefined);
      await admin.request({ method: "DELETE", path: `/api/v1/namespaces/${ns}` });
    },
  });
  await createNodes(kc, suffix);
  cleanups.push({
    what: "nodes",
    fn: async () => {
      for (const name of nodeNames(suffix)) await admin.request({ method: "DELETE", path: `/api/v1/nodes/${name}` });
    },
  });
  return ns;
}
