import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError } from "../../../../src/errors.js";
import { CodecError, type AnnotationEntry, type CodecRegistration } from "../../../../src/registry/codec.js";
import { codecByName, createDubboGoCodec, createNativeCodec, type CodecName } from "../../../../src/registry/codecs/index.js";

const codec = createNativeCodec();
const none: ReadonlySet<string> = new Set();
const isCode = (code: string) => (e: unknown) => e instanceof CodecError && e.code === code;
const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");
const apply = (entries: readonly AnnotationEntry[], change: { drop?: ReadonlySet<string>; add?: CodecRegistration[] }): AnnotationEntry[] =>
  codec.decode(codec.encode(codec.apply(entries, { drop: change.drop ?? none, add: change.add ?? [] })));
/** An annotation holding one entry under our prefix with the given `v`. */
const withValue = (v: unknown): string => codec.encode([{ k: "/podreg/echo/providers/http:8080", v: JSON.stringify(v) }]);

const echo: CodecRegistration = {
  service: "echo",
  protocol: "http",
  host: "", // the registry passes "" unless the user names a host: consumers use the pod IP
  port: 8080,
  weight: 100,
  metadata: { version: "v2", zone: "a" },
  registeredAt: 1_700_000_000_123,
};
const good = { v: 1, service: "echo", protocol: "http", port: 8080, weight: 1, metadata: {}, registeredAt: 1 };

