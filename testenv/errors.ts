/**
 * Why the test control plane could not be built or started. Codes:
 * PODREG_TESTENV_GO_MISSING, PODREG_TESTENV_GO_TOO_OLD, PODREG_TESTENV_GO_PROXY,
 * PODREG_TESTENV_BUILD, PODREG_TESTENV_START, PODREG_TESTENV_STATE,
 * PODREG_TESTENV_UNSAFE_PATH (a symlink, a non-folder or another user's file
 * where testenv keeps credentials; see files.ts).
 */
export class TestEnvError extends Error {
  override name = "TestEnvError";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}
