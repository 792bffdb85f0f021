/** A service's policy as the server knows it, and how to call it (Nacos's sample code, for podreg's clients). */
import type { Instance } from "../api.js";
import { useStore } from "../store.js";

export function PolicyView(props: { serviceKey: string; instances: readonly Instance[] }) {
  const s = useStore();
  const own = s.policies?.services[props.serviceKey];
  const p = own ?? s.policies?.defaults;
  if (!p) return null;
  const affinity = p.balancerIsDefault && props.instances.length > 0 && props.instances.every((i) => i.metadata["podreg.io/session-affinity"] === "ClientIP");
  const rows: [string, string][] = [
    ["Balancer", affinity ? "source_affinity (the Service's sessionAffinity: ClientIP)" : JSON.stringify(p.balancer)],
    ["Hash key", p.hashKey?.header ? `header ${p.hashKey.header}` : "none"],
    ["Routing", p.routing ? JSON.stringify(p.routing) : "none"],
    ["Outlier detection", p.outlier ? JSON.stringify(p.outlier) : "off"],
    ["Health checks", p.healthCheck ? JSON.stringify(p.healthCheck) : "off"],
    ["Retries", `${p.retries.attempts} on ${p.retries.on.join(", ")}`],
    ["Timeout", `${p.timeoutMs} ms`],
  ];
  return (
    <>
      <h2>Client policy</h2>
      <p class="muted">{own ? "From the server's configuration for this service." : "The server's defaults: its configuration names no policy for this service."}</p>
      <dl class="policy" data-testid="policy">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>
              <code>{v}</code>
            </dd>
          </div>
        ))}
      </dl>
    </>
  );
}

export function CallIt(props: { name: string; serviceKey: string; protocols: string[]; xds: boolean }) {
  const origin = location.origin;
  const http = props.protocols.some((p) => p === "http" || p === "https") || props.protocols.length === 0;
  const grpc = props.protocols.some((p) => p === "grpc" || p === "http2" || p === "h2c");
  const enc = encodeURIComponent(props.serviceKey);
  const samples: [string, string][] = [["curl (the registry)", `curl ${origin}/v1/services/${enc}/instances`]];
  if (http) {
    samples.push([
      "fetch through podreg/client",
      `import { RemoteRegistry } from "podreg";\nimport { PodregDispatcher, createFetch } from "podreg/client";\n\nconst discovery = new RemoteRegistry({ url: "${origin}" });\nconst fetch = createFetch(new PodregDispatcher({ discovery }));\nconst res = await fetch("http://${props.name}/");`,
    ]);
  }
  if (grpc) {
    samples.push([
      "grpc-js through podreg:///",
      `import * as grpc from "@grpc/grpc-js";\nimport { RemoteRegistry } from "podreg";\nimport { registerPodregGrpc } from "podreg/grpc";\n\nregisterPodregGrpc({ discovery: new RemoteRegistry({ url: "${origin}" }) });\nconst client = new Client("podreg:///${props.name}", grpc.credentials.createInsecure());`,
    ]);
    if (props.xds) {
      samples.push([
        "grpc-js through xDS (xds:///)",
        `// GRPC_XDS_BOOTSTRAP_CONFIG names this server's xDS port (docs/xds.md)\nimport { register } from "@grpc/grpc-js-xds";\nregister();\nconst client = new Client("xds:///${props.name}", grpc.credentials.createInsecure());`,
      ]);
    }
  }
  return (
    <>
      <h2>Call it</h2>
      {samples.map(([title, code]) => (
        <figure key={title} class="sample">
          <figcaption>{title}</figcaption>
          <pre tabIndex={0}>
            <code>{code}</code>
          </pre>
        </figure>
      ))}
    </>
  );
}
