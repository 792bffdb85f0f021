/**
 * The real dubbo-go as a test peer: testenv/go/dubbogo (dubbo-go v1.5.9's
 * Kubernetes registry, driven as a dubbo-go application drives it) built and
 * cached like the control plane, and run "in a pod".
 *
 * dubbo-go only knows in-cluster config, so each process gets its own private
 * mount namespace (`unshare -m`) with a tmpfs on /run (= /var/run) holding
 * secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}: nothing on
 * the machine changes, and no two peers share credentials.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { CoreV1Api, RbacAuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { ensureGoModuleBinary, type EnsureBinariesOptions } from "./build.js";
import { TestEnvError } from "./errors.js";
import { requestToken } from "./helpers.js";

export interface DubboGoPeerBinary {
  /** The executable. */
  path: string;
  /** dubbo-go's version, from the module's go.mod. */
  dubboGo: string;
  dir: string;
}

/**
 * Returns the dubbo-go peer, building it on first use (about a minute and a
 * half on 2 cores, modules included) into the per-user testenv cache, next
 * to the control plane. A second caller waits for a build in progress.
 */
export async function ensureDubboGoPeer(options: EnsureBinariesOptions = {}): Promise<DubboGoPeerBinary> {
  const b = await ensureGoModuleBinary(
    { module: "dubbogo", requires: "github.com/apache/dubbo-go", cachePrefix: "dubbogo", what: "the dubbo-go peer", expect: "about 1-2 minutes" },
    options,
  );
  return { path: b.path, dubboGo: b.version, dir: b.dir };
}

/** The RBAC dubbo-go-samples give their pods: a Role with get, list, watch and patch on pods. */
export async function grantDubboGoPodAccess(kc: KubeConfig, namespace: string, serviceAccount: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ignoreExisting = (err: unknown) => {
    if ((err as { code?: unknown }).code !== 409) throw err;
  };
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } }).catch(ignoreExisting);
  await rbac
    .createNamespacedRole({
      namespace,
      body: { metadata: { name: serviceAccount }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "patch"] }] },
    })
    .catch(ignoreExisting);
  await rbac
    .createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: serviceAccount },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: serviceAccount },
        subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
      },
    })
    .catch(ignoreExisting);
}

/** What a kubelet would mount into the pod: a pod-bound token, the cluster CA, the namespace; and where the API server is. */
export interface InClusterCredentials {
  token: string;
  caPem: string;
  namespace: string;
  /** KUBERNETES_SERVICE_HOST / _PORT: the admin kubeconfig's server. */
  host: string;
  port: string;
}

export async function inClusterCredentials(kc: KubeConfig, pod: { namespace: string; name: string; uid: string; serviceAccount: string }): Promise<InClusterCredentials> {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caData) throw new TestEnvError("PODREG_TESTENV_STATE", "the admin kubeconfig has no certificate-authority-data");
  const server = new URL(cluster.server);
  const token = await requestToken(kc, { namespace: pod.namespace, serviceAccount: pod.serviceAccount, pod: { name: pod.name, uid: pod.uid } });
  return {
    token,
    caPem: Buffer.from(cluster.caData, "base64").toString(),
    namespace: pod.namespace,
    host: server.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: server.port || "443",
  };
}

/** A line the peer printed on stdout. */
export interface PeerEvent {
  event: string;
  [key: string]: unknown;
}

