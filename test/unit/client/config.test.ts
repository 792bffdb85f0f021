import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { HealthChecker } from "../../../src/balancer/health-check.js";
import { OutlierDetector } from "../../../src/balancer/outlier.js";
import { type ClientConfig, loadClientConfig, parseClientConfig, serviceConfig } from "../../../src/client/config.js";
import { ConfigError } from "../../../src/errors.js";
import { createRouter } from "../../../src/router/router.js";
import { createPicker } from "../../../src/balancer/index.js";
import fc from "fast-check";

const dir = mkdtempSync(join(tmpdir(), "podreg-client-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** The ConfigError message `fn` throws (sync or async). */
async function configError(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.equal(err.code, "PODREG_CONFIG");
    return err.message;
  }
  assert.fail("did not throw");
}

const yamlText = `# client config
defaults:
  balancer:
    policy: least_request
    leastRequest: { choiceCount: 3 }
  outlier:
    consecutiveFailures: 3
  retries:
    attempts: 3
services:
  echo:
    balancer:
      policy: ring_hash
      ringHash: { pointsPerInstance: 2048 }
    hashKey: { header: x-user }
    routing:
      tag: { fallback: none }
      rules:
        - name: canary
          match: { headers: { x-beta: "~(yes|true)" } }
          split:
            - { subset: "version=v1", weight: 95 }
            - { subset: "version in (v2, v2.1)", weight: 5 }
    outlier: false
    healthCheck: { path: /healthz, intervalMs: 5000, timeoutMs: 1000, expectedStatus: [200, 204] }
    timeoutMs: 2500
  plain: {}
`;

describe("client config", () => {
  it("loads YAML and resolves a service section by section", async () => {
    const config = await loadClientConfig(file("client.yaml", yamlText));
    assert.deepEqual(serviceConfig(config, "echo"), {
      balancer: { policy: "ring_hash", ringHash: { pointsPerInstance: 2048 } },
      hashKey: { header: "x-user" },
      routing: {
        tag: { fallback: "none" },
        rules: [
          {
            name: "canary",
            match: { headers: { "x-beta": "~(yes|true)" } },
            split: [
              { subset: "version=v1", weight: 95 },
              { subset: "version in (v2, v2.1)", weight: 5 },
            ],
          },
        ],
      },
      outlier: false,
      healthCheck: { path: "/healthz", intervalMs: 5000, timeoutMs: 1000, expectedStatus: [200, 204] },
      retries: { attempts: 3, on: ["connect-error", "reset"] },
      timeoutMs: 2500,
    });
    assert.deepEqual(serviceConfig(config, "plain"), {
      balancer: { policy: "least_request", leastRequest: { choiceCount: 3 } },
      outlier: { consecutiveFailures: 3 },
      retries: { attempts: 3, on: ["connect-error", "reset"] },
      timeoutMs: 30_000,
    });
    assert.deepEqual(serviceConfig(config, "unlisted"), serviceConfig(config, "plain"));
    // What validates here builds: router, outlier detector, health checker.
    const echo = serviceConfig(config, "echo");
    assert.equal(createRouter(echo.routing).route([], {}).route, "default");
    new OutlierDetector(serviceConfig(config, "plain").outlier || {}).close();
    if (echo.healthCheck) new HealthChecker(echo.healthCheck).close();
  });

  it("loads the same from JSON, and an empty YAML file as no config", async () => {
    const json = { services: { echo: { balancer: { policy: "maglev", maglev: { tableSize: 65537 } }, retries: { on: ["5xx"] } } } };
    const config = await loadClientConfig(file("client.json", JSON.stringify(json, null, 2)));
    assert.deepEqual(serviceConfig(config, "echo"), {
      balancer: { policy: "maglev", maglev: { tableSize: 65537 } },
      retries: { attempts: 2, on: ["5xx"] },
      timeoutMs: 30_000,
    });
    assert.deepEqual(await loadClientConfig(file("empty.yml", "# nothing yet\n")), {});
  });

  it("uses built-in defaults for an empty config, and does not merge inside a section", () => {
    assert.deepEqual(serviceConfig({}, "x"), { balancer: { policy: "round_robin" }, balancerIsDefault: true, retries: { attempts: 2, on: ["connect-error", "reset"] }, timeoutMs: 30_000 });
    const config: ClientConfig = parseClientConfig({
      defaults: { balancer: { policy: "random", zone: { local: "a" } }, retries: { attempts: 5, on: ["5xx"] }, healthCheck: { path: "/h", intervalMs: 1, timeoutMs: 1 } },
      services: { s: { balancer: { policy: "round_robin" }, retries: { attempts: 1 }, healthCheck: false } },
    });
    const s = serviceConfig(config, "s");
    assert.deepEqual(s.balancer, { policy: "round_robin" }, "no zone from the defaults");
    assert.deepEqual(s.retries, { attempts: 1, on: ["connect-error", "reset"] }, "`on` from the built-in default, not the defaults layer");
    assert.equal(s.healthCheck, false);
    assert.equal(serviceConfig(config, "constructor").balancer.policy, "random", "no prototype lookups");
    // A literal that never went through parseClientConfig gets retries' missing fields too.
    assert.deepEqual(serviceConfig({ defaults: { retries: { attempts: 0 } } }, "x").retries, { attempts: 0, on: ["connect-error", "reset"] });
    assert.deepEqual(serviceConfig({ services: { x: { retries: { on: ["5xx"] } } } }, "x").retries, { attempts: 2, on: ["5xx"] });
  });

  it("lists every problem with its path", async () => {
    const msg = await configError(() =>
      parseClientConfig(
        {
          defaults: { timeoutMs: -1, retries: { attempts: 11, on: ["timeout"] } },
          services: {
            echo: { balancer: { policy: "fastest" }, outlier: { maxEjectionPercent: 5, typo: 1 }, healthCheck: { path: "healthz", intervalMs: 1, timeoutMs: 1 } },
            other: { balancer: { policy: "maglev", maglev: { tableSize: 65536 } }, hashKey: "x-user" },
          },
          extra: true,
        },
        "test-input",
      ),
    );
    assert.match(msg, /^invalid client config in test-input:\n/);
    const lines = msg.split("\n").slice(1);
    const expected = [
      "  defaults.timeoutMs: Too small: expected number to be >0",
      "  defaults.retries.attempts: Too big: expected number to be <=10",
      "  defaults.retries.on.0: must be one of connect-error, 5xx, reset",
      "  services.echo.balancer.policy: must be one of round_robin, weighted_round_robin, random, least_request, ring_hash, maglev, source_affinity, least_connection, shortest_expected_delay, never_queue",
      "  services.echo.outlier.maxEjectionPercent: Too small: expected number to be >=10",
      "  services.echo.outlier.typo: unknown key",
      '  services.echo.healthCheck.path: must start with "/"',
      "  services.other.balancer.maglev.tableSize: must be a prime",
      "  services.other.hashKey: expected object, received string",
      "  extra: unknown key",
    ];
    assert.deepEqual([...lines].sort(), [...expected].sort());
  });

  it("validates routing: selectors parse, weights are >= 0 and not all 0, regexes compile, names are unique", async () => {
    const routing = (rules: unknown) => () => parseClientConfig({ services: { echo: { routing: { rules } } } });
    const rule = (split: unknown, extra: object = {}) => ({ name: "r", split, ...extra });
    assert.match(await configError(routing([rule([{ subset: "version in v2", weight: 1 }])])), /services\.echo\.routing\.rules\.0\.split\.0\.subset: invalid selector "version in v2": expected "\(" at position 11/);
    assert.match(await configError(routing([rule([{ subset: "a", weight: 0 }, { subset: "b", weight: 0 }])])), /rules\.0\.split: weights must not all be 0/);
    assert.match(await configError(routing([rule([{ subset: "a", weight: -1 }])])), /rules\.0\.split\.0\.weight: Too small/);
    assert.match(await configError(routing([rule([])])), /rules\.0\.split: Too small/);
    assert.match(await configError(routing([rule([{ subset: "a", weight: 1 }], { match: { headers: { h: "~([" } } })])), /rules\.0\.match\.headers\.h: invalid regex/);
    assert.match(await configError(routing([rule([{ subset: "a", weight: 1 }]), rule([{ subset: "b", weight: 1 }])])), /rules\.1\.name: duplicate rule name "r"/);
    assert.match(await configError(() => parseClientConfig({ defaults: { routing: { tag: { fallback: "all" } } } })), /defaults\.routing\.tag\.fallback: must be one of untagged, any, none/);
  });

  it("accepts exactly the balancer settings createPicker accepts (a file that validates never fails at pick time)", () => {
    const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
    const n = fc.oneof(fc.integer({ min: -2, max: 70 }), fc.constantFrom(0.5, 65537, 65536, 8_388_608, 8_388_609, 5_000_011, 5_000_012));
    const balancer = fc.record(
      {
        policy: fc.constantFrom("round_robin", "maglev", "ring_hash", "least_request"),
        slowStart: opt(fc.record({ windowMs: n, aggression: opt(n), minWeightPercent: opt(n), refreshMs: opt(n) }, { requiredKeys: ["windowMs"] })),
        zone: opt(fc.record({ local: fc.constantFrom("z", ""), minLocalInstances: opt(n), minLocalPercent: opt(n) }, { requiredKeys: ["local"] })),
        leastRequest: opt(fc.record({ choiceCount: opt(n), activeRequestBias: opt(n) }, { requiredKeys: [] })),
        ringHash: opt(fc.record({ pointsPerInstance: opt(n), maxRingSize: opt(n) }, { requiredKeys: [] })),
        maglev: opt(fc.record({ tableSize: opt(n) }, { requiredKeys: [] })),
      },
      { requiredKeys: ["policy"] },
    );
    fc.assert(
      fc.property(balancer, (b) => {
        const clean = JSON.parse(JSON.stringify(b)) as Parameters<typeof createPicker>[0];
        let schemaOk = true;
        try {
          parseClientConfig({ defaults: { balancer: clean } });
        } catch {
          schemaOk = false;
        }
        let pickerOk = true;
        try {
          createPicker(clean, []);
        } catch {
          pickerOk = false;
        }
        assert.equal(schemaOk, pickerOk, JSON.stringify(clean));
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects a non-object config", async () => {
    assert.match(await configError(() => parseClientConfig(null)), /\(root\): expected object, received null/);
    assert.match(await configError(() => parseClientConfig({ services: [] })), /services: expected record, received array/);
  });

  it("names the file and line for file problems", async () => {
    const missing = join(dir, "missing.yaml");
    assert.equal(await configError(() => loadClientConfig(missing)), `client config ${missing}: file not found`);
    const ext = await configError(() => loadClientConfig(file("client.toml", "")));
    assert.match(ext, /unknown extension "\.toml"; use \.yaml, \.yml or \.json/);
    const badYaml = file("bad.yaml", "services:\n  echo:\n    balancer: [round_robin\n  other: {}\n");
    assert.equal(await configError(() => loadClientConfig(badYaml)), `client config ${badYaml}:4:3: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`);
    const dupYaml = file("dup.yaml", "services:\n  echo: {}\n  echo: {}\n");
    assert.equal(await configError(() => loadClientConfig(dupYaml)), `client config ${dupYaml}:3:3: invalid YAML: Map keys must be unique`);
    const badJson = file("bad.json", '{\n  "services": {\n    "echo": {},\n  }\n}\n');
    assert.match(await configError(() => loadClientConfig(badJson)), new RegExp(`^client config ${badJson}:4:3: invalid JSON: `));
  });

  it("names the line of each validation problem in a file", async () => {
    const path = file("invalid.yaml", "defaults:\n  timeoutMs: 100\nservices:\n  echo:\n    balancer:\n      policy: fastest\n    retries:\n      attempts: 20\n    healthCheck:\n      intervalMs: 10\n");
    const msg = await configError(() => loadClientConfig(path));
    assert.equal(
      msg,
      [
        `invalid client config in ${path}:`,
        "  services.echo.balancer.policy (line 6): must be one of round_robin, weighted_round_robin, random, least_request, ring_hash, maglev, source_affinity, least_connection, shortest_expected_delay, never_queue",
        "  services.echo.retries.attempts (line 8): Too big: expected number to be <=10",
        "  services.echo.healthCheck.path (line 10): expected string, received undefined",
        "  services.echo.healthCheck.timeoutMs (line 10): expected number, received undefined",
      ].join("\n"),
    );
    const json = file("invalid.json", '{\n  "services": {\n    "echo": {\n      "timeoutMs": "fast"\n    }\n  }\n}\n');
    assert.match(await configError(() => loadClientConfig(json)), /services\.echo\.timeoutMs \(line 4\): expected number, received string/);
  });
});
