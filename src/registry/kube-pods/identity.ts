/**
 * Which Pod this process runs in: POD_NAME / POD_NAMESPACE from the Downward
 * API, falling back to HOSTNAME (a pod's hostname is its name unless
 * spec.hostname overrides it) and the service account's namespace file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SERVICE_ACCOUNT_DIR } from "../../kube/config.js";
import { PodIdentityError } from "../../errors.js";

export interface PodIdentity {
  namespace: string;
  name: string;
}

export function podIdentity(opts: { env?: NodeJS.ProcessEnv; serviceAccountDir?: string; fallbackNamespace?: string } = {}): PodIdentity {
  const env = opts.env ?? process.env;
  const name = env.POD_NAME || env.HOSTNAME;
  let namespace = env.POD_NAMESPACE;
  if (!namespace) {
    try {
      namespace = readFileSync(join(opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, "namespace"), "utf8").trim() || undefined;
    } catch {
      namespace = undefined;
    }
  }
  namespace ??= opts.fallbackNamespace;
  if (!name || !namespace) {
    throw new PodIdentityError(
      `cannot tell which pod this process runs in (pod name: ${name ?? "unset"}, namespace: ${namespace ?? "unset"}): ` +
        "set POD_NAME and POD_NAMESPACE from the Downward API (fieldRef metadata.name / metadata.namespace)",
    );
  }
  return { namespace, name };
}

/** The namespace consumers watch by default: the pod's own, else the kubeconfig context's, else "default". */
export function ownNamespace(opts: { env?: NodeJS.ProcessEnv; serviceAccountDir?: string; contextNamespace?: string } = {}): string {
  const env = opts.env ?? process.env;
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    const ns = readFileSync(join(opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, "namespace"), "utf8").trim();
    if (ns) return ns;
  } catch {
    // not in a pod
  }
  return opts.contextNamespace ?? "default";
}
