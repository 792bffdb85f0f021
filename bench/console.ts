/**
 * npm run bench -- console
 *
 * The console in Debian's Chromium (playwright-core) against a podreg
 * server holding PODREG_BENCH_SERVICES (1,000) services x
 * PODREG_BENCH_INSTANCES (10) instances in its local registry:
 * - time to first render: navigation → the table's first page (500 service
 *   rows, the rest behind "Show more") with the count of all of them;
 * - a change reaching the page: a registration → its row on the services
 *   view, p50/p99 over PODREG_BENCH_CHANGES (20).
 * The FLOOR for each: the same page receiving the same watch stream with a
 * bare EventSource (the snapshot parsed, nothing rendered), and a change's
 * event arriving there. It asserts nothing.
 */
import { chromium } from "playwright-core";
import { LocalRegistry } from "../src/registry/local/registry.js";
import { startServer } from "../src/server/server.js";
import { ensureChromium } from "../testenv/index.js";
import { num, percentile, ratio, table } from "./lib/report.js";

const S = Number(process.env.PODREG_BENCH_SERVICES ?? 1000);
const N = Number(process.env.PODREG_BENCH_INSTANCES ?? 10);
const CHANGES = Number(process.env.PODREG_BENCH_CHANGES ?? 20);
const REPS = Number(process.env.PODREG_BENCH_REPS ?? 5);

/** The console renders 500 rows, then more on demand (web/src/components.tsx PAGE); the count line covers them all. */
const FIRST_PAGE = Math.min(S, 500);
const rowsShown = `document.querySelectorAll("[data-testid=services] tbody tr").length === ${FIRST_PAGE} && document.querySelector("[data-testid=service-count]")?.textContent?.startsWith("${S} of ")`;

async function main(): Promise<void> {
  const local = new LocalRegistry({ namespace: "bench" });
  for (let s = 0; s < S; s++) {
    for (let i = 0; i < N; i++) await local.add({ service: `svc-${s}`, host: `10.${(s >> 8) & 255}.${s & 255}.${i + 1}`, port: 8080, kind: "persistent", id: `s${s}-${i}`, metadata: { version: i % 3 ? "v1" : "v2" } });
  }
  const server = await startServer({ discovery: local, registrar: local });
  const browser = await chromium.launch({ executablePath: await ensureChromium() });
  // The bench's probes are page scripts as text, which the console's CSP (rightly) refuses: bypassed for the probes only.
  const page = await (await browser.newContext({ bypassCSP: true })).newPage();
  const firstRender: number[] = [];
  const floorSnapshot: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = Date.now();
    await page.goto(server.url);
    await page.waitForFunction(rowsShown, undefined, { timeout: 60_000, polling: 10 });
    firstRender.push(Date.now() - t0);
    // The floor: the same stream into the same page, parsed, not rendered.
    floorSnapshot.push(
      (await page.evaluate(`new Promise((resolve) => {
        const t = performance.now();
        const es = new EventSource("v1/watch");
        es.addEventListener("snapshot", (e) => { JSON.parse(e.data); es.close(); resolve(performance.now() - t); });
      })`)) as number,
    );
  }
  // Changes: a new service registered → its row on the services view; the floor, its event on a bare EventSource.
  await page.goto(server.url);
  await page.waitForFunction(rowsShown, undefined, { timeout: 60_000 });
  // Page scripts as text: this program is typed for Node, not the DOM.
  await page.evaluate(`(() => {
    window.__events = new Map();
    const es = new EventSource("v1/watch");
    es.addEventListener("added", (e) => window.__events.set(JSON.parse(e.data).instance.service, performance.now() + performance.timeOrigin));
  })()`);
  await page.waitForTimeout(1000);
  const change: number[] = [];
  const floorChange: number[] = [];
  for (let k = 0; k < CHANGES; k++) {
    const name = `new-${k}`;
    const t0 = Date.now();
    await local.add({ service: name, host: "10.255.0.1", port: 80, kind: "persistent", id: name });
    await page.waitForSelector(`tr[data-key='bench/${name}']`, { timeout: 10_000 });
    change.push(Date.now() - t0);
    const at = (await page.evaluate(`window.__events.get(${JSON.stringify(name)})`)) as number | undefined;
    if (at !== undefined) floorChange.push(at - t0);
    await page.waitForTimeout(100);
  }
  const row = (name: string, xs: number[]) => [name, num(percentile(xs, 50)), num(percentile(xs, 99)), num(Math.max(...xs))];
  console.log(`\nconsole: ${S} services x ${N} instances (${S * N} instances), Chromium, ${REPS} page loads and ${CHANGES} changes\n`);
  console.log(
    table(
      ["", "p50 ms", "p99 ms", "max ms"],
      [
        row("FLOOR: snapshot received and parsed (bare EventSource)", floorSnapshot),
        row(`first render: the first ${FIRST_PAGE} service rows, ${S} counted`, firstRender),
        row("FLOOR: a change's event received (bare EventSource)", floorChange),
        row("a change reaching the page: its row shown", change),
      ],
    ),
  );
  console.log(`\n   first render / floor: ${ratio(percentile(firstRender, 50), percentile(floorSnapshot, 50))}; change / floor: ${ratio(percentile(change, 50), percentile(floorChange, 50))}`);
  await browser.close();
  await server.close();
  await local.close();
}

await main();
process.exit(0);
