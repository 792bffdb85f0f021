import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { kubeconfigYaml } from "../../../testenv/index.js";
import { createPki } from "../../../testenv/pki.js";

describe("testenv pki", () => {
  const pki = createPki();
  const ca = new X509Certificate(pki.ca.certPem);
  const serving = new X509Certificate(pki.serving.certPem);
  const admin = new X509Certificate(pki.admin.certPem);

  it("issues a CA that signed the serving and admin certificates", () => {
    assert.equal(ca.ca, true);
    assert.ok(serving.verify(ca.publicKey));
    assert.ok(admin.verify(ca.publicKey));
    assert.ok(serving.checkIssued(ca));
    assert.equal(serving.ca, false);
  });

  it("gives every certificate a serial Go accepts: positive, minimal DER, 16 bytes", () => {
    // Go's x509 refuses a negative serial or one padded with a zero byte ("malformed serial number"); kube-apiserver then won't start.
    for (const c of [ca, serving, admin]) {
      const hex = c.serialNumber;
      assert.equal(hex.length, 32, hex);
      const first = parseInt(hex.slice(0, 2), 16);
      assert.ok(first >= 0x40 && first <= 0x7f, hex);
    }
  });

  it("names the admin in system:masters and serves loopback", () => {
    assert.match(admin.subject, /CN=podreg-admin/);
    assert.match(admin.subject, /O=system:masters/);
    assert.ok(serving.checkIP("127.0.0.1"));
    assert.equal(serving.checkHost("kubernetes.default.svc"), "kubernetes.default.svc");
    assert.equal(serving.checkIP("10.0.0.2"), undefined);
  });

  it("pairs each certificate with its key and gives a usable service-account key pair", () => {
    for (const pair of [pki.serving, pki.admin]) {
      assert.ok(new X509Certificate(pair.certPem).checkPrivateKey(createPrivateKey(pair.keyPem)));
    }
    const data = Buffer.from("token");
    const sig = sign("sha256", data, createPrivateKey(pki.serviceAccount.privatePem));
    assert.ok(verify("sha256", data, createPublicKey(pki.serviceAccount.publicPem), sig));
  });
});

describe("testenv kubeconfig", () => {
  it("round-trips through client-node for certificate and token users", () => {
    const pki = createPki({ days: 1 });
    const certKc = new KubeConfig();
    certKc.loadFromString(kubeconfigYaml({ server: "https://127.0.0.1:6443", caPem: pki.ca.certPem, user: { clientCertPem: pki.admin.certPem, clientKeyPem: pki.admin.keyPem } }));
    assert.equal(certKc.getCurrentCluster()?.server, "https://127.0.0.1:6443");
    assert.equal(Buffer.from(certKc.getCurrentUser()?.certData ?? "", "base64").toString(), pki.admin.certPem);
    assert.equal(certKc.getContextObject(certKc.getCurrentContext())?.namespace, "default");

    const tokenKc = new KubeConfig();
    tokenKc.loadFromString(kubeconfigYaml({ server: "https://127.0.0.1:1", caPem: pki.ca.certPem, user: { token: "a.b-c_d" }, namespace: "team" }));
    assert.equal(tokenKc.getCurrentUser()?.token, "a.b-c_d");
    assert.equal(tokenKc.getContextObject(tokenKc.getCurrentContext())?.namespace, "team");
  });
});
