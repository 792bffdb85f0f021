/**
 * Calls in flight per instance, shared by the successive pickers of one
 * service (a picker is rebuilt whenever its instances change; the counts must
 * survive that). least_request reads it; the caller brackets each call with
 * start() and end().
 */
import type { LoadTracker } from "./types.js";

export function createLoadTracker(): LoadTracker {
  // Only instances with calls in flight have an entry, so the map does not
  // grow with every instance ever seen.
  const counts = new Map<string, number>();
  return {
    start(instanceId: string): void {
      counts.set(instanceId, (counts.get(instanceId) ?? 0) + 1);
    },
    end(instanceId: string): void {
      const n = counts.get(instanceId);
      if (n === undefined) return; // an unmatched end() never drives a count below 0
      if (n <= 1) counts.delete(instanceId);
      else counts.set(instanceId, n - 1);
    },
    inFlight(instanceId: string): number {
      return counts.get(instanceId) ?? 0;
    },
  };
}
