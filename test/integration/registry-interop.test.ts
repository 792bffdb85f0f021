/**
 * dubbo-go interop on a real API server: pods carrying annotations that
 * dubbo-go itself wrote are discovered by a dubbo-go-format KubePodsRegistry,
 * podreg's dubbo-go-format registrations are seen by dubbo-go-format
 * consumers, and the native and dubbo-go formats never see each other.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import type { CodecRegistration } from "../../src/registry/codec.js";
import { createDubboGoCodec, createNativeCodec } from "../../src/registry/codecs/index.js";
import { KubePodsRegistry } from "../../src/registry/kube-pods/registry.js";
import type { Logger } from "../../src/util/logger.js";
import { createReadyPod } from "../../testenv/index.js";
import { testCluster, testNamespace } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

/*
 * Annotation values written by dubbo-go itself, copied verbatim from
 * test/unit/registry/codecs/dubbo-go.test.ts (which names their origin):
 * - FIXTURE_2020: apache/dubbo-go 7d8d837a1bbc7ae171c82ea008aae8bef896c631, remoting/kubernetes/client_test.go,
 *   `clientPodListJsonData`, pod server-84c864f5bc-r8qvz (dubbo-golang-1.3.0): one dubbo provider.
 * - FIXTURE_2022: apache/dubbo-go 04257bad6eb046fdc0ac55e5450d3b2548377f76, same file and variable, pod
 *   server-748b6d68f9-nmf5f (dubbo-golang-3.0.0): two tri providers.
 * - ARTICLE_SAMPLE: the dubbo-go Kubernetes registry design article's sample (folders and one consumer URL).
 */
