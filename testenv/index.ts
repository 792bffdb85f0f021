export { ensureBinaries, type Binaries, type EnsureBinariesOptions } from "./build.js";
export { startControlPlane, httpsGet, DEFAULT_CONTROLLERS, type ControlPlane, type ControlPlaneOptions } from "./controlplane.js";
export { TestEnvError } from "./errors.js";
export { kubeconfigYaml, writeKubeconfig, type KubeconfigOptions, type KubeconfigUser } from "./kubeconfig.js";
export * from "./helpers.js";
export {
  ensureDubboGoPeer,
  grantDubboGoPodAccess,
  inClusterCredentials,
  startDubboGoPeer,
  type DubboGoPeer,
  type DubboGoPeerBinary,
  type DubboGoPeerOptions,
  type InClusterCredentials,
  type PeerEvent,
} from "./peers.js";
export { ENVOY_VERSION, ensureEnvoy, ensureGoXdsClient, type EnvoyBinary, type GoXdsClientBinary } from "./xds-peers.js";
export { chromiumPath, ensureChromium } from "./browser.js";
