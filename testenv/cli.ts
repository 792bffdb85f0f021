#!/usr/bin/env node
/**
 * npm run testenv -- up --dir DIR    start a control plane in the background
 * npm run testenv -- down --dir DIR  stop it
 * npm run testenv -- build           build (or find) the binaries only
 */
import { spawn } from "node:child_process";
import { closeSync, constants, existsSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { resolve, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { alive, ensureBinaries } from "./build.js";
import { startControlPlane } from "./controlplane.js";
import { makeDir, openPrivateLog, writePrivateFile } from "./files.js";

interface State {
  pid: number;
  pids: number[];
  server: string;
  version: string;
  kubeconfig: string;
}

const statePath = (dir: string) => join(dir, "state.json");

function readState(dir: string): State | undefined {
  try {
    // O_NOFOLLOW: a state.json planted as a link would point `stop` at someone else's pid.
    const fd = openSync(statePath(dir), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return JSON.parse(readFileSync(fd, "utf8")) as State;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fail(message: string): never {
  console.error(`testenv: ${message}`);
  process.exit(1);
}

async function up(dirArg: string): Promise<void> {
  const dir = resolve(dirArg);
  makeDir(dir);
  const running = readState(dir);
  if (running && alive(running.pid)) {
    console.log(`export KUBECONFIG=${running.kubeconfig}`);
    console.error(`testenv: already running in ${dir} (pid ${running.pid}, ${running.version})`);
    return;
  }
  rmSync(statePath(dir), { force: true });
  const logPath = join(dir, "testenv.log");
  const fd = openPrivateLog(logPath, { truncate: true });
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, "serve", "--dir", dir], { detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  child.unref();
  let exited = false;
  child.on("exit", () => (exited = true));
  // Relay the supervisor's progress (a first run builds for minutes) until it is ready.
  let shown = 0;
  const relay = () => {
    const text = readFileSync(logPath, "utf8");
    if (text.length > shown) process.stderr.write(text.slice(shown));
    shown = text.length;
  };
  for (;;) {
    relay();
    const state = readState(dir);
    if (state) {
      console.log(`export KUBECONFIG=${state.kubeconfig}`);
      return;
    }
    if (exited) fail(`the control plane did not start; see ${logPath}`);
    await sleep(200);
  }
}

async function serve(dirArg: string): Promise<void> {
  const dir = resolve(dirArg);
  const cp = await startControlPlane({ dir, log: (l) => console.error(l) });
  const state: State = { pid: process.pid, pids: cp.pids(), server: cp.server, version: cp.version, kubeconfig: cp.kubeconfigPath };
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await cp.stop();
    rmSync(statePath(dir), { force: true });
    console.error("testenv: stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  process.on("SIGHUP", () => void shutdown());
  writePrivateFile(statePath(dir), JSON.stringify(state, null, 2) + "\n");
  setInterval(() => {}, 1 << 30); // stay up until told to stop
}

async function down(dirArg: string): Promise<void> {
  const dir = resolve(dirArg);
  const state = readState(dir);
  if (!state) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`no such folder: ${dir}`);
    console.error(`testenv: nothing running in ${dir}`);
    return;
  }
  const all = [state.pid, ...state.pids];
  if (alive(state.pid)) process.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (all.some(alive) && Date.now() < deadline) await sleep(100);
  for (const pid of all.filter(alive)) process.kill(pid, "SIGKILL");
  rmSync(statePath(dir), { force: true });
  console.error(`testenv: stopped (${dir})`);
}

const program = new Command("testenv").description("a real kube-apiserver + etcd + kube-controller-manager on loopback, for tests and trials");
program
  .command("up")
  .description("start a control plane in the background and print the KUBECONFIG export")
  .requiredOption("--dir <dir>", "working folder (certs, etcd data, logs, kubeconfig)")
  .action((o: { dir: string }) => up(o.dir));
program
  .command("down")
  .description("stop the control plane started in --dir")
  .requiredOption("--dir <dir>", "the folder given to up")
  .action((o: { dir: string }) => down(o.dir));
program
  .command("build")
  .description("build the control-plane binaries into the per-user cache (done by up and npm test when needed)")
  .action(async () => {
    const b = await ensureBinaries();
    console.log(b.dir);
  });
program.command("serve", { hidden: true }).requiredOption("--dir <dir>").action((o: { dir: string }) => serve(o.dir));

program.parseAsync().catch((err: unknown) => fail(err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err)));
