/**
 * The package as npm users get it: `npm pack`, installed into a fresh
 * consumer project with the lowest @grpc/grpc-js of podreg's peer range.
 * Checks what a new user hit: docs/, deploy/ and examples/ shipped, the
 * testenv bin, source maps that resolve, public types that check with
 * `skipLibCheck: false` (no client-node types reachable from them), and a
 * gRPC call through podreg on the peer's lowest version, one copy installed.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const LOWEST_GRPC = "1.14.5";

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

describe("the packed package in a fresh consumer project", () => {
  let dir: string;
  let pkg: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "podreg-consumer-"));
    const t0 = Date.now();
    const packed = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: root }); // dist/ is built by the test run; rebuilding it here would race the other test files
    const tarball = join(dir, packed.stdout.trim().split("\n").at(-1)!);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", type: "module", private: true }));
    try {
      await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, `@grpc/grpc-js@${LOWEST_GRPC}`, "@grpc/proto-loader", "typescript@5", "@types/node@20"], {
        cwd: dir,
        maxBuffer: 1 << 24,
      });
    } catch (err) {
      throw new Error(`npm could not install the packed package into ${dir}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
    console.log(`packed and installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    pkg = join(dir, "node_modules", "podreg");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("ships docs/, deploy/ and examples/, so the README's links work for npm users", () => {
    for (const f of ["docs/registry.md", "docs/client.md", "docs/security.md", "deploy/rbac.yaml", "deploy/admission-policy.yaml", "examples/provider.ts"]) {
      assert.ok(existsSync(join(pkg, f)), `${f} shipped`);
    }
  });

  it("has a podreg-testenv bin that runs", async () => {
    const { stdout } = await run(join(dir, "node_modules", ".bin", "podreg-testenv"), ["--help"]);
    assert.match(stdout, /a real kube-apiserver \+ etcd/);
  });

  it("every source map resolves to something shipped, with its sources inline", () => {
    const js = walk(join(pkg, "dist")).filter((f) => f.endsWith(".js"));
    assert.ok(js.length > 20);
    for (const f of js) {
      const m = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(f, "utf8"));
      if (!m) continue;
      const map = join(dirname(f), m[1]!);
      assert.ok(existsSync(map), `${f}: its map ${m[1]} is shipped`);
      const parsed = JSON.parse(readFileSync(map, "utf8")) as { sources: string[]; sourcesContent?: (string | null)[] };
      assert.equal(parsed.sourcesContent?.length, parsed.sources.length, `${map}: sources inline`);
      assert.ok(parsed.sourcesContent!.every((c) => typeof c === "string" && c.length > 0), `${map}: sources inline`);
    }
  });

  it("type-checks a strict consumer with skipLibCheck: false", async () => {
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", noEmit: true, skipLibCheck: false, types: ["node"] }, files: ["consumer.ts"] }),
    );
    writeFileSync(
      join(dir, "consumer.ts"),
      [
        'import { KubePodsRegistry, MemoryRegistry, subscribeBatches, type Discovery, type Registrar } from "podreg";',
        'import { PodregDispatcher, createFetch } from "podreg/client";',
        'import { createPicker } from "podreg/balancer";',
        'import { createRouter } from "podreg/router";',
        'import { registerPodregGrpc } from "podreg/grpc";',
        "const m = new MemoryRegistry();",
        "const d: Discovery = m;",
        "const r: Registrar = m;",
        "void [KubePodsRegistry, PodregDispatcher, createFetch, createPicker, createRouter, registerPodregGrpc, subscribeBatches, d, r];",
        "",
      ].join("\n"),
    );
    await run(process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", dir]).catch((err: { stdout?: string }) =>
      assert.fail(`the consumer does not type-check:\n${err.stdout ?? String(err)}`),
    );
  });

  it(`calls a gRPC server through podreg on @grpc/grpc-js ${LOWEST_GRPC}, the lowest of the peer range, with one copy installed`, async () => {
    assert.equal(existsSync(join(pkg, "node_modules", "@grpc", "grpc-js")), false, "no nested copy");
    writeFileSync(
      join(dir, "grpc-check.mjs"),
      `
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { createRequire } from "node:module";
import { MemoryRegistry } from "podreg";
import { registerPodregGrpc } from "podreg/grpc";
const version = createRequire(import.meta.url)("@grpc/grpc-js/package.json").version;
const Echo = grpc.loadPackageDefinition(loadSync(${JSON.stringify(join(root, "test", "fixtures", "echo.proto"))})).podreg.test.Echo;
const s = new grpc.Server();
s.addService(Echo.service, { Echo: (_c, cb) => cb(null, { server: "ok" }) });
const port = await new Promise((r, j) => s.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
const reg = new MemoryRegistry();
await reg.register({ service: "echo", port, protocol: "grpc" });
const b = registerPodregGrpc({ discovery: reg, grpc });
const c = new Echo("podreg:///echo", grpc.credentials.createInsecure());
const res = await new Promise((r, j) => c.Echo({ message: "x" }, (e, v) => (e ? j(e) : r(v))));
console.log(version, res.server);
c.close(); b.close(); s.forceShutdown();
`,
    );
    const { stdout } = await run(process.execPath, [join(dir, "grpc-check.mjs")], { cwd: dir });
    assert.equal(stdout.trim(), `${LOWEST_GRPC} ok`);
  });
});
