/**
 * Reading a YAML or JSON configuration file for validation: the data, and a
 * way to find the line of a path in it, so problems point into the file.
 * Schemas stay with their owners; this only reads and locates.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { ConfigError } from "../errors.js";

/** Finds the line of a path in the source text, when there is one. */
export type Locate = (path: readonly PropertyKey[]) => number | undefined;

export interface ConfigText {
  data: unknown;
  locate: Locate;
}

/** A problem found by a schema, at a path. */
export interface PathProblem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * Reads a YAML (.yaml, .yml) or JSON (.json) file; an empty YAML file is `{}`.
 * Unreadable or unparsable files are a ConfigError naming `what`, the file and the place.
 * Synchronous: configuration is read once, at startup, before anything runs.
 */
export function readConfigFile(path: string, what: string): ConfigText {
  const ext = extname(path).toLowerCase();
  if (ext !== ".yaml" && ext !== ".yml" && ext !== ".json") throw new ConfigError(`${what} ${path}: unknown extension ${JSON.stringify(ext)}; use .yaml, .yml or .json`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${what} ${path}: ${code === "ENOENT" ? "file not found" : `cannot read: ${(err as Error).message}`}`, { cause: err });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const locate: Locate = (p) => {
    // The deepest node that exists: a missing key is reported at its parent.
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range !== undefined) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  if (ext === ".json") {
    try {
      return { data: JSON.parse(text), locate };
    } catch (err) {
      const pos = /position (\d+)/.exec((err as Error).message)?.[1];
      const before = pos === undefined ? undefined : text.slice(0, Number(pos)).split("\n");
      const at = before === undefined ? "" : `:${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
      throw new ConfigError(`${what} ${path}${at}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  const first = doc.errors[0];
  if (first !== undefined) {
    const at = first.linePos?.[0];
    // prettyErrors appends the place and a source excerpt; the place goes in front instead.
    const message = (first.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:$/, "");
    throw new ConfigError(`${what} ${path}${at === undefined ? "" : `:${at.line}:${at.col}`}: invalid YAML: ${message}`, { cause: first });
  }
  return { data: doc.toJS() ?? {}, locate };
}

/** One ConfigError listing every problem with its path (and line, in a file), top to bottom. */
export function problemsError(what: string, source: string | undefined, problems: readonly PathProblem[], locate: Locate | undefined, cause: unknown): ConfigError {
  const located = problems.map((p) => ({ ...p, line: locate?.(p.path) }));
  located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const lines = located.map((p) => {
    const where = p.path.length > 0 ? p.path.map(String).join(".") : "(root)";
    return `  ${where}${p.line === undefined ? "" : ` (line ${p.line})`}: ${p.message}`;
  });
  return new ConfigError(`invalid ${what}${source === undefined ? "" : ` in ${source}`}:\n${lines.join("\n")}`, { cause });
}
