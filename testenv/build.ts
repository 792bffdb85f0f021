import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { TestEnvError } from "./errors.js";
import { cacheBase, cacheDir, packageRoot, versions, type Versions } from "./paths.js";
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

const MIN_GO = "1.24"; // k8s.io/kubernetes v1.34 needs Go >= 1.24

/** The options with their defaults: progress on stderr, this process's environment. */
export function resolveOptions(options: EnsureBinariesOptions): { log: (line: string) => void; env: NodeJS.ProcessEnv } {
  return { log: options.log ?? ((line: string) => process.stderr.write(line + "\n")), env: options.env ?? process.env };
}

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
  const { log, env } = resolveOptions(options);
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
    preflight: () => checkGo(env),
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
  /** Checks the tools the build needs (e.g. checkGo), under the lock, before anything is built. */
  preflight?: () => Promise<void>;
  /** Fills `tmp` (which has an empty bin/), renamed to `dir` once it resolves. */
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
    await o.preflight?.();
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

export interface RunResult {
  code: number | null;
  /** stdout and stderr together, the last 16 KiB. */
  output: string;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<RunResult> {
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

/** Fails with PODREG_TESTENV_GO_MISSING / _GO_TOO_OLD when Go can't build the wrapper modules (`min`: the oldest Go that can, e.g. a go.mod's `go` line). */
export async function checkGo(env: NodeJS.ProcessEnv, min: string = MIN_GO): Promise<void> {
  let res: RunResult;
  try {
    res = await run("go", ["env", "GOVERSION"], { env });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new TestEnvError(
        "PODREG_TESTENV_GO_MISSING",
        `Go is not on PATH: the test control plane and test peers are built from Go modules and need Go >= ${min} (https://go.dev/dl/) and the Go module proxy`,
      );
    }
    throw err;
  }
  const found = /go(\d+(?:\.\d+)*)/.exec(res.output)?.[1];
  if (!found || !atLeast(found, min)) {
    throw new TestEnvError("PODREG_TESTENV_GO_TOO_OLD", `Go >= ${min} is needed to build testenv's Go modules; found: ${res.output.trim() || "unknown"}`);
  }
}

/** The end of a failed command's output, for an error message: it says what went wrong. */
export function lastLines(output: string, n = 15): string {
  return output.trim().split("\n").slice(-n).join("\n");
}

/** Dotted versions compared part by part: 1.26.8 >= 1.26.0 >= 1.24. */
function atLeast(version: string, min: string): boolean {
  const a = version.split(".").map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

const PROXY_FAILURE = /(proxy\.golang\.org|GOPROXY|dial tcp|no such host|connection refused|i\/o timeout|TLS handshake|403 Forbidden|404 Not Found|410 Gone)/;

/** `go build -trimpath` in a wrapper module, static; proxy failures reported as PODREG_TESTENV_GO_PROXY. */
export async function goBuild(opts: { cwd: string; env: NodeJS.ProcessEnv; args: string[] }): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...opts.env, CGO_ENABLED: "0" }; // as upstream builds them: static, no C toolchain
  const res = await run("go", ["build", "-trimpath", ...opts.args], { cwd: opts.cwd, env });
  if (res.code === 0) return;
  const tail = lastLines(res.output);
  if (PROXY_FAILURE.test(res.output)) {
    throw new TestEnvError(
      "PODREG_TESTENV_GO_PROXY",
      `the Go module proxy (GOPROXY=${env.GOPROXY ?? "default"}) could not serve a module needed by ${opts.cwd}:\n${tail}`,
    );
  }
  throw new TestEnvError("PODREG_TESTENV_BUILD", `go build failed in ${opts.cwd} (exit ${res.code}):\n${tail}`);
}

/** A Go module in testenv/go/<name>: where it is, the version it pins of `requires`, its `go` line and a hash of go.mod, go.sum and its sources (a change rebuilds). */
export function goModule(root: string, name: string, requires: string): { dir: string; version: string; go: string; hash: string } {
  const dir = join(root, "testenv", "go", name);
  const hash = createHash("sha256");
  const files = readdirSync(dir)
    .filter((f) => f === "go.mod" || f === "go.sum" || f.endsWith(".go"))
    .sort();
  let mod = "";
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    if (f === "go.mod") mod = text;
    hash.update(f).update("\0").update(text).update("\0");
  }
  // `require path v1` alone or a line of a require ( ... ) block.
  const escaped = requires.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const version = new RegExp(`^(?:require)?[ \\t]+${escaped} (v\\S+)[ \\t]*$`, "m").exec(mod)?.[1];
  const go = /^go (\d+(?:\.\d+)*)\s*$/m.exec(mod)?.[1] ?? MIN_GO;
  if (!version) throw new TestEnvError("PODREG_TESTENV_STATE", `${join(dir, "go.mod")} lost its ${requires} version pin`);
  return { dir, version, go, hash: hash.digest("hex").slice(0, 12) };
}

/**
 * The main package of testenv/go/<module>, built on first use into the
 * per-user cache beside the control plane as <cachePrefix>-<version>_<hash>/bin/<module>
 * (version: the module's pin of `requires`). A second caller waits for a build in progress.
 */
export async function ensureGoModuleBinary(
  o: { module: string; requires: string; cachePrefix: string; what: string; expect: string },
  options: EnsureBinariesOptions,
): Promise<{ path: string; version: string; dir: string }> {
  const { log, env } = resolveOptions(options);
  const m = goModule(packageRoot(), o.module, o.requires);
  const dir = join(cacheBase(env), `${o.cachePrefix}-${m.version}_${m.hash}`);
  const path = join(dir, "bin", o.module);
  await buildCached({
    dir,
    env,
    log,
    what: `${o.what} ${m.version} from ${m.dir}`,
    expect: o.expect,
    stamp: { [o.requires]: m.version, modulesHash: m.hash },
    preflight: () => checkGo(env, m.go),
    build: (tmp) => goBuild({ cwd: m.dir, env, args: ["-ldflags", "-s -w", "-o", join(tmp, "bin", o.module), "."] }),
  });
  return { path, version: m.version, dir };
}
