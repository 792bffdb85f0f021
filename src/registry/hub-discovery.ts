/**
 * The Discovery side every source shares: an InstanceHub holding what the
 * source found, a StatusTracker for its connection, and the contract's
 * reads and subscriptions over them. A source says how names resolve, starts
 * its discovery in start() (called on the first subscribe, whenSynced or
 * onStatus; reads start nothing), and fills the hub.
 */
import type { RegistryListener, ServiceSelector, StatusListener } from "../model/events.js";
import type { Instance } from "../model/instance.js";
import type { ServiceKey } from "../model/service-key.js";
import type { Logger } from "../util/logger.js";
import { InstanceHub } from "./hub.js";
import type { Discovery, Subscription } from "./registry.js";
import { StatusTracker } from "./status.js";

export abstract class HubDiscovery implements Discovery {
  abstract readonly name: string;
  protected readonly hub: InstanceHub;
  protected readonly tracker: StatusTracker;

  constructor(o: { logger: Logger; now: () => number }) {
    this.hub = new InstanceHub(o.logger);
    this.tracker = new StatusTracker(o.now, o.logger);
  }

  abstract resolve(name: string): ServiceKey;
  abstract close(): Promise<void>;

  /** Starts discovery; later calls must do nothing. Default: nothing to start. */
  protected start(): void {}

  subscribe(selector: ServiceSelector, listener: RegistryListener): Subscription {
    this.start();
    return this.hub.subscribe(this.key(selector), listener);
  }

  /** A read of the cache: starts nothing (empty until discovery started and synced). */
  instances(service: ServiceSelector): readonly Instance[] {
    return this.hub.instances(this.key(service));
  }

  services(): ServiceKey[] {
    return this.hub.services();
  }

  get synced(): boolean {
    return this.hub.synced;
  }

  whenSynced(signal?: AbortSignal): Promise<void> {
    this.start();
    return this.hub.whenSynced(signal);
  }

  /** synced (also to a listener that comes after it), failing, recovered; asynchronously, in order. */
  onStatus(listener: StatusListener): Subscription {
    this.start();
    const sub = this.tracker.onStatus(listener);
    if (this.hub.synced) {
      let open = true;
      queueMicrotask(() => open && listener({ type: "synced" }));
      return {
        close: () => {
          open = false;
          sub.close();
        },
      };
    }
    return sub;
  }

  /** The hub and the tracker both mark it: whenSynced() and onStatus() listeners learn together. */
  protected markSynced(): void {
    this.hub.markSynced();
    this.tracker.markSynced();
  }

  private key(selector: ServiceSelector): ServiceKey | "*" {
    return selector === "*" ? "*" : this.resolve(selector);
  }
}
