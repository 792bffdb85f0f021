import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError } from "../../../../src/errors.js";
import { CodecError, type AnnotationEntry, type CodecRegistration } from "../../../../src/registry/codec.js";
import { createDubboGoCodec } from "../../../../src/registry/codecs/dubbo-go.js";
import { goParseQuery, goQueryEscape, goQueryUnescape, goValuesEncode } from "../../../../src/registry/codecs/go-compat.js";

/*
 * Test vectors: annotations written by dubbo-go itself, captured on clusters.
 * The brief names apache/dubbo-go commit 202400cf2, remoting/kubernetes/client_test.go;
 * that commit is not in the source index available here, so these come from
 * the stored versions of the same file:
 * - FIXTURE_2020: commit 7d8d837a1bbc7ae171c82ea008aae8bef896c631, `clientPodListJsonData`,
 *   pod server-84c864f5bc-r8qvz (minikube, 2020-06-03, dubbo-golang-1.3.0).
 * - FIXTURE_2022: commit 04257bad6eb046fdc0ac55e5450d3b2548377f76, same variable, second pod
 *   server-748b6d68f9-nmf5f (kind, 2022-03-24, dubbo-golang-3.0.0, two tri providers).
 * - ARTICLE_SAMPLE: the sample annotation of the dubbo-go Kubernetes registry design article
 *   (folders written twice and one consumer URL, no provider URL).
 */
