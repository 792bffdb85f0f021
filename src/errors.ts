/**
 * Every error podreg throws, after undici's `lib/core/errors.js`: one class
 * per stable code, the codes a closed union, so callers branch on `err.code`
 * (or `instanceof`) and never on message text. docs/registry.md's table
 * lists the same codes; a test keeps the two in step. Imports nothing, so
 * every layer can use it.
 */

export type PodregErrorCode =
  | "PODREG_CONFIG"
  | "PODREG_SELECTOR"
  | "PODREG_ABORTED"
  | "PODREG_CLOSED"
  | "PODREG_DESTROYED"
  | "PODREG_TIMEOUT"
  | "PODREG_REGISTRATION"
  | "PODREG_DEREGISTRATION"
  | "PODREG_POD_IDENTITY"
  | "PODREG_ANNOTATION_TOO_LARGE"
  | "PODREG_ANNOTATION_CORRUPT"
  | "PODREG_CODEC_BASE64"
  | "PODREG_CODEC_JSON"
  | "PODREG_CODEC_SHAPE"
  | "PODREG_CODEC_SIZE"
  | "PODREG_CODEC_VERSION"
  | "PODREG_NO_INSTANCE"
  | "PODREG_NOT_FOUND"
  | "PODREG_BAD_REQUEST"
  | "PODREG_TOO_LARGE"
  | "PODREG_UNAUTHORIZED"
  | "PODREG_SERVER"
  | "PODREG_KUBE_CONFIG"
  | "PODREG_KUBE_UNREACHABLE"
  | "PODREG_KUBE_UNAUTHORIZED"
  | "PODREG_KUBE_FORBIDDEN"
  | "PODREG_KUBE_NOT_FOUND"
  | "PODREG_KUBE_CONFLICT"
  | "PODREG_KUBE_GONE"
  | "PODREG_KUBE_INVALID"
  | "PODREG_KUBE_API"
  | "PODREG_KUBE_WATCH_INACTIVE"
  | "PODREG_KUBE_WATCH_BAD_LINE";

type Options = { cause?: unknown };

