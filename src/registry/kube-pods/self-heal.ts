/**
 * A registrar watches its own pod, as a controller watches what it owns: if
 * anyone removes or changes its label or entries (a `kubectl annotate
 * --overwrite`, a deploy tool that replaces annotations, a neighbour's bad
 * write), it writes them back. Restores are rate limited by a backoff so two
 * writers that disagree can't spin the API server.
 */
import type { KubeClient } from "../../kube/client.js";
import { Informer } from "../../kube/informer.js";
import { podKey, slimPodTransform, type SlimPod } from "../../kube/pods.js";
import { Backoff } from "../../util/backoff.js";
import { sleep, type Clock } from "../../util/clock.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import type { PodIdentity } from "./identity.js";
import type { PodMeta } from "./plan.js";

export interface SelfHealOptions {
  client: KubeClient;
  pod: PodIdentity;
  /** Annotations the check needs. */
  keep: readonly string[];
  /** Whether the pod as seen lacks something of ours (pure, cheap). */
  needsWrite: (pod: PodMeta) => boolean;
  /** Re-reads the pod and writes what is missing; resolves true if it wrote. */
  reconcile: () => Promise<boolean>;
  clock: Clock;
  logger: Logger;
}

export class SelfHeal {
  private informer: Informer<SlimPod> | undefined;
  private running = false;
  private pending = false;
  private readonly backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  private lastRestore = 0;

  constructor(private readonly o: SelfHealOptions) {}

  start(): void {
    if (this.informer) return;
    const { namespace, name } = this.o.pod;
    const informer = new Informer<SlimPod>({
      client: this.o.client,
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      fieldSelector: `metadata.name=${name}`,
      transform: slimPodTransform(this.o.keep),
      key: podKey,
      clock: this.o.clock,
      // Its retries while the API server is away are not news (the registration's own calls report that);
      // a watch that can never work (RBAC) is, once.
      logger: silentLogger,
    });
    informer.addHandler({ onAdd: (p) => this.check(p), onUpdate: (_, p) => this.check(p) });
    informer.onHealth((h) => {
      const code = h.type === "failing" ? (h.error as { code?: string }).code : undefined;
      if (code === "PODREG_KUBE_FORBIDDEN" || code === "PODREG_KUBE_UNAUTHORIZED") {
        this.o.logger.warn({ pod: podKey(this.o.pod), code, err: h.type === "failing" ? h.error : undefined }, "cannot watch this pod: registrations removed by others are not restored");
      }
    });
    this.informer = informer;
    informer.start();
  }

  async stop(): Promise<void> {
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop();
  }

  private check(pod: SlimPod): void {
    if (!this.informer || !this.o.needsWrite({ labels: pod.labels, annotations: pod.annotations })) return;
    this.pending = true;
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.pending && this.informer) {
        this.pending = false;
        // Restores in quick succession mean someone keeps undoing ours: wait longer each time.
        const now = this.o.clock.now();
        if (now - this.lastRestore > 60_000) this.backoff.reset();
        else await sleep(this.backoff.next(), { clock: this.o.clock });
        if (!this.informer) break;
        try {
          if (await this.o.reconcile()) {
            this.lastRestore = this.o.clock.now();
            this.o.logger.warn({ pod: podKey(this.o.pod) }, "restored this process's registration, removed or changed by someone else");
          }
        } catch (err) {
          this.o.logger.error({ pod: podKey(this.o.pod), err: err as Error }, "could not restore this process's registration");
          this.pending = true; // the next pod event, or this loop after its backoff, tries again
          this.lastRestore = this.o.clock.now();
        }
      }
    } finally {
      this.running = false;
    }
  }
}
