import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { slimEndpointSlice, slimIngress, slimNode, slimService, type SlimEndpointSlice, type SlimIngress, type SlimNode } from "../../../../src/kube/discovery-objects.js";
import type { SlimPod } from "../../../../src/kube/pods.js";
import { inferProtocol, META, serviceInstances } from "../../../../src/registry/kube-services/convert.js";

describe("inferProtocol (as Istio infers it)", () => {
  const cases: [Parameters<typeof inferProtocol>[0], string][] = [
    [{ name: "http-web", protocol: "TCP" }, "http"],
    [{ name: "http2-api" }, "http2"],
    [{ name: "grpc-web" }, "grpc-web"],
    [{ name: "grpc-web-ui" }, "grpc-web"],
    [{ name: "grpc" }, "grpc"],
    [{ name: "GRPC-Echo" }, "grpc"],
    [{ name: "tcp-db" }, "tcp"],
    [{ name: "https" }, "https"],
    [{ name: "metrics", protocol: "TCP" }, "tcp"],
    [{ name: "", protocol: "UDP" }, "udp"],
    [{ name: "web", appProtocol: "kubernetes.io/h2c" }, "http2"],
    [{ name: "http-web", appProtocol: "grpc" }, "grpc"],
    [{ name: "x", appProtocol: "kubernetes.io/ws" }, "ws"],
    [{ name: "x", appProtocol: "Dubbo" }, "dubbo"],
    [{ name: "x", appProtocol: "example.com/custom proto" }, "tcp"],
  ];
  for (const [port, want] of cases) it(`${JSON.stringify(port)} -> ${want}`, () => assert.equal(inferProtocol(port), want));
});

const svcRaw = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => slimService({ metadata: { name: "web", namespace: "shop", resourceVersion: "1" }, spec, ...extra } as never);
const slice = (endpoints: unknown[], ports: unknown[] = [{ name: "http-web", port: 8080, protocol: "TCP" }], name = "web-abc"): SlimEndpointSlice =>
  slimEndpointSlice({ metadata: { name, namespace: "shop", resourceVersion: "1", labels: { "kubernetes.io/service-name": "web" } }, addressType: "IPv4", ports, endpoints } as never);
const pod = (name: string, labels: Record<string, string>): SlimPod => ({ namespace: "shop", name, uid: name, resourceVersion: "1", labels, annotations: {}, podIPs: [], ready: true, terminating: false, startTime: 1000 });
const node = (name: string, zone: string, internal: string, external?: string): SlimNode =>
  slimNode({ metadata: { name, resourceVersion: "1", labels: { "topology.kubernetes.io/zone": zone } }, status: { addresses: [{ type: "InternalIP", address: internal }, ...(external ? [{ type: "ExternalIP", address: external }] : [])] } } as never);

function run(o: { service: ReturnType<typeof svcRaw>; slices?: SlimEndpointSlice[]; pods?: SlimPod[]; nodes?: SlimNode[]; ingresses?: SlimIngress[]; address?: "internal" | "external" }) {
  const pods = new Map((o.pods ?? []).map((p) => [p.name, p]));
  const nodes = o.nodes ?? [];
  return serviceInstances({
    service: o.service,
    slices: o.slices ?? [],
    pod: (_ns, name) => pods.get(name),
    node: (name) => nodes.find((n) => n.name === name),
    nodes: () => nodes,
    ingresses: o.ingresses ?? [],
    address: o.address ?? "internal",
    scope: { scope: "namespace" },
  });
}

