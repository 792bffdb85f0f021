#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { lsCommand } from "./commands/ls.js";
import { registerCommand } from "./commands/register.js";
import { serveCommand } from "./commands/serve.js";
import { demoCommand, demoServiceCommand } from "./commands/demo.js";
import { watchCommand } from "./commands/watch.js";
import { escapeControl } from "../util/text.js";

/** podreg's package.json, found upward from this file (src/ under tsx, dist/src/ when built). */
function packageVersion(): string {
  for (let url = new URL("./", import.meta.url); url.pathname !== "/"; url = new URL("../", url)) {
    const candidate = new URL("package.json", url);
    if (!existsSync(candidate)) continue;
    const pkg = JSON.parse(readFileSync(candidate, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "podreg" && pkg.version) return pkg.version;
  }
  return "0.0.0";
}

/**
 * Every error the command prints has one shape, `podreg: CODE: message`:
 * commander's own (a bad flag, a missing argument) become PODREG_CONFIG lines
 * like the library's, naming where to find the usage, on the same line.
 */
function sameErrorStyle(cmd: Command): Command {
  const usage = cmd.name() === "podreg" ? "podreg --help" : `podreg ${cmd.name()} --help`;
  cmd.configureOutput({
    // One line, like every other error of the command: the message and where the usage is.
    outputError: (str, write) => write(`podreg: PODREG_CONFIG: ${escapeControl(str.replace(/^error: /, "").trim())} (see ${usage})\n`),
  });
  for (const sub of cmd.commands) sameErrorStyle(sub);
  return cmd;
}

export function buildProgram(): Command {
  return sameErrorStyle(
    new Command("podreg")
      .description("Kubernetes-native service registration and client-side discovery")
      .version(packageVersion())
      .addCommand(registerCommand())
      .addCommand(lsCommand())
      .addCommand(watchCommand())
      .addCommand(serveCommand())
      .addCommand(demoCommand())
      .addCommand(demoServiceCommand(), { hidden: true }),
  );
}

const program = buildProgram();
if (process.argv.length <= 2) {
  program.outputHelp();
} else {
  await program.parseAsync();
}
