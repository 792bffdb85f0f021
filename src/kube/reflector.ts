/**
 * LIST then WATCH one collection into a Store, after client-go's
 * tools/cache Reflector. Contract:
 * - paginated LIST (limit/continue); WATCH from the list's resourceVersion with bookmarks;
 * - a watch that ends, breaks or goes silent is resumed from the last
 *   resourceVersion seen (event or bookmark) without a relist;
 * - 410 Gone (compacted history, expired continue token) relists, and the
 *   store's replace() removes what vanished meanwhile;
 * - failures back off with jitter (800ms..30s) and are retried forever:
 *   the reflector stops only when its signal aborts;
 * - the resourceVersion it resumes from only moves forward.
 */
import { AbortedError } from "../errors.js";
import { Backoff, type BackoffOptions } from "../util/backoff.js";
import { sleep, systemClock, type Clock } from "../util/clock.js";
import { silentLogger, type Logger } from "../util/logger.js";
import type { KubeClient, WatchEvent } from "./client.js";
import { isGone } from "./errors.js";
import type { Store, Versioned } from "./store.js";
import { KubeStatusError, kubeApiError } from "../errors.js";

/** The part of every object the reflector reads. */
export interface RawObject {
  metadata?: { resourceVersion?: string; name?: string; namespace?: string };
}

interface ListResponse {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: RawObject[];
}

export interface ReflectorOptions<T extends Versioned> {
  client: KubeClient;
  /** Collection path, e.g. /api/v1/namespaces/ns/pods or /api/v1/pods. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Raw object -> the slim object stored (never keep whole objects). */
  transform: (raw: RawObject) => T;
  store: Store<T>;
  pageSize?: number;
  /** A watch silent this long (no event, no bookmark) is dropped and resumed. Default 150s (bookmarks come about every minute). */
  inactivityTimeoutMs?: number;
  /** Server-side watch timeout is picked in [min, max) seconds, spreading reconnects. Default [300, 600). */
  watchTimeoutSeconds?: readonly [number, number];
  backoff?: BackoffOptions;
  clock?: Clock;
  logger?: Logger;
  /** Log each retried failure at debug instead of warn: for owners that report outages themselves (status events). */
  quietRetries?: boolean;
  random?: () => number;
  onSynced?: () => void;
  onError?: (err: Error) => void;
  /** The API server answered: a LIST succeeded or a WATCH stream opened (ends a run of errors). */
  onHealthy?: () => void;
}

export interface ReflectorStats {
  lists: number;
  /** LIST pages fetched (a list of more than pageSize objects takes several). */
  pages: number;
  /** Relists forced by 410 Gone. */
  relists: number;
  watches: number;
  /** Watches restarted from a known resourceVersion (no relist). */
  resumes: number;
  events: number;
  bookmarks: number;
  errors: number;
}

export class Reflector<T extends Versioned> {
  readonly stats: ReflectorStats = { lists: 0, pages: 0, relists: 0, watches: 0, resumes: 0, events: 0, bookmarks: 0, errors: 0 };
  private rv: string | undefined;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly random: () => number;

  constructor(private readonly o: ReflectorOptions<T>) {
    this.random = o.random ?? Math.random;
    this.backoff = new Backoff({ random: this.random, ...o.backoff });
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
  }

  /** The resourceVersion the next watch starts from (undefined = next round lists). */
  get resourceVersion(): string | undefined {
    return this.rv;
  }

  /** Runs until `signal` aborts; never rejects for any other reason. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (this.rv === undefined) await this.list(signal);
        else this.stats.resumes++;
        await this.watch(signal);
        this.backoff.reset(); // the server ended a healthy watch: resume at once
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.stats.relists++;
          this.logger.info({ path: this.o.path, rv: this.rv }, "resourceVersion too old, relisting");
          this.rv = undefined;
          continue;
        }
        const e = err instanceof Error ? err : new Error(String(err));
        this.stats.errors++;
        this.o.onError?.(e);
        const delay = this.backoff.next();
        const log = this.o.quietRetries ? this.logger.debug : this.logger.warn;
        log.call(this.logger, { path: this.o.path, code: (e as { code?: string }).code ?? e.name, err: e.message, retryMs: delay }, "list/watch failed");
        try {
          await sleep(delay, { clock: this.clock, signal });
        } catch (sleepErr) {
          if (!(sleepErr instanceof AbortedError)) throw sleepErr;
        }
      }
    }
  }

  private selectors() {
    return { labelSelector: this.o.labelSelector, fieldSelector: this.o.fieldSelector };
  }

  private async list(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.o.client.request<ListResponse>({
        path: this.o.path,
        query: { ...this.selectors(), limit: this.o.pageSize ?? 500, continue: cont },
        signal,
      });
      this.stats.pages++;
      for (const raw of page.items ?? []) items.push(this.o.transform(raw));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion;
    } while (cont);
    if (!rv) throw new KubeStatusError(`LIST ${this.o.path} returned no resourceVersion`, undefined);
    this.stats.lists++;
    this.o.store.replace(items);
    this.rv = rv;
    this.o.onSynced?.();
    this.o.onHealthy?.();
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const [min, max] = this.o.watchTimeoutSeconds ?? [300, 600];
    this.stats.watches++;
    await this.o.client.watch({
      path: this.o.path,
      query: {
        ...this.selectors(),
        resourceVersion: this.rv,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.floor(min + this.random() * (max - min)),
      },
      signal,
      inactivityTimeoutMs: this.o.inactivityTimeoutMs ?? 150_000,
      onOpen: () => this.o.onHealthy?.(),
      onEvent: (ev) => this.handle(ev),
    });
  }

  private handle(ev: WatchEvent): void {
    const raw = ev.object as RawObject & { code?: number; message?: string; reason?: string };
    if (ev.type === "ERROR") {
      // A Status object: 410 means our resourceVersion was compacted away.
      // A watch ERROR event without a code is not an HTTP status: no made-up 500.
      throw kubeApiError(raw.code, raw.message ?? "watch error", raw.reason);
    }
    const rv = raw.metadata?.resourceVersion;
    this.backoff.reset();
    if (ev.type === "BOOKMARK") {
      this.stats.bookmarks++;
    } else {
      this.stats.events++;
      const obj = this.o.transform(raw);
      if (ev.type === "DELETED") this.o.store.remove(obj);
      else this.o.store.upsert(obj);
    }
    if (rv) this.rv = rv;
  }
}
