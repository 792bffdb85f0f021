import { Command } from "commander";
import { fail, openForReading, registryOptions, statusLine, syncOrFail, timeoutOption, type RegistryFlags } from "../common.js";
import { eventLines } from "../format.js";

export function watchCommand(): Command {
  return registryOptions(new Command("watch"))
    .description("print instances as they are added, updated and removed (the current ones first, as added)")
    .argument("[service]", "only this service")
    .option("--json", "one JSON object a line: {type, instance}")
    .addOption(timeoutOption("how long to wait for the first sync", 15_000))
    .action(async (service: string | undefined, o: RegistryFlags & { json?: boolean; timeout: number }) => {
      const reg = openForReading(o);
      reg.subscribe(service ?? "*", (ev) => {
        for (const line of eventLines(ev, Boolean(o.json))) process.stdout.write(line + "\n");
      });
      try {
        await syncOrFail(reg, o.timeout);
      } catch (err) {
        await reg.close().catch(() => {});
        fail(err);
      }
      // Outages after the first sync: one line when the API server is lost, one when it answers again.
      reg.onStatus((ev) => {
        const line = statusLine(ev, o.server ? "podreg server" : "API server");
        if (line) process.stderr.write(line + "\n");
      });
      const stop = () => void reg.close().then(() => process.exit(0));
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
}
