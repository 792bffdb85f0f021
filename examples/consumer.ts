/**
 * A consumer: the instances of `echo` in this namespace, printed as they
 * change, until it has seen one; then it closes and exits.
 *
 *   node --import tsx examples/consumer.ts
 */
import { KubePodsRegistry, type Instance } from "podreg";

const registry = new KubePodsRegistry(); // discovers in its own namespace
const show = (list: readonly Instance[]) => list.map((i) => `${i.host}:${i.port} (${i.metadata.version ?? "-"})`).join(", ") || "none";

let seen = false;
const sub = registry.subscribe("echo", (ev) => {
  // The snapshot comes first, before whenSynced() resolves; then added / updated / removed.
  if (ev.type === "snapshot") console.log(`echo (revision ${ev.revision}): ${show(ev.instances)}`);
  else console.log(`${ev.type} ${ev.instance.host}:${ev.instance.port} (revision ${ev.revision})`);
  seen ||= registry.instances("echo").length > 0;
});
await registry.whenSynced();
while (!seen) await new Promise((resolve) => setTimeout(resolve, 100));
sub.close();
await registry.close(); // stops the watch, so the process can exit
