import { Command } from "commander";
import { NoInstanceError } from "../../errors.js";
import { fail, openForReading, registryOptions, syncOrFail, timeoutOption, type RegistryFlags } from "../common.js";
import { instanceJson, instanceTable } from "../format.js";
import { terminalJson } from "../../util/text.js";

export function lsCommand(): Command {
  return registryOptions(new Command("ls"))
    .description("list registered instances")
    .argument("[service]", "only this service")
    .option("--json", "JSON array of instances")
    .addOption(timeoutOption("how long to wait for the first sync", 15_000))
    .action(async (service: string | undefined, o: RegistryFlags & { json?: boolean; timeout: number }) => {
      const reg = openForReading(o);
      try {
        await syncOrFail(reg, o.timeout);
        const list = service ? reg.instances(service) : reg.services().flatMap((s) => reg.instances(s));
        // A name that matches nothing is an error, not an empty table: it is usually a typo or the wrong namespace.
        if (service && list.length === 0) {
          const known = reg.services();
          throw new NoInstanceError(reg.resolve(service), `not registered (${known.length === 0 ? "no services" : `services: ${known.slice(0, 10).join(", ")}${known.length > 10 ? ", ..." : ""}`})`);
        }
        console.log(o.json ? terminalJson(list.map(instanceJson), 2) : instanceTable(list));
        await reg.close();
      } catch (err) {
        await reg.close().catch(() => {});
        fail(err);
      }
    });
}
