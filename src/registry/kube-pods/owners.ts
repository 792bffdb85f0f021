/**
 * Who owns each registry entry of a pod. Several live processes of one pod
 * may register the same service and port (Node cluster workers, a restart
 * that overlaps the old process): they share one entry, and it may go only
 * when its last live owner goes. Owners are kept beside the registry
 * annotation, in `podreg.io/owners`, as JSON `{"<entry identity>": ["<owner>", ...]}`,
 * so the registry annotation itself stays exactly what its format (and
 * dubbo-go) expects.
 *
 * An owner is `<pid namespace inode>:<pid>:<start time in clock ticks>:<writer>`
 * (one process may hold several writers, e.g. two registries on two clients).
 * Within one PID namespace (one container) a process can tell whether another
 * owner is alive: /proc/<pid>/stat exists and shows the same start time, so a
 * reused pid does not pass for the dead process. Owners in another PID
 * namespace cannot be checked and count as alive.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { randomBytes } from "node:crypto";

export const OWNERS_ANNOTATION = "podreg.io/owners";

export type Owners = Map<string, string[]>;

/** Whether an owner is alive: true / false when it can be told, undefined when it can't. */
export type LivenessCheck = (owner: string) => boolean | undefined;

function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1];
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses, so count from the last `)`. */
function startTicks(pid: number | "self"): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

let writers = 0;

/** A new owner id of this process and a liveness check for others, from /proc; elsewhere an id no one can check. */
export function processOwner(): { id: string; alive: LivenessCheck } {
  const ns = pidNamespace();
  const start = startTicks("self");
  const n = ++writers;
  if (ns === undefined || start === undefined) {
    return { id: `x:${process.pid}:${randomBytes(6).toString("hex")}:${n}`, alive: () => undefined };
  }
  return {
    id: `${ns}:${process.pid}:${start}:${n}`,
    alive: (owner) => {
      const [ons, pid, ostart] = owner.split(":");
      if (ons !== ns || !/^\d+$/.test(pid ?? "")) return undefined;
      return startTicks(Number(pid)) === ostart;
    },
  };
}

/** Tolerant: an unreadable value (hand-edited, truncated) is no owners rather than a failure to register. */
export function parseOwners(value: string | undefined): Owners {
  const owners: Owners = new Map();
  if (!value) return owners;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return owners;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return owners;
  for (const [id, list] of Object.entries(parsed as Record<string, unknown>)) {
    if (!Array.isArray(list)) continue;
    const ids = list.filter((o): o is string => typeof o === "string" && o !== "");
    if (ids.length > 0) owners.set(id, [...new Set(ids)]);
  }
  return owners;
}

/** Sorted, so the same owners always give the same bytes (an unchanged value is not re-patched). */
export function formatOwners(owners: Owners): string | undefined {
  const ids = [...owners.keys()].filter((id) => (owners.get(id) ?? []).length > 0).sort();
  if (ids.length === 0) return undefined;
  return JSON.stringify(Object.fromEntries(ids.map((id) => [id, [...(owners.get(id) ?? [])].sort()])));
}
