import assert from "node:assert/strict";
import { isIPv4, isIPv6 } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import { authority, joinHostPort, parseHost, urlHost } from "../../../src/model/host.js";
import { buildInstance } from "../../../src/model/instance.js";

describe("hosts", () => {
  it("normalises IPv4, IPv6 (brackets off, compressed, lower case) and DNS names", () => {
    const cases: [string, string, string][] = [
      ["10.0.0.1", "ipv4", "10.0.0.1"],
      ["::1", "ipv6", "::1"],
      ["[::1]", "ipv6", "::1"],
      ["2001:0DB8:0:0:0:0:0:0001", "ipv6", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "ipv6", "2001:db8::1:0:0:1"],
      ["fe80::1%eth0", "ipv6", "fe80::1%eth0"],
      ["0:0:0:0:0:0:0:0", "ipv6", "::"],
      ["Echo.Shop.svc.", "dns", "echo.shop.svc"],
    ];
    for (const [text, kind, host] of cases) assert.deepEqual(parseHost(text), { kind, host }, text);
  });

  it("refuses what is neither an IP nor a name", () => {
    for (const bad of ["", "a/b", "::g", "1.2.3.999", "1:2:3:4:5:6:7:8:9", "[10.0.0.1]", "[::1", "-a.b", "a_b", "a b", "h:80", "1::2::3", "x".repeat(64) + ".com"]) {
      assert.equal(parseHost(bad), undefined, bad);
    }
  });

  it("agrees with node:net on what is an IP, for any IPv4 or IPv6 text", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const p = parseHost(ip);
        assert.ok(p, ip);
        assert.equal(p.kind, isIPv4(ip) ? "ipv4" : "ipv6");
        assert.ok(p.kind === "ipv4" ? isIPv4(p.host) : isIPv6(p.host));
        assert.deepEqual(parseHost(p.host), p, "a fixed point");
        // The normal form names the same address: Node's URL parser canonicalises both to the same text.
        if (p.kind === "ipv6") assert.equal(new URL(`http://${urlHost(p.host)}/`).hostname, new URL(`http://[${ip}]/`).hostname);
      }),
    );
  });

  it("brackets IPv6 only where a URL or an authority needs it, once", () => {
    assert.equal(urlHost("::1"), "[::1]");
    assert.equal(urlHost("[::1]"), "[::1]");
    assert.equal(urlHost("10.0.0.1"), "10.0.0.1");
    assert.equal(authority("::1", 80), "[::1]:80");
    assert.equal(authority("fe80::1%eth0", 80), "[fe80::1%25eth0]:80");
    assert.equal(joinHostPort("fe80::1%eth0", 80), "[fe80::1%eth0]:80", "Go's JoinHostPort keeps the zone as is");
    assert.equal(new URL(`http://${authority("::1", 8080)}/`).port, "8080");
  });

  it("buildInstance is the one place ids, keys and hosts are made", () => {
    const i = buildInstance({ source: "memory", origin: "r1", service: "echo", host: "[::1]", port: 8080, protocol: "http", namespace: "shop" });
    assert.equal(i.host, "::1");
    assert.equal(i.key, "shop/echo");
    assert.equal(i.id, "memory:r1/echo/http:8080");
    const g = buildInstance({ source: "kube-pods", origin: "shop/p", service: "com.example.Echo", host: "::1", hostInId: true, port: 20000, protocol: "dubbo", namespace: "shop", scope: { scope: "global" } });
    assert.equal(g.key, "com.example.Echo");
    assert.equal(g.id, "kube-pods:shop/p/com.example.Echo/dubbo:[::1]:20000");
    assert.throws(() => buildInstance({ source: "m", origin: "o", service: "s", host: "a/b", port: 1, protocol: "http" }), RangeError);
    assert.throws(() => buildInstance({ source: "m", origin: "o", service: "s", host: "::g", port: 1, protocol: "http" }), RangeError);
    assert.throws(() => buildInstance({ source: "m", origin: "o", service: "s", host: "h", port: 0, protocol: "http" }), RangeError);
  });
});
