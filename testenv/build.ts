import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { TestEnvError } from "./errors.js";
import { cacheDir, packageRoot, versions, type Versions } from "./paths.js";
import { alive } from "../src/util/process.js";

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  versions: Versions;
  dir: string;
}

export interface EnsureBinariesOptions {
  /** Progress lines (the cold build takes minutes). Default: stderr. */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

const MIN_GO = [1, 24] as const; // k8s.io/kubernetes v1.34 needs Go >= 1.24

function binPaths(dir: string): Pick<Binaries, "etcd" | "kubeApiserver" | "kubeControllerManager"> {
  return {
    etcd: join(dir, "bin", "etcd"),
    kubeApiserver: join(dir, "bin", "kube-apiserver"),
    kubeControllerManager: join(dir, "bin", "kube-controller-manager"),
  };
}

/**
 * Returns the control-plane binaries, building them from the Go wrapper
 * modules in testenv/go on first use. The result is cached per user and per
 * version; a second caller waits for a build in progress instead of racing it.
 */
export async function ensureBinaries(options: EnsureBinariesOptions = {}): Promise<Binaries> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const env = options.env ?? process.env;
  const root = packageRoot();
  const v = versions(root);
  const dir = cacheDir(v, env);
  await buildCached({
    dir,
    env,
    log,
    what: `etcd ${v.etcd}, kube-apiserver and kube-controller-manager ${v.kube} from Go modules`,
    expect: "about 10-20 minutes on 2 cores",
    stamp: { ...v },
    build: async (tmp, started) => {
      const out = binPaths(tmp);
      await goBuild({ cwd: join(root, "testenv", "go", "etcd"), env, args: ["-ldflags", "-s -w", "-o", out.etcd, "go.etcd.io/etcd/server/v3"] });
      log(`testenv: etcd built (${Math.round((Date.now() - started) / 1000)}s)`);
      await goBuild({
        cwd: join(root, "testenv", "go", "kube"),
        env,
        args: ["-ldflags", kubeLdflags(v.kube), "-o", join(tmp, "bin") + "/", "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager"],
      });
    },
  });
  return { ...binPaths(dir), versions: v, dir };
}

/**
 * Builds into `dir` once per user: under a lock (a second caller waits for a
 * build in progress instead of racing it), into a temp folder renamed in
 * place when complete, so a half-built cache is never used.
 */
export async function buildCached(o: {
  dir: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** What is built, for the log. */
  what: string;
  /** How long it usually takes, for the log. */
  expect: string;
  /** Written into the `complete` marker. */
  stamp: Record<string, unknown>;
  build: (tmp: string, started: number) => Promise<void>;
}): Promise<void> {
  const { dir, log } = o;
  const complete = () => existsSync(join(dir, "complete"));
  if (complete()) return;
  const lock = dir + ".lock";
  mkdirSync(dirname(dir), { recursive: true });
  await acquireLock(lock, log);
  try {
    if (complete()) return; // built by whoever held the lock
    await checkGo(o.env);
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, "bin"), { recursive: true });
    const started = Date.now();
    log(`testenv: building ${o.what} into ${dir} (first run only; ${o.expect})`);
    const ticker = setInterval(() => log(`testenv: still building ${o.what} (${Math.round((Date.now() - started) / 1000)}s)`), 30_000);
    try {
      await o.build(tmp, started);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    } finally {
      clearInterval(ticker);
    }
    const seconds = Math.round((Date.now() - started) / 1000);
    writeFileSync(join(tmp, "complete"), JSON.stringify({ ...o.stamp, builtAt: new Date().toISOString(), seconds }) + "\n");
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    log(`testenv: ${o.what} built in ${seconds}s`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Stamps the version so /version reports it instead of v0.0.0-master. */
function kubeLdflags(kube: string): string {
  const [major, minor] = kube.replace(/^v/, "").split(".");
  const keys = ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"];
  const sets = keys.flatMap((p) => [
    `-X ${p}.gitVersion=${kube}`,
    `-X ${p}.gitMajor=${major}`,
    `-X ${p}.gitMinor=${minor}`,
    `-X ${p}.gitTreeState=clean`,
  ]);
  return ["-s", "-w", ...sets].join(" ");
}

/** A per-user build lock (a directory): a second builder waits for the first instead of racing it; a dead owner's lock is taken over. */
export async function acquireLock(lock: string, log: (line: string) => void): Promise<void> {
  for (let announced = false; ; ) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number(readSafe(join(lock, "pid")));
    if (!owner || !alive(owner)) {
      // A build that died leaves its lock behind: take it over.
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (!announced) log(`testenv: waiting for the build in progress (pid ${owner})`);
    announced = true;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function readSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export { alive };

interface RunResult {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-16_384); // the tail says what failed
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** Fails with PODREG_TESTENV_GO_MISSING / _GO_TOO_OLD when Go can't build the wrapper modules. */
export async function checkGo(env: NodeJS.ProcessEnv): Promise<void> {
  let res: RunResult;
  try {
    res = await run("go", ["env", "GOVERSION"], { env });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new TestEnvError(
        "PODREG_TESTENV_GO_MISSING",
        `Go is not on PATH: the test control plane is built from Go modules and needs Go >= ${MIN_GO.join(".")} (https://go.dev/dl/) and the Go module proxy`,
      );
    }
    throw err;
  }
  const m = /go(\d+)\.(\d+)/.exec(res.output);
  const ok = m && (Number(m[1]) > MIN_GO[0] || (Number(m[1]) === MIN_GO[0] && Number(m[2]) >= MIN_GO[1]));
  if (!ok) {
    throw new TestEnvError("PODREG_TESTENV_GO_TOO_OLD", `Go >= ${MIN_GO.join(".")} is needed to build the test control plane; found: ${res.output.trim() || "unknown"}`);
  }
}

const PROXY_FAILURE = /(proxy\.golang\.org|GOPROXY|dial tcp|no such host|connection refused|i\/o timeout|TLS handshake|403 Forbidden|404 Not Found|410 Gone)/;

/** `go build -trimpath` in a wrapper module, static; proxy failures reported as PODREG_TESTENV_GO_PROXY. */
export async function goBuild(opts: { cwd: string; env: NodeJS.ProcessEnv; args: string[] }): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...opts.env, CGO_ENABLED: "0" }; // as upstream builds them: static, no C toolchain
  const res = await run("go", ["build", "-trimpath", ...opts.args], { cwd: opts.cwd, env });
  if (res.code === 0) return;
  const tail = res.output.trim().split("\n").slice(-15).join("\n");
  if (PROXY_FAILURE.test(res.output)) {
    throw new TestEnvError(
      "PODREG_TESTENV_GO_PROXY",
      `the Go module proxy (GOPROXY=${env.GOPROXY ?? "default"}) could not serve a module needed by ${opts.cwd}:\n${tail}`,
    );
  }
  throw new TestEnvError("PODREG_TESTENV_BUILD", `go build failed in ${opts.cwd} (exit ${res.code}):\n${tail}`);
}