const FIXTURE_2020 = "W3siayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvcHJvdmlkZXJzIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvcHJvdmlkZXJzL2R1YmJvJTNBJTJGJTJGMTcyLjE3LjAuNiUzQTIwMDAwJTJGVXNlclByb3ZpZGVyJTNGYWNjZXNzbG9nJTNEJTI2YW55aG9zdCUzRHRydWUlMjZhcHAudmVyc2lvbiUzRDAuMC4xJTI2YXBwbGljYXRpb24lM0RCRFRTZXJ2aWNlJTI2YXV0aCUzRCUyNmJlYW4ubmFtZSUzRFVzZXJQcm92aWRlciUyNmNsdXN0ZXIlM0RmYWlsb3ZlciUyNmVudmlyb25tZW50JTNEZGV2JTI2ZXhlY3V0ZS5saW1pdCUzRCUyNmV4ZWN1dGUubGltaXQucmVqZWN0ZWQuaGFuZGxlciUzRCUyNmdyb3VwJTNEJTI2aW50ZXJmYWNlJTNEY29tLmlrdXJlbnRvLnVzZXIuVXNlclByb3ZpZGVyJTI2aXAlM0QxNzIuMTcuMC42JTI2bG9hZGJhbGFuY2UlM0RyYW5kb20lMjZtZXRob2RzLkdldFVzZXIubG9hZGJhbGFuY2UlM0RyYW5kb20lMjZtZXRob2RzLkdldFVzZXIucmV0cmllcyUzRDElMjZtZXRob2RzLkdldFVzZXIudHBzLmxpbWl0LmludGVydmFsJTNEJTI2bWV0aG9kcy5HZXRVc2VyLnRwcy5saW1pdC5yYXRlJTNEJTI2bWV0aG9kcy5HZXRVc2VyLnRwcy5saW1pdC5zdHJhdGVneSUzRCUyNm1ldGhvZHMuR2V0VXNlci53ZWlnaHQlM0QwJTI2bW9kdWxlJTNEZHViYm9nbyUyQnVzZXItaW5mbyUyQnNlcnZlciUyNm5hbWUlM0RCRFRTZXJ2aWNlJTI2b3JnYW5pemF0aW9uJTNEaWt1cmVudG8uY29tJTI2b3duZXIlM0RaWCUyNnBhcmFtLnNpZ24lM0QlMjZwaWQlM0Q2JTI2cmVnaXN0cnkucm9sZSUzRDMlMjZyZWxlYXNlJTNEZHViYm8tZ29sYW5nLTEuMy4wJTI2cmV0cmllcyUzRCUyNnNlcnZpY2UuZmlsdGVyJTNEZWNobyUyNTJDdG9rZW4lMjUyQ2FjY2Vzc2xvZyUyNTJDdHBzJTI1MkNnZW5lcmljX3NlcnZpY2UlMjUyQ2V4ZWN1dGUlMjUyQ3BzaHV0ZG93biUyNnNpZGUlM0Rwcm92aWRlciUyNnRpbWVzdGFtcCUzRDE1OTExNTYxNTUlMjZ0cHMubGltaXQuaW50ZXJ2YWwlM0QlMjZ0cHMubGltaXQucmF0ZSUzRCUyNnRwcy5saW1pdC5yZWplY3RlZC5oYW5kbGVyJTNEJTI2dHBzLmxpbWl0LnN0cmF0ZWd5JTNEJTI2dHBzLmxpbWl0ZXIlM0QlMjZ2ZXJzaW9uJTNEJTI2d2FybXVwJTNEMTAwIiwidiI6IiJ9XQ==";
const FIXTURE_2022 = "W3siayI6Ii9kdWJiby9ncnBjLnJlZmxlY3Rpb24udjFhbHBoYS5TZXJ2ZXJSZWZsZWN0aW9uL3Byb3ZpZGVycyIsInYiOiIifSx7ImsiOiIvZHViYm8vZ3JwYy5yZWZsZWN0aW9uLnYxYWxwaGEuU2VydmVyUmVmbGVjdGlvbi9wcm92aWRlcnMvdHJpJTNBJTJGJTJGMTAuMjQ0LjAuODElM0EyMDAwMSUyRmdycGMucmVmbGVjdGlvbi52MWFscGhhLlNlcnZlclJlZmxlY3Rpb24lM0Zhbnlob3N0JTNEdHJ1ZSUyNmFwcC52ZXJzaW9uJTNEMy4wLjAlMjZhcHBsaWNhdGlvbiUzRGR1YmJvLmlvJTI2YmVhbi5uYW1lJTNEWFhYX3NlcnZlclJlZmxlY3Rpb25TZXJ2ZXIlMjZjbHVzdGVyJTNEZmFpbG92ZXIlMjZlbnZpcm9ubWVudCUzRGRldiUyNmV4cG9ydCUzRHRydWUlMjZpbnRlcmZhY2UlM0RncnBjLnJlZmxlY3Rpb24udjFhbHBoYS5TZXJ2ZXJSZWZsZWN0aW9uJTI2bG9hZGJhbGFuY2UlM0RyYW5kb20lMjZtZXNzYWdlX3NpemUlM0Q0JTI2bWV0YWRhdGEtdHlwZSUzRGxvY2FsJTI2bWV0aG9kcyUzRFNlcnZlclJlZmxlY3Rpb25JbmZvJTI2bW9kdWxlJTNEc2FtcGxlJTI2bmFtZSUzRGR1YmJvLmlvJTI2b3JnYW5pemF0aW9uJTNEZHViYm8tZ28lMjZvd25lciUzRGR1YmJvLWdvJTI2cGlkJTNEMTMlMjZyZWdpc3RyeSUzRGt1YmVybmV0ZXMlMjZyZWdpc3RyeS5yb2xlJTNEMyUyNnJlbGVhc2UlM0RkdWJiby1nb2xhbmctMy4wLjAlMjZzZXJ2aWNlLmZpbHRlciUzRGVjaG8lMkNtZXRyaWNzJTJDdG9rZW4lMkNhY2Nlc3Nsb2clMkN0cHMlMkNnZW5lcmljX3NlcnZpY2UlMkNleGVjdXRlJTJDcHNodXRkb3duJTI2c2lkZSUzRHByb3ZpZGVyJTI2dGltZXN0YW1wJTNEMTY0ODEyNTQ5MiIsInYiOiIifSx7ImsiOiIvZHViYm8vb3JnLmFwYWNoZS5kdWJiby5xdWlja3N0YXJ0LnNhbXBsZXMuVXNlclByb3ZpZGVyL3Byb3ZpZGVycyIsInYiOiIifSx7ImsiOiIvZHViYm8vb3JnLmFwYWNoZS5kdWJiby5xdWlja3N0YXJ0LnNhbXBsZXMuVXNlclByb3ZpZGVyL3Byb3ZpZGVycy90cmklM0ElMkYlMkYxMC4yNDQuMC44MSUzQTIwMDAxJTJGb3JnLmFwYWNoZS5kdWJiby5xdWlja3N0YXJ0LnNhbXBsZXMuVXNlclByb3ZpZGVyJTNGYW55aG9zdCUzRHRydWUlMjZhcHAudmVyc2lvbiUzRDMuMC4wJTI2YXBwbGljYXRpb24lM0RkdWJiby5pbyUyNmJlYW4ubmFtZSUzREdyZWV0ZXJQcm92aWRlciUyNmNsdXN0ZXIlM0RmYWlsb3ZlciUyNmVudmlyb25tZW50JTNEZGV2JTI2ZXhwb3J0JTNEdHJ1ZSUyNmludGVyZmFjZSUzRG9yZy5hcGFjaGUuZHViYm8ucXVpY2tzdGFydC5zYW1wbGVzLlVzZXJQcm92aWRlciUyNmxvYWRiYWxhbmNlJTNEcmFuZG9tJTI2bWVzc2FnZV9zaXplJTNENCUyNm1ldGFkYXRhLXR5cGUlM0Rsb2NhbCUyNm1ldGhvZHMlM0RTYXlIZWxsbyUyQ1NheUhlbGxvU3RyZWFtJTI2bW9kdWxlJTNEc2FtcGxlJTI2bmFtZSUzRGR1YmJvLmlvJTI2b3JnYW5pemF0aW9uJTNEZHViYm8tZ28lMjZvd25lciUzRGR1YmJvLWdvJTI2cGlkJTNEMTMlMjZyZWdpc3RyeSUzRGt1YmVybmV0ZXMlMjZyZWdpc3RyeS5yb2xlJTNEMyUyNnJlbGVhc2UlM0RkdWJiby1nb2xhbmctMy4wLjAlMjZzZXJ2aWNlLmZpbHRlciUzRGVjaG8lMkNtZXRyaWNzJTJDdG9rZW4lMkNhY2Nlc3Nsb2clMkN0cHMlMkNnZW5lcmljX3NlcnZpY2UlMkNleGVjdXRlJTJDcHNodXRkb3duJTI2c2lkZSUzRHByb3ZpZGVyJTI2dGltZXN0YW1wJTNEMTY0ODEyNTQ5MiIsInYiOiIifV0=";
const ARTICLE_SAMPLE = "W3siayI6Ii9kdWJibyIsInYiOiIifSx7ImsiOiIvZHViYm8vY29tLmlrdXJlbnRvLnVzZXIuVXNlclByb3ZpZGVyIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvY29uc3VtZXJzIiwidiI6IiJ9LHsiayI6Ii9kdWJibyIsInYiOiIifSx7ImsiOiIvZHViYm8vY29tLmlrdXJlbnRvLnVzZXIuVXNlclByb3ZpZGVyIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvcHJvdmlkZXJzIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvY29uc3VtZXJzL2NvbnN1bWVyJTNBJTJGJTJGMTcyLjE3LjAuOCUyRlVzZXJQcm92aWRlciUzRmNhdGVnb3J5JTNEY29uc3VtZXJzJTI2ZHViYm8lM0RkdWJib2dvLWNvbnN1bWVyLTIuNi4wJTI2cHJvdG9jb2wlM0RkdWJibyIsInYiOiIifV0=";

