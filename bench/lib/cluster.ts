/** The cluster a benchmark runs against, and the machine it runs on: what every kube benchmark opens and prints first. */
import type { ChildProcess } from "node:child_process";
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

/**
 * What a benchmark leaves behind, undone once whatever happens: child
 * processes killed first (they may read what the cleanups remove), then the
 * cleanups newest first, each failure reported and the rest still run.
 * `run(main)` also does it on SIGINT/SIGTERM, then re-raises the signal so
 * the process ends as it would have.
 */
export class BenchCleanup {
  readonly cleanups: Cleanups = [];
  readonly children = new Set<ChildProcess>();
  private cleaning: Promise<void> | undefined;

  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      for (const c of this.children) c.kill("SIGKILL");
      for (const { what, fn } of this.cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          console.error(`cleanup (${what}) failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.cleaning;
  }

  async run(main: () => Promise<void>): Promise<void> {
    const onSignal = (sig: NodeJS.Signals) => {
      console.error(`\n${sig}: cleaning up`);
      void this.cleanup().finally(() => process.kill(process.pid, sig)); // once-listeners: the re-raised signal ends us
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      await main();
    } finally {
      await this.cleanup();
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    }
  }
}