const FIXTURE_2020 = "W3siayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvcHJvdmlkZXJzIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvcHJvdmlkZXJzL2R1YmJvJTNBJTJGJTJGMTcyLjE3LjAuNiUzQTIwMDAwJTJGVXNlclByb3ZpZGVyJTNGYWNjZXNzbG9nJTNEJTI2YW55aG9zdCUzRHRydWUlMjZhcHAudmVyc2lvbiUzRDAuMC4xJTI2YXBwbGljYXRpb24lM0RCRFRTZXJ2aWNlJTI2YXV0aCUzRCUyNmJlYW4ubmFtZSUzRFVzZXJQcm92aWRlciUyNmNsdXN0ZXIlM0RmYWlsb3ZlciUyNmVudmlyb25tZW50JTNEZGV2JTI2ZXhlY3V0ZS5saW1pdCUzRCUyNmV4ZWN1dGUubGltaXQucmVqZWN0ZWQuaGFuZGxlciUzRCUyNmdyb3VwJTNEJTI2aW50ZXJmYWNlJTNEY29tLmlrdXJlbnRvLnVzZXIuVXNlclByb3ZpZGVyJTI2aXAlM0QxNzIuMTcuMC42JTI2bG9hZGJhbGFuY2UlM0RyYW5kb20lMjZtZXRob2RzLkdldFVzZXIubG9hZGJhbGFuY2UlM0RyYW5kb20lMjZtZXRob2RzLkdldFVzZXIucmV0cmllcyUzRDElMjZtZXRob2RzLkdldFVzZXIudHBzLmxpbWl0LmludGVydmFsJTNEJTI2bWV0aG9kcy5HZXRVc2VyLnRwcy5saW1pdC5yYXRlJTNEJTI2bWV0aG9kcy5HZXRVc2VyLnRwcy5saW1pdC5zdHJhdGVneSUzRCUyNm1ldGhvZHMuR2V0VXNlci53ZWlnaHQlM0QwJTI2bW9kdWxlJTNEZHViYm9nbyUyQnVzZXItaW5mbyUyQnNlcnZlciUyNm5hbWUlM0RCRFRTZXJ2aWNlJTI2b3JnYW5pemF0aW9uJTNEaWt1cmVudG8uY29tJTI2b3duZXIlM0RaWCUyNnBhcmFtLnNpZ24lM0QlMjZwaWQlM0Q2JTI2cmVnaXN0cnkucm9sZSUzRDMlMjZyZWxlYXNlJTNEZHViYm8tZ29sYW5nLTEuMy4wJTI2cmV0cmllcyUzRCUyNnNlcnZpY2UuZmlsdGVyJTNEZWNobyUyNTJDdG9rZW4lMjUyQ2FjY2Vzc2xvZyUyNTJDdHBzJTI1MkNnZW5lcmljX3NlcnZpY2UlMjUyQ2V4ZWN1dGUlMjUyQ3BzaHV0ZG93biUyNnNpZGUlM0Rwcm92aWRlciUyNnRpbWVzdGFtcCUzRDE1OTExNTYxNTUlMjZ0cHMubGltaXQuaW50ZXJ2YWwlM0QlMjZ0cHMubGltaXQucmF0ZSUzRCUyNnRwcy5saW1pdC5yZWplY3RlZC5oYW5kbGVyJTNEJTI2dHBzLmxpbWl0LnN0cmF0ZWd5JTNEJTI2dHBzLmxpbWl0ZXIlM0QlMjZ2ZXJzaW9uJTNEJTI2d2FybXVwJTNEMTAwIiwidiI6IiJ9XQ==";
const FIXTURE_2022 = "W3siayI6Ii9kdWJiby9ncnBjLnJlZmxlY3Rpb24udjFhbHBoYS5TZXJ2ZXJSZWZsZWN0aW9uL3Byb3ZpZGVycyIsInYiOiIifSx7ImsiOiIvZHViYm8vZ3JwYy5yZWZsZWN0aW9uLnYxYWxwaGEuU2VydmVyUmVmbGVjdGlvbi9wcm92aWRlcnMvdHJpJTNBJTJGJTJGMTAuMjQ0LjAuODElM0EyMDAwMSUyRmdycGMucmVmbGVjdGlvbi52MWFscGhhLlNlcnZlclJlZmxlY3Rpb24lM0Zhbnlob3N0JTNEdHJ1ZSUyNmFwcC52ZXJzaW9uJTNEMy4wLjAlMjZhcHBsaWNhdGlvbiUzRGR1YmJvLmlvJTI2YmVhbi5uYW1lJTNEWFhYX3NlcnZlclJlZmxlY3Rpb25TZXJ2ZXIlMjZjbHVzdGVyJTNEZmFpbG92ZXIlMjZlbnZpcm9ubWVudCUzRGRldiUyNmV4cG9ydCUzRHRydWUlMjZpbnRlcmZhY2UlM0RncnBjLnJlZmxlY3Rpb24udjFhbHBoYS5TZXJ2ZXJSZWZsZWN0aW9uJTI2bG9hZGJhbGFuY2UlM0RyYW5kb20lMjZtZXNzYWdlX3NpemUlM0Q0JTI2bWV0YWRhdGEtdHlwZSUzRGxvY2FsJTI2bWV0aG9kcyUzRFNlcnZlclJlZmxlY3Rpb25JbmZvJTI2bW9kdWxlJTNEc2FtcGxlJTI2bmFtZSUzRGR1YmJvLmlvJTI2b3JnYW5pemF0aW9uJTNEZHViYm8tZ28lMjZvd25lciUzRGR1YmJvLWdvJTI2cGlkJTNEMTMlMjZyZWdpc3RyeSUzRGt1YmVybmV0ZXMlMjZyZWdpc3RyeS5yb2xlJTNEMyUyNnJlbGVhc2UlM0RkdWJiby1nb2xhbmctMy4wLjAlMjZzZXJ2aWNlLmZpbHRlciUzRGVjaG8lMkNtZXRyaWNzJTJDdG9rZW4lMkNhY2Nlc3Nsb2clMkN0cHMlMkNnZW5lcmljX3NlcnZpY2UlMkNleGVjdXRlJTJDcHNodXRkb3duJTI2c2lkZSUzRHByb3ZpZGVyJTI2dGltZXN0YW1wJTNEMTY0ODEyNTQ5MiIsInYiOiIifSx7ImsiOiIvZHViYm8vb3JnLmFwYWNoZS5kdWJiby5xdWlja3N0YXJ0LnNhbXBsZXMuVXNlclByb3ZpZGVyL3Byb3ZpZGVycyIsInYiOiIifSx7ImsiOiIvZHViYm8vb3JnLmFwYWNoZS5kdWJiby5xdWlja3N0YXJ0LnNhbXBsZXMuVXNlclByb3ZpZGVyL3Byb3ZpZGVycy90cmklM0ElMkYlMkYxMC4yNDQuMC44MSUzQTIwMDAxJTJGb3JnLmFwYWNoZS5kdWJiby5xdWlja3N0YXJ0LnNhbXBsZXMuVXNlclByb3ZpZGVyJTNGYW55aG9zdCUzRHRydWUlMjZhcHAudmVyc2lvbiUzRDMuMC4wJTI2YXBwbGljYXRpb24lM0RkdWJiby5pbyUyNmJlYW4ubmFtZSUzREdyZWV0ZXJQcm92aWRlciUyNmNsdXN0ZXIlM0RmYWlsb3ZlciUyNmVudmlyb25tZW50JTNEZGV2JTI2ZXhwb3J0JTNEdHJ1ZSUyNmludGVyZmFjZSUzRG9yZy5hcGFjaGUuZHViYm8ucXVpY2tzdGFydC5zYW1wbGVzLlVzZXJQcm92aWRlciUyNmxvYWRiYWxhbmNlJTNEcmFuZG9tJTI2bWVzc2FnZV9zaXplJTNENCUyNm1ldGFkYXRhLXR5cGUlM0Rsb2NhbCUyNm1ldGhvZHMlM0RTYXlIZWxsbyUyQ1NheUhlbGxvU3RyZWFtJTI2bW9kdWxlJTNEc2FtcGxlJTI2bmFtZSUzRGR1YmJvLmlvJTI2b3JnYW5pemF0aW9uJTNEZHViYm8tZ28lMjZvd25lciUzRGR1YmJvLWdvJTI2cGlkJTNEMTMlMjZyZWdpc3RyeSUzRGt1YmVybmV0ZXMlMjZyZWdpc3RyeS5yb2xlJTNEMyUyNnJlbGVhc2UlM0RkdWJiby1nb2xhbmctMy4wLjAlMjZzZXJ2aWNlLmZpbHRlciUzRGVjaG8lMkNtZXRyaWNzJTJDdG9rZW4lMkNhY2Nlc3Nsb2clMkN0cHMlMkNnZW5lcmljX3NlcnZpY2UlMkNleGVjdXRlJTJDcHNodXRkb3duJTI2c2lkZSUzRHByb3ZpZGVyJTI2dGltZXN0YW1wJTNEMTY0ODEyNTQ5MiIsInYiOiIifV0=";
const ARTICLE_SAMPLE = "W3siayI6Ii9kdWJibyIsInYiOiIifSx7ImsiOiIvZHViYm8vY29tLmlrdXJlbnRvLnVzZXIuVXNlclByb3ZpZGVyIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvY29uc3VtZXJzIiwidiI6IiJ9LHsiayI6Ii9kdWJibyIsInYiOiIifSx7ImsiOiIvZHViYm8vY29tLmlrdXJlbnRvLnVzZXIuVXNlclByb3ZpZGVyIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvcHJvdmlkZXJzIiwidiI6IiJ9LHsiayI6Ii9kdWJiby9jb20uaWt1cmVudG8udXNlci5Vc2VyUHJvdmlkZXIvY29uc3VtZXJzL2NvbnN1bWVyJTNBJTJGJTJGMTcyLjE3LjAuOCUyRlVzZXJQcm92aWRlciUzRmNhdGVnb3J5JTNEY29uc3VtZXJzJTI2ZHViYm8lM0RkdWJib2dvLWNvbnN1bWVyLTIuNi4wJTI2cHJvdG9jb2wlM0RkdWJibyIsInYiOiIifV0=";

