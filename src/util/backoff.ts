/**
 * Jittered exponential backoff, as client-go's reflector uses
 * (800ms doubling to 30s): a fleet of consumers that lose the API server
 * together must not come back in lockstep.
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Share of each delay that is random, 0..1. */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 800;
    this.maxMs = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
    this.jitter = opts.jitter ?? 0.5;
    this.random = opts.random ?? Math.random;
  }

  /** The next delay: base * (1 - jitter + jitter * random), base growing to maxMs. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    if (base < this.maxMs) this.attempt++;
    return Math.round(base * (1 - this.jitter + this.jitter * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
