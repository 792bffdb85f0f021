/** The API server's errors (classes in src/errors.ts, one per code) and the tests the kube layer branches on. */
import { KubeConflictError, KubeGoneError, KubeNotFoundError } from "../errors.js";

export {
  KubeApiError,
  KubeUnreachableError,
  KubeUnauthorizedError,
  KubeForbiddenError,
  KubeNotFoundError,
  KubeConflictError,
  KubeGoneError,
  KubeInvalidError,
  KubeStatusError,
  WatchInactiveError,
  WatchBadLineError,
  kubeApiError,
} from "../errors.js";

export const isGone = (err: unknown): boolean => err instanceof KubeGoneError;
export const isConflict = (err: unknown): boolean => err instanceof KubeConflictError;
export const isNotFound = (err: unknown): boolean => err instanceof KubeNotFoundError;
