/**
 * Code written against the contracts, not a backend: anything that discovers
 * (kube-pods, memory, ...) is a Discovery; only sources that take
 * registrations are Registrars. Here with the in-memory registry, so it runs
 * anywhere.
 *
 *   node --import tsx examples/discovery.ts
 */
import { MemoryRegistry, subscribeBatches, type Discovery, type Registrar } from "podreg";

async function provide(r: Registrar): Promise<void> {
  await r.register({ service: "echo", port: 8080, host: "::1" });
  await r.register({ service: "echo", port: 8081, host: "10.0.0.2", weight: 50 });
}

async function consume(d: Discovery): Promise<string[]> {
  d.onStatus((s) => console.log(`status: ${s.type}`));
  await d.whenSynced();
  return d.instances("echo").map((i) => `${i.key} ${i.host} ${i.port} w=${i.weight}`);
}

const registry = new MemoryRegistry({ namespace: "shop" });
const batches: string[] = [];
const sub = subscribeBatches(registry, "*", (ev) => batches.push(ev.type === "batch" ? `${ev.service} (${ev.changes.length} of them)` : "snapshot"), { debounceMs: 20 });
await provide(registry);
console.log((await consume(registry)).join("\n"));
await new Promise((resolve) => setTimeout(resolve, 50));
console.log(`batches: ${batches.join("; ")}`);
console.log(`resolve("echo.payments.svc") = ${registry.resolve("echo.payments.svc")}`);
sub.close();
await registry.close();
