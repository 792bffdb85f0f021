/**
 * round_robin, after grpc-js's RoundRobinPicker: the instances in turn,
 * starting at a random offset (so clients that rebuild their pickers at the
 * same moment do not all send their first call to the same instance). Weights
 * are ignored, except that weight-0 instances take no new traffic unless all
 * instances have weight 0.
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedContext } from "./config.js";
import type { Picker, PolicyName } from "./types.js";
import { eligibleByWeight } from "./weights.js";

/** A cursor over a fixed list, wrapping around; the rotation shared by round_robin, weighted_round_robin and source_affinity. */
export class Rotation {
  private next: number;

  constructor(
    private readonly list: readonly Instance[],
    random: () => number,
  ) {
    this.next = Math.min((random() * list.length) | 0, Math.max(list.length - 1, 0));
  }

  take(): Instance | undefined {
    const i = this.next;
    this.next = i + 1 >= this.list.length ? 0 : i + 1;
    return this.list[i];
  }
}

export class RoundRobinPicker implements Picker {
  readonly policy: PolicyName = "round_robin";
  readonly size: number;
  private readonly rotation: Rotation;

  constructor(instances: readonly Instance[], ctx: ResolvedContext) {
    const list = eligibleByWeight(instances);
    this.size = list.length;
    this.rotation = new Rotation(list, ctx.random);
  }

  pick(): Instance | undefined {
    return this.rotation.take();
  }
}
