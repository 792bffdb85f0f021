/**
 * What to write into the pod for this process's registrations: a pure
 * function of the pod's current label and annotations, so the writer, the
 * self-healing check and the unit tests all use the same rules.
 *
 * Rules:
 * - entries of other registrations (other processes, other tools) are kept;
 * - an entry shared with other live owners is rewritten only when it is
 *   missing (or when this operation changes it): owners don't fight over
 *   fields such as the registration time;
 * - an entry goes when its last live owner releases it; an entry whose every
 *   recorded owner is provably dead (same container, process gone) goes too;
 * - an entry with no owner record at all (written by dubbo-go, or by hand)
 *   is never removed unless this process releases its identity.
 */
import type { AnnotationCodec, AnnotationEntry, CodecRegistration } from "../codec.js";
import { OWNERS_ANNOTATION, formatOwners, parseOwners, type LivenessCheck } from "./owners.js";
import { AnnotationCorruptError } from "../../errors.js";

export interface PodMeta {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface PlanInput {
  codec: AnnotationCodec;
  pod: PodMeta;
  /** Where the pod is, for error messages. */
  podName: string;
  /** Every registration this process holds in the pod (after the operation). */
  owned: readonly CodecRegistration[];
  /** Registrations this operation writes whatever is there (a register or an update). */
  write?: readonly CodecRegistration[];
  /** Identities this process gives up (a deregistration). */
  release?: ReadonlySet<string>;
  /** This process's owner id, and how to tell whether another owner lives. */
  owner: string;
  alive: LivenessCheck;
  /** Remove the label when no entries remain (default true). */
  removeLabel?: boolean;
}

export interface Plan {
  /** Nothing to write: the pod already holds the wanted state. */
  noop: boolean;
  /** The annotation values to write in turn (undefined = remove); the last is the wanted state. */
  stages: (string | undefined)[];
  owners: string | undefined;
  label: boolean;
}

/** Our pod's entries. An undecodable value may hold someone's registrations: refuse to overwrite it. */
export function decodeOwn(codec: AnnotationCodec, value: string | undefined, podName: string): AnnotationEntry[] {
  if (!value) return [];
  try {
    return codec.decode(value);
  } catch (err) {
    throw new AnnotationCorruptError(
      `pod ${podName}: annotation ${codec.annotationKey} cannot be decoded (${(err as Error).message}); ` +
        "podreg will not overwrite it: remove the annotation to register again",
      { cause: err },
    );
  }
}

/** Identities of the provider entries present; undefined when an entry can't be read (then nothing is pruned by presence). */
function presentIdentities(codec: AnnotationCodec, entries: readonly AnnotationEntry[]): Set<string> | undefined {
  try {
    return new Set(codec.endpoints(entries).map((ep) => codec.identity({ service: ep.service, protocol: ep.protocol, host: ep.host ?? "", port: ep.port })));
  } catch {
    return undefined;
  }
}

const keySet = (entries: readonly AnnotationEntry[]): Set<string> => new Set(entries.map((e) => `${e.k}\u0000${e.v}`));

function sameSet(a: readonly AnnotationEntry[], b: readonly AnnotationEntry[]): boolean {
  const sa = keySet(a);
  const sb = keySet(b);
  return sa.size === sb.size && [...sa].every((k) => sb.has(k));
}

export function planWrite(input: PlanInput): Plan {
  const { codec, pod, owner } = input;
  const current = pod.annotations[codec.annotationKey];
  const existing = decodeOwn(codec, current, input.podName);
  const present = presentIdentities(codec, existing);
  const owners = parseOwners(pod.annotations[OWNERS_ANNOTATION]);
  const release = input.release ?? new Set<string>();
  const ownedIds = new Set(input.owned.map((r) => codec.identity(r)));

  const drop = new Set<string>();
  for (const [id, list] of owners) {
    if (present !== undefined && !present.has(id)) {
      owners.delete(id); // the entry is gone: so is its claim
      continue;
    }
    const living = list.filter((o) => o !== owner && input.alive(o) !== false);
    const mine = list.includes(owner) && !release.has(id);
    // Every recorded owner is provably dead and we don't hold it: the entry is stale.
    if (living.length === 0 && !mine && !ownedIds.has(id) && list.some((o) => o !== owner)) drop.add(id);
    owners.set(id, mine ? [...living, owner] : living);
  }
  for (const id of release) if ((owners.get(id) ?? []).length === 0 && !ownedIds.has(id)) drop.add(id);
  for (const id of ownedIds) owners.set(id, [...new Set([...(owners.get(id) ?? []), owner])]);

  const forced = new Set((input.write ?? []).map((r) => codec.identity(r)));
  const add = input.owned.filter((reg) => {
    const id = codec.identity(reg);
    if (forced.has(id)) return true;
    const isPresent = present === undefined || present.has(id);
    if (!isPresent) return true; // removed by someone else: restore
    const shared = (owners.get(id) ?? []).some((o) => o !== owner);
    return !shared && !sameSet(codec.apply(existing, { drop: new Set(), add: [reg] }), existing);
  });

  const next = drop.size === 0 && add.length === 0 ? existing : codec.apply(existing, { drop, add });
  const nextIds = presentIdentities(codec, next);
  if (nextIds !== undefined) for (const id of owners.keys()) if (!nextIds.has(id)) owners.delete(id);
  const ownersValue = next.length > 0 ? formatOwners(owners) : undefined;
  const label = next.length > 0 || !(input.removeLabel ?? true);
  const value = next.length > 0 ? codec.encode(next) : undefined;

  const labelled = pod.labels[codec.labelKey] === codec.labelValue;
  const noop = value === (current || undefined) && labelled === label && ownersValue === pod.annotations[OWNERS_ANNOTATION];
  if (noop) return { noop, stages: [], owners: ownersValue, label };
  const staged = next.length > 0 && codec.stages ? codec.stages(existing, next) : [next];
  const stages = staged.map((entries, i) => (i === staged.length - 1 ? value : entries.length > 0 ? codec.encode(entries) : undefined));
  return { noop, stages, owners: ownersValue, label };
}
