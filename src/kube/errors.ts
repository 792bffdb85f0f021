import { PodregError } from "../errors.js";

/** The API server answered with an error status. `status` is the HTTP code; `reason` the Status reason. */
export class KubeApiError extends PodregError {
  override name = "KubeApiError";
  readonly status: number;
  readonly reason: string | undefined;

  constructor(status: number, message: string, reason?: string) {
    super(message, { code: codeFor(status) });
    this.status = status;
    this.reason = reason;
  }
}

function codeFor(status: number): string {
  switch (status) {
    case 401:
      return "PODREG_KUBE_UNAUTHORIZED";
    case 403:
      return "PODREG_KUBE_FORBIDDEN";
    case 404:
      return "PODREG_KUBE_NOT_FOUND";
    case 409:
      return "PODREG_KUBE_CONFLICT";
    case 410:
      return "PODREG_KUBE_GONE";
    case 422:
      return "PODREG_KUBE_INVALID";
    default:
      return "PODREG_KUBE_API";
  }
}

/** No answer from the API server: refused, reset, DNS, TLS, or a request timeout. */
export class KubeUnreachableError extends PodregError {
  override name = "KubeUnreachableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "PODREG_KUBE_UNREACHABLE", ...options });
  }
}

/** A watch stream went silent for longer than its inactivity timeout, or sent a line that is not an event. */
export class WatchStreamError extends PodregError {
  override name = "WatchStreamError";
  constructor(code: "PODREG_KUBE_WATCH_INACTIVE" | "PODREG_KUBE_WATCH_BAD_LINE", message: string) {
    super(message, { code });
  }
}

export const isGone = (err: unknown): boolean => err instanceof KubeApiError && err.status === 410;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.status === 409;
export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;
