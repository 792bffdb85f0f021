/** What the benchmarks' child processes share: a settled heap reading and a polled wait. */

/** heapUsed after three gc() passes, each followed by a turn of the event loop (finalizers, weak refs). Needs node --expose-gc. */
export async function settledHeap(): Promise<number> {
  const gc = globalThis.gc;
  if (!gc) throw new Error("run with node --expose-gc");
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

/** Resolves once check() holds, polling every `everyMs`; rejects after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs: number, everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
