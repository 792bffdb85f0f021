/**
 * Differential test against Go itself: testenv/go/gocompat runs Go's
 * net/url, encoding/json and encoding/base64 (what dubbo-go writes its
 * annotation with) on fuzzed inputs, and our encoders must agree byte for byte.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { base64UrlPadded, goJsonMarshalEntries, goQueryEscape, goQueryUnescape, goValuesEncode, utf8Bytes } from "../../../../src/registry/codecs/go-compat.js";

interface GoAnswer {
  queryEscape: string;
  valuesEncode: string;
  marshal: string;
  annotation: string;
  unescaped: string;
  unescapeError: boolean;
}

describe("Go-compatible encoders agree with Go's standard library", () => {
  const dir = mkdtempSync(join(tmpdir(), "podreg-gocompat-"));
  let ask: (req: object) => Promise<GoAnswer>;
  let stop: () => void;

  before(() => {
    const src = fileURLToPath(new URL("../../../../testenv/go/gocompat", import.meta.url));
    const bin = join(dir, "gocompat");
    // Go is required anyway (the test control plane is built with it); this builds in a second or two.
    execFileSync("go", ["build", "-o", bin, "."], { cwd: src, env: { ...process.env, CGO_ENABLED: "0" }, stdio: "inherit" });
    const proc = spawn(bin, [], { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface(proc.stdout);
    const pending: ((a: GoAnswer) => void)[] = [];
    lines.on("line", (l) => pending.shift()?.(JSON.parse(l) as GoAnswer));
    ask = (req) =>
      new Promise((resolve) => {
        pending.push(resolve);
        proc.stdin.write(JSON.stringify(req) + "\n");
      });
    stop = () => proc.stdin.end();
  });
  after(() => {
    stop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  // Strings Go and JS both carry unchanged through JSON: well-formed UTF-16 (lone surrogates are not valid UTF-8).
  const text = fc.string({ unit: "grapheme", maxLength: 30 });
  const nasty = fc.oneof(text, fc.constantFrom("<>&", "\u2028\u2029", "\u0000\u0007\b\f\n\r\t", "a b+c/d?e=f&g~h.i_j-k", "%zz", "%4", "é😀", "\u007f"));

  it("QueryEscape, Values.Encode, json.Marshal and URL base64 on fuzzed input", async () => {
    await fc.assert(
      fc.asyncProperty(
        nasty,
        fc.dictionary(nasty, nasty, { maxKeys: 5 }),
        fc.array(fc.record({ k: nasty, v: nasty }), { maxLength: 5 }),
        async (s, params, entries) => {
          const go = await ask({ escape: s, params, entries, unescape: s });
          assert.equal(goQueryEscape(s), go.queryEscape, `QueryEscape(${JSON.stringify(s)})`);
          assert.equal(goValuesEncode(params), go.valuesEncode);
          const marshal = goJsonMarshalEntries(entries);
          // The one difference between Go versions: 1.22+ writes \b and \f, older Go (what dubbo-go
          // v1.5 / v3-rc binaries were built with, and what we match) writes \u0008 and \u000c.
          const goOld = go.marshal.replace(/(?<!\\)((?:\\\\)*)\\b/g, "$1\\u0008").replace(/(?<!\\)((?:\\\\)*)\\f/g, "$1\\u000c");
          assert.equal(marshal, goOld);
          assert.deepEqual(JSON.parse(marshal), JSON.parse(go.marshal), "same meaning whatever the Go version");
          if (goOld === go.marshal) assert.equal(base64UrlPadded(utf8Bytes(marshal)), go.annotation);
          let ours: string | undefined;
          try {
            ours = goQueryUnescape(s);
          } catch {
            ours = undefined;
          }
          assert.equal(ours === undefined, go.unescapeError, `QueryUnescape(${JSON.stringify(s)}) error agreement`);
          if (ours !== undefined) assert.equal(ours, go.unescaped);
        },
      ),
      { numRuns: 400 },
    );
  });
});
