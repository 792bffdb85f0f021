export { PodregError, ConfigError, AbortedError } from "./errors.js";
