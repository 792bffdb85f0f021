/**
 * How testenv writes what it keeps in its folder (keys, kubeconfigs, state,
 * logs): readable by its owner only, on every write and not only on create
 * (writeFileSync's `mode` applies only to a new file), and never through a
 * symbolic link someone planted there, which would redirect a private key
 * to a place of their choosing.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { TestEnvError } from "./errors.js";

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

function unsafe(path: string, why: string): TestEnvError {
  return new TestEnvError("PODREG_TESTENV_UNSAFE_PATH", `${path} ${why}; testenv keeps credentials there and will not use it: remove it and try again`);
}

/** Refuses what is not ours to write into: another user's file or folder (planted in a shared folder). */
function checkOwner(path: string, uid: number): void {
  const own = process.getuid?.();
  if (own !== undefined && uid !== own) throw unsafe(path, `belongs to uid ${uid}, not to this user (${own})`);
}

/**
 * Writes `data` to `path` with mode 0600: into a new temp file in the same
 * folder (O_CREAT|O_EXCL|O_NOFOLLOW: never an existing file or a link), then
 * renamed over `path`. rename() replaces a symlink at `path` instead of
 * following it, and readers see the old or the new content, never half.
 */
export function writePrivateFile(path: string, data: string | Uint8Array): string {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
  try {
    try {
      fchmodSync(fd, FILE_MODE); // exactly 0600, whatever the umask
      writeFileSync(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or gone: nothing to clean up
    }
    throw err;
  }
  return path;
}

/**
 * Opens a log file for a child process's output with mode 0600, appending
 * (or truncating). O_NOFOLLOW: a symlink in its place is refused, not
 * followed; O_NONBLOCK: a FIFO in its place fails instead of blocking.
 */
export function openPrivateLog(path: string, opts: { truncate?: boolean } = {}): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | (opts.truncate ? constants.O_TRUNC : constants.O_APPEND);
  let fd: number;
  try {
    fd = openSync(path, flags, FILE_MODE);
  } catch (err) {
    if (errno(err) === "ELOOP") throw unsafe(path, "is a symbolic link");
    if (errno(err) === "ENXIO") throw unsafe(path, "is not a regular file");
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw unsafe(path, "is not a regular file");
    checkOwner(path, st.uid);
    fchmodSync(fd, FILE_MODE); // an existing log keeps its mode on open: narrow it
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Makes `path` (with missing parents) a folder; what this creates is 0700.
 * A folder that already exists is left as it is: it is the caller's.
 */
export function makeDir(path: string): void {
  const created = mkdirSync(path, { recursive: true, mode: DIR_MODE });
  if (created !== undefined) {
    // mkdir's mode is narrowed by the umask; set it exactly on each folder made.
    for (let d = path; ; d = dirname(d)) {
      fchmodPath(d);
      if (d === created || dirname(d) === d) break;
    }
  }
}

/**
 * A folder testenv keeps secrets in (pki, logs): created 0700, or an existing
 * one narrowed to 0700. A symlink, a non-folder or another user's folder in
 * its place is refused with PODREG_TESTENV_UNSAFE_PATH.
 */
export function ensurePrivateDir(path: string): string {
  try {
    mkdirSync(path, { mode: DIR_MODE });
  } catch (err) {
    if (errno(err) !== "EEXIST") throw err;
  }
  fchmodPath(path);
  return path;
}

/** chmod 0700 through a descriptor opened without following a link, after checking what it is. */
function fchmodPath(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    // With O_DIRECTORY, Linux reports a symlink as ENOTDIR rather than ELOOP: look to say which.
    if (errno(err) === "ELOOP" || errno(err) === "ENOTDIR") throw unsafe(path, lstatSync(path).isSymbolicLink() ? "is a symbolic link" : "is not a folder");
    throw err;
  }
  try {
    checkOwner(path, fstatSync(fd).uid);
    fchmodSync(fd, DIR_MODE);
  } finally {
    closeSync(fd);
  }
}
