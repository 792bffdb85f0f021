/**
 * The control plane a test file runs against: the one `npm test` started
 * (PODREG_TESTENV_KUBECONFIG), or, for a file run on its own, one started for
 * this process. Never a mock: when it cannot start, tests fail with the reason.
 */
import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { createNamespace, loadKubeConfig, startControlPlane } from "../../testenv/index.js";

export interface TestCluster {
  kc: KubeConfig;
  kubeconfigPath: string;
  server: string;
  version: string;
  etcdUrl: string;
}

let shared: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  shared ??= (async () => {
    const failed = process.env.PODREG_TESTENV_ERROR;
    if (failed) throw new Error(`the test control plane could not start: ${failed}`);
    const path = process.env.PODREG_TESTENV_KUBECONFIG;
    if (path) {
      return {
        kc: loadKubeConfig(path),
        kubeconfigPath: path,
        server: process.env.PODREG_TESTENV_SERVER ?? "",
        version: process.env.PODREG_TESTENV_VERSION ?? "",
        etcdUrl: process.env.PODREG_TESTENV_ETCD ?? "",
      };
    }
    const cp = await startControlPlane();
    process.once("beforeExit", () => void cp.stop());
    return { kc: loadKubeConfig(cp.kubeconfigPath), kubeconfigPath: cp.kubeconfigPath, server: cp.server, version: cp.version, etcdUrl: cp.etcdUrl };
  })();
  return shared;
}

/** A fresh namespace per test keeps tests sharing one control plane apart. */
export async function testNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await createNamespace(kc, name);
  return name;
}
