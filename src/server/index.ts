/**
 * podreg's server for embedding (`podreg/server`): the same REST API, SSE
 * watch and metrics as `podreg serve`, over any Discovery; a LocalRegistry
 * also takes writes. See docs/server.md.
 */
export { startServer, type PodregServer, type ServerOptions } from "./server.js";
export { WatchFanout, type WatchOptions, type WatchStats } from "./watch.js";
export { openApiDocument } from "./openapi.js";
export { loadToken } from "./http.js";
export type { SourceStats } from "./metrics.js";
