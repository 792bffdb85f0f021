import { writePrivateFile } from "./files.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

export type KubeconfigUser = { clientCertPem: string; clientKeyPem: string } | { token: string };

export interface KubeconfigOptions {
  server: string;
  caPem: string;
  user: KubeconfigUser;
  /** Context namespace; defaults to "default". */
  namespace?: string;
  name?: string;
}

/**
 * A kubeconfig with one cluster, user and context. Values are base64 or plain
 * tokens, so the YAML needs no quoting beyond what is written here.
 */
export function kubeconfigYaml(opts: KubeconfigOptions): string {
  const name = opts.name ?? "podreg-testenv";
  const user =
    "token" in opts.user
      ? `    token: ${JSON.stringify(opts.user.token)}\n`
      : `    client-certificate-data: ${b64(opts.user.clientCertPem)}\n    client-key-data: ${b64(opts.user.clientKeyPem)}\n`;
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${name}`,
    "  cluster:",
    `    server: ${opts.server}`,
    `    certificate-authority-data: ${b64(opts.caPem)}`,
    "users:",
    `- name: ${name}`,
    "  user:",
    user.trimEnd(),
    "contexts:",
    `- name: ${name}`,
    "  context:",
    `    cluster: ${name}`,
    `    user: ${name}`,
    `    namespace: ${opts.namespace ?? "default"}`,
    `current-context: ${name}`,
    "",
  ].join("\n");
}

/** Writes a kubeconfig readable only by its owner (it holds credentials), never through a symlink. */
export function writeKubeconfig(path: string, opts: KubeconfigOptions): string {
  return writePrivateFile(path, kubeconfigYaml(opts));
}
