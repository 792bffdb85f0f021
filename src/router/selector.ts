/**
 * Label selectors in Kubernetes' syntax (apimachinery's labels.Parse), matched
 * against an instance's metadata merged over its labels (metadata wins):
 *
 *   version=v2   version==v2   version!=v1   env in (gray, canary)
 *   env notin (prod)   canary   !canary      a=1,b in (x) (comma = AND)
 *
 * As in Kubernetes, `!=` and `notin` also match instances without the key, and
 * the empty selector matches everything. Words (keys and values) are any run of
 * characters other than whitespace and `,()=!`: metadata values are not
 * restricted to label syntax. Parsed once into requirements; matching is a few
 * lookups with no allocation.
 */
import { SelectorError } from "../errors.js";

export { SelectorError };
import type { Instance } from "../model/instance.js";

export type Requirement =
  | { readonly key: string; readonly op: "=" | "!="; readonly value: string }
  | { readonly key: string; readonly op: "in" | "notin"; readonly values: readonly string[] }
  | { readonly key: string; readonly op: "exists" | "!exists" };

/** Where a value comes from: metadata first, then labels. */
export type Labeled = Pick<Instance, "metadata" | "labels">;

export interface Selector {
  /** The text it was parsed from. */
  readonly source: string;
  readonly requirements: readonly Requirement[];
  /** All requirements hold for `instance` (metadata merged over labels). */
  matches(instance: Labeled): boolean;
  /** All requirements hold for a value lookup (undefined = key absent). */
  matchesLookup(get: (key: string) => string | undefined): boolean;
}

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** The value `instance` shows for `key`: metadata wins over labels. */
export function lookup(instance: Labeled, key: string): string | undefined {
  if (hasOwn(instance.metadata, key)) return instance.metadata[key];
  return hasOwn(instance.labels, key) ? instance.labels[key] : undefined;
}

const isWordChar = (c: string) => !/[\s,()=!]/.test(c);

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  private fail(problem: string, at = this.i): never {
    throw new SelectorError(this.s, at, problem);
  }
  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i] ?? "")) this.i++;
  }
  private peek(): string | undefined {
    return this.s[this.i];
  }
  private word(what: string, allowEmpty = false): string {
    const start = this.i;
    while (this.i < this.s.length && isWordChar(this.s[this.i] ?? "")) this.i++;
    if (this.i === start && !allowEmpty) this.fail(`expected ${what}`);
    return this.s.slice(start, this.i);
  }

  parse(): Requirement[] {
    const out: Requirement[] = [];
    this.ws();
    if (this.i === this.s.length) return out;
    for (;;) {
      out.push(this.requirement());
      this.ws();
      if (this.i === this.s.length) return out;
      if (this.peek() !== ",") this.fail('expected "," or end of selector');
      this.i++;
      this.ws();
    }
  }

  private requirement(): Requirement {
    if (this.peek() === "!") {
      this.i++;
      this.ws();
      return { key: this.word("a key after \"!\""), op: "!exists" };
    }
    const key = this.word("a key");
    this.ws();
    const c = this.peek();
    if (c === undefined || c === ",") return { key, op: "exists" };
    if (c === "=" || c === "!") {
      const at = this.i;
      if (c === "!") {
        this.i++;
        if (this.peek() !== "=") this.fail('expected "!="', at);
      }
      this.i++;
      if (c === "=" && this.peek() === "=") this.i++; // `==` is `=`, as in Kubernetes
      this.ws();
      // `k=` is allowed: it matches the empty value, as in Kubernetes.
      return { key, op: c === "=" ? "=" : "!=", value: this.word("a value", true) };
    }
    const opAt = this.i;
    const op = this.word("an operator");
    if (op !== "in" && op !== "notin") this.fail(`expected "=", "!=", "in", "notin", "," or end of selector, found ${JSON.stringify(op)}`, opAt);
    return { key, op, values: this.set() };
  }

  private set(): string[] {
    this.ws();
    if (this.peek() !== "(") this.fail('expected "("');
    this.i++;
    const values: string[] = [];
    for (;;) {
      this.ws();
      values.push(this.word("a value"));
      this.ws();
      const c = this.peek();
      this.i++;
      if (c === ")") return values;
      if (c !== ",") this.fail('expected "," or ")"', this.i - 1);
    }
  }
}

/** Parses `text`; throws SelectorError (a ConfigError) naming the position. */
export function parseSelector(text: string): Selector {
  const requirements = new Parser(text).parse();
  // Sets are compiled once so `in` is a hash lookup per match.
  const sets = requirements.map((r) => ("values" in r ? new Set(r.values) : undefined));
  const matchesLookup = (get: (key: string) => string | undefined): boolean => {
    for (let n = 0; n < requirements.length; n++) {
      const r = requirements[n] as Requirement;
      const v = get(r.key);
      switch (r.op) {
        case "=":
          if (v !== r.value) return false;
          break;
        case "!=":
          if (v === r.value) return false;
          break;
        case "in":
          if (v === undefined || !sets[n]?.has(v)) return false;
          break;
        case "notin":
          if (v !== undefined && sets[n]?.has(v)) return false;
          break;
        case "exists":
          if (v === undefined) return false;
          break;
        case "!exists":
          if (v !== undefined) return false;
          break;
      }
    }
    return true;
  };
  return {
    source: text,
    requirements,
    matchesLookup,
    matches: (instance) => matchesLookup((key) => lookup(instance, key)),
  };
}

/** The canonical text of `requirements`; parseSelector(formatSelector(r)).requirements deep-equals r. */
export function formatSelector(requirements: readonly Requirement[]): string {
  return requirements
    .map((r) => {
      switch (r.op) {
        case "=":
        case "!=":
          return `${r.key}${r.op}${r.value}`;
        case "in":
        case "notin":
          return `${r.key} ${r.op} (${r.values.join(",")})`;
        case "exists":
          return r.key;
        case "!exists":
          return `!${r.key}`;
      }
    })
    .join(",");
}
