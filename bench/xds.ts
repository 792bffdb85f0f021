/**
 * npm run bench -- xds
 *
 * A registry change reaching PODREG_BENCH_CHANNELS (100) real grpc-js-xds
 * channels through podreg's xDS server, with PODREG_BENCH_ENDPOINTS (1,000)
 * endpoints in the service's EDS resource, PODREG_BENCH_CHANGES (20) changes
 * of each kind, the channels in PODREG_BENCH_WORKERS (2) child processes.
 * What is measured and why: bench/lib/xds.ts. `bench scale` runs the same at
 * 1,000 and 10,000 endpoints. It asserts nothing.
 */
import { xdsBench, xdsRows, XDS_HEADERS } from "./lib/xds.js";
import { num, percentile, table } from "./lib/report.js";

const r = await xdsBench({
  channels: Number(process.env.PODREG_BENCH_CHANNELS ?? 100),
  endpoints: Number(process.env.PODREG_BENCH_ENDPOINTS ?? 1000),
  changes: Number(process.env.PODREG_BENCH_CHANGES ?? 20),
  workers: Number(process.env.PODREG_BENCH_WORKERS ?? 2),
  debounceMs: 100,
  progress: (l) => process.stderr.write(`  ${l}\n`),
});
console.log(`\nxds: ${r.added.sent.length / r.channels} changes of each kind x ${r.channels} grpc-js-xds channels (own ADS stream each, in ${r.workers} processes), ${num(r.endpoints)} endpoints in the EDS resource; subscribed in ${num(r.subscribeMs)} ms\n`);
console.log(table(XDS_HEADERS, xdsRows(r, { num, percentile })));
console.log("\n   Istio: 100 ms debounce, convergence usually under 1 s");
process.exit(0);
