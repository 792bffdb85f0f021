/** Polls `check` until it returns a truthy value; fails with `what` and the last value after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const detail = lastErr instanceof Error ? lastErr.message : JSON.stringify(last);
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what} (last: ${detail})`);
}
