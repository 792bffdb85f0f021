/**
 * Where the Kubernetes configuration comes from: an explicit file, KUBECONFIG,
 * ~/.kube/config, or the in-cluster service account, in that order. Unlike
 * client-node's loadFromDefault(), finding nothing is an error here, not a
 * silent fallback to http://localhost:8080.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeConfigError } from "../errors.js";

import type { KubeConfigOptions } from "./options.js";

export { KubeConfigError };
export type { KubeConfigOptions };

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export function loadKubeConfig(opts: KubeConfigOptions = {}): KubeConfig {
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  const wrap = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      throw new KubeConfigError(`cannot load ${what}: ${(err as Error).message}`, { cause: err });
    }
  };
  const file = opts.kubeconfig;
  const home = join(env.HOME ?? homedir(), ".kube", "config");
  if (file) {
    if (!existsSync(file)) throw new KubeConfigError(`kubeconfig ${file} does not exist`);
    wrap(`kubeconfig ${file}`, () => kc.loadFromFile(file));
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(":").filter((f) => f && existsSync(f));
    if (files.length === 0) throw new KubeConfigError(`KUBECONFIG=${env.KUBECONFIG} names no existing file`);
    wrap(`KUBECONFIG=${env.KUBECONFIG}`, () => kc.loadFromDefault());
  } else if (existsSync(home)) {
    wrap(`kubeconfig ${home}`, () => kc.loadFromFile(home));
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SERVICE_ACCOUNT_DIR, "token"))) {
    wrap("the in-cluster service account", () => kc.loadFromCluster());
  } else {
    throw new KubeConfigError("no Kubernetes configuration: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account");
  }
  if (opts.context) {
    if (!kc.getContexts().some((c) => c.name === opts.context)) throw new KubeConfigError(`no context named ${opts.context} in the Kubernetes configuration`);
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new KubeConfigError("the Kubernetes configuration has no current cluster");
  return kc;
}
