/**
 * Request routing ahead of load balancing: narrows a service's instances to
 * the ones a request may go to. Two stages, in order:
 *
 * 1. Tag routing (Dubbo's tag router), when `tag` is configured: a tagged
 *    request goes to instances whose metadata[metadataKey] equals its tag;
 *    tagged instances are reserved for tagged traffic, so an untagged request
 *    goes to untagged instances (all of them if there are none).
 * 2. Rules (Istio VirtualService weighted subsets): the first rule whose
 *    header match holds picks a split entry by weight and keeps the instances
 *    matching its subset selector.
 *
 * Routing filters O(instances) per call; callers that route often over the
 * same snapshot cache by snapshot.
 */
import { ConfigError } from "../errors.js";
import type { Instance } from "../model/instance.js";
import { parseSelector, type Selector } from "./selector.js";

export type TagFallback = "untagged" | "any" | "none";

export interface TagRoutingConfig {
  /** Request header carrying the tag. Default "x-podreg-tag". */
  header?: string;
  /** Instance metadata key holding its tag. Default "tag". */
  metadataKey?: string;
  /** Where a tagged request goes when no instance has its tag. Default "untagged". */
  fallback?: TagFallback;
}

export interface RouteSplit {
  /** A selector (see selector.ts) over metadata merged over labels. */
  subset: string;
  /** Relative weight, >= 0. */
  weight: number;
}

export interface RouteRule {
  name: string;
  /** Every header listed must match: exact, or a full-match regex when the value starts with "~". */
  match?: { headers?: Record<string, string> };
  split: RouteSplit[];
}

export interface RoutingConfig {
  tag?: TagRoutingConfig;
  rules?: RouteRule[];
}

export type RequestHeaders = Record<string, string | string[] | undefined>;

export interface RouteRequest {
  /** Overrides the tag header. */
  tag?: string;
  /** Header names are matched case-insensitively. */
  headers?: RequestHeaders;
}

export interface RouteResult {
  /** For tracing: e.g. "tag:gray", "rule:canary/version=v2", "default"; stages joined by " ". */
  route: string;
  /**
   * Names the instance subset chosen, for caching pickers by it: equal keys
   * mean equal subsets of one snapshot. Unlike `route` it does not carry a
   * request's unmatched tag, so the set of keys is bounded by the
   * configuration and the instances' tags, whatever requests send.
   */
  key: string;
  instances: Instance[];
}

export interface Router {
  route(instances: readonly Instance[], request: RouteRequest, random?: () => number): RouteResult;
}

export const DEFAULT_TAG_HEADER = "x-podreg-tag";
export const DEFAULT_TAG_METADATA_KEY = "tag";

interface CompiledSplit {
  subset: string;
  selector: Selector;
  weight: number;
}

interface CompiledRule {
  name: string;
  headers: { name: string; test: (value: string) => boolean }[];
  split: CompiledSplit[];
  total: number;
  /** Fallback order when the chosen subset is empty: weight descending, then config order. */
  byWeight: CompiledSplit[];
}

/** The values of header `name` (given lowercase), looked up case-insensitively. */
export function headerValues(headers: RequestHeaders | undefined, name: string): string[] {
  if (headers === undefined) return [];
  let v = headers[name];
  if (v === undefined) {
    // Node lowercases incoming names; others may not, so scan only on a miss.
    for (const [k, x] of Object.entries(headers)) if (k.toLowerCase() === name) v = x;
  }
  return v === undefined ? [] : typeof v === "string" ? [v] : v;
}

function compileHeaderMatch(rule: string, name: string, pattern: string): (v: string) => boolean {
  if (!pattern.startsWith("~")) return (v) => v === pattern;
  let re: RegExp;
  try {
    // Anchored: Istio's regex match is a full match (RE2 FullMatch).
    re = new RegExp(`^(?:${pattern.slice(1)})$`);
  } catch (err) {
    throw new ConfigError(`routing rule ${JSON.stringify(rule)}: header ${JSON.stringify(name)}: invalid regex ${JSON.stringify(pattern.slice(1))}`, { cause: err });
  }
  return (v) => re.test(v);
}

