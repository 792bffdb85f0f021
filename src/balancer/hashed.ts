/**
 * What the three hashing pickers (ring_hash, maglev, source_affinity) share:
 * the same members in the same order on every client, and the same cap on a
 * ring's size. Each picker only decides how a key maps to a member.
 */
import { DEFAULT_WEIGHT, type Instance } from "../model/instance.js";
import type { Picker, PickRequest, PolicyName } from "./types.js";
import { baseWeight, eligibleByWeight } from "./weights.js";

/**
 * Weights beyond this (or lighter than the heaviest / this) only come from
 * absurd inputs such as 1e300; they would overflow or underflow the sizing
 * arithmetic (an empty ring, so pick() returning undefined). A ring of at most
 * 8,388,608 points cannot show a larger ratio anyway.
 */
const WEIGHT_RANGE = 2 ** 32;

/** Eligible instances ordered by id, with their weights (the default weight each when all are 0; within WEIGHT_RANGE). */
export function hashMembers(instances: readonly Instance[]): { list: Instance[]; weights: number[] } {
  const list = [...eligibleByWeight(instances)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const weights = list.map(baseWeight);
  const max = weights.reduce((a, b) => Math.max(a, b), 0);
  if (max === 0) weights.fill(DEFAULT_WEIGHT);
  else if (max > WEIGHT_RANGE || weights.some((w) => w * WEIGHT_RANGE < max)) {
    // Scale the heaviest to WEIGHT_RANGE and raise the lightest to 1, keeping the ratios in between.
    weights.forEach((w, k) => (weights[k] = Math.max(1, (w / max) * WEIGHT_RANGE)));
  }
  return { list, weights };
}

/**
 * Point counts as given (each at least 1), scaled down by one factor only when
 * their total passes maxRingSize: the one case where survivors' keys move.
 */
export function capRing(counts: readonly number[], maxRingSize: number): Int32Array {
  const total = counts.reduce((a, b) => a + b, 0);
  const shrink = total > maxRingSize ? maxRingSize / total : 1;
  return Int32Array.from(counts, (c) => Math.max(1, Math.floor(c * shrink)));
}

/** A picker over hashMembers(): `list[i]` is member i, `weights[i]` its weight. */
export abstract class HashedPicker implements Picker {
  abstract readonly policy: PolicyName;
  readonly size: number;
  protected readonly list: readonly Instance[];
  protected readonly weights: readonly number[];

  constructor(instances: readonly Instance[]) {
    const { list, weights } = hashMembers(instances);
    this.list = list;
    this.weights = weights;
    this.size = list.length;
  }

  /** Member ids in member order: what each picker hashes to place them. */
  protected ids(): string[] {
    return this.list.map((i) => i.id);
  }

  abstract pick(request?: PickRequest): Instance | undefined;
}
