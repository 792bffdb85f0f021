/**
 * The configuration types podreg's public API names, kept apart from
 * @kubernetes/client-node's: its declarations (isomorphic-ws) don't type-check
 * in a consumer with `skipLibCheck: false`, so the root export must never
 * reach them. client-node's KubeConfig satisfies KubeConfigLike.
 */
import type { RequestOptions } from "node:https";

export interface KubeConfigOptions {
  /** Path of a kubeconfig file. */
  kubeconfig?: string;
  /** Context to use instead of the current one. */
  context?: string;
  env?: NodeJS.ProcessEnv;
}

/** What KubeClient uses of a kubeconfig (client-node's KubeConfig has it all). */
export interface KubeConfigLike {
  getCurrentCluster(): { readonly server: string } | null;
  getCurrentContext(): string;
  getContextObject(name: string): { readonly namespace?: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}