function compileRule(rule: RouteRule): CompiledRule {
  if (rule.split.length === 0) throw new ConfigError(`routing rule ${JSON.stringify(rule.name)}: split is empty`);
  const split = rule.split.map((s) => {
    if (!Number.isFinite(s.weight) || s.weight < 0) throw new ConfigError(`routing rule ${JSON.stringify(rule.name)}: weight of ${JSON.stringify(s.subset)} must be a finite number >= 0`);
    return { subset: s.subset, selector: parseSelector(s.subset), weight: s.weight };
  });
  const total = split.reduce((a, s) => a + s.weight, 0);
  if (total <= 0) throw new ConfigError(`routing rule ${JSON.stringify(rule.name)}: split weights are all 0`);
  const headers = Object.entries(rule.match?.headers ?? {}).map(([name, pattern]) => ({
    name: name.toLowerCase(),
    test: compileHeaderMatch(rule.name, name, pattern),
  }));
  const byWeight = split.map((s, i) => ({ s, i })).sort((a, b) => b.s.weight - a.s.weight || a.i - b.i).map((x) => x.s);
  return { name: rule.name, headers, split, total, byWeight };
}

/** Compiles `config` (selectors, regexes) once; throws ConfigError when it is invalid. */
export function createRouter(config: RoutingConfig = {}): Router {
  const tag = config.tag;
  const tagHeader = (tag?.header ?? DEFAULT_TAG_HEADER).toLowerCase();
  const tagKey = tag?.metadataKey ?? DEFAULT_TAG_METADATA_KEY;
  const fallback: TagFallback = tag?.fallback ?? "untagged";
  const rules = (config.rules ?? []).map(compileRule);

  // An empty value counts as no tag, as in Dubbo.
  const tagOf = (i: Instance): string | undefined => (Object.prototype.hasOwnProperty.call(i.metadata, tagKey) ? i.metadata[tagKey] || undefined : undefined);

  function byTag(instances: readonly Instance[], request: RouteRequest): { route?: string; key: string; instances: Instance[] } {
    const wanted = request.tag || headerValues(request.headers, tagHeader).find((v) => v !== "");
    const untagged = instances.filter((i) => tagOf(i) === undefined);
    const anyOrUntagged = () => (untagged.length > 0 ? { key: "untagged", instances: untagged } : { key: "all", instances: [...instances] });
    if (!wanted) return anyOrUntagged();
    const tagged = instances.filter((i) => tagOf(i) === wanted);
    if (tagged.length > 0) return { route: `tag:${wanted}`, key: `tag:${wanted}`, instances: tagged };
    const route = `tag:${wanted}->${fallback}`;
    if (fallback === "untagged") return { route, key: "untagged", instances: untagged };
    if (fallback === "any") return { route, key: "all", instances: [...instances] };
    return { route, key: "none", instances: [] };
  }

  function applies(rule: CompiledRule, headers: RequestHeaders | undefined): boolean {
    return rule.headers.every((h) => headerValues(headers, h.name).some(h.test));
  }

  function bySplit(rule: CompiledRule, instances: Instance[], random: () => number): { route: string; key: string; instances: Instance[] } {
    let r = random() * rule.total;
    // The last positive-weight entry catches float rounding at r ~ total.
    let chosen = rule.byWeight[0] as CompiledSplit;
    for (const s of rule.split) {
      if (s.weight <= 0) continue;
      chosen = s;
      if (r < s.weight) break;
      r -= s.weight;
    }
    const prefix = `rule:${rule.name}/${chosen.subset}`;
    const hit = instances.filter((i) => chosen.selector.matches(i));
    if (hit.length > 0) return { route: prefix, key: prefix, instances: hit };
    // The chosen subset is empty: the rule's other subsets by weight, then everything.
    for (const s of rule.byWeight) {
      if (s === chosen) continue;
      const alt = instances.filter((i) => s.selector.matches(i));
      if (alt.length > 0) return { route: `${prefix}->${s.subset}`, key: `rule:${rule.name}/${s.subset}`, instances: alt };
    }
    return { route: `${prefix}->*`, key: `rule:${rule.name}/*`, instances };
  }

  return {
    route(instances, request, random = Math.random) {
      const parts: string[] = [];
      const keys: string[] = [];
      let current: Instance[] = [...instances];
      if (tag !== undefined) {
        const t = byTag(instances, request);
        if (t.route !== undefined) parts.push(t.route);
        keys.push(t.key);
        current = t.instances;
      }
      const rule = current.length > 0 ? rules.find((r) => applies(r, request.headers)) : undefined;
      if (rule !== undefined) {
        const s = bySplit(rule, current, random);
        parts.push(s.route);
        keys.push(s.key);
        current = s.instances;
      }
      return { route: parts.length > 0 ? parts.join(" ") : "default", key: keys.length > 0 ? keys.join(" ") : "default", instances: current };
    },
  };
}
