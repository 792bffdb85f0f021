export * from "./instance.js";
export * from "./events.js";
