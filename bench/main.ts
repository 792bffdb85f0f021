/**
 * npm run bench -- <name>   runs one benchmark (npm run bench lists them).
 * Benchmarks print measurements beside their limit and peers from the same
 * run, as ratios; they assert nothing and are not part of npm test.
 */
const benches: Record<string, () => Promise<unknown>> = {
  registry: () => import("./registry.js"),
  pickers: () => import("./pickers.js"),
  fanout: () => import("./fanout.js"),
  services: () => import("./services.js"),
  xds: () => import("./xds.js"),
  "xds-delta": () => import("./xds-delta.js"),
  scale: () => import("./scale.js"),
  console: () => import("./console.js"),
};

const name = process.argv[2];
const run = name ? benches[name] : undefined;
if (!run) {
  console.log(`usage: npm run bench -- <${Object.keys(benches).join("|")}>`);
  process.exit(name ? 1 : 0);
}
await run();
