/**
 * The referring model's loss: on the mask (logits upsampled bilinearly to the input size) the Lovász
 * hinge per frame (YOFO's loss), optionally binary cross-entropy and dice; on the weight map W(t) a
 * cross-entropy against the mask's coverage of each 8×8 cell, so that W learns where the target is.
 *
 * Optionally (`otherObjectsWeight`) a cross-entropy on the frame's *other* objects alone, averaged over
 * their pixels: in the plain BCE a few hundred such pixels weigh as little as any background pixel, so
 * masking every salient object costs almost nothing; here covering the wrong object costs as much as
 * missing the right one, which is what the sentence has to decide.
 */
import * as tf from "@tensorflow/tfjs";
import { bceWithLogits, diceLoss, lovaszHinge } from "../../nn/losses.js";
import { resizeBilinear } from "../../nn/sampling.js";
import { batchSum, shareOfMean, WHOLE_BATCH, type BatchShares } from "../batch-shares.js";
import type { ReferConfig } from "../config.js";
import type { ReferOutput } from "./model.js";

export type ReferLossTerms = {
  loss_lovasz?: tf.Scalar;
  loss_bce?: tf.Scalar;
  loss_dice?: tf.Scalar;
  loss_weight_map?: tf.Scalar;
  loss_other_objects?: tf.Scalar;
};

/**
 * masks: [N, H, W] 0/1 at the model's input size, one per output row; others: the same rows' other
 * objects (needed when `otherObjectsWeight` > 0). Every term is a mean over the rows; on a share of the
 * batch (`shares`, data-parallel training) a mean over the whole batch's rows.
 */
export function referLoss(
  output: ReferOutput,
  masks: tf.Tensor3D,
  config: Pick<
    ReferConfig,
    "lovaszWeight" | "bceWeight" | "diceWeight" | "weightMapWeight" | "otherObjectsWeight"
  >,
  shares: BatchShares = WHOLE_BATCH,
  others?: tf.Tensor3D,
): { loss: tf.Scalar; terms: ReferLossTerms } {
  const [n, height, width] = masks.shape;
  const [batchRows] = batchSum(shares, [n]);
  const ofBatch = (mean: tf.Scalar) => shareOfMean(mean, n, batchRows);
  return tf.tidy(() => {
    const logits = resizeBilinear(output.maskLogits, height, width).reshape([n, height, width]);
    const terms: ReferLossTerms = {};
    const parts: tf.Scalar[] = [];
    if (config.lovaszWeight > 0) {
      terms.loss_lovasz = ofBatch(lovaszHinge(logits, masks));
      parts.push(tf.mul(terms.loss_lovasz, config.lovaszWeight));
    }
    if (config.bceWeight > 0) {
      terms.loss_bce = ofBatch(tf.mean(bceWithLogits(logits, masks)) as tf.Scalar);
      parts.push(tf.mul(terms.loss_bce, config.bceWeight));
    }
    if (config.otherObjectsWeight > 0) {
      if (!others) throw new Error("referLoss: otherObjectsWeight needs the other objects' masks");
      // Target 0 on those pixels; a row without other objects adds 0.
      const negative = tf.mul(bceWithLogits(logits, tf.zerosLike(logits)), others);
      const perRow = tf.div(tf.sum(negative, [1, 2]), tf.maximum(tf.sum(others, [1, 2]), 1));
      terms.loss_other_objects = ofBatch(tf.mean(perRow) as tf.Scalar);
      parts.push(tf.mul(terms.loss_other_objects, config.otherObjectsWeight));
    }
    if (config.diceWeight > 0) {
      terms.loss_dice = diceLoss(
        logits.reshape([n, -1]) as tf.Tensor2D,
        masks.reshape([n, -1]) as tf.Tensor2D,
        batchRows,
      );
      parts.push(tf.mul(terms.loss_dice, config.diceWeight));
    }
    if (config.weightMapWeight > 0) {
      const [, h, w] = output.weightLogits.shape;
      const coverage = tf.avgPool(
        masks.reshape([n, height, width, 1]) as tf.Tensor4D,
        [height / h, width / w],
        [height / h, width / w],
        "valid",
      );
      terms.loss_weight_map = ofBatch(tf.mean(bceWithLogits(output.weightLogits, coverage)) as tf.Scalar);
      parts.push(tf.mul(terms.loss_weight_map, config.weightMapWeight));
    }
    return { loss: tf.addN(parts) as tf.Scalar, terms };
  });
}
