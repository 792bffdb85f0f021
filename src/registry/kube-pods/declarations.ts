/**
 * What a workload may advertise, declared by its operator in the pod
 * template, where the pod itself can't change it (deploy/admission-policy.yaml
 * lets a pod's own token change only the registry's label and annotations):
 *
 *   podreg.io/services: "echo, com.example.*"   services it may provide (`*` at the end: a prefix)
 *   podreg.io/hosts:    "203.0.113.7, db.example.com"   addresses it may advertise besides its own pod IPs
 *
 * Consumers drop entries a pod does not declare; the provider side checks the
 * same rules at register() so a mistake fails early, but the consumer's check
 * is the one a hostile pod can't skip.
 */
export const SERVICES_ANNOTATION = "podreg.io/services";
export const HOSTS_ANNOTATION = "podreg.io/hosts";

export interface PodDeclarations {
  /** Declared services (exact names, or prefixes ending in `*`); undefined = the pod declares none. */
  services?: readonly string[];
  /** Addresses besides the pod's own IPs. */
  hosts: readonly string[];
}

const list = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter((s) => s !== "");

export function podDeclarations(annotations: Readonly<Record<string, string>>): PodDeclarations {
  return { services: list(annotations[SERVICES_ANNOTATION]), hosts: list(annotations[HOSTS_ANNOTATION]) ?? [] };
}

export function declaresService(decl: PodDeclarations, service: string): boolean {
  return (decl.services ?? []).some((d) => (d.endsWith("*") ? service.startsWith(d.slice(0, -1)) : d === service));
}

/** IPv6 literals compare without brackets and case-insensitively; names case-insensitively (DNS). */
const canonicalHost = (h: string): string => (h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h).toLowerCase();

export function hostAllowed(host: string, podIPs: readonly string[], decl: PodDeclarations): boolean {
  const h = canonicalHost(host);
  return podIPs.some((ip) => canonicalHost(ip) === h) || decl.hosts.some((d) => canonicalHost(d) === h);
}

/** What a consumer enforces. */
export interface ClaimPolicy {
  /** Drop entries of pods that declare no services at all (default false: such pods are trusted with any name). */
  requireDeclaredServices?: boolean;
  /** Drop entries advertising a host that is neither a pod IP nor declared (default true). */
  verifyHosts?: boolean;
}

/** Why an endpoint of this pod is refused, or undefined when it is allowed. */
export function claimRefusal(
  ep: { service: string; host?: string },
  pod: { podIPs: readonly string[]; decl: PodDeclarations },
  policy: ClaimPolicy,
): string | undefined {
  const { decl } = pod;
  if (decl.services !== undefined ? !declaresService(decl, ep.service) : policy.requireDeclaredServices === true) {
    return decl.services === undefined
      ? `the pod declares no services (${SERVICES_ANNOTATION}) and declarations are required`
      : `service ${JSON.stringify(ep.service)} is not among the pod's ${SERVICES_ANNOTATION}`;
  }
  if (ep.host !== undefined && (policy.verifyHosts ?? true) && !hostAllowed(ep.host, pod.podIPs, decl)) {
    return `host ${JSON.stringify(ep.host)} is neither a pod IP nor in the pod's ${HOSTS_ANNOTATION}`;
  }
  return undefined;
}
