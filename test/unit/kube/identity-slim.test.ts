import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { slimPodTransform } from "../../../src/kube/pods.js";
import { ownNamespace, podIdentity } from "../../../src/registry/kube-pods/identity.js";

describe("pod identity", () => {
  const sa = mkdtempSync(join(tmpdir(), "podreg-sa-"));
  writeFileSync(join(sa, "namespace"), "from-file\n");
  const none = join(sa, "missing");

  it("prefers the Downward API, then HOSTNAME and the service-account namespace", () => {
    assert.deepEqual(podIdentity({ env: { POD_NAME: "p", POD_NAMESPACE: "n", HOSTNAME: "h" }, serviceAccountDir: sa }), { name: "p", namespace: "n" });
    assert.deepEqual(podIdentity({ env: { HOSTNAME: "h" }, serviceAccountDir: sa }), { name: "h", namespace: "from-file" });
    assert.equal(ownNamespace({ env: {}, serviceAccountDir: sa, contextNamespace: "ctx" }), "from-file");
    assert.equal(ownNamespace({ env: {}, serviceAccountDir: none, contextNamespace: "ctx" }), "ctx");
    assert.equal(ownNamespace({ env: {}, serviceAccountDir: none }), "default");
  });

  it("fails with PODREG_POD_IDENTITY and the fix when it cannot tell", () => {
    assert.throws(() => podIdentity({ env: { HOSTNAME: "h" }, serviceAccountDir: none }), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, "PODREG_POD_IDENTITY");
      assert.match(err.message ?? "", /POD_NAMESPACE/);
      return true;
    });
    rmSync(sa, { recursive: true, force: true });
  });
});

describe("slim pods", () => {
  const transform = slimPodTransform(["podreg.io/annotation"]);
  const raw = {
    metadata: {
      name: "p",
      namespace: "n",
      uid: "u",
      resourceVersion: "42",
      labels: { app: "a" },
      annotations: { "podreg.io/annotation": "v", "kubectl.kubernetes.io/last-applied-configuration": "{...big...}" },
      deletionTimestamp: "2026-01-01T00:00:00Z",
    },
    spec: { nodeName: "node-9", containers: [{ name: "c", image: "i" }] },
    status: { podIP: "10.0.0.1", podIPs: [{ ip: "10.0.0.1" }, { ip: "fd00::1" }], phase: "Running", startTime: "2026-01-01T00:00:00Z", conditions: [{ type: "Ready", status: "True" }] },
  };

  it("keeps what discovery needs and nothing else", () => {
    const p = transform(raw);
    assert.deepEqual(p, {
      namespace: "n",
      name: "p",
      uid: "u",
      resourceVersion: "42",
      labels: { app: "a" },
      annotations: { "podreg.io/annotation": "v" },
      nodeName: "node-9",
      podIP: "10.0.0.1",
      podIPs: ["10.0.0.1", "fd00::1"],
      phase: "Running",
      ready: true,
      terminating: true,
      startTime: Date.parse("2026-01-01T00:00:00Z"),
    });
  });

  it("reads a pod without status as not ready, without IP", () => {
    const p = transform({ metadata: { name: "x", namespace: "n", resourceVersion: "1" } });
    assert.equal(p.ready, false);
    assert.equal(p.podIP, undefined);
    assert.deepEqual(p.podIPs, []);
    assert.equal(p.terminating, false);
    assert.equal(p.startTime, undefined);
  });
});
