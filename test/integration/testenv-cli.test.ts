import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";

const run = promisify(execFile);
const cli = fileURLToPath(new URL("../../testenv/cli.ts", import.meta.url));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("npm run testenv -- up / down", () => {
  it("starts a control plane a plain client can use, and down leaves no process behind", { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "podreg-testenv-cli-"));
    try {
      const upRes = await run(process.execPath, ["--import", "tsx", cli, "up", "--dir", dir], { timeout: 170_000 });
      const m = /^export KUBECONFIG=(.+)$/m.exec(upRes.stdout);
      assert.ok(m, `up prints the export line; got: ${upRes.stdout}`);
      assert.equal(m[1], join(dir, "kubeconfig"));
      const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as { pid: number; pids: number[] };
      assert.equal(state.pids.length, 3, "etcd, kube-apiserver, kube-controller-manager");
      assert.ok([state.pid, ...state.pids].every(alive));

      const kc = new KubeConfig();
      kc.loadFromFile(m[1]);
      const nsList = await kc.makeApiClient(CoreV1Api).listNamespace();
      assert.ok(nsList.items.some((n) => n.metadata?.name === "kube-system"));

      await run(process.execPath, ["--import", "tsx", cli, "down", "--dir", dir], { timeout: 60_000 });
      assert.deepEqual([state.pid, ...state.pids].filter(alive), [], "no process left behind");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps its secrets private in a reused folder: 0600 files, 0700 folders, a planted symlink replaced, not followed", { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "podreg-testenv-private-"));
    const outside = mkdtempSync(join(tmpdir(), "podreg-testenv-outside-"));
    const target = join(outside, "ca.crt");
    let started = false;
    try {
      // What an earlier run (or an older testenv) left: readable by everyone, and a symlink to a file outside.
      for (const d of ["pki", "logs"]) {
        mkdirSync(join(dir, d));
        chmodSync(join(dir, d), 0o755);
      }
      for (const f of ["kubeconfig", "pki/apiserver.key", "pki/sa.key", "logs/etcd.log"]) {
        writeFileSync(join(dir, f), "left over\n");
        chmodSync(join(dir, f), 0o644);
      }
      writeFileSync(target, "not testenv's\n");
      chmodSync(target, 0o644);
      symlinkSync(target, join(dir, "pki", "ca.crt"));

      const upRes = await run(process.execPath, ["--import", "tsx", cli, "up", "--dir", dir], { timeout: 170_000 });
      started = true;
      assert.match(upRes.stdout, /^export KUBECONFIG=/m);

      const mode = (p: string) => lstatSync(join(dir, p)).mode & 0o777;
      const files = ["kubeconfig", "state.json", "testenv.log", ...readdirSync(join(dir, "pki")).map((f) => `pki/${f}`), ...readdirSync(join(dir, "logs")).map((f) => `logs/${f}`)];
      for (const f of ["pki/ca.crt", "pki/apiserver.crt", "pki/apiserver.key", "pki/sa.key", "pki/sa.pub", "logs/etcd.log", "logs/kube-apiserver.log", "logs/kube-controller-manager.log"]) {
        assert.ok(files.includes(f), `${f} written`);
      }
      for (const f of files) {
        assert.ok(lstatSync(join(dir, f)).isFile(), `${f} is a regular file`);
        assert.equal(mode(f).toString(8), "600", f);
      }
      for (const d of ["pki", "logs"]) assert.equal(mode(d).toString(8), "700", d);
      assert.equal(readFileSync(target, "utf8"), "not testenv's\n", "the symlink's target is unchanged");
      assert.equal((lstatSync(target).mode & 0o777).toString(8), "644");
      assert.match(readFileSync(join(dir, "pki", "ca.crt"), "utf8"), /^-----BEGIN CERTIFICATE-----/);
      assert.match(readFileSync(join(dir, "pki", "sa.key"), "utf8"), /PRIVATE KEY/);
      assert.match(readFileSync(join(dir, "logs", "etcd.log"), "utf8"), /^left over\n/, "a log is appended to, not replaced");

      // The rewritten files are the ones in use.
      const kc = new KubeConfig();
      kc.loadFromFile(join(dir, "kubeconfig"));
      await kc.makeApiClient(CoreV1Api).listNamespace();
    } finally {
      if (started || existsSync(join(dir, "state.json"))) await run(process.execPath, ["--import", "tsx", cli, "down", "--dir", dir], { timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("refuses a symlink planted in place of its logs folder", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "podreg-testenv-planted-"));
    const outside = mkdtempSync(join(tmpdir(), "podreg-testenv-outside-"));
    try {
      symlinkSync(outside, join(dir, "logs"));
      await assert.rejects(run(process.execPath, ["--import", "tsx", cli, "up", "--dir", dir], { timeout: 110_000 }), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 1);
        return true;
      });
      assert.match(readFileSync(join(dir, "testenv.log"), "utf8"), /PODREG_TESTENV_UNSAFE_PATH: .*logs is a symbolic link/);
      assert.deepEqual(readdirSync(outside), [], "nothing written where it points");
      assert.equal(existsSync(join(dir, "state.json")), false);
    } finally {
      // Should it have started after all, leave nothing running.
      if (existsSync(join(dir, "state.json"))) await run(process.execPath, ["--import", "tsx", cli, "down", "--dir", dir], { timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