const DUBBO_ANNOTATION = "dubbo.io/annotation";
const DUBBO_PROVIDER = { "dubbo.io/label": "dubbo.io.provider" };
const NATIVE_LABEL = { "podreg.io/label": "podreg.io-value" };
const USER_PROVIDER = "org.apache.dubbo.quickstart.samples.UserProvider";
const REFLECTION = "grpc.reflection.v1alpha.ServerReflection";
const IKURENTO = "com.ikurento.user.UserProvider";

function recordingLogger(): Logger & { warnings: object[] } {
  const warnings: object[] = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (obj) => warnings.push(obj) };
}

/** An annotation value as `codec` would write it for one registration. */
function encoded(codec: ReturnType<typeof createNativeCodec>, reg: Partial<CodecRegistration> & { service: string; host: string; port: number }): string {
  const full: CodecRegistration = { protocol: "tri", weight: 100, metadata: {}, registeredAt: Date.now(), ...reg };
  return codec.encode(codec.apply([], { drop: new Set(), add: [full] }));
}

describe("dubbo-go interop: captured dubbo-go annotations on a real API server", () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let client: KubeClient;
  let ns: string;
  let peers: string;
  const registries: KubePodsRegistry[] = [];
  const open = (opts: ConstructorParameters<typeof KubePodsRegistry>[0]) => {
    const r = new KubePodsRegistry({ client, namespaces: [ns], handleSignals: false, ...opts });
    registries.push(r);
    return r;
  };
  const annotationOf = async (namespace: string, name: string) => (await core.readNamespacedPod({ name, namespace })).metadata?.annotations?.[DUBBO_ANNOTATION];

  before(async () => {
    kc = (await testCluster()).kc;
    core = kc.makeApiClient(CoreV1Api);
    client = new KubeClient(kc);
    ns = await testNamespace(kc, "interop");
    peers = await testNamespace(kc, "interop-peers");
  });
  after(async () => {
    for (const r of registries) await r.close();
    client.close();
  });

  it("discovers the providers dubbo-go wrote: interface as service, protocol, address from the URL, params as metadata", async () => {
    // The pods have the IPs their captured URLs advertise, as on the clusters they come from
    // (an entry advertising another host is dropped: registry-claims.test.ts).
    await createReadyPod(kc, { namespace: ns, name: "go-server-2022", podIP: "10.244.0.81", labels: DUBBO_PROVIDER, annotations: { [DUBBO_ANNOTATION]: FIXTURE_2022 } });
    await createReadyPod(kc, { namespace: ns, name: "go-server-2020", podIP: "172.17.0.6", labels: DUBBO_PROVIDER, annotations: { [DUBBO_ANNOTATION]: FIXTURE_2020 } });
    await createReadyPod(kc, { namespace: ns, name: "go-consumer", podIP: "10.62.0.8", labels: { "dubbo.io/label": "dubbo.io.consumer" }, annotations: { [DUBBO_ANNOTATION]: ARTICLE_SAMPLE } });
    const logger = recordingLogger();
    const reg = open({ codec: "dubbo-go", logger });
    await reg.whenSynced();
    await eventually("three dubbo-go services", () => reg.services().length === 3);
    assert.deepEqual(reg.services().sort(), [IKURENTO, REFLECTION, USER_PROVIDER]);

    const [user, ...more] = reg.instances(USER_PROVIDER);
    assert.equal(more.length, 0);
    assert.ok(user);
    assert.equal(user.protocol, "tri");
    assert.equal(user.host, "10.244.0.81");
    assert.equal(user.port, 20001);
    assert.equal(user.weight, 100);
    assert.equal(user.metadata.methods, "SayHello,SayHelloStream");
    assert.equal(user.metadata.side, "provider");
    assert.equal(user.metadata["registry.role"], "3");
    assert.equal(user.metadata.release, "dubbo-golang-3.0.0");
    assert.equal(user.namespace, ns);
    assert.equal(user.labels["dubbo.io/label"], "dubbo.io.provider");
    assert.match(user.id, /\/go-server-2022\//);
    assert.deepEqual(
      reg.instances(REFLECTION).map((i) => `${i.protocol}://${i.host}:${i.port} ${i.metadata.methods}`),
      ["tri://10.244.0.81:20001 ServerReflectionInfo"],
    );

    const [old] = reg.instances(IKURENTO);
    assert.ok(old);
    assert.equal(`${old.protocol}://${old.host}:${old.port}`, "dubbo://172.17.0.6:20000");
    assert.equal(old.metadata.module, "dubbogo user-info server");
    assert.equal(old.metadata["methods.GetUser.retries"], "1");
    assert.equal(old.metadata.side, "provider");

    // A consumer pod's folders and consumer URL are no providers, and nothing is malformed.
    assert.equal(reg.stats().malformed, 0);
    assert.deepEqual(logger.warnings, []);
    // Discovery only reads: dubbo-go's values are untouched.
    assert.equal(await annotationOf(ns, "go-server-2022"), FIXTURE_2022);
  });

  it("keeps the formats apart by label: native-labelled pods are invisible to dubbo-go consumers and vice versa", async () => {
    // A valid dubbo-go value on a pod that only has the native label, and a valid native value on a pod that only has dubbo-go's.
    const dubboValue = encoded(createDubboGoCodec(), { service: "com.example.NativeLabelled", host: "10.62.2.1", port: 20000 });
    await createReadyPod(kc, { namespace: ns, name: "native-labelled", podIP: "10.62.2.1", labels: NATIVE_LABEL, annotations: { [DUBBO_ANNOTATION]: dubboValue } });
    const nativeValue = encoded(createNativeCodec(), { service: "dubbo-labelled", host: "", port: 8080, protocol: "http" });
    await createReadyPod(kc, { namespace: ns, name: "dubbo-labelled", podIP: "10.62.2.2", labels: DUBBO_PROVIDER, annotations: { "podreg.io/annotation": nativeValue } });
    // Positive controls, written after the pods above: once a consumer sees its control, it has seen those pods too.
    await createReadyPod(kc, { namespace: ns, name: "native-app", podIP: "10.62.2.3" });
    await createReadyPod(kc, { namespace: ns, name: "dubbo-app", podIP: "10.62.2.4" });
    const dubboConsumer = open({ codec: "dubbo-go" });
    const nativeConsumer = open({});
    await Promise.all([dubboConsumer.whenSynced(), nativeConsumer.whenSynced()]);
    await open({ pod: { namespace: ns, name: "native-app" } }).register({ service: "native-svc", port: 8080 });
    await open({ codec: "dubbo-go", pod: { namespace: ns, name: "dubbo-app" } }).register({ service: "com.example.DubboSvc", protocol: "tri", port: 20000 });

    await eventually("each consumer sees its own format's control", () => nativeConsumer.instances("native-svc").length === 1 && dubboConsumer.instances("com.example.DubboSvc").length === 1);
    assert.deepEqual(nativeConsumer.services(), [`${ns}/native-svc`], "the native consumer sees no dubbo-go-labelled pod");
    assert.deepEqual(dubboConsumer.services().sort(), ["com.example.DubboSvc", IKURENTO, REFLECTION, USER_PROVIDER], "the dubbo-go consumer sees no native-labelled pod");
    assert.equal(dubboConsumer.instances("com.example.DubboSvc")[0]?.host, "10.62.2.4", "the pod IP, written into the URL");
    assert.equal(nativeConsumer.stats().malformed + dubboConsumer.stats().malformed, 0);
  });

  it("a podreg provider in dubbo-go format and a dubbo-go consumer in another pod see each other's providers", async () => {
    await createReadyPod(kc, { namespace: peers, name: "node-provider", podIP: "10.62.1.1" });
    await createReadyPod(kc, { namespace: peers, name: "go-peer", podIP: "10.244.0.81", labels: DUBBO_PROVIDER, annotations: { [DUBBO_ANNOTATION]: FIXTURE_2022 } });
    const node = open({ codec: "dubbo-go", namespaces: [peers], pod: { namespace: peers, name: "node-provider" } });
    await node.register({ service: "com.example.Greeter", protocol: "tri", port: 20000, weight: 40, metadata: { methods: "SayHello", group: "g1" } });
    void node.whenSynced(); // the provider also discovers: start it (instances() only reads the cache)
    const goSide = open({ codec: createDubboGoCodec({ role: "consumer" }), namespaces: [peers], pod: { namespace: peers, name: "go-peer" } });
    await goSide.whenSynced(); // reads of the cache start nothing: discovery starts here

    await eventually("the dubbo-go side sees the podreg provider", () => goSide.instances("com.example.Greeter").length === 1);
    const [greeter] = goSide.instances("com.example.Greeter");
    assert.equal(`${greeter!.protocol}://${greeter!.host}:${greeter!.port}`, "tri://10.62.1.1:20000");
    assert.equal(greeter!.weight, 40);
    assert.deepEqual(
      [greeter!.metadata.interface, greeter!.metadata.side, greeter!.metadata.methods, greeter!.metadata.group, greeter!.metadata["registry.role"]],
      ["com.example.Greeter", "provider", "SayHello", "g1", "3"],
    );
    await eventually("the podreg side sees dubbo-go's providers", () => node.instances(USER_PROVIDER).length === 1 && node.instances(REFLECTION).length === 1);
    assert.equal(`${node.instances(USER_PROVIDER)[0]!.host}:${node.instances(USER_PROVIDER)[0]!.port}`, "10.244.0.81:20001");
    assert.deepEqual(node.services().sort(), ["com.example.Greeter", REFLECTION, USER_PROVIDER]);
  });

  it("registers next to dubbo-go's entries in a shared pod without touching them, and leaves its value byte for byte at deregistration", async () => {
    const codec = createDubboGoCodec();
    const sidecar = open({ codec: "dubbo-go", namespaces: [peers], pod: { namespace: peers, name: "go-peer" } });
    void sidecar.whenSynced(); // starts discovery; instances() only reads the cache
    const handle = await sidecar.register({ service: "com.example.Sidecar", protocol: "tri", port: 20002 });
    const shared = await annotationOf(peers, "go-peer");
    assert.ok(shared);
    const original = codec.decode(FIXTURE_2022);
    const now = codec.decode(shared);
    assert.deepEqual(now.slice(0, original.length), original, "dubbo-go's entries kept, in order");
    assert.equal(now.length, original.length + 2, "a folder and a URL added");
    assert.deepEqual(now[original.length], { k: "/dubbo/com.example.Sidecar/providers", v: "" });
    assert.ok(now[original.length + 1]!.k.startsWith("/dubbo/com.example.Sidecar/providers/tri%3A%2F%2F10.244.0.81%3A20002%2F"), now[original.length + 1]!.k);
    await eventually("the sidecar is discovered", () => sidecar.instances("com.example.Sidecar").length === 1);
    assert.equal(sidecar.instances(USER_PROVIDER).length, 1, "the dubbo-go providers of the same pod are still there");

    await handle.close();
    assert.equal(await annotationOf(peers, "go-peer"), FIXTURE_2022, "dubbo-go's value restored byte for byte");
    const pod = await core.readNamespacedPod({ name: "go-peer", namespace: peers });
    assert.equal(pod.metadata?.labels?.["dubbo.io/label"], "dubbo.io.provider", "the label stays: the pod still has providers");
  });
});
