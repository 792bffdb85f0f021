/**
 * The console's side of the server's API: JSON reads, writes with the
 * server's token (kept for the tab only, in sessionStorage, never in a URL),
 * and errors as the server words them.
 */
import type { Instance } from "../../src/model/instance.js";

export type { Instance };

export interface Status {
  source: string;
  synced: boolean;
  failing?: { code: string; message: string; since: number };
  lastRecovery?: { at: number; downMs: number };
  writes: boolean;
  xds: boolean;
}

export interface Policy {
  balancer: { policy: string } & Record<string, unknown>;
  balancerIsDefault?: boolean;
  hashKey?: { header?: string };
  routing?: { tag?: Record<string, unknown>; rules?: { name: string; split?: { subset: string; weight: number }[] }[] };
  outlier?: Record<string, unknown> | false;
  healthCheck?: Record<string, unknown> | false;
  retries: { attempts: number; on: string[] };
  timeoutMs: number;
}

export interface Policies {
  defaults: Policy;
  services: Record<string, Policy>;
}

export interface TypeStatus {
  subscribed: number | "*";
  sent?: { version: string; nonce: string; at: number; resources: number };
  acked?: { version: string; at: number };
  nacked?: { version: string; error: string; at: number; count: number };
}

export interface XdsClient {
  id: number;
  node?: { id: string; cluster?: string; userAgent?: string; userAgentVersion?: string; metadata: Record<string, string> };
  kind?: "envoy" | "grpc";
  connectedAt: number;
  types: Partial<Record<"cds" | "eds" | "lds" | "rds", TypeStatus>>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "podreg.token";

export const token = {
  get: (): string | undefined => sessionStorage.getItem(TOKEN_KEY) ?? undefined,
  set: (t: string) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export async function api<T>(method: string, path: string, body?: unknown, withToken = method !== "GET"): Promise<T> {
  const headers: Record<string, string> = {};
  const t = token.get();
  if (withToken && t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "UNREACHABLE", "the server does not answer");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(res.status, "BAD_RESPONSE", `unexpected answer (${res.status})`);
  }
  if (!res.ok) {
    const e = (data ?? {}) as { code?: string; message?: string };
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? `HTTP ${res.status}`);
  }
  return data as T;
}

/** The local registry's entry id of an instance it holds (its origin), or undefined for other sources' instances. */
export function localEntry(i: Instance): string | undefined {
  return i.source === "local" || i.sources?.includes("local") ? i.origin : undefined;
}
