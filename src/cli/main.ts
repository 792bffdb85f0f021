#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { lsCommand } from "./commands/ls.js";
import { registerCommand } from "./commands/register.js";
import { watchCommand } from "./commands/watch.js";

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

export function buildProgram(): Command {
  return new Command("podreg")
    .description("Kubernetes-native service registration and client-side discovery")
    .version(packageVersion())
    .showHelpAfterError()
    .addCommand(registerCommand())
    .addCommand(lsCommand())
    .addCommand(watchCommand());
}

const program = buildProgram();
if (process.argv.length <= 2) {
  program.outputHelp();
} else {
  await program.parseAsync();
}