describe("serviceInstances: internal addresses", () => {
  it("one instance per ready endpoint address and port, with pod labels, node zone and the port's protocol", () => {
    const service = svcRaw({ selector: { app: "web" }, ports: [{ name: "http-web", port: 80, targetPort: 8080 }, { name: "grpc-api", port: 90, targetPort: 9090 }] });
    const s = slice(
      [
        { addresses: ["10.0.0.1"], conditions: { ready: true }, nodeName: "n1", targetRef: { kind: "Pod", name: "web-1", namespace: "shop" } },
        { addresses: ["10.0.0.2"], conditions: { ready: false }, nodeName: "n2", zone: "z-explicit", targetRef: { kind: "Pod", name: "web-2" } },
      ],
      [
        { name: "http-web", port: 8080 },
        { name: "grpc-api", port: 9090 },
      ],
    );
    const got = run({ service, slices: [s], pods: [pod("web-1", { app: "web", version: "v1" })], nodes: [node("n1", "zone-a", "192.168.0.1")] });
    assert.deepEqual(
      got.map((i) => [i.key, i.host, i.port, i.protocol, i.ready, i.zone, i.node, i.labels.version]),
      [
        ["shop/web", "10.0.0.1", 9090, "grpc", true, "zone-a", "n1", "v1"],
        ["shop/web", "10.0.0.1", 8080, "http", true, "zone-a", "n1", "v1"],
        ["shop/web", "10.0.0.2", 9090, "grpc", false, "z-explicit", "n2", undefined],
        ["shop/web", "10.0.0.2", 8080, "http", false, "z-explicit", "n2", undefined],
      ],
    );
    assert.equal(got[0]!.source, "kube-services");
    assert.equal(got[0]!.startTime, 1000);
    assert.equal(got[1]!.metadata[META.portName], "http-web");
  });

  it("a terminating endpoint is not ready (no new calls) but says it still serves; zone hints are carried", () => {
    const service = svcRaw({ selector: { app: "web" }, ports: [{ name: "http", port: 80 }] });
    const [i] = run({ service, slices: [slice([{ addresses: ["10.0.0.3"], conditions: { ready: false, serving: true, terminating: true }, hints: { forZones: [{ name: "zone-b" }] } }], [{ name: "http", port: 80 }])] });
    assert.equal(i!.ready, false);
    assert.equal(i!.metadata[META.serving], "true");
    assert.equal(i!.metadata[META.terminating], "true");
    assert.equal(i!.metadata[META.hintZones], "zone-b");
  });

  it("ready defaults to true when the condition is absent (as the API says); several slices merge; bad addresses are skipped", () => {
    const service = svcRaw({ ports: [{ name: "http", port: 80 }] }); // no selector: slices written by hand
    const got = run({
      service,
      slices: [slice([{ addresses: ["203.0.113.10"] }], [{ name: "http", port: 80 }], "manual-1"), slice([{ addresses: ["not an ip/", "203.0.113.11"] }], [{ name: "http", port: 80 }], "manual-2")],
    });
    assert.deepEqual(got.map((i) => [i.host, i.ready]), [["203.0.113.10", true], ["203.0.113.11", true]]);
    assert.equal(service.hasSelector, false);
  });

  it("headless Services give their pods' addresses like any other", () => {
    const service = svcRaw({ clusterIP: "None", selector: { app: "db" }, ports: [{ name: "tcp-pg", port: 5432 }] });
    assert.equal(service.headless, true);
    const got = run({ service, slices: [slice([{ addresses: ["10.0.1.1"] }], [{ name: "tcp-pg", port: 5432 }])] });
    assert.deepEqual(got.map((i) => [i.host, i.port, i.protocol]), [["10.0.1.1", 5432, "tcp"]]);
  });

  it("ExternalName is one instance with the DNS name per port (80 when none), resolved by the client at call time", () => {
    const withPorts = run({ service: svcRaw({ type: "ExternalName", externalName: "API.Example.COM", ports: [{ name: "https", port: 443 }] }) });
    assert.deepEqual(withPorts.map((i) => [i.host, i.port, i.protocol, i.metadata[META.serviceType]]), [["api.example.com", 443, "https", "ExternalName"]]);
    const bare = run({ service: svcRaw({ type: "ExternalName", externalName: "db.example.com" }) });
    assert.deepEqual(bare.map((i) => [i.host, i.port, i.protocol]), [["db.example.com", 80, "http"]]);
  });

  it("sessionAffinity: ClientIP is carried for the balancer to map to source_affinity", () => {
    const [i] = run({ service: svcRaw({ selector: { a: "b" }, sessionAffinity: "ClientIP", ports: [{ name: "http", port: 80 }] }), slices: [slice([{ addresses: ["10.0.0.9"] }], [{ name: "http", port: 80 }])] });
    assert.equal(i!.metadata[META.sessionAffinity], "ClientIP");
  });
});