/** The base of every podreg error; not thrown itself. */
export abstract class PodregError extends Error {
  override name = "PodregError";
  abstract readonly code: PodregErrorCode;
  constructor(message: string, options?: Options) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** Invalid configuration or arguments given by the caller. */
export class ConfigError extends PodregError {
  override name = "ConfigError";
  readonly code = "PODREG_CONFIG";
}

/** A label/metadata selector that does not parse; `position` is where it went wrong. */
export class SelectorError extends PodregError {
  override name = "SelectorError";
  readonly code = "PODREG_SELECTOR";
  constructor(
    readonly source: string,
    readonly position: number,
    problem: string,
  ) {
    super(`invalid selector ${JSON.stringify(source)}: ${problem} at position ${position}`);
  }
}

/** An operation stopped because its AbortSignal fired. */
export class AbortedError extends PodregError {
  override name = "AbortedError";
  readonly code = "PODREG_ABORTED";
  constructor(message = "operation aborted", options?: Options) {
    super(message, options);
  }
}

/** Used after close(): nothing new is started. */
export class ClosedError extends PodregError {
  override name = "ClosedError";
  readonly code = "PODREG_CLOSED";
}

/** Used after destroy(): nothing new is started and what was running was stopped. */
export class DestroyedError extends PodregError {
  override name = "DestroyedError";
  readonly code = "PODREG_DESTROYED";
}

/** Something did not happen within its time (a first sync, for instance). */
export class TimeoutError extends PodregError {
  override name = "TimeoutError";
  readonly code = "PODREG_TIMEOUT";
}

/** A registration was refused (bad service, port, host, protocol, weight, metadata; a duplicate; a host the pod may not advertise). */
export class RegistrationError extends PodregError {
  override name = "RegistrationError";
  readonly code = "PODREG_REGISTRATION";
}

/**
 * A deregistration did not complete within its deadline: the entries named in
 * `remaining` may still be advertised. `cause` is the last failure
 * (unreachable API server, a corrupt annotation, 403...).
 */
export class DeregistrationError extends PodregError {
  override name = "DeregistrationError";
  readonly code = "PODREG_DEREGISTRATION";
  readonly remaining: readonly string[];
  constructor(message: string, options: Options & { remaining: readonly string[] }) {
    super(message, options);
    this.remaining = options.remaining;
  }
}

/** This process's pod is unknown (no POD_NAME / POD_NAMESPACE) or does not exist. */
export class PodIdentityError extends PodregError {
  override name = "PodIdentityError";
  readonly code = "PODREG_POD_IDENTITY";
}

/** The registrations would not fit in the pod's annotations (256 KiB in all). */
export class AnnotationTooLargeError extends PodregError {
  override name = "AnnotationTooLargeError";
  readonly code = "PODREG_ANNOTATION_TOO_LARGE";
}

/** The own pod's registry annotation can't be read: it is not overwritten (it may hold others' entries). */
export class AnnotationCorruptError extends PodregError {
  override name = "AnnotationCorruptError";
  readonly code = "PODREG_ANNOTATION_CORRUPT";
}

/** Why an annotation (or one of its entries) was not usable; consumers skip it and log once. */
export abstract class CodecError extends PodregError {
  override name = "CodecError";
}
export class CodecBase64Error extends CodecError {
  readonly code = "PODREG_CODEC_BASE64";
}
export class CodecJsonError extends CodecError {
  readonly code = "PODREG_CODEC_JSON";
}
export class CodecShapeError extends CodecError {
  readonly code = "PODREG_CODEC_SHAPE";
}
export class CodecSizeError extends CodecError {
  readonly code = "PODREG_CODEC_SIZE";
}
export class CodecVersionError extends CodecError {
  readonly code = "PODREG_CODEC_VERSION";
}

/** No instance could take the call: none registered, none of the protocol, none ready, all failed. */
export class NoInstanceError extends PodregError {
  override name = "NoInstanceError";
  readonly code = "PODREG_NO_INSTANCE";
  constructor(
    readonly service: string,
    why: string,
    readonly protocol?: string,
  ) {
    super(`no instance of ${service}${protocol === undefined ? "" : ` (${protocol})`}: ${why}`);
  }
}

/** An instance or service the caller named does not exist (a lease that expired, an id never registered, a service with no instance). */
export class NotFoundError extends PodregError {
  override name = "NotFoundError";
  readonly code = "PODREG_NOT_FOUND";
}

/** A request to podreg's server that is not well formed: not JSON, a missing or unknown field, a bad parameter. */
export class BadRequestError extends PodregError {
  override name = "BadRequestError";
  readonly code = "PODREG_BAD_REQUEST";
}

/** A request body over the server's limit. */
export class TooLargeError extends PodregError {
  override name = "TooLargeError";
  readonly code = "PODREG_TOO_LARGE";
}

/** A write to podreg's server without its token, or with another. */
export class UnauthorizedError extends PodregError {
  override name = "UnauthorizedError";
  readonly code = "PODREG_UNAUTHORIZED";
}

/**
 * podreg's server answered with an error the client has no class for, or
 * broke the protocol (`status` undefined): what a client of the server sees
 * when the error is not one of the codes above.
 */
export class ServerError extends PodregError {
  override name = "ServerError";
  readonly code = "PODREG_SERVER";
  constructor(
    message: string,
    readonly status?: number,
    options?: Options,
  ) {
    super(message, options);
  }
}

/** No or bad Kubernetes configuration. */
export class KubeConfigError extends PodregError {
  override name = "KubeConfigError";
  readonly code = "PODREG_KUBE_CONFIG";
}

/** No answer from the API server: refused, reset, DNS, TLS, or no answer in time. */
export class KubeUnreachableError extends PodregError {
  override name = "KubeUnreachableError";
  readonly code = "PODREG_KUBE_UNREACHABLE";
}

/** The API server answered with an error. `status` is its HTTP status, when there was one; `reason` the Status reason. */
export abstract class KubeApiError extends PodregError {
  override name = "KubeApiError";
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly reason?: string,
  ) {
    super(message);
  }
}
export class KubeUnauthorizedError extends KubeApiError {
  readonly code = "PODREG_KUBE_UNAUTHORIZED";
}
export class KubeForbiddenError extends KubeApiError {
  readonly code = "PODREG_KUBE_FORBIDDEN";
}
export class KubeNotFoundError extends KubeApiError {
  readonly code = "PODREG_KUBE_NOT_FOUND";
}
export class KubeConflictError extends KubeApiError {
  readonly code = "PODREG_KUBE_CONFLICT";
}
export class KubeGoneError extends KubeApiError {
  readonly code = "PODREG_KUBE_GONE";
}
export class KubeInvalidError extends KubeApiError {
  readonly code = "PODREG_KUBE_INVALID";
}
/** Any other error status, or an answer that breaks the protocol (a LIST without a resourceVersion): `status` undefined then. */
export class KubeStatusError extends KubeApiError {
  readonly code = "PODREG_KUBE_API";
}

/** The class for an HTTP status of the API server. */
export function kubeApiError(status: number | undefined, message: string, reason?: string): KubeApiError {
  switch (status) {
    case 401:
      return new KubeUnauthorizedError(message, status, reason);
    case 403:
      return new KubeForbiddenError(message, status, reason);
    case 404:
      return new KubeNotFoundError(message, status, reason);
    case 409:
      return new KubeConflictError(message, status, reason);
    case 410:
      return new KubeGoneError(message, status, reason);
    case 422:
      return new KubeInvalidError(message, status, reason);
    default:
      return new KubeStatusError(message, status, reason);
  }
}

/** A watch went silent for longer than its inactivity timeout (it is resumed). */
export class WatchInactiveError extends PodregError {
  override name = "WatchInactiveError";
  readonly code = "PODREG_KUBE_WATCH_INACTIVE";
}

/** A watch sent a line that is not an event (it is resumed). */
export class WatchBadLineError extends PodregError {
  override name = "WatchBadLineError";
  readonly code = "PODREG_KUBE_WATCH_BAD_LINE";
}
