/**
 * maglev: consistent hashing of PickRequest.hashKey through a Maglev lookup
 * table (Eisenbud et al., NSDI 2016, pseudocode listing 1), weighted as
 * Envoy's MaglevTable: each instance walks its own permutation of the table
 * (offset = hash32(id, 0) mod M, skip = hash32(id, 1) mod (M - 1) + 1; M
 * prime, so every skip visits every slot) and claims the next free slot on
 * each round it is due; an instance of weight w is due on w / maxWeight of the
 * rounds, so it ends up with about w / sum of the M slots.
 *
 * Pick is one hash and one array read, O(1). Build is O(M log M) and the
 * table holds M int32 (65537 by default: 256 KiB). Balance is near perfect
 * (slot counts within one of each other for equal weights); removing one of N
 * instances moves its own keys plus a small share of others' (the paper's
 * "minimal disruption" is approximate, unlike a ring's).
 *
 * Instances are ordered by id (the fill order matters). No slow start and
 * weight-0 instances get no slots, as in ring_hash (see there). With more
 * instances than M some get no slot. Without a hashKey, a random slot's
 * owner (weighted random).
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { hash32 } from "./hash.js";
import { HashedPicker } from "./hashed.js";
import type { PickRequest, PolicyName } from "./types.js";

/** The Maglev table for owners named keys[i] with weights[i] > 0: table[slot] = owner index. */
export function maglevTable(keys: readonly string[], weights: readonly number[], size: number): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = keys.length;
  if (n === 0) return table;
  const offset = keys.map((k) => hash32(k, 0) % size);
  const skip = keys.map((k) => (hash32(k, 1) % (size - 1)) + 1);
  const next = new Float64Array(n);
  const target = new Float64Array(n);
  const maxWeight = Math.max(...weights);
  let filled = 0;
  for (let round = 1; filled < size; round++) {
    for (let i = 0; i < n && filled < size; i++) {
      const w = weights[i] as number;
      // Due when round * w has caught up with target: a max-weight owner every round, w = max/3 every third.
      if (round * w < (target[i] as number)) continue;
      target[i] = (target[i] as number) + maxWeight;
      const o = offset[i] as number;
      const s = skip[i] as number;
      let j = next[i] as number;
      let c = (o + s * j) % size;
      while (table[c] !== -1) c = (o + s * ++j) % size;
      table[c] = i;
      next[i] = j + 1;
      filled++;
    }
  }
  return table;
}

export class MaglevPicker extends HashedPicker {
  readonly policy: PolicyName = "maglev";
  private readonly table: Int32Array;
  private readonly random: () => number;

  constructor(instances: readonly Instance[], config: ResolvedConfig, ctx: ResolvedContext) {
    super(instances);
    this.table = maglevTable(this.ids(), this.weights, config.tableSize);
    this.random = ctx.random;
  }

  pick(request?: PickRequest): Instance | undefined {
    const key = request?.hashKey;
    const t = this.table;
    const slot = key === undefined ? Math.min((this.random() * t.length) | 0, t.length - 1) : hash32(key) % t.length;
    return this.list[t[slot] as number];
  }
}