const codec = createDubboGoCodec();
const none: ReadonlySet<string> = new Set();
const isCode = (code: string) => (e: unknown) => e instanceof CodecError && e.code === code;
const urlEntries = (entries: readonly AnnotationEntry[], service: string): AnnotationEntry[] =>
  entries.filter((e) => e.k.startsWith(`/dubbo/${goQueryEscape(service)}/providers/`));
const count = (entries: readonly AnnotationEntry[], k: string): number => entries.filter((e) => e.k === k).length;
/** apply, then through the annotation text and back, as a real write and read would. */
const applyRoundTrip = (entries: readonly AnnotationEntry[], change: { drop?: ReadonlySet<string>; add?: CodecRegistration[] }): AnnotationEntry[] =>
  codec.decode(codec.encode(codec.apply(entries, { drop: change.drop ?? none, add: change.add ?? [] })));

const echo: CodecRegistration = {
  service: "com.example.Echo",
  protocol: "dubbo",
  host: "10.0.0.7",
  port: 20000,
  weight: 50,
  metadata: { group: "g1", version: "1.0", methods: "Say,Hello", empty: "" },
  registeredAt: 1_700_000_000_123,
};

describe("dubbo-go codec: captured annotations", () => {
  for (const [name, value] of [["2020", FIXTURE_2020], ["2022", FIXTURE_2022], ["article", ARTICLE_SAMPLE]] as const) {
    it(`decodes and re-encodes the ${name} annotation byte for byte`, () => {
      const entries = codec.decode(value);
      assert.ok(entries.length > 0);
      assert.ok(entries.every((e) => e.v === ""));
      assert.equal(codec.encode(entries), value);
    });
  }

  it("reads the 2020 provider", () => {
    const entries = codec.decode(FIXTURE_2020);
    assert.deepEqual(entries.map((e) => e.k.slice(0, 70)), [
      "/dubbo/com.ikurento.user.UserProvider/providers",
      "/dubbo/com.ikurento.user.UserProvider/providers/dubbo%3A%2F%2F172.17.0",
    ]);
    const [ep, ...rest] = codec.endpoints(entries);
    assert.equal(rest.length, 0);
    assert.ok(ep);
    assert.equal(ep.service, "com.ikurento.user.UserProvider"); // from `interface`; the URL path is just "UserProvider"
    assert.equal(ep.protocol, "dubbo");
    assert.equal(ep.host, "172.17.0.6");
    assert.equal(ep.port, 20000);
    assert.equal(ep.weight, undefined); // no `weight` param (only methods.GetUser.weight)
    assert.equal(ep.metadata["module"], "dubbogo user-info server");
    assert.equal(ep.metadata["service.filter"], "echo,token,accesslog,tps,generic_service,execute,pshutdown");
    assert.equal(ep.metadata["group"], "");
    assert.equal(ep.metadata["timestamp"], "1591156155"); // seconds: what dubbo-go writes
    assert.equal(codec.identity({ service: ep.service, protocol: "dubbo", host: "172.17.0.6", port: 20000 }), "dubbo|com.ikurento.user.UserProvider|dubbo|172.17.0.6|20000");
  });

  it("re-escapes the captured provider URLs byte for byte", () => {
    for (const value of [FIXTURE_2020, FIXTURE_2022]) {
      for (const e of codec.decode(value).filter((x) => x.k.includes("/providers/"))) {
        const escaped = e.k.slice(e.k.indexOf("/providers/") + 11);
        const url = goQueryUnescape(escaped);
        assert.equal(goQueryEscape(url), escaped);
        const query = url.slice(url.indexOf("?") + 1);
        // v1.x builds the query with url.Values.Encode, as we do; v3 leaves `,` unescaped, which reads the same.
        if (value === FIXTURE_2020) assert.equal(goValuesEncode(goParseQuery(query)), query);
        else assert.equal(goValuesEncode(goParseQuery(query)), query.replace(/,/g, "%2C"));
      }
    }
  });

  it("reads the 2022 tri providers", () => {
    const eps = codec.endpoints(codec.decode(FIXTURE_2022));
    assert.deepEqual(eps.map((e) => [e.service, e.protocol, e.host, e.port, e.metadata["methods"]]), [
      ["grpc.reflection.v1alpha.ServerReflection", "tri", "10.244.0.81", 20001, "ServerReflectionInfo"],
      ["org.apache.dubbo.quickstart.samples.UserProvider", "tri", "10.244.0.81", 20001, "SayHello,SayHelloStream"],
    ]);
  });

  it("finds no provider in the article sample (a consumer URL and folders only)", () => {
    const entries = codec.decode(ARTICLE_SAMPLE);
    assert.equal(entries.length, 7);
    assert.equal(count(entries, "/dubbo"), 2);
    assert.ok(entries.some((e) => e.k.startsWith("/dubbo/com.ikurento.user.UserProvider/consumers/consumer%3A%2F%2F172.17.0.8")));
    assert.deepEqual(codec.endpoints(entries), []);
  });
});

