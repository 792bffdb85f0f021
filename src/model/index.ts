export * from "./instance.js";
export * from "./events.js";
export * from "./host.js";
export * from "./service-key.js";
