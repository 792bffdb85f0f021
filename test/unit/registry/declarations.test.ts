import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { claimRefusal, declaresService, hostAllowed, podDeclarations } from "../../../src/registry/kube-pods/declarations.js";

describe("pod declarations", () => {
  const decl = podDeclarations({ "podreg.io/services": "echo, com.example.*\n payments", "podreg.io/hosts": "203.0.113.7 [FD00::1],db.example.com" });

  it("parses lists separated by commas and spaces", () => {
    assert.deepEqual(decl.services, ["echo", "com.example.*", "payments"]);
    assert.deepEqual(decl.hosts, ["203.0.113.7", "[FD00::1]", "db.example.com"]);
    assert.deepEqual(podDeclarations({}), { services: undefined, hosts: [] });
  });

  it("matches exact names and trailing-* prefixes only", () => {
    for (const s of ["echo", "payments", "com.example.Echo", "com.example."]) assert.ok(declaresService(decl, s), s);
    for (const s of ["echo2", "ech", "com.examples.X", "org.example.Echo", "*"]) assert.ok(!declaresService(decl, s), s);
  });

  it("allows pod IPs and declared hosts, IPv6 without brackets and any case", () => {
    assert.ok(hostAllowed("10.0.0.1", ["10.0.0.1"], decl));
    assert.ok(hostAllowed("fd00::1", [], decl));
    assert.ok(hostAllowed("DB.example.com", [], decl));
    assert.ok(!hostAllowed("10.0.0.2", ["10.0.0.1"], decl));
    assert.ok(!hostAllowed("203.0.113.8", [], decl));
  });

  it("refuses undeclared services and foreign hosts, with a reason", () => {
    const pod = { podIPs: ["10.0.0.1"], decl };
    assert.equal(claimRefusal({ service: "echo", host: "10.0.0.1" }, pod, {}), undefined);
    assert.equal(claimRefusal({ service: "echo" }, pod, {}), undefined, "no host: the pod IP");
    assert.match(claimRefusal({ service: "billing" }, pod, {})!, /not among the pod's podreg.io\/services/);
    assert.match(claimRefusal({ service: "echo", host: "198.51.100.1" }, pod, {})!, /neither a pod IP nor in the pod's podreg.io\/hosts/);
    assert.equal(claimRefusal({ service: "echo", host: "198.51.100.1" }, pod, { verifyHosts: false }), undefined);
    const undeclared = { podIPs: ["10.0.0.1"], decl: podDeclarations({}) };
    assert.equal(claimRefusal({ service: "anything" }, undeclared, {}), undefined);
    assert.match(claimRefusal({ service: "anything" }, undeclared, { requireDeclaredServices: true })!, /declares no services/);
  });
});
