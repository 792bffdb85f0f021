/**
 * The small HTTP plumbing of podreg's server: JSON replies, bounded bodies,
 * errors as `{code, message}` with the status their code means, and the
 * bearer token. node:http rather than a framework: the API is a dozen routes,
 * and SSE needs the raw response anyway.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, constants, openSync, readFileSync, writeSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BadRequestError, ConfigError, PodregError, TooLargeError, UnauthorizedError } from "../errors.js";

/** The HTTP status each error code answers with; anything else is a 500 that names no internals. */
const STATUS: Partial<Record<string, number>> = {
  PODREG_BAD_REQUEST: 400,
  PODREG_REGISTRATION: 400,
  PODREG_SELECTOR: 400,
  PODREG_CONFIG: 400,
  PODREG_UNAUTHORIZED: 401,
  PODREG_NOT_FOUND: 404,
  PODREG_TOO_LARGE: 413,
  PODREG_CLOSED: 503,
};

export function statusOf(err: unknown): number {
  return err instanceof PodregError ? (STATUS[err.code] ?? 500) : 500;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store", ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): number {
  const status = statusOf(err);
  const body = err instanceof PodregError && status !== 500 ? { code: err.code, message: err.message } : { code: "PODREG_SERVER", message: "internal error (see the server's log)" };
  if (res.headersSent) res.destroy();
  else sendJson(res, status, body, headers);
  return status;
}

/** Reads a JSON body of at most `limit` bytes. Throws TooLargeError, BadRequestError. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) throw new BadRequestError("the body must be JSON (content-type: application/json)");
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new TooLargeError(`the body is over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new TooLargeError(`the body is over ${limit} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new BadRequestError("the body is not valid JSON");
  }
}

/** Checks `Authorization: Bearer <token>` in constant time. Throws UnauthorizedError (the message never echoes what was sent). */
export function checkToken(req: IncomingMessage, token: string): void {
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(req.headers.authorization ?? "");
  if (!m) throw new UnauthorizedError("this write needs the server's token: Authorization: Bearer <token>");
  const digest = (s: string) => createHash("sha256").update(s).digest();
  if (!timingSafeEqual(digest(m[1]!), digest(token))) throw new UnauthorizedError("the token is not this server's");
}

/**
 * The server's token: read from `path`, or, when it does not exist and
 * `create` is set, generated (256 random bits) and written there with mode
 * 0600, never through a symlink. Throws ConfigError when it is unreadable
 * or empty.
 */
export function loadToken(path: string, create: boolean): { token: string; created: boolean } {
  try {
    const token = readFileSync(path, "utf8").trim();
    if (!token) throw new ConfigError(`the token file ${path} is empty`);
    return { token, created: false };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !create) throw new ConfigError(`cannot read the token file ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
  const token = randomBytes(32).toString("base64url");
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, token + "\n");
  } finally {
    closeSync(fd);
  }
  return { token, created: true };
}
