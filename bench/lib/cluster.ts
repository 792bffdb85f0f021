/** The cluster a benchmark runs against, and the machine it runs on: what every kube benchmark opens and prints first. */
import os from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/index.js";
import { loadKubeConfig, startControlPlane } from "../../testenv/index.js";
import { num } from "./report.js";

export type Cleanups = { what: string; fn: () => unknown }[];

export interface BenchCluster {
  kc: KubeConfig;
  kubeconfig: string;
  /** Where the API server is, for the header. */
  where: string;
  admin: KubeClient;
  /** kube-apiserver's gitVersion. */
  version: string;
  /** CPUs, memory and OS, for the header. */
  machine: string;
}

/** PODREG_BENCH_KUBECONFIG's cluster, or a testenv control plane started here; both closed through `cleanups`. */
export async function openBenchCluster(userAgent: string, cleanups: Cleanups): Promise<BenchCluster> {
  let kubeconfig = process.env.PODREG_BENCH_KUBECONFIG;
  let where = `the cluster of PODREG_BENCH_KUBECONFIG=${kubeconfig}`;
  if (!kubeconfig) {
    console.log("starting a control plane (testenv: etcd + kube-apiserver + kube-controller-manager) ...");
    const cp = await startControlPlane();
    cleanups.push({ what: "control plane", fn: () => cp.stop() });
    kubeconfig = cp.kubeconfigPath;
    where = "testenv started by this run";
  }
  const kc = loadKubeConfig(kubeconfig);
  const admin = new KubeClient(kc, { userAgent });
  cleanups.push({ what: "admin client", fn: () => admin.close() });
  const version = (await admin.request<{ gitVersion?: string }>({ path: "/version" })).gitVersion ?? "?";
  const cpus = os.cpus();
  const machine = `${cpus.length} CPUs (${cpus[0]?.model.trim() ?? "?"}), ${num(os.totalmem() / 2 ** 30, 1)} GiB, ${os.type()} ${os.release()}`;
  return { kc, kubeconfig, where, admin, version, machine };
}
