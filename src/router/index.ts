/**
 * Routing ahead of balancing (`podreg/router`): tag routing and weighted
 * subsets chosen by label selectors over instance metadata.
 */
export {
  createRouter,
  headerValues,
  DEFAULT_TAG_HEADER,
  DEFAULT_TAG_METADATA_KEY,
  type RequestHeaders,
  type RouteRequest,
  type RouteResult,
  type RouteRule,
  type RouteSplit,
  type Router,
  type RoutingConfig,
  type TagFallback,
  type TagRoutingConfig,
} from "./router.js";
export { parseSelector, formatSelector, lookup, SelectorError, type Labeled, type Requirement, type Selector } from "./selector.js";
