import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensurePrivateDir, makeDir, openPrivateLog, writePrivateFile } from "../../../testenv/files.js";

const mode = (path: string) => lstatSync(path).mode & 0o777;
const unsafePath = (err: unknown) => (err as { code?: string }).code === "PODREG_TESTENV_UNSAFE_PATH";

describe("testenv private files", () => {
  let dir: string;
  /** Somewhere else a planted symlink points to: it must never be written. */
  let outside: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podreg-files-"));
    outside = mkdtempSync(join(tmpdir(), "podreg-files-outside-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  /** A file outside `dir`, mode 0644, and a symlink to it at `dir/name`. */
  function plant(name: string): { link: string; target: string } {
    const target = join(outside, `${name}.target`);
    writeFileSync(target, "outside\n");
    chmodSync(target, 0o644);
    const link = join(dir, name);
    symlinkSync(target, link);
    return { link, target };
  }

  describe("writePrivateFile", () => {
    it("creates a file with mode 0600", () => {
      const p = writePrivateFile(join(dir, "new.key"), "secret\n");
      assert.equal(readFileSync(p, "utf8"), "secret\n");
      assert.equal(mode(p), 0o600);
    });

    it("narrows a pre-existing 0644 file to 0600 as it rewrites it", () => {
      const p = join(dir, "old.key");
      writeFileSync(p, "old old old old\n");
      chmodSync(p, 0o644);
      writePrivateFile(p, "new\n");
      assert.equal(readFileSync(p, "utf8"), "new\n");
      assert.equal(mode(p), 0o600);
    });

    it("replaces a symlink at the path instead of writing through it", () => {
      const { link, target } = plant("kubeconfig");
      writePrivateFile(link, "credentials\n");
      assert.ok(lstatSync(link).isFile(), "the path is now a regular file");
      assert.equal(mode(link), 0o600);
      assert.equal(readFileSync(link, "utf8"), "credentials\n");
      assert.equal(readFileSync(target, "utf8"), "outside\n", "the file outside is untouched");
      assert.equal(mode(target), 0o644);
    });

    it("does not create the target of a dangling symlink", () => {
      const target = join(outside, "dangling");
      symlinkSync(target, join(dir, "dangling.key"));
      writePrivateFile(join(dir, "dangling.key"), "x");
      assert.throws(() => statSync(target), { code: "ENOENT" });
      assert.ok(lstatSync(join(dir, "dangling.key")).isFile());
    });

    it("leaves no temp file behind, on success or failure", () => {
      const sub = mkdtempSync(join(dir, "clean-"));
      writePrivateFile(join(sub, "a"), "1");
      writePrivateFile(join(sub, "a"), "2");
      mkdirSync(join(sub, "folder"));
      assert.throws(() => writePrivateFile(join(sub, "folder"), "x"), "a folder is not replaced");
      assert.deepEqual(readdirSync(sub).sort(), ["a", "folder"]);
    });
  });

  describe("openPrivateLog", () => {
    it("appends to an existing 0644 log and narrows it to 0600; truncate empties it", () => {
      const p = join(dir, "etcd.log");
      writeFileSync(p, "before\n");
      chmodSync(p, 0o644);
      let fd = openPrivateLog(p);
      writeSync(fd, "after\n");
      closeSync(fd);
      assert.equal(readFileSync(p, "utf8"), "before\nafter\n");
      assert.equal(mode(p), 0o600);
      fd = openPrivateLog(p, { truncate: true });
      closeSync(fd);
      assert.equal(readFileSync(p, "utf8"), "");
    });

    it("creates a missing log with mode 0600", () => {
      const fd = openPrivateLog(join(dir, "fresh.log"));
      closeSync(fd);
      assert.equal(mode(join(dir, "fresh.log")), 0o600);
    });

    it("refuses a symlink in place of a log, leaving its target untouched", () => {
      const { link, target } = plant("apiserver.log");
      assert.throws(() => openPrivateLog(link), unsafePath);
      assert.equal(readFileSync(target, "utf8"), "outside\n");
      assert.equal(mode(target), 0o644);
    });

    it("refuses a FIFO in place of a log instead of blocking on it", () => {
      const p = join(dir, "fifo.log");
      execFileSync("mkfifo", [p]);
      assert.throws(() => openPrivateLog(p), unsafePath);
    });
  });

  describe("folders", () => {
    it("ensurePrivateDir creates a 0700 folder and narrows an existing one to 0700", () => {
      const created = ensurePrivateDir(join(dir, "pki"));
      assert.equal(mode(created), 0o700);
      const existing = join(dir, "logs");
      mkdirSync(existing);
      chmodSync(existing, 0o755);
      ensurePrivateDir(existing);
      assert.equal(mode(existing), 0o700);
    });

    it("ensurePrivateDir refuses a symlink or a file in place of the folder", () => {
      const elsewhere = mkdtempSync(join(outside, "dir-"));
      chmodSync(elsewhere, 0o755);
      const link = join(dir, "planted-pki");
      symlinkSync(elsewhere, link);
      assert.throws(
        () => ensurePrivateDir(link),
        (err: unknown) => unsafePath(err) && /planted-pki is a symbolic link/.test((err as Error).message),
      );
      assert.equal(mode(elsewhere), 0o755, "the folder it points to is untouched");
      writeFileSync(join(dir, "file-not-dir"), "");
      assert.throws(() => ensurePrivateDir(join(dir, "file-not-dir")), unsafePath);
    });

    it("makeDir makes missing folders 0700 and leaves an existing one as it is", () => {
      const deep = join(dir, "made", "a", "b");
      makeDir(deep);
      for (const d of [join(dir, "made"), join(dir, "made", "a"), deep]) assert.equal(mode(d), 0o700, d);
      const mine = join(dir, "users-own");
      mkdirSync(mine);
      chmodSync(mine, 0o755);
      makeDir(mine);
      assert.equal(mode(mine), 0o755);
    });
  });
});
