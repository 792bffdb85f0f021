/**
 * `podreg demo --kubeconfig FILE`: the demo's services as pods of a cluster
 * (one from `npm run testenv -- up`). There is no kubelet there, so the demo
 * writes what a kubelet would (pod IP, phase, Ready) through pods/status, as
 * podreg/testenv's helpers do; each pod's IP is a loopback address its
 * service listens on, so the consumer reaches it. Written against KubeClient
 * rather than importing testenv: the CLI ships without it.
 */
import { KubeApiError } from "../../errors.js";
import { KubeClient } from "../../kube/client.js";
import { loadKubeConfig } from "../../kube/config.js";

export class DemoPods {
  private readonly client: KubeClient;
  private readonly created = new Set<string>();
  private next = 0;

  constructor(
    private readonly kubeconfig: string,
    readonly namespace: string,
  ) {
    this.client = new KubeClient(loadKubeConfig({ kubeconfig }));
  }

  /** Creates the namespace unless it exists. */
  async prepare(): Promise<void> {
    try {
      await this.client.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: this.namespace } } });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === "PODREG_KUBE_CONFLICT")) throw err;
    }
  }

  /** A Running, Ready pod for one demo service; returns its name and IP (127.0.0.x). */
  async create(service: string): Promise<{ name: string; ip: string }> {
    const name = `demo-echo-${service}`;
    const ip = `127.0.0.${11 + (this.next++ % 200)}`;
    const path = `/api/v1/namespaces/${this.namespace}/pods`;
    await this.delete(name); // a leftover of an earlier run
    await this.client.request({
      method: "POST",
      path,
      body: {
        metadata: { name, labels: { app: "demo-echo" } },
        spec: { automountServiceAccountToken: false, containers: [{ name: "app", image: "podreg.invalid/demo-echo" }] },
      },
    });
    this.created.add(name);
    const now = new Date().toISOString();
    const conditions = ["Ready", "ContainersReady"].map((type) => ({ type, status: "True", lastTransitionTime: now }));
    await this.client.request({
      method: "PATCH",
      path: `${path}/${name}/status`,
      contentType: "application/merge-patch+json",
      body: { status: { phase: "Running", startTime: now, podIP: ip, podIPs: [{ ip }], conditions } },
    });
    return { name, ip };
  }

  async delete(name: string): Promise<void> {
    try {
      await this.client.request({ method: "DELETE", path: `/api/v1/namespaces/${this.namespace}/pods/${name}`, query: { gracePeriodSeconds: 0 } });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === "PODREG_KUBE_NOT_FOUND")) throw err;
    }
    this.created.delete(name);
  }

  /** Deletes every pod it created. */
  async close(): Promise<void> {
    for (const name of [...this.created]) await this.delete(name).catch(() => {});
    this.client.close();
  }
}