describe("native codec: writing and reading", () => {
  it("has podreg's keys, labels and selector", () => {
    assert.equal(codec.name, "native");
    assert.equal(codec.annotationKey, "podreg.io/annotation");
    assert.equal(codec.labelKey, "podreg.io/label");
    assert.equal(codec.labelValue, "podreg.io-value");
    assert.equal(codec.labelSelector, "podreg.io/label=podreg.io-value");
  });

  it("writes one versioned entry per registration, without a host when none is named", () => {
    const entries = codec.apply([], { drop: none, add: [{ ...echo, service: "a b/c", metadata: { z: "1", a: "2" } }] });
    assert.deepEqual(entries, [
      {
        k: "/podreg/a+b%2Fc/providers/http:8080",
        v: '{"v":1,"service":"a b/c","protocol":"http","port":8080,"weight":100,"metadata":{"a":"2","z":"1"},"registeredAt":1700000000123}',
      },
    ]);
    const value = codec.encode(entries);
    assert.match(value, /^[A-Za-z0-9+/]*={0,2}$/);
    assert.equal(value.length % 4, 0);
  });

  it("round-trips a registration", () => {
    assert.deepEqual(codec.endpoints(apply([], { add: [echo] })), [
      { service: "echo", protocol: "http", port: 8080, weight: 100, metadata: { version: "v2", zone: "a" } },
    ]);
  });

  it("writes and reads a host the registration names", () => {
    const c = createNativeCodec({ prefix: "/apps/podreg" });
    const named = { ...echo, host: "10.0.0.7" };
    const entries = c.apply([], { drop: none, add: [named] });
    assert.equal(entries[0]?.k, "/apps/podreg/echo/providers/http:8080@10.0.0.7");
    assert.equal(c.endpoints(c.decode(c.encode(entries)))[0]?.host, "10.0.0.7");
    assert.equal(c.identity(named), "native|echo|http|10.0.0.7|8080");
    assert.equal(codec.identity(echo), "native|echo|http||8080"); // no host: the pod IP, not part of the identity
    assert.equal(c.requiresHost, false);
  });

  it("replaces on re-register", () => {
    let entries = apply([], { add: [echo] });
    entries = apply(entries, { add: [{ ...echo, weight: 5, metadata: {}, registeredAt: echo.registeredAt + 1 }] });
    assert.equal(entries.length, 1);
    assert.deepEqual(codec.endpoints(entries).map((e) => [e.weight, e.metadata]), [[5, {}]]);
  });

  it("keeps two ports side by side and drops only the named one", () => {
    const admin = { ...echo, port: 9090, protocol: "grpc" };
    let entries = apply([], { add: [echo, admin] });
    assert.deepEqual(codec.endpoints(entries).map((e) => e.port), [8080, 9090]);
    entries = apply(entries, { drop: new Set([codec.identity(echo)]) });
    assert.deepEqual(codec.endpoints(entries).map((e) => [e.protocol, e.port]), [["grpc", 9090]]);
  });

  it("keeps and ignores entries of other tools, in their order", () => {
    const foreign: AnnotationEntry[] = [
      { k: "/other/echo/providers/http:8080", v: "not json" },
      { k: "/podregX/echo/providers/http:8080", v: "" },
      { k: "/podreg/notes", v: "{}" },
      { k: "/dubbo/x/providers", v: "" },
    ];
    let entries = apply(foreign, { add: [echo] });
    assert.deepEqual(entries.slice(0, 4), foreign);
    assert.equal(codec.endpoints(entries).length, 1);
    entries = apply(entries, { drop: new Set([codec.identity(echo)]) });
    assert.deepEqual(entries, foreign);
    assert.deepEqual(codec.endpoints(entries), []);
  });

  it("replaces an entry of ours whose value is broken", () => {
    const broken = [{ k: "/podreg/echo/providers/http:8080", v: "{" }];
    assert.throws(() => codec.endpoints(broken), isCode("PODREG_CODEC_SHAPE"));
    assert.equal(codec.endpoints(apply(broken, { add: [echo] })).length, 1);
  });

  it("equals the live registrations after any history", () => {
    const reg = fc.record(
      {
        service: fc.constantFrom("echo", "a b/c", "é"),
        protocol: fc.constantFrom("http", "grpc"),
        host: fc.constantFrom("10.0.0.1", "::1"),
        port: fc.constantFrom(80, 8080),
        weight: fc.double({ min: 0, max: 1000, noNaN: true }),
        metadata: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { noNullPrototype: true }),
        registeredAt: fc.integer({ min: 0 }),
      },
      { noNullPrototype: true },
    );
    const step = fc.record({ add: fc.array(reg, { maxLength: 3 }), drop: fc.array(reg, { maxLength: 2 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 10 }), (steps) => {
        let entries: AnnotationEntry[] = [];
        const live = new Map<string, CodecRegistration>();
        for (const s of steps) {
          const drop = new Set(s.drop.map((r) => codec.identity(r)));
          entries = apply(entries, { drop, add: s.add });
          for (const id of drop) live.delete(id);
          for (const r of s.add) live.set(codec.identity(r), r);
          const eps = codec.endpoints(entries);
          assert.equal(entries.length, live.size);
          // Metadata compared as sorted pairs: the codec writes keys sorted.
          const canon = (e: { service: string; protocol: string; port: number; weight?: number; metadata: Readonly<Record<string, string>> }): string =>
            JSON.stringify([e.service, e.protocol, e.port, e.weight, Object.entries(e.metadata).sort()]);
          assert.equal(eps.length, live.size);
          assert.deepEqual(new Set(eps.map(canon)), new Set([...live.values()].map(canon)));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("native codec: malformed input", () => {
  it("maps each defect to its CodecError code", () => {
    const cases: Array<[string, string]> = [
      ["abc$", "PODREG_CODEC_BASE64"],
      ["YQ", "PODREG_CODEC_JSON"],
      [b64("not json"), "PODREG_CODEC_JSON"],
      [b64('{"k":"a","v":""}'), "PODREG_CODEC_SHAPE"],
      [b64("null"), "PODREG_CODEC_SHAPE"],
      [b64('[{"v":"x"}]'), "PODREG_CODEC_SHAPE"],
      [b64('[{"k":1,"v":""}]'), "PODREG_CODEC_SHAPE"],
      [b64('[{"k":"a"}]'), "PODREG_CODEC_SHAPE"],
      [b64("[null]"), "PODREG_CODEC_SHAPE"],
      ["A".repeat(256 * 1024 + 4), "PODREG_CODEC_SIZE"],
      ["$".repeat(256 * 1024 + 1), "PODREG_CODEC_SIZE"], // size is checked before anything else
    ];
    for (const [value, code] of cases) assert.throws(() => codec.endpoints(codec.decode(value)), isCode(code), `${value.slice(0, 40)} -> ${code}`);
    assert.throws(() => createNativeCodec({ maxBytes: 16 }).decode(b64("[]".padEnd(20))), isCode("PODREG_CODEC_SIZE"));
  });

  it("accepts an empty value and the URL alphabet", () => {
    assert.deepEqual(codec.decode(""), []);
    const value = createDubboGoCodec().encode([{ k: "/podreg/x", v: "??>>" }]);
    assert.deepEqual(codec.decode(value), [{ k: "/podreg/x", v: "??>>" }]);
  });

  it("rejects bad entry values: version, port, weight, fields", () => {
    const read = (v: unknown): unknown => codec.endpoints(codec.decode(withValue(v)));
    assert.throws(() => read({ ...good, v: 2 }), isCode("PODREG_CODEC_VERSION"));
    assert.throws(() => read({ ...good, v: 2, service: 7 }), isCode("PODREG_CODEC_VERSION"));
    for (const bad of [
      { ...good, v: "1" },
      { ...good, v: undefined },
      { ...good, port: 0 },
      { ...good, port: 65536 },
      { ...good, port: 80.5 },
      { ...good, port: "80" },
      { ...good, weight: -1 },
      { ...good, weight: "1" },
      { ...good, service: "" },
      { ...good, protocol: 1 },
      { ...good, host: 1 },
      { ...good, metadata: { a: 1 } },
      { ...good, metadata: [] },
      { ...good, registeredAt: undefined },
      [good],
      "text",
    ]) {
      assert.throws(() => read(bad), isCode("PODREG_CODEC_SHAPE"), JSON.stringify(bad));
    }
    assert.equal((read(good) as unknown[]).length, 1);
    assert.deepEqual(Object.keys((read({ ...good, metadata: JSON.parse('{"__proto__":"x"}') }) as Array<{ metadata: object }>)[0]?.metadata ?? {}), ["__proto__"]);
  });

  it("never throws anything but CodecError on arbitrary input", () => {
    const check = (value: string): void => {
      try {
        codec.endpoints(codec.decode(value));
      } catch (e) {
        assert.ok(e instanceof CodecError, String(e));
      }
    };
    fc.assert(fc.property(fc.string({ unit: "binary" }), check), { numRuns: 300 });
    fc.assert(fc.property(fc.jsonValue(), (j) => check(b64(JSON.stringify(j) ?? ""))), { numRuns: 300 });
    const value = fc.oneof(fc.jsonValue(), fc.record({ v: fc.constantFrom(1, 2), service: fc.jsonValue(), protocol: fc.jsonValue(), port: fc.jsonValue(), weight: fc.jsonValue(), metadata: fc.jsonValue(), registeredAt: fc.jsonValue() }, { requiredKeys: ["v"] }));
    const entry = fc.record({ k: fc.constantFrom("/podreg/echo/providers/http:80", "/podreg/x", "/other"), v: value.map((j) => JSON.stringify(j) ?? "") });
    fc.assert(fc.property(fc.array(entry, { maxLength: 4 }), (es) => check(codec.encode(es))), { numRuns: 500 });
  });
});

describe("native codec: configuration errors", () => {
  it("rejects registrations no reader could decode", () => {
    for (const bad of [{ port: 0 }, { port: 1.5 }, { weight: -1 }, { weight: Number.NaN }, { protocol: "a/b" }, { protocol: "" }, { service: "" }, { registeredAt: Number.NaN }]) {
      assert.throws(() => codec.apply([], { drop: none, add: [{ ...echo, ...bad }] }), ConfigError, JSON.stringify(bad));
    }
  });

  it("rejects bad options", () => {
    for (const options of [{ prefix: "podreg" }, { prefix: "/podreg/" }, { prefix: "/" }, { labelKey: "bad key!" }, { labelValue: "" }, { annotationKey: "" }, { maxBytes: 0 }]) {
      assert.throws(() => createNativeCodec(options), ConfigError, JSON.stringify(options));
    }
  });

  it("picks codecs by name", () => {
    assert.equal(codecByName("native").name, "native");
    assert.equal(codecByName("dubbo-go", { role: "consumer" }).labelValue, "dubbo.io.consumer");
    assert.equal(codecByName("native", { prefix: "/x" }).apply([], { drop: none, add: [echo] })[0]?.k, "/x/echo/providers/http:8080");
    assert.throws(() => codecByName("nacos" as CodecName), ConfigError);
  });
});
