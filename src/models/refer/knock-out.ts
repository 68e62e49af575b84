/**
 * A trained referring model's weights with components removed: the start of a knock-out ablation, in
 * which every arm continues one trained full model for the same steps, with the components it lacks
 * taken out (training runs that each reach the regime where the model picks objects from scratch do
 * not fit the development box).
 *
 * - Without multi-scale feature mining the text fusions at 1/32 and 1/16 (`mining.fuse_5`, `fuse_4`)
 *   become the image-only convs of the one-scale model (`mining.smooth_5`, `smooth_4`). Each starts
 *   from its fusion's `mix` conv restricted to the image input (the gated feature): the attended words
 *   and the coordinates are dropped with the text.
 * - Without the meta-transfer the `transfer.*` weights go, and the decoder's first conv keeps its
 *   kernel over Y(t) only (its input was [Y(t), θ ∗ X(t)]).
 */
import * as tf from "@tensorflow/tfjs";
import type { ReferConfig } from "../config.js";

/** The components a knock-out can remove. */
export const REFER_COMPONENTS = ["featureMining", "metaTransfer"] as const;
export type ReferComponents = Pick<ReferConfig, (typeof REFER_COMPONENTS)[number]>;

/** The components `from` has and `to` lacks. */
export function removedComponents(from: ReferComponents, to: ReferComponents): (keyof ReferComponents)[] {
  return REFER_COMPONENTS.filter((component) => from[component] && !to[component]);
}

/**
 * `weights` of a model with components `from` (width `dim`) as the weights of one with `to`, which
 * may only remove components. The returned map shares the kept tensors with `weights`; `created`
 * holds the new (sliced) ones, which the caller disposes.
 */
export function knockOutWeights(
  weights: ReadonlyMap<string, tf.Tensor>,
  from: ReferComponents,
  to: ReferComponents,
  dim: number,
): { weights: Map<string, tf.Tensor>; created: tf.Tensor[] } {
  const created: tf.Tensor[] = [];
  const inputChannels = (kernel: tf.Tensor, begin: number) => {
    const [k1, k2, , out] = kernel.shape;
    const sliced = tf.slice(kernel, [0, 0, begin, 0], [k1, k2, dim, out]);
    created.push(sliced);
    return sliced;
  };
  const removed = removedComponents(from, to);
  const dropFeatureMining = removed.includes("featureMining");
  const dropMetaTransfer = removed.includes("metaTransfer");
  const out = new Map<string, tf.Tensor>();
  for (const [name, value] of weights) {
    const fusion = /^mining\.fuse_([45])\.(.*)$/.exec(name);
    if (dropFeatureMining && fusion) {
      const [, level, rest] = fusion;
      if (!rest.startsWith("mix.")) continue;
      const smooth = `mining.smooth_${level}.${rest.slice("mix.".length)}`;
      // The mix conv's input is [attended words (dim), gated feature (dim), x, y].
      out.set(smooth, rest === "mix.weight" ? inputChannels(value, dim) : value);
    } else if (dropMetaTransfer && name.startsWith("transfer.")) {
      continue;
    } else if (dropMetaTransfer && name === "decoder.fuse.weight") {
      out.set(name, inputChannels(value, 0));
    } else {
      out.set(name, value);
    }
  }
  return { weights: out, created };
}
