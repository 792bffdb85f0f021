import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadClusters } from "../../../src/cli/clusters.js";
import { openSources } from "../../../src/cli/sources.js";
import { ConfigError } from "../../../src/errors.js";
import { silentLogger } from "../../../src/util/logger.js";

describe("clusters file (--clusters)", () => {
  const dir = mkdtempSync(join(tmpdir(), "podreg-clusters-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it("reads entries with their kubeconfig, context and namespaces (YAML and JSON)", () => {
    const yaml = file("c.yaml", "clusters:\n  - name: east\n    context: ctx-east\n  - name: west\n    kubeconfig: /etc/west.kubeconfig\n    namespaces: [shop, pay]\n");
    assert.deepEqual(loadClusters(yaml), [
      { name: "east", context: "ctx-east" },
      { name: "west", kubeconfig: "/etc/west.kubeconfig", namespaces: ["shop", "pay"] },
    ]);
    const json = file("c.json", JSON.stringify({ clusters: [{ name: "a1" }] }));
    assert.deepEqual(loadClusters(json), [{ name: "a1" }]);
  });

  it("lists every problem with its line: duplicate names, bad ids, unknown keys, empty lists", () => {
    const bad = file("bad.yaml", "clusters:\n  - name: east\n  - name: east\n  - name: West_1\n    contxt: x\n");
    assert.throws(
      () => loadClusters(bad),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^invalid clusters file in .*bad\.yaml:/);
        assert.match(err.message, /clusters\.1\.name \(line 3\): cluster east is listed twice/);
        assert.match(err.message, /clusters\.2\.name \(line 4\): must be a DNS label/);
        assert.match(err.message, /clusters\.2\.contxt \(line 5\): unknown key/);
        return true;
      },
    );
    assert.throws(() => loadClusters(file("empty.yaml", "clusters: []\n")), /clusters \(line 1\): must list at least one cluster/);
    assert.throws(() => loadClusters(file("x.yaml", "clusters: [\n")), /clusters file .*x\.yaml:\d+:\d+: invalid YAML/);
    assert.throws(() => loadClusters(join(dir, "missing.yaml")), /clusters file .*missing\.yaml: file not found/);
    assert.throws(() => loadClusters(file("c.toml", "")), /unknown extension "\.toml"/);
  });

  it("openSources refuses --clusters with --context, and a context named twice", () => {
    const ok = file("ok.yaml", "clusters:\n  - name: east\n");
    const flags = { registry: "kube-pods", format: "native" as const, verifyHosts: true };
    assert.throws(() => openSources({ ...flags, clusters: ok, context: ["a"] }, { logger: silentLogger }), /--clusters and --context/);
    assert.throws(() => openSources({ ...flags, context: ["a", "a"] }, { logger: silentLogger }), /--context: a context is named twice/);
  });
});
