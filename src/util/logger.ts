/**
 * The logging surface the library needs: pino's method shape (object first),
 * so a pino logger can be passed as is. The default is silent except warnings
 * and errors, one line each on stderr.
 */
import { escapeControl, redactCredentials } from "./text.js";

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** One line per entry: values come from outside (pod names, annotations, server messages), so they are escaped and redacted. */
function line(level: string, obj: object, msg?: string): void {
  const fields = Object.entries(obj)
    .map(([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  process.stderr.write(escapeControl(redactCredentials(`podreg ${level}: ${msg ?? ""}${fields ? ` ${fields}` : ""}`)) + "\n");
}

export const stderrLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (obj, msg) => line("warn", obj, msg),
  error: (obj, msg) => line("error", obj, msg),
};

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
