/**
 * A provider: registers this pod's `echo` service (HTTP on 8080) and
 * deregisters on SIGTERM / Ctrl-C. In a pod, POD_NAME and POD_NAMESPACE come
 * from the Downward API (deploy/example-deployment.yaml); outside one, set
 * them to a pod that exists (docs/registry.md, "Outside a pod").
 *
 *   node --import tsx examples/provider.ts
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { KubePodsRegistry } from "podreg";

const server = createServer((_req, res) => res.end(`hello from ${process.env.POD_NAME ?? "here"}\n`));
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 8080), resolve));
const { port } = server.address() as AddressInfo; // PORT=0: a free port

const registry = new KubePodsRegistry(); // KUBECONFIG, ~/.kube/config, or in-cluster
const handle = await registry.register({ service: "echo", port, metadata: { version: "v1" } });
console.log(`registered ${handle.service} on port ${port}`);
// On SIGTERM / SIGINT the registry deregisters, then re-raises the signal: the process ends as
// it would have, only after its entry is gone (a handler of your own would decide instead).
