/**
 * The console in a real browser (Debian's Chromium driven by playwright-core)
 * against a real server: services listed and filtered, changes arriving live,
 * writes only with the token (offline / online reaching a consumer), the xDS
 * clients view with a real grpc-js-xds client, and an axe-core scan of each
 * view. Screenshots of each view are kept in test-artifacts/console/.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { KubeConfig } from "@kubernetes/client-node";
import { chromium, type Browser, type Page } from "playwright-core";
import { KubeClient } from "../../src/kube/client.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import { silentLogger } from "../../src/util/logger.js";
import { AggregateDiscovery } from "../../src/registry/aggregate.js";
import { LocalRegistry } from "../../src/registry/local/registry.js";
import { MemoryRegistry } from "../../src/registry/memory.js";
import { startServer, type PodregServer } from "../../src/server/server.js";
import { startXdsServer, type XdsServer } from "../../src/server/xds/server.js";
import { ensureChromium } from "../../testenv/index.js";
import { eventually } from "../support/wait.js";
import { grpcBootstrap } from "../support/xds.js";

const TOKEN = "console-test-token-0123456789abcdef";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/console/", import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

async function browserPath(): Promise<string> {
  const failed = process.env.PODREG_TESTENV_CHROMIUM_ERROR;
  if (failed) throw new Error(`Chromium could not be installed: ${failed}`);
  return ensureChromium();
}

/** axe-core's serious and critical findings on the page as it is. */
async function axeProblems(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the console's CSP (rightly) refuses inline scripts.
  await page.evaluate(AXE);
  const result = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe("the console in a real Chromium", () => {
  let browser: Browser;
  let server: PodregServer;
  let xds: XdsServer;
  let local: LocalRegistry;
  let memory: MemoryRegistry;
  let agg: AggregateDiscovery;
  let dir: string;
  const closers: (() => Promise<unknown> | unknown)[] = [];
  const rows = (page: Page) => page.locator("[data-testid=services] tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-key")));
  const shot = async (page: Page, name: string) => {
    const path = join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    return path;
  };

  before(async () => {
    const executablePath = await browserPath();
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), "podreg-console-"));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    local = new LocalRegistry({ dataDir: dir, namespace: "shop" });
    memory = new MemoryRegistry({ namespace: "shop" });
    memory.set("legacy", [
      { id: "m:1", key: "shop/legacy", service: "legacy", host: "10.9.0.1", port: 80, protocol: "http", weight: 100, metadata: { version: "v1" }, labels: { app: "legacy" }, ready: false, source: "memory", origin: "shop/legacy-0", namespace: "shop" },
    ]);
    agg = new AggregateDiscovery({ sources: [local, memory] });
    closers.push(() => agg.close());
    await local.add({ service: "echo", host: "10.1.0.1", port: 8080, kind: "persistent", id: "echo-1", metadata: { version: "v1" } });
    await local.add({ service: "echo", host: "10.1.0.2", port: 8080, kind: "persistent", id: "echo-2", metadata: { version: "v2" } });
    await local.add({ service: "pay", host: "10.2.0.1", port: 9090, protocol: "grpc", kind: "persistent", id: "pay-1", metadata: { version: "v1" } });
    await agg.whenSynced();
    const config = { services: { echo: { balancer: { policy: "least_request" as const } }, ghost: { balancer: { policy: "ring_hash" as const } } } };
    xds = await startXdsServer({ discovery: agg, config });
    closers.push(() => xds.close());
    server = await startServer({ discovery: agg, registrar: local, token: TOKEN, config, stats: { xds } });
    closers.push(() => server.close());
    browser = await chromium.launch({ executablePath });
    closers.push(() => browser.close());
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("lists the services with where they come from; search and filters narrow the list; a service with none ready stands out", async () => {
    const page = await browser.newPage();
    const t0 = Date.now();
    await page.goto(server.url);
    await page.locator("[data-testid=services] tbody tr").first().waitFor();
    const firstRender = Date.now() - t0;
    assert.deepEqual(await rows(page), ["shop/echo", "shop/ghost", "shop/legacy", "shop/pay"]);
    const echo = page.locator("tr[data-key='shop/echo']");
    assert.match(await echo.innerText(), /echo\s+shop\s+local\s+http\s+2 \/ 2\s+least_request/);
    assert.match(await page.locator("tr[data-key='shop/legacy']").innerText(), /0 \/ 1 none ready/);
    assert.equal(await page.locator("tr.none-ready").count(), 1);
    assert.match(await page.locator("tr[data-key='shop/ghost']").innerText(), /0 \/ 0\s+ring_hash/, "named by the policy, provided by nothing: empty");
    console.log(`services view: first render ${firstRender} ms; screenshot ${await shot(page, "services")}`);

    await page.getByTestId("hide-empty").check();
    assert.deepEqual(await rows(page), ["shop/echo", "shop/legacy", "shop/pay"]);
    await page.getByTestId("search").fill("pa");
    assert.deepEqual(await rows(page), ["shop/pay"]);
    await page.getByTestId("search").fill("");
    await page.getByTestId("source").selectOption("memory");
    assert.deepEqual(await rows(page), ["shop/legacy"]);
    await page.getByTestId("source").selectOption("");
    await page.getByTestId("selector").fill("version=v2");
    assert.deepEqual(await rows(page), ["shop/echo"]);
    await page.getByTestId("selector").fill("version in (");
    assert.match(await page.locator("#sel-error").innerText(), /Selector:/);
    await page.getByTestId("selector").fill("");
    assert.match(await page.getByTestId("service-count").innerText(), /3 of 4 services/);
    await page.close();
  });

  it("changes arrive live, without a reload: a registration appears, a removal disappears", async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.locator("tr[data-key='shop/echo']").waitFor();
    const t0 = Date.now();
    const entry = await local.add({ service: "fresh", host: "10.3.0.1", port: 80, kind: "persistent", id: "fresh-1" });
    await page.locator("tr[data-key='shop/fresh']").waitFor({ timeout: 10_000 });
    const appeared = Date.now() - t0;
    await local.remove(entry.id);
    await page.locator("tr[data-key='shop/fresh']").waitFor({ state: "detached", timeout: 10_000 });
    console.log(`a registration reached the page in ${appeared} ms`);
    assert.match(await page.getByTestId("connection").innerText(), /^live · revision \d+/);
    await page.close();
  });

  it("a service of 1,200 instances renders 500 rows and pages on; the filter searches all of them", async () => {
    const many = Array.from({ length: 1200 }, (_, k) => ({ id: `big:${k}`, key: "shop/big", service: "big", host: `10.8.${k >> 8}.${k & 255}`, port: 80, protocol: "http", weight: 100, metadata: {}, labels: {}, ready: true, source: "memory", namespace: "shop" }));
    memory.set("big", many);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}/#/service/${encodeURIComponent("shop/big")}`);
      const rowsShown = () => page.locator("[data-testid=instances] tbody tr").count();
      await page.getByTestId("more-instances").waitFor();
      assert.equal(await rowsShown(), 500);
      assert.match(await page.getByTestId("more-instances").innerText(), /^Showing 500 of 1,200 instances\. Show 500 more$/);
      await page.getByTestId("more-instances").getByRole("button").click();
      assert.equal(await rowsShown(), 1000);
      await page.getByTestId("more-instances").getByRole("button").click();
      assert.equal(await rowsShown(), 1200);
      assert.equal(await page.getByTestId("more-instances").count(), 0, "all shown: no button");
      // A host sorted past the first page is still found.
      await page.getByTestId("instance-filter").fill("10.8.4.175");
      assert.deepEqual(await page.locator("[data-testid=instances] tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-host"))), ["10.8.4.175"]);
      await page.getByTestId("instance-filter").fill("");
      assert.equal(await rowsShown(), 500, "a new filter starts from the first page again");
    } finally {
      await page.close();
      memory.set("big", []);
    }
  });

  it("without the token the write controls are absent and the page says it is read-only; with it, offline and online reach a consumer", async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/#/service/${encodeURIComponent("shop/echo")}`);
    await page.locator("[data-testid=instances] tbody tr").nth(1).waitFor();
    assert.equal(await page.getByTestId("toggle-offline").count(), 0, "no write control without the token");
    assert.equal(await page.getByTestId("add-instance").count(), 0);
    assert.match(await page.locator(".access").innerText(), /Read-only/);
    assert.match(await page.getByTestId("policy").innerText(), /least_request/);
    assert.match(await page.locator(".sample").first().innerText(), /curl .*\/v1\/services\/shop%2Fecho\/instances/);

    await page.getByTestId("token").fill("wrong");
    await page.getByRole("button", { name: "Enable writes" }).click();
    await page.getByText("That is not this server's token.").waitFor();
    assert.equal(await page.getByTestId("toggle-offline").count(), 0);
    await page.getByTestId("token").fill(TOKEN);
    await page.getByRole("button", { name: "Enable writes" }).click();
    await page.getByTestId("toggle-offline").first().waitFor();

    // Offline: asks first; a consumer of the registry sees weight 0, then the weight restored.
    const row = page.locator("tr[data-host='10.1.0.1']");
    await row.getByTestId("toggle-offline").click();
    await page.getByRole("dialog").getByRole("button", { name: "Offline" }).click();
    await eventually("consumer sees weight 0", () => agg.instances("shop/echo").find((i) => i.host === "10.1.0.1")?.weight === 0);
    await page.getByTestId("notice").getByText("10.1.0.1:8080 is offline (weight 0)").waitFor();
    await row.getByText("offline").first().waitFor();
    console.log(`service view: screenshot ${await shot(page, "service")}`);
    await row.getByTestId("toggle-offline").click();
    await page.getByRole("dialog").getByRole("button", { name: "Online" }).click();
    await eventually("consumer sees it back", () => agg.instances("shop/echo").find((i) => i.host === "10.1.0.1")?.weight === 100);
    assert.equal(agg.instances("shop/echo").find((i) => i.host === "10.1.0.1")?.metadata["podreg.io/weight-before-offline"], undefined);
    // Cancel really cancels.
    await row.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    assert.equal(agg.instances("shop/echo").length, 2);
    // The timeline shows the two changes with their revisions.
    assert.match(await page.getByTestId("timeline").innerText(), /updated 10\.1\.0\.1:8080 at .* \(revision \d+\)/);
    await page.close();
  });

  it("the xDS view lists a real grpc-js-xds client with its versions per type", async () => {
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = grpcBootstrap(xds.address, "console-grpc-js");
    (await import("@grpc/grpc-js-xds")).register();
    const ch = new grpc.Channel("xds:///pay", grpc.credentials.createInsecure(), {});
    closers.push(() => ch.close());
    ch.getConnectivityState(true);
    await eventually("ACKed EDS", () => xds.clients().some((c) => c.types.eds?.acked), 20_000);
    const page = await browser.newPage();
    await page.goto(`${server.url}/#/xds`);
    const table = page.getByTestId("xds-clients");
    await table.getByText("console-grpc-js").waitFor();
    assert.match(await table.innerText(), /gRPC Node Pure JS[\s\S]*grpc[\s\S]*synced/);
    console.log(`xDS view: screenshot ${await shot(page, "xds")}`);
    await page.close();
  });

  it("axe-core finds no serious or critical problem in any view", async () => {
    const page = await browser.newPage();
    const views: [string, string][] = [
      ["services", "/"],
      ["service", `/#/service/${encodeURIComponent("shop/echo")}`],
      ["xds", "/#/xds"],
    ];
    for (const [name, path] of views) {
      await page.goto(server.url + path);
      await page.locator("h1").waitFor();
      await page.waitForTimeout(300);
      assert.deepEqual(await axeProblems(page), [], name);
    }
    // Narrow screens: the same page, readable on a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(server.url);
    await page.locator("[data-testid=services] tbody tr").first().waitFor();
    console.log(`phone width: screenshot ${await shot(page, "services-phone")}`);
    assert.deepEqual(await axeProblems(page), []);
    await page.close();
  });

  it("trouble is shown, never a blank page: a failing source, then the server gone", async () => {
    // A second server: the local registry beside a kube-pods source whose API server does not answer.
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "gone", server: "https://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "gone", cluster: "gone", user: "u", namespace: "shop" }],
      currentContext: "gone",
    });
    const client = new KubeClient(kc);
    const pods = new KubePodsRegistry({ client, namespaces: ["shop"], handleSignals: false, quietRetries: true, logger: silentLogger });
    const mine = new LocalRegistry({ namespace: "shop" });
    await mine.add({ service: "still-here", host: "10.4.0.1", port: 80, kind: "persistent", id: "still-1" });
    const both = new AggregateDiscovery({ sources: [mine, pods], logger: silentLogger });
    const s2 = await startServer({ discovery: both, registrar: mine, token: TOKEN });
    closers.push(async () => {
      await s2.close();
      await both.close();
      client.close();
    });
    const page = await browser.newPage();
    await page.goto(s2.url);
    await page.locator("tr[data-key='shop/still-here']").waitFor();
    const banner = page.getByRole("alert").filter({ hasText: "The source is failing" });
    await banner.waitFor({ timeout: 20_000 });
    assert.match(await banner.innerText(), /PODREG_KUBE_UNREACHABLE/);
    console.log(`failing source: screenshot ${await shot(page, "failing-source")}`);
    await s2.close();
    await page.getByRole("alert").filter({ hasText: /does not answer|lost the server/ }).first().waitFor({ timeout: 20_000 });
    assert.equal(await page.locator("tr[data-key='shop/still-here']").count(), 1, "what was seen stays on the page, marked stale");
    console.log(`server gone: screenshot ${await shot(page, "server-gone")}`);
    await page.close();
  });
});
