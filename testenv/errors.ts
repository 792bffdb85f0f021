/**
 * Why the test control plane (or a test peer) could not be built or started. Codes:
 * PODREG_TESTENV_GO_MISSING, PODREG_TESTENV_GO_TOO_OLD, PODREG_TESTENV_GO_PROXY,
 * PODREG_TESTENV_BUILD, PODREG_TESTENV_START, PODREG_TESTENV_STATE,
 * PODREG_TESTENV_PYTHON_MISSING (no python3 with venv, which Envoy's install
 * needs), PODREG_TESTENV_PIP (pip could not install Envoy's wheel),
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