describe("serviceInstances: external addresses", () => {
  const nodes = [node("n1", "a", "192.168.0.1", "198.51.100.1"), node("n2", "b", "192.168.0.2")];
  it("NodePort: every node's external address (else internal) with the node port", () => {
    const got = run({ service: svcRaw({ type: "NodePort", selector: { a: "b" }, ports: [{ name: "http", port: 80, nodePort: 30080 }] }), nodes, address: "external" });
    assert.deepEqual(got.map((i) => [i.host, i.port, i.metadata[META.address]]), [["192.168.0.2", 30080, "node-port"], ["198.51.100.1", 30080, "node-port"]]);
  });

  it("LoadBalancer: its ingress addresses with the service port, and the node ports too", () => {
    const service = svcRaw({ type: "LoadBalancer", selector: { a: "b" }, ports: [{ name: "grpc", port: 9000, nodePort: 30900 }] }, { status: { loadBalancer: { ingress: [{ ip: "203.0.113.5" }, { hostname: "lb.example.com" }] } } });
    const got = run({ service, nodes, address: "external" });
    assert.deepEqual(
      got.filter((i) => i.metadata[META.address] === "load-balancer").map((i) => [i.host, i.port, i.protocol]),
      [["203.0.113.5", 9000, "grpc"], ["lb.example.com", 9000, "grpc"]],
    );
    assert.equal(got.filter((i) => i.metadata[META.address] === "node-port").length, 2);
  });

  it("Ingress: rules to the Service, at the Ingress's load balancer, https for TLS hosts", () => {
    const service = svcRaw({ selector: { a: "b" }, ports: [{ name: "http", port: 80 }] });
    const ing = slimIngress({
      metadata: { name: "front", namespace: "shop", resourceVersion: "1" },
      spec: {
        tls: [{ hosts: ["shop.example.com"] }],
        rules: [
          { host: "shop.example.com", http: { paths: [{ path: "/web", pathType: "Prefix", backend: { service: { name: "web", port: { number: 80 } } } }] } },
          { host: "other.example.com", http: { paths: [{ path: "/", backend: { service: { name: "other", port: { number: 80 } } } }] } },
        ],
      },
      status: { loadBalancer: { ingress: [{ ip: "203.0.113.80" }] } },
    } as never);
    const got = run({ service, ingresses: [ing], address: "external" });
    assert.deepEqual(got.map((i) => [i.host, i.port, i.protocol, i.metadata[META.ingressHost], i.metadata[META.ingressPath]]), [["203.0.113.80", 443, "https", "shop.example.com", "/web"]]);
  });

  it("spec.externalIPs: those addresses with the service port", () => {
    const got = run({ service: svcRaw({ selector: { a: "b" }, externalIPs: ["198.51.100.9"], ports: [{ name: "grpc", port: 9000 }] }), address: "external" });
    assert.deepEqual(got.map((i) => [i.host, i.port, i.protocol, i.metadata[META.address]]), [["198.51.100.9", 9000, "grpc", "external-ip"]]);
  });

  it("a ClusterIP Service without external addresses has none", () => {
    assert.deepEqual(run({ service: svcRaw({ selector: { a: "b" }, ports: [{ name: "http", port: 80 }] }), nodes, address: "external" }), []);
  });
});
