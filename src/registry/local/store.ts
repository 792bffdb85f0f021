/**
 * The local registry's persistent state: an fsync'd append-only log plus
 * atomic snapshots, written by hand.
 *
 * Why not an embedded database: the ones on npm that are crash-safe
 * (better-sqlite3, classic-level, lmdb) are native modules that download a
 * prebuilt binary at install time or compile one (a fresh machine without
 * internet or a compiler can't install them), and node:sqlite needs Node 22.
 * What the registry stores is small (operator-registered instances: hundreds,
 * not millions) and keyed by id, so a log of whole-record puts and deletes is
 * enough and its crash behaviour can be stated exactly:
 *
 * - A write is acknowledged (its promise resolves) only after its line is
 *   written and fdatasync'd; writes that arrive together share one fsync
 *   (group commit).
 * - Each line is `<crc32 hex> <json>`. On open, the log is replayed up to the
 *   first line that is incomplete or fails its checksum (a write torn by a
 *   crash: never acknowledged), and truncated there.
 * - Compaction writes `snapshot.json.tmp`, fsyncs it, renames it over
 *   `snapshot.json` and fsyncs the directory, then empties the log. A crash
 *   in between replays the old log over the new snapshot: puts and deletes by
 *   id are idempotent, so the result is the same.
 * - One process per directory: a lock file holding the owner's pid; a lock
 *   left by a dead process (kill -9) is taken over.
 */
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeFileSync, writeSync, fstatSync, ftruncateSync, fdatasyncSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { ClosedError, ConfigError } from "../../errors.js";
import { alive } from "../../util/process.js";

export interface StoreOptions {
  dir: string;
  /** Compact when the log holds this many records more than the live state (default 1000). */
  compactAfter?: number;
}

type Record_ = { op: "put"; id: string; value: unknown } | { op: "del"; id: string };

const SNAPSHOT = "snapshot.json";
const LOG = "log.jsonl";
const LOCK = "lock";
/** Directories this process holds: a lock with our own pid that is not here was left by a dead process whose pid we reuse. */
const held = new Set<string>();

export class DurableMap<V> {
  private readonly entries = new Map<string, V>();
  private readonly dir: string;
  private readonly compactAfter: number;
  private logFd: number;
  private logRecords = 0;
  private pending: { line: string; apply: () => void; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing = false;
  private closed = false;

  private constructor(opts: StoreOptions) {
    this.dir = opts.dir;
    this.compactAfter = opts.compactAfter ?? 1000;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    lock(this.dir);
    this.loadSnapshot();
    this.logFd = openSync(join(this.dir, LOG), constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
    this.replayLog();
  }

  /** Opens (creating) the store in `dir`; throws ConfigError when another live process holds it, or a snapshot is unreadable. */
  static open<V>(opts: StoreOptions): DurableMap<V> {
    return new DurableMap<V>(opts);
  }

  get size(): number {
    return this.entries.size;
  }

  get(id: string): V | undefined {
    return this.entries.get(id);
  }

  values(): V[] {
    return [...this.entries.values()];
  }

  /** Stores `value` under `id`; resolves once it is on disk, and only then does get() see it (a failed write changes nothing). */
  put(id: string, value: V): Promise<void> {
    return this.append({ op: "put", id, value }, () => this.entries.set(id, value));
  }

  /** Deletes `id`; resolves once that is on disk. */
  delete(id: string): Promise<void> {
    return this.append({ op: "del", id }, () => this.entries.delete(id));
  }

  /** Waits for acknowledged writes and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing || this.pending.length > 0) await new Promise((r) => setImmediate(r));
    this.closed = true;
    closeSync(this.logFd);
    unlock(this.dir);
  }

  private append(rec: Record_, apply: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError("the local store is closed"));
    const json = JSON.stringify(rec);
    const line = `${crc32(json).toString(16).padStart(8, "0")} ${json}\n`;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line, apply, resolve, reject });
      if (!this.flushing) setImmediate(() => this.flush());
      this.flushing = true;
    });
  }

  /** One write and one fdatasync for every record that arrived since the last. */
  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    try {
      writeSync(this.logFd, batch.map((b) => b.line).join(""));
      fdatasyncSync(this.logFd);
      this.logRecords += batch.length;
      for (const b of batch) b.apply();
      for (const b of batch) b.resolve();
    } catch (err) {
      // Part of the batch may have reached the file: an unacknowledged write may reappear after a restart, never an acknowledged one go missing.
      for (const b of batch) b.reject(err as Error);
    }
    if (this.logRecords > this.compactAfter + this.entries.size) {
      try {
        this.compact();
      } catch {
        // The log still holds everything: compaction is retried after the next write.
      }
    }
    if (this.pending.length > 0) setImmediate(() => this.flush());
    else this.flushing = false;
  }

  private compact(): void {
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, JSON.stringify({ version: 1, entries: [...this.entries] }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, SNAPSHOT));
    fsyncDir(this.dir);
    ftruncateSync(this.logFd, 0);
    fdatasyncSync(this.logFd);
    this.logRecords = 0;
  }

  private loadSnapshot(): void {
    let text: string;
    try {
      text = readFileSync(join(this.dir, SNAPSHOT), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    // Snapshots are only ever renamed into place whole: one that does not parse was damaged outside podreg.
    let parsed: { version?: number; entries?: [string, V][] };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new ConfigError(`the local store's ${join(this.dir, SNAPSHOT)} is damaged; move it away to start empty`);
    }
    if (parsed.version !== 1 || !Array.isArray(parsed.entries)) throw new ConfigError(`the local store's ${join(this.dir, SNAPSHOT)} is of an unknown version`);
    for (const [id, v] of parsed.entries) this.entries.set(id, v);
  }

  private replayLog(): void {
    const size = fstatSync(this.logFd).size;
    const buf = Buffer.alloc(size);
    let read = 0;
    while (read < size) read += readSync(this.logFd, buf, read, size - read, read);
    let good = 0;
    let pos = 0;
    while (pos < size) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) break; // a torn last line
      const rec = parseLine(buf.subarray(pos, nl).toString("utf8"));
      if (!rec) break;
      if (rec.op === "put") this.entries.set(rec.id, rec.value as V);
      else this.entries.delete(rec.id);
      this.logRecords++;
      pos = nl + 1;
      good = pos;
    }
    // Everything after the first bad line was never acknowledged (writes are appended in order, each fsync'd before its ack).
    if (good < size) {
      ftruncateSync(this.logFd, good);
      fdatasyncSync(this.logFd);
    }
  }
}

function parseLine(line: string): Record_ | undefined {
  const sp = line.indexOf(" ");
  if (sp !== 8) return undefined;
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, "0") !== line.slice(0, 8)) return undefined;
  try {
    const rec = JSON.parse(json) as Record_;
    return (rec.op === "put" || rec.op === "del") && typeof rec.id === "string" ? rec : undefined;
  } catch {
    return undefined;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function lock(dir: string): void {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: "wx", mode: 0o600 });
      held.add(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number(readFileSync(path, "utf8"));
      const live = owner === process.pid ? held.has(dir) : Number.isInteger(owner) && owner > 0 && alive(owner);
      if (live) {
        throw new ConfigError(`the data directory ${dir} is in use by process ${owner}`);
      }
      unlinkSync(path); // left by a process that died (kill -9): take it over
    }
  }
  throw new ConfigError(`could not lock the data directory ${dir}`);
}

function unlock(dir: string): void {
  held.delete(dir);
  try {
    unlinkSync(join(dir, LOCK));
  } catch {
    // already gone
  }
}
