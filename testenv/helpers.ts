/**
 * Helpers that make Pods real without a kubelet: Node objects, Pods bound to
 * a node, status (IP, phase, Ready) written through the status subresource,
 * and pod-bound service-account tokens for RBAC tests.
 */
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { writeKubeconfig } from "./kubeconfig.js";

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

function isConflict(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === 409;
}

/** Creates a namespace and waits until its default service account exists. */
export async function createNamespace(kc: KubeConfig, name: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    try {
      await core.readNamespacedServiceAccount({ name: "default", namespace: name });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`namespace ${name}: default service account not created in time`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A Node object (no kubelet behind it); the EndpointSlice controller skips pods on unknown nodes. Existing nodes are kept. */
export async function createNode(kc: KubeConfig, name: string, opts: { zone?: string } = {}): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const labels: Record<string, string> = { "kubernetes.io/hostname": name };
  if (opts.zone) labels["topology.kubernetes.io/zone"] = opts.zone;
  try {
    await core.createNode({ body: { metadata: { name, labels } } });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

export interface PodSpecOptions {
  namespace: string;
  name: string;
  nodeName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  serviceAccountName?: string;
  ports?: { name?: string; containerPort: number }[];
}

/** Creates a Pod bound to a node (created if missing). Phase Pending until {@link setPodStatus}. */
export async function createPod(kc: KubeConfig, opts: PodSpecOptions): Promise<V1Pod> {
  const nodeName = opts.nodeName ?? "node-1";
  await createNode(kc, nodeName);
  const core = kc.makeApiClient(CoreV1Api);
  return core.createNamespacedPod({
    namespace: opts.namespace,
    body: {
      metadata: { name: opts.name, labels: opts.labels, annotations: opts.annotations },
      spec: {
        nodeName,
        serviceAccountName: opts.serviceAccountName ?? "default",
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 30,
        containers: [{ name: "app", image: "podreg.invalid/app:test", ports: opts.ports }],
      },
    },
  });
}

export interface PodStatusOptions {
  namespace: string;
  name: string;
  podIP?: string;
  phase?: "Pending" | "Running" | "Succeeded" | "Failed";
  ready?: boolean;
  startTime?: Date;
}

/** Writes what a kubelet would: pod IP, phase and the Ready condition, via pods/status. */
export async function setPodStatus(kc: KubeConfig, opts: PodStatusOptions): Promise<V1Pod> {
  const core = kc.makeApiClient(CoreV1Api);
  const now = new Date().toISOString();
  const ready = opts.ready ?? true;
  const status: Record<string, unknown> = {
    phase: opts.phase ?? "Running",
    startTime: (opts.startTime ?? new Date()).toISOString(),
    conditions: [
      { type: "Ready", status: ready ? "True" : "False", lastTransitionTime: now },
      { type: "ContainersReady", status: ready ? "True" : "False", lastTransitionTime: now },
    ],
  };
  if (opts.podIP) {
    status.podIP = opts.podIP;
    status.podIPs = [{ ip: opts.podIP }];
  }
  return core.patchNamespacedPodStatus({ name: opts.name, namespace: opts.namespace, body: { status } }, mergePatch);
}

/** Creates a Pod and makes it Running and Ready with the given IP. */
export async function createReadyPod(kc: KubeConfig, opts: PodSpecOptions & { podIP: string; startTime?: Date }): Promise<V1Pod> {
  await createPod(kc, opts);
  return setPodStatus(kc, { namespace: opts.namespace, name: opts.name, podIP: opts.podIP, startTime: opts.startTime });
}

/** A pod-bound service-account token from the TokenRequest API. */
export async function requestToken(
  kc: KubeConfig,
  opts: { namespace: string; serviceAccount: string; pod?: { name: string; uid: string }; expirationSeconds?: number; audiences?: string[] },
): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const res = await core.createNamespacedServiceAccountToken({
    name: opts.serviceAccount,
    namespace: opts.namespace,
    body: {
      spec: {
        audiences: opts.audiences ?? [],
        expirationSeconds: opts.expirationSeconds ?? 3600,
        boundObjectRef: opts.pod ? { apiVersion: "v1", kind: "Pod", name: opts.pod.name, uid: opts.pod.uid } : undefined,
      },
    },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${opts.namespace}/${opts.serviceAccount} returned no token`);
  return token;
}

/** Writes a kubeconfig that authenticates with `token` against the cluster `admin` points at. */
export function writeTokenKubeconfig(admin: KubeConfig, path: string, token: string, namespace?: string): string {
  const cluster = admin.getCurrentCluster();
  if (!cluster?.caData) throw new Error("admin kubeconfig has no cluster CA data");
  return writeKubeconfig(path, {
    server: cluster.server,
    caPem: Buffer.from(cluster.caData, "base64").toString(),
    user: { token },
    namespace,
  });
}
