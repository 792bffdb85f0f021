import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { TestEnvError } from "./errors.js";
import { openPrivateLog } from "./files.js";

/**
 * The reaper is a tiny detached node process that holds a pipe from its owner.
 * When the owner exits for any reason (even SIGKILL or a crashed test run)
 * the pipe closes and the reaper kills every component the owner announced:
 * no orphan etcd or kube-apiserver survives the run.
 */
const REAPER = `
const pids = new Set();
let buf = "";
process.stdin.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    if (line.startsWith("-")) pids.delete(Number(line.slice(1))); else if (line) pids.add(Number(line));
  }
});
process.stdin.on("end", () => {
  const kill = (sig) => { for (const p of pids) { try { process.kill(p, sig); } catch { pids.delete(p); } } };
  kill("SIGTERM");
  const t = setInterval(() => { kill(0); if (pids.size === 0) process.exit(0); }, 100);
  setTimeout(() => { kill("SIGKILL"); clearInterval(t); process.exit(0); }, 5000);
});
process.on("SIGINT", () => {}); // a terminal's Ctrl-C must not stop the reaper before it reaps
`;

export class Reaper {
  private readonly proc: ChildProcess;

  constructor() {
    this.proc = spawn(process.execPath, ["-e", REAPER], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    this.proc.unref();
    // The pipe must not keep the owner's event loop alive.
    (this.proc.stdin as unknown as { unref?: () => void }).unref?.();
    this.proc.stdin?.on("error", () => {});
  }

  watch(pid: number): void {
    this.proc.stdin?.write(`${pid}\n`);
  }

  forget(pid: number): void {
    this.proc.stdin?.write(`-${pid}\n`);
  }

  /** Ends the reaper; it kills whatever is still announced. */
  close(): void {
    this.proc.stdin?.end();
  }
}

export interface Component {
  name: string;
  proc: ChildProcess;
  logPath: string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  logTail(lines?: number): string;
}

export function startComponent(opts: { name: string; bin: string; args: string[]; logPath: string; reaper: Reaper; cwd?: string }): Component {
  const fd = openPrivateLog(opts.logPath); // logs may hold tokens and key paths
  const proc = spawn(opts.bin, opts.args, { stdio: ["ignore", fd, fd], cwd: opts.cwd });
  closeSync(fd);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    proc.on("exit", (code) => {
      exitCode = code;
      if (proc.pid) opts.reaper.forget(proc.pid);
      resolve(code);
    });
    proc.on("error", () => resolve(null));
  });
  if (proc.pid) opts.reaper.watch(proc.pid);
  const logTail = (lines = 20) => {
    try {
      return readFileSync(opts.logPath, "utf8").trim().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  };
  return {
    name: opts.name,
    proc,
    logPath: opts.logPath,
    exited,
    logTail,
    async stop(graceMs = 10_000) {
      if (exitCode !== undefined || proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A free loopback port. The kernel may hand it out again before use; callers retry on a bind failure. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls `probe` until it returns true. Fails early, with the component's log
 * tail, when the component exits; fails with `what` after `timeoutMs`.
 */
export async function waitFor(opts: { what: string; component: Component; timeoutMs: number; probe: () => Promise<boolean> }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let dead = false;
  void opts.component.exited.then(() => (dead = true));
  let lastErr = "";
  while (Date.now() < deadline) {
    if (dead) {
      throw new TestEnvError("PODREG_TESTENV_START", `${opts.component.name} exited before ${opts.what}; log ${opts.component.logPath}:\n${opts.component.logTail()}`);
    }
    try {
      if (await opts.probe()) return;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new TestEnvError(
    "PODREG_TESTENV_START",
    `timed out after ${opts.timeoutMs}ms waiting for ${opts.what}${lastErr ? ` (last error: ${lastErr})` : ""}; log ${opts.component.logPath}:\n${opts.component.logTail()}`,
  );
}
