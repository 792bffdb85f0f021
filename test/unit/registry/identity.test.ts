import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ownNamespace, podIdentity } from "../../../src/registry/kube-pods/identity.js";

describe("which pod this process is", () => {
  const noSa = join(tmpdir(), "podreg-no-such-sa-dir");
  it("POD_NAME / POD_NAMESPACE first, then HOSTNAME and the service-account file, then the context's namespace", () => {
    assert.deepEqual(podIdentity({ env: { POD_NAME: "p", POD_NAMESPACE: "ns", HOSTNAME: "h" }, serviceAccountDir: noSa, fallbackNamespace: "ctx" }), { namespace: "ns", name: "p" });
    const sa = mkdtempSync(join(tmpdir(), "podreg-sa-"));
    writeFileSync(join(sa, "namespace"), "from-sa\n");
    assert.deepEqual(podIdentity({ env: { HOSTNAME: "h" }, serviceAccountDir: sa, fallbackNamespace: "ctx" }), { namespace: "from-sa", name: "h" });
    // Outside a pod: no Downward API, no service account; the kubeconfig context names the namespace.
    assert.deepEqual(podIdentity({ env: { POD_NAME: "laptop" }, serviceAccountDir: noSa, fallbackNamespace: "ctx" }), { namespace: "ctx", name: "laptop" });
    assert.equal(ownNamespace({ env: {}, serviceAccountDir: noSa, contextNamespace: "ctx" }), "ctx");
  });

  it("names what is missing, with PODREG_POD_IDENTITY", () => {
    assert.throws(() => podIdentity({ env: {}, serviceAccountDir: noSa }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "PODREG_POD_IDENTITY");
      assert.match(e.message, /pod name: unset, namespace: unset.*POD_NAME and POD_NAMESPACE/);
      return true;
    });
  });
});
