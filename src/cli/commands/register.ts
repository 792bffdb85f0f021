import { Command, InvalidArgumentError, Option } from "commander";
import { codecByName } from "../../registry/codecs/index.js";
import { validateSpec, type RegistrationSpec } from "../../registry/registry.js";
import { AbortedError } from "../../errors.js";
import { escapeControl } from "../../util/text.js";
import { fail, integerArg, numberArg, openRegistry, registryOptions, timeoutOption, type RegistryFlags } from "../common.js";
import { scopedSignal } from "../../util/signal.js";

function parseMeta(value: string, prev: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError(`expected k=v, got ${JSON.stringify(value)}`);
  return { ...prev, [value.slice(0, i)]: value.slice(i + 1) };
}

type RegisterFlags = RegistryFlags & {
  service: string;
  port: number;
  protocol?: string;
  weight: number;
  host?: string;
  meta: Record<string, string>;
  timeout: number;
  deregisterTimeout: number;
  allowAnyHost?: boolean;
};

export function registerCommand(): Command {
  return registryOptions(new Command("register"))
    .description("register this pod's service and stay in the foreground; deregister on SIGTERM/SIGINT")
    .requiredOption("--service <name>", "service (or RPC interface) name")
    .requiredOption("--port <n>", "port", integerArg("--port", 1, 65535))
    .option("--protocol <p>", "protocol (default: http; dubbo with --format dubbo-go)")
    .addOption(new Option("--weight <w>", "weight").argParser(numberArg("--weight", 0)).default(100))
    .option("--host <ip>", "address to advertise (default: the pod IP); must be a pod IP or declared in podreg.io/hosts")
    .option("--allow-any-host", "advertise --host even if the pod does not own or declare it")
    .option("--meta <k=v>", "metadata, repeatable", parseMeta, {})
    .addOption(timeoutOption("bound on the registration, retries included", 30_000))
    .addOption(new Option("--deregister-timeout <ms>", "bound on deregistration at exit, retries included").argParser(integerArg("--deregister-timeout", 1, 3_600_000)).default(5000))
    .action(async (o: RegisterFlags) => {
      let spec: RegistrationSpec;
      try {
        // Checked before any configuration is read: a typo must not look like a cluster problem.
        const v = validateSpec({ service: o.service, port: o.port, protocol: o.protocol, weight: o.weight, host: o.host, metadata: o.meta }, codecByName(o.format).defaultProtocol);
        spec = { ...v, host: o.host };
      } catch (err) {
        fail(err);
      }
      const name = `${escapeControl(spec.service)} ${spec.protocol}:${spec.port}`;
      // Handlers go in before anything is written: a SIGTERM that lands between the PATCH and the
      // "registered" line must deregister, not kill the process with the entry left behind.
      const registering = new AbortController();
      let registry: ReturnType<typeof openRegistry> | undefined;
      let registered = false;
      let signals = 0;
      let startedAt = 0;
      const stop = async (sig: string) => {
        try {
          await registry?.close();
          console.log(`deregistered ${escapeControl(spec.service)} (${sig})`);
          process.exit(0);
        } catch (err) {
          fail(err);
        }
      };
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals === 1) {
          startedAt = Date.now();
          // Still registering: abort it; the failure path below closes (and so deregisters) and exits.
          if (!registered) registering.abort(new AbortedError(`registration interrupted by ${sig}`));
          else void stop(sig);
          return;
        }
        if (signals === 2) {
          // Deregistering is bounded by --deregister-timeout; abandoning it silently would leave the entry behind.
          const left = Math.max(0, o.deregisterTimeout - (Date.now() - startedAt)) / 1000;
          console.error(`podreg: still deregistering ${name} (at most ${left.toFixed(1)}s more); a third signal abandons it`);
          return;
        }
        console.error(`podreg: PODREG_DEREGISTRATION: abandoned on ${sig}: ${name} may still be registered`);
        process.exit(1);
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      try {
        registry = openRegistry(o, { allowAnyHost: o.allowAnyHost, deregisterTimeoutMs: o.deregisterTimeout });
        const bounded = scopedSignal([registering.signal], o.timeout);
        try {
          await registry.register(spec, { signal: bounded.signal });
        } finally {
          bounded.dispose();
        }
      } catch (err) {
        try {
          await registry?.close();
        } catch (closeErr) {
          fail(closeErr);
        }
        fail(err);
      }
      registered = true;
      console.log(`registered ${name}; Ctrl-C or SIGTERM deregisters`);
      setInterval(() => {}, 1 << 30);
    });
}
