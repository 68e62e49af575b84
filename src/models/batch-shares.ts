/**
 * What a loss sees of the whole batch when it computes on a share of it.
 *
 * Data-parallel training (src/train/parallel/) splits a batch between workers; each computes the loss
 * and gradients of its share, and the workers' gradients are summed. That sum is the gradient of the
 * whole batch only if every term is a sum over samples divided by a normaliser of the whole batch (the
 * number of GT masks, the summed class weights, the contrastive anchors, the crops), and if terms that
 * pair samples across shares (the offline similarity loss) see the other shares' values. A loss reads
 * those through {@link BatchShares}; with the whole batch in one place, {@link WHOLE_BATCH} hands its
 * own values back.
 *
 * Every share must make the same calls in the same order: the calls are synchronous meeting points of
 * all workers.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.js";
import type { Random } from "../nn/sampling.js";

export interface BatchShares {
  /** This share's position among the batch's shares (0 for the whole batch). */
  readonly index: number;
  /** Number of shares (1 for the whole batch). */
  readonly count: number;
  /** The values every share contributes, in share order (numbers of any length per share). */
  gather(values: readonly number[]): number[][];
}

/** The whole batch, computed in one place. */
export const WHOLE_BATCH: BatchShares = {
  index: 0,
  count: 1,
  gather: (values) => [Array.from(values)],
};

/** Σ over the shares of each value, added in share order (so every share gets the same bits). */
export function batchSum(shares: BatchShares, values: readonly number[]): number[] {
  if (shares.count === 1) return Array.from(values);
  const all = shares.gather(values);
  return values.map((_, i) => all.reduce((sum, share) => sum + share[i], 0));
}

/**
 * A share's part of a weighted mean over the batch: its own weighted mean (over weight `shareWeight`)
 * rescaled to the batch's total weight. Exact (no rescaling) for the whole batch.
 */
export function shareOfMean(mean: tf.Scalar, shareWeight: number, batchWeight: number): tf.Scalar {
  if (shareWeight === batchWeight) return mean;
  return tf.mul(mean, shareWeight / batchWeight) as tf.Scalar;
}

/**
 * Random streams: one for the batch, or one per sample (per image, per clip) so that a sample's draws do
 * not depend on which share it is in.
 */
export type Randoms = Random | readonly Random[];

/** One stream per seed (e.g. the seeds a training batch carries per image). */
export function seededRandoms(seeds: readonly number[]): Random[] {
  return seeds.map((seed) => {
    const rng = new Rng(seed);
    return () => rng.uniform();
  });
}

/** The stream of sample `index`. */
export function randomOf(rng: Randoms, index: number): Random {
  if (typeof rng === "function") return rng;
  const stream = rng[index];
  if (!stream) throw new Error(`no random stream for sample ${index} (${rng.length} given)`);
  return stream;
}

/** `count` independent child streams of each stream of `rng` (e.g. the frames of each clip), flattened. */
export function childRandoms(rng: Randoms, samples: number, count: number): Randoms {
  if (typeof rng === "function") return rng;
  return Array.from({ length: samples }, (_, b) => {
    const parent = randomOf(rng, b);
    return Array.from({ length: count }, () => {
      const child = new Rng(Math.floor(parent() * 2 ** 53));
      return () => child.uniform();
    });
  }).flat();
}
