/**
 * Calls in flight per instance, shared by the successive pickers of one
 * service (a picker is rebuilt whenever its instances change; the counts must
 * survive that). least_request, least_connection, shortest_expected_delay and
 * never_queue read it; the caller brackets each call with start() and end().
 *
 * Pickers read counts on every pick; start() and end() run once per call. So
 * createLoadTracker() does the work on the write side: each picker gets its
 * own array of counts in its instances' order (inFlight() below), and
 * start() and end() write the new count into every such array that holds
 * the instance (one or two pickers, usually). A pick then reads counts[k],
 * one load from a small array, where a lookup by id (Map.get on a string,
 * ~25 ns) was 40% of a least_request pick; a slot table shared by all
 * pickers (counts[slots[k]]) would still cost a dependent load per read.
 * Float64Array rather than Int32Array: the scans of least_connection and
 * the like multiply counts by weights, and V8 ran them 1.2x faster (2x in
 * isolation) without an int-to-double conversion per instance. For a LoadTracker of the
 * caller's own, the picker asks inFlight(id) on each read.
 */
import type { Instance } from "../model/instance.js";
import type { LoadTracker } from "./types.js";

/** Below this many leases, no sweep: a service with few pickers never pays for one. */
const MIN_SWEEP = 16;

/** A picker's counts array and the slots it mirrors, until the picker is gone. */
interface Lease {
  readonly owner: WeakRef<object>;
  readonly slots: Int32Array;
  readonly counts: Float64Array;
}

class CountingLoadTracker implements LoadTracker {
  // One slot per instance id that has calls in flight or is in some picker's counts, so the
  // tracker does not grow with every instance ever seen: a picker that is gone (garbage
  // collected) gives its slots up at the next sweep, which runs once the leases have doubled
  // since the last one (amortized O(1) per picker built).
  private readonly slotOf = new Map<string, number>();
  private readonly idOf: (string | undefined)[] = [];
  private readonly count: number[] = [];
  /** Per slot: the pickers' counts arrays that mirror it, and at which index (parallel lists). */
  private readonly mirrors: Float64Array[][] = [];
  private readonly mirrorAt: number[][] = [];
  private readonly free: number[] = [];
  private leases: Lease[] = [];
  private sweepAt = MIN_SWEEP;

  start(instanceId: string): void {
    const slot = this.slotOf.get(instanceId) ?? this.allocate(instanceId);
    this.set(slot, (this.count[slot] as number) + 1);
  }

  end(instanceId: string): void {
    const slot = this.slotOf.get(instanceId);
    if (slot === undefined) return;
    const n = this.count[slot] as number;
    if (n === 0) return; // an unmatched end() never drives a count below 0
    this.set(slot, n - 1);
    if (n === 1 && (this.mirrors[slot] as Float64Array[]).length === 0) this.release(slot);
  }

  inFlight(instanceId: string): number {
    const slot = this.slotOf.get(instanceId);
    return slot === undefined ? 0 : (this.count[slot] as number);
  }

  /** A counts array for `ids`, in order, kept current until `owner` has been garbage collected. */
  lease(owner: object, ids: readonly string[]): Float64Array {
    if (this.leases.length >= this.sweepAt) this.sweep();
    const slots = new Int32Array(ids.length);
    const counts = new Float64Array(ids.length);
    ids.forEach((id, k) => {
      const slot = this.slotOf.get(id) ?? this.allocate(id);
      slots[k] = slot;
      counts[k] = this.count[slot] as number;
      (this.mirrors[slot] as Float64Array[]).push(counts);
      (this.mirrorAt[slot] as number[]).push(k);
    });
    this.leases.push({ owner: new WeakRef(owner), slots, counts });
    return counts;
  }

  private set(slot: number, n: number): void {
    this.count[slot] = n;
    const mirrors = this.mirrors[slot] as Float64Array[];
    const at = this.mirrorAt[slot] as number[];
    for (let k = 0; k < mirrors.length; k++) (mirrors[k] as Float64Array)[at[k] as number] = n;
  }

  private allocate(id: string): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.idOf.length;
      this.idOf.push(id);
      this.count.push(0);
      this.mirrors.push([]);
      this.mirrorAt.push([]);
    } else this.idOf[slot] = id;
    this.slotOf.set(id, slot);
    return slot;
  }

  private release(slot: number): void {
    this.slotOf.delete(this.idOf[slot] as string);
    this.idOf[slot] = undefined;
    this.free.push(slot);
  }

  private sweep(): void {
    this.leases = this.leases.filter((lease) => {
      if (lease.owner.deref() !== undefined) return true;
      for (const slot of lease.slots) {
        const mirrors = this.mirrors[slot] as Float64Array[];
        const at = this.mirrorAt[slot] as number[];
        // Drop this lease's entries for the slot (several when an id repeats in one picker).
        let kept = 0;
        for (let k = 0; k < mirrors.length; k++) {
          if (mirrors[k] === lease.counts) continue;
          mirrors[kept] = mirrors[k] as Float64Array;
          at[kept] = at[k] as number;
          kept++;
        }
        mirrors.length = kept;
        at.length = kept;
        if (kept === 0 && this.count[slot] === 0 && this.idOf[slot] !== undefined) this.release(slot);
      }
      return false;
    });
    this.sweepAt = Math.max(MIN_SWEEP, 2 * this.leases.length);
  }
}

export function createLoadTracker(): LoadTracker {
  return new CountingLoadTracker();
}

/**
 * The calls in flight of a picker's instances, by index, read on every pick.
 * Two classes rather than one with a branch: with only createLoadTracker()'s
 * tracker in a process, the pickers' at() call sites see one class and V8
 * inlines them to a single array load (a branch to the fallback in the same
 * method cost ~5 ns a least_request pick).
 */
export interface InFlight {
  /** Calls in flight of instance k. */
  at(k: number): number;
  /**
   * Calls in flight of every instance, by index, as of this call: for a scan of all of them. The
   * tracker's own live array for createLoadTracker() (no copy: read it, never write it, and take
   * it afresh per pick); for another tracker, a scratch array filled by n inFlight() calls.
   */
  all(): Float64Array;
}

/** Over createLoadTracker()'s tracker: an array it keeps current. */
class MirroredInFlight implements InFlight {
  private readonly counts: Float64Array;

  constructor(tracker: CountingLoadTracker, instances: readonly Instance[]) {
    // The lease lasts as long as this object, which the picker holds.
    this.counts = tracker.lease(
      this,
      instances.map((i) => i.id),
    );
  }

  at(k: number): number {
    return this.counts[k] as number;
  }

  all(): Float64Array {
    return this.counts;
  }
}

/** Over a LoadTracker of the caller's own: inFlight(id) on each read. */
class PolledInFlight implements InFlight {
  private readonly ids: readonly string[];
  private scratch: Float64Array | undefined;

  constructor(
    private readonly load: LoadTracker,
    instances: readonly Instance[],
  ) {
    this.ids = instances.map((i) => i.id);
  }

  at(k: number): number {
    return this.load.inFlight(this.ids[k] as string);
  }

  all(): Float64Array {
    const out = (this.scratch ??= new Float64Array(this.ids.length));
    for (let k = 0; k < out.length; k++) out[k] = this.load.inFlight(this.ids[k] as string);
    return out;
  }
}

/** The calls in flight of `instances` under `load`, by index. */
export function inFlight(load: LoadTracker, instances: readonly Instance[]): InFlight {
  return load instanceof CountingLoadTracker ? new MirroredInFlight(load, instances) : new PolledInFlight(load, instances);
}