export interface DubboGoPeer {
  proc: ChildProcessWithoutNullStreams;
  /** Every JSON line printed on stdout so far, in order. */
  events(): PeerEvent[];
  stdout(): string;
  stderr(): string;
  /** The first line (from `from` on, default 0) that `match` accepts; rejects after `timeoutMs` or when the process exits first. */
  waitFor(what: string, match: (ev: PeerEvent) => boolean, opts?: { timeoutMs?: number; from?: number }): Promise<PeerEvent>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface DubboGoPeerOptions {
  binary: string;
  mode: "provider" | "consumer";
  /** Flags after the mode (see testenv/go/dubbogo/main.go). */
  args: string[];
  /** The pod this process runs "in": HOSTNAME and NAMESPACE. */
  pod: { namespace: string; name: string; ip?: string };
  credentials: InClusterCredentials;
  /** Namespaces a consumer discovers in (DUBBO_NAMESPACE); default: the pod's. */
  watchNamespaces?: string[];
  env?: Record<string, string>;
}

/**
 * Runs in the child's own mount namespace (default propagation private):
 * `mount -n` keeps util-linux from recording the mount under the host's
 * /run/mount; the credentials come in by environment variables, dropped
 * before the exec so the peer's own environment never holds them.
 */
const IN_POD = `set -eu
run=$(readlink -f /var/run)
mount -n -t tmpfs -o mode=0755,size=1m tmpfs "$run"
sa="$run/secrets/kubernetes.io/serviceaccount"
mkdir -p "$sa"
printf '%s' "$PODREG_SA_TOKEN" > "$sa/token"
printf '%s' "$PODREG_SA_CA" > "$sa/ca.crt"
printf '%s' "$PODREG_SA_NAMESPACE" > "$sa/namespace"
unset PODREG_SA_TOKEN PODREG_SA_CA PODREG_SA_NAMESPACE
exec "$@"
`;

const live = new Set<ChildProcessWithoutNullStreams>();
let reaperInstalled = false;

/** A test process that dies without its cleanup must not leave peers behind: they would run forever. */
function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.once("exit", () => {
    for (const p of live) p.kill("SIGKILL");
  });
}

export function startDubboGoPeer(opts: DubboGoPeerOptions): DubboGoPeer {
  installReaper();
  const c = opts.credentials;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOSTNAME: opts.pod.name,
    NAMESPACE: opts.pod.namespace,
    DUBBO_NAMESPACE: (opts.watchNamespaces ?? [opts.pod.namespace]).join(","),
    KUBERNETES_SERVICE_HOST: c.host,
    KUBERNETES_SERVICE_PORT: c.port,
    ...(opts.pod.ip === undefined ? {} : { DUBBO_IP_TO_REGISTRY: opts.pod.ip }),
    ...opts.env,
    PODREG_SA_TOKEN: c.token,
    PODREG_SA_CA: c.caPem,
    PODREG_SA_NAMESPACE: c.namespace,
  };
  // unshare execs sh, which execs the peer: one pid throughout, so signals reach the peer itself.
  const proc = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", IN_POD, "dubbogo-pod", opts.binary, opts.mode, ...opts.args], {
    env,
    stdio: "pipe",
  });
  live.add(proc);
  let out = "";
  let err = "";
  const events: PeerEvent[] = [];
  const waiters = new Set<() => void>();
  let partial = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    partial += d;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      try {
        events.push(JSON.parse(line) as PeerEvent);
      } catch {
        events.push({ event: "unparsed", line });
      }
    }
    for (const w of waiters) w();
  });
  proc.stderr.setEncoding("utf8").on("data", (d: string) => {
    err = (err + d).slice(-65_536); // the tail says what went wrong
  });
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      gone = true;
      live.delete(proc);
      resolve({ code, signal });
      for (const w of waiters) w();
    };
    proc.on("exit", finish);
    proc.on("error", (e) => {
      err += `\nspawn: ${e.message}`;
      finish(null, null);
    });
  });
  const describe = () => `dubbo-go ${opts.mode} in ${opts.pod.namespace}/${opts.pod.name}; stdout:\n${out}\nstderr (tail):\n${err.slice(-4000)}`;

  return {
    proc,
    events: () => [...events],
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (what, match, { timeoutMs = 60_000, from = 0 } = {}) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.slice(from).find(match);
          if (hit !== undefined) {
            settle();
            resolve(hit);
          } else if (gone) {
            settle();
            reject(new Error(`${what}: the peer exited first (${proc.exitCode ?? proc.signalCode}); ${describe()}`));
          }
        };
        const timer = setTimeout(() => {
          settle();
          reject(new Error(`${what}: not printed within ${timeoutMs}ms by ${describe()}`));
        }, timeoutMs);
        const settle = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: async (graceMs = 5000) => {
      if (gone) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
