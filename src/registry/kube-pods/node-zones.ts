/**
 * Zones of Nodes (`topology.kubernetes.io/zone`), for pods whose own labels
 * and metadata name none: the scheduler puts the zone on the Node, not on the
 * Pod, so without this most kube-pods instances would have no zone and the
 * zone-aware picker nothing to work with.
 *
 * Nodes are cluster-scoped: reading them needs a ClusterRole (deploy/rbac.yaml
 * ships `podreg-node-zones`). Without it the watch is refused; that is logged
 * once, the watch is stopped (a refusal is not an outage to retry forever),
 * and zones come from pod labels and metadata only.
 */
import type { KubeClient } from "../../kube/client.js";
import { slimNode, type SlimNode } from "../../kube/discovery-objects.js";
import { Informer } from "../../kube/informer.js";
import { acquireInformer, type Lease } from "../../kube/shared.js";
import type { Clock } from "../../util/clock.js";
import type { Logger } from "../../util/logger.js";

export interface NodeZonesOptions {
  client: KubeClient;
  /** Called with a node's name when its zone changes (appears, changes, goes). */
  onChange: (node: string) => void;
  logger: Logger;
  clock?: Clock;
  /** Outages at debug: hosts that report them from onStatus() (the CLI) already say the API server is gone. */
  quietRetries?: boolean;
}

export class NodeZones {
  private readonly zones = new Map<string, string>();
  private readonly lease: Lease<SlimNode>;
  private readonly unhooks: (() => void)[] = [];
  private released = false;
  /** Resolves when the zones are known, or known to be unavailable (refused, stopped). */
  readonly ready: Promise<void>;

  constructor(private readonly o: NodeZonesOptions) {
    // Shared per client: every kube-pods registry of a process needs the same zones.
    this.lease = acquireInformer<SlimNode>(
      o.client,
      "nodes|zones",
      // Quiet: failures are reported here, once, not by the reflector on every retry.
      () => new Informer<SlimNode>({ client: o.client, path: "/api/v1/nodes", transform: slimNode as never, key: (n) => n.name, quietRetries: true, clock: o.clock, logger: o.logger }),
    );
    const informer = this.lease.informer;
    for (const n of informer.list()) this.set(n.name, n.zone);
    let refused!: () => void;
    const gaveUp = new Promise<void>((resolve) => (refused = resolve));
    let warned = false;
    this.unhooks.push(
      informer.addHandler({
        onAdd: (n) => this.update(n.name, n.zone),
        onUpdate: (_, n) => this.update(n.name, n.zone),
        onDelete: (n) => this.update(n.name, undefined),
      }),
      informer.onHealth((h) => {
        if (h.type !== "failing" || this.released) return;
        if ((h.error as { code?: string }).code === "PODREG_KUBE_FORBIDDEN") {
          o.logger.info({ code: "PODREG_KUBE_FORBIDDEN" }, "kube-pods: Nodes may not be read; zones come from pod labels and metadata only (grant list/watch on nodes for zones)");
          refused();
          void this.close();
          return;
        }
        if (!warned) (o.quietRetries ? o.logger.debug : o.logger.warn).call(o.logger, { err: h.error }, "kube-pods: cannot watch Nodes; zones may be stale until it recovers");
        warned = true;
      }),
    );
    this.ready = Promise.race([informer.whenSynced().catch(() => {}), gaveUp]);
  }

  zone(node: string | undefined): string | undefined {
    return node === undefined ? undefined : this.zones.get(node);
  }

  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    for (const u of this.unhooks) u();
    await this.lease.release();
  }

  private update(node: string, zone: string | undefined): void {
    if (this.zones.get(node) === zone) return;
    this.set(node, zone);
    this.o.onChange(node);
  }

  private set(node: string, zone: string | undefined): void {
    if (zone === undefined) this.zones.delete(node);
    else this.zones.set(node, zone);
  }
}
