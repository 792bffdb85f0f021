/**
 * Error classes with stable `code`s, after undici's `lib/core/errors.js`:
 * callers branch on `err.code` (or `instanceof`), never on message text.
 */
export class PodregError extends Error {
  override name = "PodregError";
  readonly code: string;

  constructor(message: string, options?: { code?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code ?? "PODREG_ERR";
  }
}

/** Invalid configuration or arguments given by the caller. */
export class ConfigError extends PodregError {
  override name = "ConfigError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "PODREG_CONFIG", ...options });
  }
}

/** An operation stopped because its AbortSignal fired or its owner was closed. */
export class AbortedError extends PodregError {
  override name = "AbortedError";
  constructor(message = "operation aborted", options?: { cause?: unknown }) {
    super(message, { code: "PODREG_ABORTED", ...options });
  }
}
