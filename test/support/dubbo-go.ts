/**
 * The dubbo-go peer binary (testenv/go/dubbogo) for a test file: the one
 * `npm test` built beforehand, or, for a file run on its own, built here
 * (first run only). When it can't be had, tests fail with the reason.
 */
import { ensureDubboGoPeer } from "../../testenv/index.js";

let shared: Promise<string> | undefined;

export function dubboGoPeerBinary(): Promise<string> {
  shared ??= (async () => {
    const failed = process.env.PODREG_TESTENV_DUBBOGO_ERROR;
    if (failed) throw new Error(`the dubbo-go peer could not be built: ${failed}`);
    return (await ensureDubboGoPeer()).path;
  })();
  return shared;
}
