import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";

const run = promisify(execFile);
const cli = fileURLToPath(new URL("../../testenv/cli.ts", import.meta.url));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("npm run testenv -- up / down", () => {
  it("starts a control plane a plain client can use, and down leaves no process behind", { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "podreg-testenv-cli-"));
    try {
      const upRes = await run(process.execPath, ["--import", "tsx", cli, "up", "--dir", dir], { timeout: 170_000 });
      const m = /^export KUBECONFIG=(.+)$/m.exec(upRes.stdout);
      assert.ok(m, `up prints the export line; got: ${upRes.stdout}`);
      assert.equal(m[1], join(dir, "kubeconfig"));
      const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as { pid: number; pids: number[] };
      assert.equal(state.pids.length, 3, "etcd, kube-apiserver, kube-controller-manager");
      assert.ok([state.pid, ...state.pids].every(alive));

      const kc = new KubeConfig();
      kc.loadFromFile(m[1]);
      const nsList = await kc.makeApiClient(CoreV1Api).listNamespace();
      assert.ok(nsList.items.some((n) => n.metadata?.name === "kube-system"));

      await run(process.execPath, ["--import", "tsx", cli, "down", "--dir", dir], { timeout: 60_000 });
      assert.deepEqual([state.pid, ...state.pids].filter(alive), [], "no process left behind");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