describe("dubbo-go codec: writing", () => {
  it("uses dubbo-go v1.5 keys, labels and selector", () => {
    assert.equal(codec.name, "dubbo-go");
    assert.equal(codec.annotationKey, "dubbo.io/annotation");
    assert.equal(codec.labelKey, "dubbo.io/label");
    assert.equal(codec.labelValue, "dubbo.io.provider");
    assert.equal(createDubboGoCodec({ role: "consumer" }).labelValue, "dubbo.io.consumer");
    assert.equal(codec.labelSelector, "dubbo.io/label in (dubbo.io.consumer,dubbo.io.provider)");
    assert.throws(() => createDubboGoCodec({ role: "both" as "provider" }), ConfigError);
  });

  it("writes the folder, then the provider URL dubbo-go would write (values raw inside the URL, as QueryUnescape(params.Encode()))", () => {
    const entries = codec.apply([], { drop: none, add: [{ ...echo, pid: 42 }] });
    const raw =
      "dubbo://10.0.0.7:20000/com.example.Echo?anyhost=true&group=g1&interface=com.example.Echo&ip=10.0.0.7&methods=Say,Hello" +
      "&pid=42&registry.role=3&side=provider&timestamp=1700000000&version=1.0&weight=50";
    assert.deepEqual(entries, [
      { k: "/dubbo/com.example.Echo/providers", v: "" },
      { k: "/dubbo/com.example.Echo/providers/" + goQueryEscape(raw), v: "" },
    ]);
    // Escaped once, as dubbo-go does: `methods%3DSay%2CHello`, never `%252C`.
    assert.ok(entries[1]!.k.includes("methods%3DSay%2CHello%26"));
    assert.ok(!entries[1]!.k.includes("%25"));
    assert.match(codec.encode(entries), /^[A-Za-z0-9_-]*={0,2}$/);
    assert.equal(codec.encode(entries).length % 4, 0);
  });

  it("reads back what it wrote", () => {
    const [ep, ...rest] = codec.endpoints(applyRoundTrip([], { add: [echo] }));
    assert.equal(rest.length, 0);
    assert.ok(ep);
    assert.deepEqual([ep.service, ep.protocol, ep.host, ep.port, ep.weight], ["com.example.Echo", "dubbo", "10.0.0.7", 20000, 50]);
    assert.deepEqual([ep.metadata["group"], ep.metadata["version"], ep.metadata["methods"]], ["g1", "1.0", "Say,Hello"]);
    assert.equal("empty" in ep.metadata, false);
    assert.equal(ep.metadata["side"], "provider");
  });

  it("writes IPv6 hosts in brackets and reads them back without", () => {
    const reg = { ...echo, protocol: "tri", host: "fd00::1", port: 50051 };
    const entries = applyRoundTrip([], { add: [reg] });
    assert.ok(goQueryUnescape(urlEntries(entries, echo.service)[0]?.k ?? "").includes("tri://[fd00::1]:50051/"));
    assert.equal(codec.endpoints(entries)[0]?.host, "fd00::1");
    assert.equal(codec.identity({ ...reg, host: "[fd00::1]" }), codec.identity(reg));
  });

  it("replaces on re-register: one URL entry, one folder, the new timestamp", () => {
    let entries = applyRoundTrip([], { add: [echo] });
    entries = applyRoundTrip(entries, { add: [{ ...echo, registeredAt: echo.registeredAt + 60_000, weight: 7 }] });
    assert.equal(urlEntries(entries, echo.service).length, 1);
    assert.equal(count(entries, "/dubbo/com.example.Echo/providers"), 1);
    const [ep] = codec.endpoints(entries);
    assert.equal(ep?.metadata["timestamp"], "1700000060");
    assert.equal(ep?.weight, 7);
  });

  it("replaces the entry a previous dubbo-go process wrote (other pid, timestamp and params)", () => {
    const reg: CodecRegistration = { service: "com.ikurento.user.UserProvider", protocol: "dubbo", host: "172.17.0.6", port: 20000, weight: 100, metadata: {}, registeredAt: 1_800_000_000_000 };
    const entries = applyRoundTrip(codec.decode(FIXTURE_2020), { add: [reg] });
    assert.equal(urlEntries(entries, reg.service).length, 1);
    assert.equal(count(entries, "/dubbo/com.ikurento.user.UserProvider/providers"), 1);
    assert.equal(codec.endpoints(entries)[0]?.metadata["timestamp"], "1800000000");
  });

  it("reads duplicates left by dubbo-go restarts as one endpoint, the last written", () => {
    const first = codec.apply([], { drop: none, add: [echo] });
    const second = codec.apply([], { drop: none, add: [{ ...echo, weight: 9 }] });
    const eps = codec.endpoints([...first, ...second]);
    assert.equal(eps.length, 1);
    assert.equal(eps[0]?.weight, 9);
  });

  it("drops its URL and folder and keeps foreign entries untouched", () => {
    const article = codec.decode(ARTICLE_SAMPLE);
    const user = { ...echo, service: "com.ikurento.user.UserProvider", port: 20001 };
    let entries = applyRoundTrip(article, { add: [echo, user] });
    assert.equal(codec.endpoints(entries).length, 2);
    entries = applyRoundTrip(entries, { drop: new Set([codec.identity(echo)]) });
    assert.equal(entries.filter((e) => e.k.startsWith("/dubbo/com.example.Echo")).length, 0);
    assert.equal(codec.endpoints(entries).length, 1);
    entries = applyRoundTrip(entries, { drop: new Set([codec.identity(user)]) });
    // We removed the last UserProvider URL, so its folder goes; everything else is as dubbo-go wrote it.
    assert.deepEqual(entries, article.filter((e) => e.k !== "/dubbo/com.ikurento.user.UserProvider/providers"));
    assert.ok(entries.some((e) => e.k.includes("/consumers/consumer%3A")));
  });

  it("keeps a folder it did not empty, and an unknown drop changes nothing", () => {
    const article = codec.decode(ARTICLE_SAMPLE);
    assert.deepEqual(codec.apply(article, { drop: new Set([codec.identity(echo), "dubbo|x|y|z|1"]), add: [] }), article);
  });

  it("refuses parameters dubbo-go's readers would misread in its raw query", () => {
    for (const metadata of <Record<string, string>[]>[{ a: "x&y" }, { a: "50%" }, { a: "a+b" }, { a: "x#y" }, { a: "x;y" }, { "a=b": "c" }, { a: "line\nbreak" }]) {
      assert.throws(() => codec.apply([], { drop: none, add: [{ ...echo, metadata }] }), ConfigError, JSON.stringify(metadata));
    }
    // `=` in a value and spaces survive dubbo-go's parsing, so they are allowed and read back.
    const [ep] = codec.endpoints(applyRoundTrip([], { add: [{ ...echo, metadata: { expr: "a=b", note: "two words" } }] }));
    assert.deepEqual([ep?.metadata["expr"], ep?.metadata["note"]], ["a=b", "two words"]);
  });

  it("still reads the doubly escaped URLs earlier podreg versions wrote", () => {
    const old = "dubbo://10.0.0.7:20000/com.example.Echo?" + goValuesEncode({ interface: "com.example.Echo", methods: "Say,Hello" });
    const [ep] = codec.endpoints([{ k: "/dubbo/com.example.Echo/providers/" + goQueryEscape(old), v: "" }]);
    assert.equal(ep?.metadata["methods"], "Say,Hello");
  });

  it("stages a write so each new key has a write of its own, folder first", () => {
    const user = { ...echo, service: "com.example.User" };
    const next = codec.apply([], { drop: none, add: [echo, user] });
    const stages = codec.stages!([], next);
    assert.equal(stages.length, 4);
    assert.deepEqual(stages.map((s) => s.length), [1, 2, 3, 4]);
    assert.equal(stages[0]![0]!.k, "/dubbo/com.example.Echo/providers");
    assert.deepEqual(stages.at(-1), next);
    for (let i = 1; i < stages.length; i++) {
      const before = new Set(stages[i - 1]!.map((e) => e.k));
      assert.equal(stages[i]!.filter((e) => !before.has(e.k)).length, 1, `stage ${i} adds one key`);
    }
    // A re-registration while the folder is held: one new key, one write (the old URL goes in it too).
    const had = codec.apply([], { drop: none, add: [echo] });
    const again = codec.apply(had, { drop: none, add: [{ ...echo, weight: 7 }] });
    assert.deepEqual(codec.stages!(had, again), [again]);
  });

  it("rejects registrations dubbo-go could not read", () => {
    for (const bad of [{ host: "" }, { port: 0 }, { port: 70000 }, { weight: -1 }, { protocol: "a/b" }, { service: "" }, { host: "a|b" }]) {
      assert.throws(() => codec.apply([], { drop: none, add: [{ ...echo, ...bad }] }), ConfigError, JSON.stringify(bad));
    }
  });
});

