import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

/**
 * Certificates for a loopback control plane. Node's crypto cannot issue X.509
 * certificates, so node-forge signs them; the RSA keys come from Node's crypto
 * (native, fast) rather than forge's pure-JS key generation.
 */
export interface KeyPair {
  keyPem: string;
  certPem: string;
}

export interface Pki {
  ca: KeyPair;
  /** kube-apiserver's serving certificate. */
  serving: KeyPair;
  /** Client certificate of the admin: CN=podreg-admin, O=system:masters. */
  admin: KeyPair;
  /** Service-account token signing key pair (PEM private PKCS#8 / public SPKI). */
  serviceAccount: { privatePem: string; publicPem: string };
}

function rsa(): { keyPem: string; forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  return { keyPem, forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

interface IssueOptions {
  subject: forge.pki.CertificateField[];
  extensions: object[];
  issuer?: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey };
  days: number;
}

function issue(opts: IssueOptions): { pair: KeyPair; cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  const k = rsa();
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.publicKey;
  // A positive DER integer in minimal form, as Go's x509 demands ("malformed serial number"
  // otherwise): top bit clear (not negative) and first byte non-zero (no padding byte).
  // A "00" prefix was neither when the next byte was below 0x80: kube-apiserver then refused the CA.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = serial.toString("hex");
  cert.validity.notBefore = new Date(Date.now() - 3600_000); // tolerate clock skew
  cert.validity.notAfter = new Date(Date.now() + opts.days * 86400_000);
  cert.setSubject(opts.subject);
  cert.setIssuer(opts.issuer ? opts.issuer.cert.subject.attributes : opts.subject);
  cert.setExtensions(opts.extensions);
  cert.sign(opts.issuer?.key ?? k.forgeKey, forge.md.sha256.create());
  return { pair: { keyPem: k.keyPem, certPem: forge.pki.certificateToPem(cert) }, cert, key: k.forgeKey };
}

/** A self-signed CA. */
function issueCa(commonName: string, days: number): ReturnType<typeof issue> {
  return issue({
    subject: [{ name: "commonName", value: commonName }],
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
    days,
  });
}

/** A leaf certificate's extensions: for a server (with its names) or a client. */
function leafExtensions(usage: "server" | "client", altNames: object[] = []): object[] {
  return [
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    usage === "server" ? { name: "extKeyUsage", serverAuth: true } : { name: "extKeyUsage", clientAuth: true },
    ...(altNames.length ? [{ name: "subjectAltName", altNames }] : []),
  ];
}

export function createPki(options: { days?: number; serviceIP?: string } = {}): Pki {
  const days = options.days ?? 365;
  const ca = issueCa("podreg-testenv-ca", days);
  const issuer = { cert: ca.cert, key: ca.key };
  const serving = issue({
    subject: [{ name: "commonName", value: "kube-apiserver" }],
    extensions: leafExtensions("server", [
      { type: 7, ip: "127.0.0.1" },
      { type: 7, ip: options.serviceIP ?? "10.0.0.1" },
      { type: 2, value: "localhost" },
      { type: 2, value: "kubernetes" },
      { type: 2, value: "kubernetes.default" },
      { type: 2, value: "kubernetes.default.svc" },
      { type: 2, value: "kubernetes.default.svc.cluster.local" },
    ]),
    issuer,
    days,
  });
  const admin = issue({
    subject: [
      { name: "commonName", value: "podreg-admin" },
      { name: "organizationName", value: "system:masters" },
    ],
    extensions: leafExtensions("client"),
    issuer,
    days,
  });
  const sa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    ca: ca.pair,
    serving: serving.pair,
    admin: admin.pair,
    serviceAccount: {
      privatePem: sa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      publicPem: sa.publicKey.export({ type: "spki", format: "pem" }).toString(),
    },
  };
}

/** A CA of its own, and serving certificates it signs for any names: for tests of TLS clients. */
export interface TestCa {
  ca: KeyPair;
  /** A serving certificate for these DNS names (and 127.0.0.1 when `loopbackIp`). */
  serving(dnsNames: readonly string[], options?: { loopbackIp?: boolean }): KeyPair;
  /** A client certificate (clientAuth) with this common name, for mutual TLS. */
  client(commonName: string): KeyPair;
}

export function createTestCa(options: { days?: number } = {}): TestCa {
  const days = options.days ?? 1;
  const ca = issueCa("podreg-test-ca", days);
  const issuer = { cert: ca.cert, key: ca.key };
  return {
    ca: ca.pair,
    serving: (dnsNames, o = {}) =>
      issue({
        subject: [{ name: "commonName", value: dnsNames[0] ?? "podreg-test" }],
        extensions: leafExtensions("server", [...dnsNames.map((value) => ({ type: 2, value })), ...(o.loopbackIp ? [{ type: 7, ip: "127.0.0.1" }] : [])]),
        issuer,
        days,
      }).pair,
    client: (commonName) => issue({ subject: [{ name: "commonName", value: commonName }], extensions: leafExtensions("client"), issuer, days }).pair,
  };
}
