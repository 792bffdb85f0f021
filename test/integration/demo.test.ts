/**
 * `npm start` = `podreg demo`: on a machine with no Kubernetes, it comes up,
 * both versions serve calls, an instance leaves and another arrives, and
 * Ctrl-C (SIGINT) ends it with no process left behind. Run from dist/, as
 * `npm start` runs it (npm test builds it first).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { startBuiltCli } from "../support/cli.js";
import { testCluster } from "../support/cluster.js";

/** Processes whose command line mentions `text` (the demo's services carry the server URL). */
function processesWith(text: string): string[] {
  return execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(text) && !l.includes("ps -eo"));
}

describe("podreg demo", () => {
  it("serves v1 and the v2 canary, shows a removal and a newcomer, and Ctrl-C leaves nothing running", async (t) => {
    const t0 = Date.now();
    const demo = startBuiltCli(["demo", "--port", "0"], {});
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(await demo.line(/^podreg demo: server http:/, 20_000))![1]!;
    const first = await demo.line(/served\s+\d+ calls: .*v1-a/, 60_000);
    t.diagnostic(`first calls served ${Date.now() - t0} ms after start: ${first}`);
    assert.equal(processesWith(`demo-service --server ${url}`).length, 3, "three services, each its own process");
    await demo.line(/^- removed echo v1-b/, 60_000);
    await demo.line(/^\+ added\s+echo v1-c/, 60_000);
    await demo.line(/served.*v1-c\s+\d+/, 60_000);
    // Over the lines so far: v2 took roughly its 10%, v1 the rest.
    const counts = { v1: 0, v2: 0 };
    for (const m of demo.stdout().matchAll(/(v1-[abc]|v2-a)\s+(\d+)/g)) counts[m[1]!.startsWith("v1") ? "v1" : "v2"] += Number(m[2]);
    const share = counts.v2 / (counts.v1 + counts.v2);
    t.diagnostic(`v1 ${counts.v1} calls, v2 ${counts.v2} (${(share * 100).toFixed(1)}%)`);
    assert.ok(counts.v1 > 0 && counts.v2 > 0);
    assert.ok(share > 0.04 && share < 0.2, `canary share ${share}`);
    const r = (await (await fetch(`${url}/v1/services/echo`)).json()) as { instances: number };
    assert.equal(r.instances, 3, "v1-a, v2-a, v1-c");
    // The console's URL is printed, and it is served there.
    assert.match(demo.stdout(), new RegExp(`^  console   ${url}/ `, "m"));
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.match(await page.text(), /<title>podreg console<\/title>/);
    demo.proc.kill("SIGINT");
    const { code } = await demo.exited;
    assert.equal(code, 0, demo.stderr());
    assert.match(demo.stdout(), /demo stopped: every service deregistered, no process left/);
    assert.deepEqual(processesWith(`demo-service --server ${url}`), []);
    await assert.rejects(fetch(`${url}/healthz`), "the server is gone too");
  });

  it("--kubeconfig: the same story with the services as pods, the server watching the API server; the pods are gone at exit", async () => {
    const c = await testCluster();
    const ns = `podreg-demo-${Date.now().toString(36)}`;
    const demo = startBuiltCli(["demo", "--port", "0", "--kubeconfig", c.kubeconfigPath, "-n", ns], {});
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(await demo.line(/^podreg demo: server http:.*watching pods in namespace/, 30_000))![1]!;
    await demo.line(/served\s+\d+ calls: .*v1-a\s+\d+.*v2-a\s+\d+/, 60_000);
    const core = c.kc.makeApiClient(CoreV1Api);
    const pods = await core.listNamespacedPod({ namespace: ns });
    assert.deepEqual(pods.items.map((p) => p.metadata?.name).sort(), ["demo-echo-v1-a", "demo-echo-v1-b", "demo-echo-v2-a"]);
    const svc = (await (await fetch(`${url}/v1/services/${encodeURIComponent(`${ns}/echo`)}`)).json()) as { instances: number; sources: string[] };
    assert.deepEqual([svc.instances, svc.sources], [3, ["kube-pods"]]);
    // Each service is a process of its own: on a loaded 2-core machine one can take many seconds to start.
    await demo.line(/^- removed echo v1-b/, 60_000);
    await demo.line(/^\+ added\s+echo v1-c/, 60_000);
    await demo.line(/served.*v1-c\s+\d+/, 60_000);
    demo.proc.kill("SIGINT");
    const { code } = await demo.exited;
    assert.equal(code, 0, demo.stderr());
    assert.deepEqual((await core.listNamespacedPod({ namespace: ns })).items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name), []);
    assert.deepEqual(processesWith(`--pod ${ns}/`), []);
  });
});
