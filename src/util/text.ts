/**
 * Text from outside (annotations, API server messages, configuration) on its
 * way to a terminal or a log: control characters and bidirectional overrides
 * become visible escapes, so a neighbour's data can't move the cursor, retitle
 * the terminal or forge a row; credentials in URLs and headers are masked.
 */

/** C0, DEL, C1, line/paragraph separators and bidi controls (Trojan Source). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escapeOne = (c: string): string => {
  const code = c.charCodeAt(0);
  if (c === "\n") return "\\n";
  if (c === "\t") return "\\t";
  if (c === "\r") return "\\r";
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
};

/** One line of terminal-safe text: every unsafe character as `\xNN` / `\uNNNN` (and `\n`, `\t`, `\r`). */
export function escapeControl(s: string): string {
  return s.replace(UNSAFE, escapeOne);
}

/**
 * JSON for a terminal: the same value (any JSON parser reads back exactly the
 * input), with the characters JSON.stringify leaves raw (DEL, C1, bidi
 * controls, U+2028/9) written as \u escapes too.
 */
export function terminalJson(value: unknown, indent?: number): string {
  // C0 inside strings is already escaped by JSON.stringify; a raw newline here is the indentation's own.
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** `scheme://user:password@host` -> `scheme://***@host`; bearer tokens and token/password parameters masked. */
export function redactCredentials(s: string): string {
  return s
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, "$1***@")
    .replace(/\b(bearer)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 ***")
    .replace(/\b(token|password|passwd|secret|access_token)=([^&\s]+)/gi, "$1=***");
}
