import { Command, InvalidArgumentError, Option } from "commander";
import { fail, openRegistry, registryOptions, type RegistryFlags } from "../common.js";

function parseMeta(value: string, prev: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError(`expected k=v, got ${JSON.stringify(value)}`);
  return { ...prev, [value.slice(0, i)]: value.slice(i + 1) };
}

function parseIntArg(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
    return n;
  };
}

export function registerCommand(): Command {
  return registryOptions(new Command("register"))
    .description("register this pod's service and stay in the foreground; deregister on SIGTERM/SIGINT")
    .requiredOption("--service <name>", "service (or RPC interface) name")
    .requiredOption("--port <n>", "port", parseIntArg("--port"))
    .option("--protocol <p>", "protocol", "http")
    .addOption(new Option("--weight <w>", "weight").argParser(Number).default(100))
    .option("--host <ip>", "address to advertise (default: the pod IP)")
    .option("--meta <k=v>", "metadata, repeatable", parseMeta, {})
    .action(async (o: RegistryFlags & { service: string; port: number; protocol: string; weight: number; host?: string; meta: Record<string, string> }) => {
      let reg;
      try {
        reg = openRegistry(o);
        await reg.register({ service: o.service, port: o.port, protocol: o.protocol, weight: o.weight, host: o.host, metadata: o.meta });
      } catch (err) {
        await reg?.close().catch(() => {});
        fail(err);
      }
      console.log(`registered ${o.service} ${o.protocol}:${o.port}; Ctrl-C or SIGTERM deregisters`);
      const registry = reg;
      const stop = async (sig: string) => {
        try {
          await registry.close();
          console.log(`deregistered ${o.service} (${sig})`);
          process.exit(0);
        } catch (err) {
          fail(err);
        }
      };
      process.once("SIGTERM", () => void stop("SIGTERM"));
      process.once("SIGINT", () => void stop("SIGINT"));
      setInterval(() => {}, 1 << 30);
    });
}
