/** Runs the podreg command as a separate process, the way users run it. */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface CliProcess {
  proc: ChildProcessWithoutNullStreams;
  /** Everything printed on stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `re`. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  return startScript(main, args, env);
}

const built = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

/**
 * The built command (dist/, which npm test builds first), as `npm start` runs
 * it: for commands that start processes of their own (demo), which then
 * start in a fraction of tsx's time on a loaded machine.
 */
export function startBuiltCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  return spawnCli([built, ...args], env);
}

/** Any TypeScript file as its own process (through tsx), e.g. an example. */
export function startScript(path: string, args: string[], env: NodeJS.ProcessEnv): CliProcess {
  return spawnCli(["--import", "tsx", path, ...args], env);
}

function spawnCli(nodeArgs: string[], env: NodeJS.ProcessEnv): CliProcess {
  const proc = spawn(process.execPath, nodeArgs, { env: { ...process.env, ...env }, stdio: "pipe" });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  proc.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    for (const w of waiters) w();
  });
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    line: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = out.split("\n").find((l) => re.test(l));
          if (hit !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line matching ${re} in ${timeoutMs}ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

/** Runs to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startCli(args, env);
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), timeoutMs);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