describe("dubbo-go codec: malformed input", () => {
  const provider = (url: string): AnnotationEntry[] => [{ k: "/dubbo/x/providers/" + url, v: "" }];

  it("throws CodecError SHAPE for a provider entry without a usable URL, host or port", () => {
    for (const url of ["notaurl", goQueryEscape("dubbo://1.2.3.4/x"), goQueryEscape("dubbo://1.2.3.4:0/x"), goQueryEscape("dubbo://1.2.3.4:99999/x"), goQueryEscape("dubbo://[::1/x"), "dubbo%zz", goQueryEscape("dubbo://1.2.3.4:80/")]) {
      assert.throws(() => codec.endpoints(provider(url)), isCode("PODREG_CODEC_SHAPE"), url);
    }
  });

  it("keeps unparsable entries as they are when applying", () => {
    const junk = provider("notaurl");
    assert.deepEqual(codec.apply(junk, { drop: new Set(["dubbo|x|dubbo|1.2.3.4|80"]), add: [] }), junk);
  });

  it("never throws anything but CodecError on arbitrary input", () => {
    const check = (f: () => unknown): void => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof CodecError, String(e));
      }
    };
    fc.assert(fc.property(fc.string(), (s) => check(() => codec.endpoints(codec.decode(s)))), { numRuns: 300 });
    const part = fc.oneof(fc.string({ unit: "binary", maxLength: 12 }), fc.constantFrom("/providers/", "%", "dubbo://", "[", "]", ":", "?", "&", "=", "/", "%3A", "+"));
    const key = fc.array(part, { maxLength: 10 }).map((a) => a.join(""));
    const entries = fc.array(fc.record({ k: key, v: fc.constant("") }), { maxLength: 5 });
    fc.assert(fc.property(entries, (es) => check(() => codec.endpoints(codec.decode(codec.encode(es))))), { numRuns: 500 });
  });
});

