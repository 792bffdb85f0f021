/**
 * The server's OpenAPI 3.1 document, served at /openapi.json. The tests
 * validate every response they receive against it (ajv, JSON Schema
 * 2020-12), so it cannot drift from what the server does.
 */
const json = (schema: object) => ({ "application/json": { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: json(ref("Error")) });
const errors = {
  "400": error("A request that is not well formed, or a refused registration"),
  "404": error("No such service or instance"),
};
const writeErrors = {
  ...errors,
  "401": error("No token, or not this server's"),
  "413": error("The body is over the server's limit"),
};
const strings = { type: "object", additionalProperties: { type: "string" } };
const serviceName = {
  name: "name",
  in: "path",
  required: true,
  description: "A service as a consumer names it: `echo` (the server's namespace), `shop/echo`, `echo.shop.svc`, an RPC interface name; percent-encoded",
  schema: { type: "string" },
};
const instanceId = { name: "id", in: "path", required: true, schema: { type: "string", pattern: "^[A-Za-z0-9._-]{1,64}$" } };

export const openApiDocument = {
  openapi: "3.1.0",
  info: { title: "podreg server", version: "1", description: "Service registry: discovery of every configured source, registration in the local registry. See docs/server.md." },
  components: {
    securitySchemes: { token: { type: "http", scheme: "bearer", description: "The server's token (its data dir's `token` file, or --token-file)" } },
    schemas: {
      Error: {
        type: "object",
        required: ["code", "message"],
        additionalProperties: false,
        properties: { code: { type: "string", pattern: "^PODREG_[A-Z_]+$" }, message: { type: "string" } },
      },
      Instance: {
        type: "object",
        required: ["id", "key", "service", "host", "port", "protocol", "weight", "metadata", "labels", "ready", "source"],
        additionalProperties: false,
        properties: {
          id: { type: "string" },
          key: { type: "string" },
          service: { type: "string" },
          host: { type: "string" },
          port: { type: "integer", minimum: 1, maximum: 65535 },
          protocol: { type: "string" },
          weight: { type: "number", minimum: 0 },
          metadata: strings,
          labels: strings,
          zone: { type: "string" },
          node: { type: "string" },
          namespace: { type: "string" },
          cluster: { type: "string" },
          ready: { type: "boolean" },
          startTime: { type: "number" },
          source: { type: "string" },
          sources: { type: "array", items: { type: "string" } },
          origin: { type: "string", description: "Where in its source: the pod (namespace/name), the local registry entry id" },
        },
      },
      ServiceSummary: {
        type: "object",
        required: ["key", "service", "instances", "ready", "protocols", "sources"],
        additionalProperties: false,
        properties: {
          key: { type: "string" },
          service: { type: "string" },
          namespace: { type: "string" },
          instances: { type: "integer", minimum: 1 },
          ready: { type: "integer", minimum: 0 },
          protocols: { type: "array", items: { type: "string" } },
          sources: { type: "array", items: { type: "string" } },
        },
      },
      Registration: {
        type: "object",
        required: ["service", "port"],
        additionalProperties: false,
        properties: {
          service: { type: "string", minLength: 1, maxLength: 253 },
          port: { type: "integer", minimum: 1, maximum: 65535 },
          host: { type: "string", description: "Default for ephemeral instances: the address the server sees the request from. Required for persistent ones." },
          protocol: { type: "string", default: "http" },
          weight: { type: "number", minimum: 0, default: 100 },
          metadata: strings,
          kind: { enum: ["ephemeral", "persistent"], default: "ephemeral" },
          ttlMs: { type: "integer", minimum: 1000, maximum: 3600000, description: "Lease of an ephemeral instance" },
          id: { type: "string", pattern: "^[A-Za-z0-9._-]{1,64}$", description: "Registering a known id replaces its entry" },
        },
      },
      Entry: {
        type: "object",
        required: ["id", "kind", "spec", "registeredAt"],
        additionalProperties: false,
        properties: {
          id: { type: "string" },
          kind: { enum: ["ephemeral", "persistent"] },
          spec: {
            type: "object",
            required: ["service", "port", "protocol", "weight", "metadata", "host"],
            additionalProperties: false,
            properties: { service: { type: "string" }, port: { type: "integer" }, protocol: { type: "string" }, weight: { type: "number" }, metadata: strings, host: { type: "string" } },
          },
          registeredAt: { type: "number" },
          ttlMs: { type: "integer" },
          expiresAt: { type: "number" },
        },
      },
    },
  },
  paths: {
    "/healthz": { get: { summary: "Liveness", responses: { "200": { description: "Alive", content: json({ type: "object", required: ["status"], properties: { status: { const: "ok" } } }) } } } },
    "/readyz": {
      get: {
        summary: "Every configured source synced",
        responses: Object.fromEntries(
          ["200", "503"].map((s) => [s, { description: s === "200" ? "Ready" : "Not synced, or shutting down", content: json({ type: "object", required: ["status", "synced"], properties: { status: { enum: ["ready", "not ready"] }, synced: { type: "boolean" } } }) }]),
        ),
      },
    },
    "/metrics": { get: { summary: "Prometheus metrics", responses: { "200": { description: "Text exposition format", content: { "text/plain": { schema: { type: "string" } } } } } } },
    "/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1", content: json({ type: "object" }) } } } },
    "/v1/services": {
      get: {
        summary: "Services with at least one instance",
        responses: { "200": { description: "Sorted by key", content: json({ type: "object", required: ["services"], additionalProperties: false, properties: { services: { type: "array", items: ref("ServiceSummary") } } }) } },
      },
    },
    "/v1/services/{name}": { get: { summary: "One service", parameters: [serviceName], responses: { "200": { description: "Its summary", content: json(ref("ServiceSummary")) }, ...errors } } },
    "/v1/services/{name}/instances": {
      get: {
        summary: "A service's instances",
        parameters: [
          serviceName,
          { name: "ready", in: "query", schema: { enum: ["true", "false"] } },
          { name: "selector", in: "query", description: "Label selector over metadata then labels, as podreg/router (`version=v2,zone in (a,b)`)", schema: { type: "string" } },
        ],
        responses: {
          "200": { description: "Sorted by id", content: json({ type: "object", required: ["key", "instances"], additionalProperties: false, properties: { key: { type: "string" }, instances: { type: "array", items: ref("Instance") } } }) },
          ...errors,
        },
      },
    },
    "/v1/status": {
      get: {
        summary: "The source's state for the console: synced, the current failure (redacted) until it recovers, what the server offers",
        responses: {
          "200": {
            description: "Status",
            content: json({
              type: "object",
              required: ["source", "synced", "writes", "xds"],
              additionalProperties: false,
              properties: {
                source: { type: "string" },
                synced: { type: "boolean" },
                failing: { type: "object", required: ["code", "message", "since"], additionalProperties: false, properties: { code: { type: "string" }, message: { type: "string" }, since: { type: "number" } } },
                lastRecovery: { type: "object", required: ["at", "downMs"], additionalProperties: false, properties: { at: { type: "number" }, downMs: { type: "number" } } },
                writes: { type: "boolean", description: "The server takes writes (a local registry and a token)" },
                xds: { type: "boolean", description: "An xDS server runs beside it (/v1/xds/clients)" },
              },
            }),
          },
        },
      },
    },
    "/v1/auth": {
      get: {
        summary: "Checks a token: 204 when it is this server's",
        security: [{ token: [] }],
        responses: { "204": { description: "The token is this server's" }, ...writeErrors },
      },
    },
    "/v1/policies": {
      get: {
        summary: "The client policy the server knows (--config): the defaults, and each configured service by key, resolved as clients resolve them",
        responses: {
          "200": {
            description: "Policies",
            content: json({ type: "object", required: ["defaults", "services"], additionalProperties: false, properties: { defaults: { type: "object" }, services: { type: "object", additionalProperties: { type: "object" } } } }),
          },
        },
      },
    },
    "/v1/xds/clients": {
      get: {
        summary: "xDS clients connected to the server's ADS port, per type the version sent, ACKed and NACKed (istioctl proxy-status)",
        responses: {
          "200": {
            description: "Clients by stream id, and the server's counters",
            content: json({
              type: "object",
              required: ["clients", "stats"],
              additionalProperties: false,
              properties: {
                clients: {
                  type: "array",
                  items: {
                    type: "object",
                    required: ["id", "connectedAt", "types"],
                    properties: {
                      id: { type: "integer" },
                      node: { type: "object", required: ["id", "metadata"], properties: { id: { type: "string" }, cluster: { type: "string" }, userAgent: { type: "string" }, userAgentVersion: { type: "string" }, metadata: strings } },
                      kind: { enum: ["envoy", "grpc"] },
                      connectedAt: { type: "number" },
                      types: {
                        type: "object",
                        additionalProperties: false,
                        patternProperties: {
                          "^(cds|eds|lds|rds)$": {
                            type: "object",
                            required: ["subscribed"],
                            properties: {
                              subscribed: { oneOf: [{ type: "integer" }, { const: "*" }] },
                              sent: { type: "object", required: ["version", "nonce", "at", "resources"] },
                              acked: { type: "object", required: ["version", "at"] },
                              nacked: { type: "object", required: ["version", "error", "at", "count"] },
                            },
                          },
                        },
                      },
                    },
                  },
                },
                stats: { type: "object", required: ["pushes", "nacks", "generations", "streams"] },
              },
            }),
          },
          ...errors,
        },
      },
    },
    "/v1/watch": {
      get: {
        summary: "Server-Sent Events: `snapshot`, then `added` / `updated` / `removed`",
        description:
          "Event ids are `<epoch>.<revision>`. Send `Last-Event-ID` (or `?lastEventId=`) to resume: missed events are replayed, or, when the id is too old or from before a restart, a fresh `snapshot` is sent. Comments (`:keep-alive`) come every 15 s. `data` is the event as JSON: `{type, revision, instances}` or `{type, revision, instance, previous?}`.",
        parameters: [
          { name: "service", in: "query", description: "One service (as in /v1/services/{name}); all when absent", schema: { type: "string" } },
          { name: "lastEventId", in: "query", schema: { type: "string" } },
        ],
        responses: { "200": { description: "An event stream", content: { "text/event-stream": { schema: { type: "string" } } } }, ...errors },
      },
    },
    "/v1/instances": {
      post: {
        summary: "Register an instance in the local registry",
        security: [{ token: [] }],
        requestBody: { required: true, content: json(ref("Registration")) },
        responses: { "201": { description: "Registered; ephemeral ones carry their lease", content: json(ref("Entry")) }, ...writeErrors },
      },
    },
    "/v1/instances/{id}": {
      get: { summary: "A local registry entry", parameters: [instanceId], responses: { "200": { description: "The entry", content: json(ref("Entry")) }, ...errors } },
      patch: {
        summary: "Replace weight and/or metadata",
        security: [{ token: [] }],
        parameters: [instanceId],
        requestBody: { required: true, content: json({ type: "object", additionalProperties: false, properties: { weight: { type: "number", minimum: 0 }, metadata: strings } }) },
        responses: { "200": { description: "The entry as it is now", content: json(ref("Entry")) }, ...writeErrors },
      },
      delete: { summary: "Deregister", security: [{ token: [] }], parameters: [instanceId], responses: { "204": { description: "Deregistered" }, ...writeErrors } },
    },
    "/v1/instances/{id}/heartbeat": {
      put: {
        summary: "Renew an ephemeral instance's lease (404 once it expired: register again)",
        security: [{ token: [] }],
        parameters: [instanceId],
        responses: { "200": { description: "The entry with its new expiry", content: json(ref("Entry")) }, ...writeErrors },
      },
    },
  },
} as const;
