/**
 * random: each pick independent, with probability proportional to the
 * (effective) weight: one draw from an alias table (sampler.ts), O(1) per pick
 * whatever the weights, built with the picker (and rebuilt, O(n), only when
 * slow start changes the weights). Weight-0 instances are never picked unless
 * all weights are 0 (then uniformly among all).
 */
import type { Instance } from "../model/instance.js";
import type { ResolvedConfig, ResolvedContext } from "./config.js";
import { WeightedSampler } from "./sampler.js";
import type { Picker, PolicyName } from "./types.js";
import { EffectiveWeights } from "./weights.js";

export class RandomPicker implements Picker {
  readonly policy: PolicyName = "random";
  readonly size: number;
  private readonly weights: EffectiveWeights;
  private readonly sampler: WeightedSampler;
  private readonly random: () => number;

  constructor(
    private readonly instances: readonly Instance[],
    config: ResolvedConfig,
    ctx: ResolvedContext,
  ) {
    this.weights = new EffectiveWeights(instances, config.slowStart, ctx.now);
    this.sampler = new WeightedSampler(this.weights.values);
    this.size = this.sampler.size;
    this.random = ctx.random;
  }

  pick(): Instance | undefined {
    if (this.weights.refresh()) this.sampler.update(this.weights.values);
    return this.instances[this.sampler.sample(this.random())];
  }
}