describe("dubbo-go codec: random histories", () => {
  // The last one also has a (foreign, empty) folder in the article sample.
  const services = ["com.example.Echo", "com.example.User", "svc with space/é", "com.ikurento.user.UserProvider"];
  const reg = fc.record(
    {
      service: fc.constantFrom(...services),
      protocol: fc.constantFrom("dubbo", "tri"),
      host: fc.constantFrom("10.0.0.1", "10.0.0.2", "fd00::1"),
      port: fc.constantFrom(20000, 20001),
      weight: fc.integer({ min: 0, max: 500 }),
      // Any value but the bytes checkParams refuses (tested above).
      metadata: fc.dictionary(
        fc.constantFrom("group", "version", "methods", "app.version"),
        // eslint-disable-next-line no-control-regex -- the same class as the codec's
        fc.string({ unit: "binary", minLength: 1, maxLength: 6 }).filter((v) => !/[&;#%+\u0000-\u001f\u007f]/.test(v)),
        { noNullPrototype: true },
      ),
      registeredAt: fc.integer({ min: 0, max: 2_000_000_000_000 }),
    },
    { noNullPrototype: true },
  );
  const step = fc.record({ add: fc.array(reg, { maxLength: 3 }), drop: fc.array(reg, { maxLength: 2 }) });

  it("endpoints() always equals the live registrations: no duplicates, no loss", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(step, { minLength: 1, maxLength: 12 }), (withForeign, steps) => {
        const foreign = withForeign ? codec.decode(ARTICLE_SAMPLE) : [];
        let entries: AnnotationEntry[] = foreign;
        const live = new Map<string, CodecRegistration>();
        for (const s of steps) {
          const drop = new Set(s.drop.map((r) => codec.identity(r)));
          entries = applyRoundTrip(entries, { drop, add: s.add });
          for (const id of drop) live.delete(id);
          for (const r of s.add) live.set(codec.identity(r), r);
          const eps = codec.endpoints(entries);
          assert.equal(eps.length, live.size);
          for (const [id, r] of live) {
            const ep = eps.find((e) => codec.identity({ service: e.service, protocol: e.protocol, host: e.host ?? "", port: e.port }) === id);
            assert.ok(ep, id);
            assert.equal(ep.weight, r.weight);
            for (const [k, v] of Object.entries(r.metadata)) assert.equal(ep.metadata[k], v);
          }
          for (const service of services) {
            const folder = `/dubbo/${goQueryEscape(service)}/providers`;
            const liveHere = [...live.values()].filter((r) => r.service === service).length;
            assert.equal(urlEntries(entries, service).length, liveHere);
            // One folder while a provider lives; none after, except a foreign one we never emptied.
            if (liveHere > 0) assert.equal(count(entries, folder), 1);
            else assert.ok(count(entries, folder) <= count(foreign, folder));
          }
          // foreign entries other than provider folders are never touched
          for (const e of foreign.filter((x) => !x.k.endsWith("/providers"))) assert.ok(entries.some((x) => x.k === e.k));
        }
      }),
      { numRuns: 200 },
    );
  });
});
