/**
 * The real browser for the console's tests: Debian's Chromium, which the
 * pinned playwright-core (a devDependency) drives. Installed with apt when
 * missing (root, or sudo without a password); otherwise the tests that need
 * it fail with what to install. A system package, so apt's cache is the
 * cache: a second run finds it at once.
 */
import { existsSync } from "node:fs";
import { lastLines, resolveOptions, run, type EnsureBinariesOptions } from "./build.js";
import { TestEnvError } from "./errors.js";

/** Where Debian puts it; PODREG_CHROMIUM names another. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PODREG_CHROMIUM ?? "/usr/bin/chromium";
}

let installing: Promise<string> | undefined;

export function ensureChromium(options: EnsureBinariesOptions = {}): Promise<string> {
  installing ??= install(options);
  return installing;
}

async function install(options: EnsureBinariesOptions): Promise<string> {
  const { log, env } = resolveOptions(options);
  const path = chromiumPath(env);
  if (existsSync(path)) return path;
  if (env.PODREG_CHROMIUM) throw new TestEnvError("PODREG_TESTENV_BROWSER", `PODREG_CHROMIUM=${path} does not exist`);
  const root = process.getuid?.() === 0;
  const sudo = root ? [] : ["sudo", "-n"];
  if (!root && (await run("sudo", ["-n", "true"], { env }).catch(() => ({ code: 1, output: "" }))).code !== 0) {
    throw new TestEnvError("PODREG_TESTENV_BROWSER", `Chromium is not at ${path} and this user cannot install it: apt-get install chromium (Debian), or set PODREG_CHROMIUM to a Chromium that playwright-core 1.65 drives`);
  }
  const t0 = Date.now();
  log("testenv: installing Chromium with apt (about 30 s)");
  const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
  const step = async (args: string[]) => {
    const [cmd, ...rest] = [...sudo, ...args];
    const r = await run(cmd!, rest, { env: aptEnv });
    if (r.code !== 0) throw new TestEnvError("PODREG_TESTENV_BROWSER", `${args.join(" ")} failed (exit ${r.code}):\n${lastLines(r.output)}`);
  };
  await step(["apt-get", "update", "-qq"]);
  await step(["apt-get", "install", "-y", "-qq", "chromium"]);
  if (!existsSync(path)) throw new TestEnvError("PODREG_TESTENV_BROWSER", `apt installed chromium, but ${path} is not there`);
  log(`testenv: Chromium installed (${Math.round((Date.now() - t0) / 1000)}s)`);
  return path;
}
