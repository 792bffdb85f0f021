/**
 * The console's files (web/, built by Vite into dist/web) served at `/`:
 * nothing but what the build wrote, with a strict Content-Security-Policy
 * (scripts and styles from this origin only, no inline script, no framing),
 * so registered text that reaches the page can never run as code there.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

export const CONSOLE_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/**
 * The built console: dist/web beside the compiled server (dist/src/server →
 * dist/web), or, when the server runs from sources, the build in dist/web.
 */
export function consoleDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [join(here, "..", "..", "web"), join(here, "..", "..", "dist", "web")]) {
    if (existsSync(join(dir, "index.html")) && existsSync(join(dir, "assets"))) return dir;
  }
  return undefined;
}

/** The console's files, read once: a handful of small files, served from memory. */
export class ConsoleFiles {
  private readonly files = new Map<string, { type: string; body: Buffer }>();

  constructor(dir: string) {
    this.files.set("/", { type: TYPES[".html"]!, body: readFileSync(join(dir, "index.html")) });
    for (const f of readdirSync(join(dir, "assets"))) {
      const ext = /\.[a-z]+$/.exec(f)?.[0] ?? "";
      const type = TYPES[ext];
      if (type) this.files.set(`/assets/${f}`, { type, body: readFileSync(join(dir, "assets", f)) });
    }
  }

  /** Sends the file at `path`; false when there is none. */
  send(res: ServerResponse, path: string): boolean {
    const f = this.files.get(path === "/index.html" ? "/" : path);
    if (!f) return false;
    // Asset names carry a content hash: cached for good. The page itself is always revalidated.
    const cache = path.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache";
    res.writeHead(200, { "content-type": f.type, "content-length": String(f.body.length), "cache-control": cache, ...CONSOLE_HEADERS });
    res.end(f.body);
    return true;
  }
}
