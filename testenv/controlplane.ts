import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinaries, type Binaries } from "./build.js";
import { TestEnvError } from "./errors.js";
import { ensurePrivateDir, makeDir, writePrivateFile } from "./files.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { createPki, type Pki } from "./pki.js";
import { Reaper, freePort, startComponent, waitFor, type Component } from "./process.js";

export interface ControlPlaneOptions {
  /** Working folder (certs, etcd data, logs, kubeconfig). Default: a new temp folder, removed on stop. */
  dir?: string;
  log?: (line: string) => void;
  /** Appended to kube-apiserver's flags (later flags win). */
  apiserverArgs?: string[];
  /** Controllers kube-controller-manager runs. */
  controllers?: string[];
}

export interface ControlPlane {
  dir: string;
  /** Admin kubeconfig (client certificate in system:masters). */
  kubeconfigPath: string;
  server: string;
  caPem: string;
  etcdUrl: string;
  /** kube-apiserver's /version gitVersion, e.g. v1.34.10. */
  version: string;
  binaries: Binaries;
  /** PIDs of etcd, kube-apiserver and kube-controller-manager. */
  pids(): number[];
  /** Stops the components (controller-manager, apiserver, then etcd). Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_CONTROLLERS = ["serviceaccount", "endpointslice", "namespace"];

interface HttpsResult {
  status: number;
  body: string;
}

/** A GET with the control plane's CA and, optionally, the admin client certificate. */
export function httpsGet(url: string, tls: { ca: string; cert?: string; key?: string }, timeoutMs = 5000): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on loopback ports,
 * each with its log in `dir/logs`, and waits until the API server is ready
 * and the controllers have created the default service account.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const binaries = await ensureBinaries({ log });
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "podreg-testenv-"));
  makeDir(dir);
  const pki = createPki();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce({ ...options, dir, ownDir, binaries, pki, log });
    } catch (err) {
      // Free ports are picked before the processes bind them; another process may win the race.
      const retry = attempt < 3 && err instanceof TestEnvError && /address already in use/.test(err.message);
      if (!retry) throw err;
      log(`testenv: port taken, retrying (attempt ${attempt + 1})`);
    }
  }
}

async function startOnce(o: ControlPlaneOptions & { dir: string; ownDir: boolean; binaries: Binaries; pki: Pki; log: (l: string) => void }): Promise<ControlPlane> {
  const { dir, pki, binaries } = o;
  const pkiDir = join(dir, "pki");
  const logs = join(dir, "logs");
  const etcdData = join(dir, "etcd");
  rmSync(etcdData, { recursive: true, force: true });
  // Private on every start, not only the first: a folder reused from an older run keeps its files.
  for (const d of [pkiDir, logs]) ensurePrivateDir(d);
  const file = (name: string, text: string) => writePrivateFile(join(pkiDir, name), text);
  const caFile = file("ca.crt", pki.ca.certPem);
  const servingCert = file("apiserver.crt", pki.serving.certPem);
  const servingKey = file("apiserver.key", pki.serving.keyPem);
  const saKey = file("sa.key", pki.serviceAccount.privatePem);
  const saPub = file("sa.pub", pki.serviceAccount.publicPem);

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const server = `https://127.0.0.1:${apiPort}`;
  const reaper = new Reaper();
  const components: Component[] = [];
  const stopComponents = async () => {
    for (const c of [...components].reverse()) await c.stop();
    reaper.close();
  };
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= stopComponents().then(() => {
      if (o.ownDir) rmSync(dir, { recursive: true, force: true });
    }));

  try {
    const etcd = startComponent({
      name: "etcd",
      bin: binaries.etcd,
      reaper,
      logPath: join(logs, "etcd.log"),
      args: [
        "--name=podreg",
        `--data-dir=${etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=podreg=http://127.0.0.1:${etcdPeer}`,
        "--unsafe-no-fsync=true", // test data: speed over durability
        "--log-level=warn",
      ],
    });
    components.push(etcd);
    await waitFor({
      what: "etcd /health",
      component: etcd,
      timeoutMs: 30_000,
      probe: async () => {
        const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) });
        return res.ok && (await res.text()).includes('"health":"true"');
      },
    });

    const apiserver = startComponent({
      name: "kube-apiserver",
      bin: binaries.kubeApiserver,
      reaper,
      logPath: join(logs, "kube-apiserver.log"),
      args: [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${servingCert}`,
        `--tls-private-key-file=${servingKey}`,
        `--client-ca-file=${caFile}`,
        "--authorization-mode=RBAC",
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        // No kubelet mounts tokens here; pods name their service account explicitly.
        "--disable-admission-plugins=ServiceAccount",
        "--profiling=false",
        ...(o.apiserverArgs ?? []),
      ],
    });
    components.push(apiserver);
    const tls = { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    await waitFor({
      what: "kube-apiserver /readyz",
      component: apiserver,
      timeoutMs: 90_000,
      probe: async () => (await httpsGet(`${server}/readyz`, tls)).status === 200,
    });
    const versionRes = await httpsGet(`${server}/version`, tls);
    const version = (JSON.parse(versionRes.body) as { gitVersion?: string }).gitVersion ?? "unknown";

    const kubeconfigPath = writeKubeconfig(join(dir, "kubeconfig"), {
      server,
      caPem: pki.ca.certPem,
      user: { clientCertPem: pki.admin.certPem, clientKeyPem: pki.admin.keyPem },
    });

    const kcm = startComponent({
      name: "kube-controller-manager",
      bin: binaries.kubeControllerManager,
      reaper,
      logPath: join(logs, "kube-controller-manager.log"),
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        "--leader-elect=false",
        "--secure-port=0", // no serving endpoint: nothing here scrapes it
        `--controllers=${(o.controllers ?? DEFAULT_CONTROLLERS).join(",")}`,
        `--root-ca-file=${caFile}`,
        `--service-account-private-key-file=${saKey}`,
        "--use-service-account-credentials=false",
      ],
    });
    components.push(kcm);
    await waitFor({
      what: "kube-controller-manager to create the default service account",
      component: kcm,
      timeoutMs: 60_000,
      probe: async () => (await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, tls)).status === 200,
    });

    o.log(`testenv: kube-apiserver ${version} ready at ${server} (dir ${dir})`);
    return {
      dir,
      kubeconfigPath,
      server,
      caPem: pki.ca.certPem,
      etcdUrl,
      version,
      binaries,
      pids: () => components.map((c) => c.proc.pid).filter((p): p is number => p !== undefined),
      stop,
    };
  } catch (err) {
    await stopComponents(); // the folder stays: the error names logs in it
    throw err;
  }
}
