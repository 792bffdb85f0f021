/**
 * Checks server responses against the server's own OpenAPI document with ajv
 * (JSON Schema 2020-12, as OpenAPI 3.1 uses): the status must be documented
 * for the path and method, and a JSON body must match its schema.
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";

type Doc = {
  components: object;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>;
};

export class OpenApiChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly cache = new Map<string, ValidateFunction>();
  private readonly templates: { template: string; re: RegExp }[];
  /** Every (method, path template, status) a test saw, to show what the suite covered. */
  readonly seen = new Set<string>();

  constructor(private readonly doc: Doc) {
    this.templates = Object.keys(doc.paths).map((template) => ({ template, re: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+").replace(/\./g, "\\.")}$`) }));
  }

  /** Asserts that `status` and `body` (parsed JSON, or undefined) are what the document says for `method url`. */
  check(method: string, url: string, status: number, body: unknown): void {
    const path = new URL(url, "http://x").pathname;
    const t = this.templates.find((x) => x.re.test(path));
    assert.ok(t, `${path} is not in the OpenAPI document`);
    const op = this.doc.paths[t.template]![method.toLowerCase()];
    assert.ok(op, `${method} ${t.template} is not in the OpenAPI document`);
    const res = op.responses[String(status)];
    assert.ok(res, `${method} ${t.template} answered ${status}, which the document does not list (${Object.keys(op.responses).join(", ")}); body ${JSON.stringify(body)}`);
    this.seen.add(`${method} ${t.template} ${status}`);
    const schema = res.content?.["application/json"]?.schema;
    if (!schema) return;
    const key = `${method} ${t.template} ${status}`;
    let validate = this.cache.get(key);
    if (!validate) {
      validate = this.ajv.compile({ ...schema, components: this.doc.components });
      this.cache.set(key, validate);
    }
    assert.ok(validate(body), `${key}: ${this.ajv.errorsText(validate.errors)}; body ${JSON.stringify(body).slice(0, 500)}`);
  }
}

/** fetch that checks every answer against the document before handing it back. */
export function checkedFetch(base: string, checker: OpenApiChecker) {
  return async (method: string, path: string, init: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {}): Promise<{ status: number; body: unknown; headers: Headers }> => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    const type = res.headers.get("content-type") ?? "";
    const parsed = type.startsWith("application/json") ? (JSON.parse(text) as unknown) : text || undefined;
    checker.check(method, path, res.status, parsed);
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
