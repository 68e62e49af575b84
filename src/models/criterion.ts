/**
 * Mask2Former's SetCriterion for the per-frame segmenter, with deep supervision: for the final
 * prediction and for every auxiliary (per-layer) prediction, queries are Hungarian-matched to the ground
 * truth (class + point-sampled BCE/dice costs, src/train/matcher.ts), then
 *   classWeight·CE (no-object class weighted by noObjectWeight)
 *   + maskWeight·BCE + diceWeight·dice on importance-sampled points of the matched masks,
 * each normalised by the number of GT masks in the batch, all layers summed.
 *
 * Data-parallel training computes this on a share of the batch (`shares`, src/models/batch-shares.ts):
 * the normalisers (GT masks, summed class weights, contrastive anchors) are then the whole batch's, so
 * that the shares' losses and gradients add up to the whole batch's. With one random stream per image,
 * an image's random points do not depend on the other images of its share.
 *
 * The final layer's matches are returned: they are the "distillation hook" (which query of which image
 * stands for which GT instance), and the online model's contrastive identity loss uses them too.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { pointMaskLosses, weightedCrossEntropy } from "../nn/losses.js";
import {
  batchSum,
  randomOf,
  shareOfMean,
  WHOLE_BATCH,
  type BatchShares,
  type Randoms,
} from "./batch-shares.js";
import { hungarianMatch, type Match } from "./matcher.js";
import type { CriterionConfig } from "./config.js";
import type { LayerPrediction } from "./segmenter.js";

export type { Match } from "./matcher.js";

/** Ground truth of one image. */
export interface CriterionTarget {
  /** Class index (0..K−1) of each instance, [M]. */
  labels: number[];
  /** Binary masks [M, H, W] (0/1, any resolution; normally the model's input size). */
  masks: tf.Tensor3D;
  /** Identity of each instance within its video (e.g. the annotation id), for the contrastive loss. */
  ids?: number[];
}

export interface CriterionOptions extends Partial<CriterionConfig> {
  /** Source of the random points (matching and loss): one stream, or one per image. */
  rng: Randoms;
  /** The targets are a share of the batch (data-parallel training); default: the whole batch. */
  shares?: BatchShares;
}

export interface CriterionResult {
  /** Sum of the weighted terms over all supervised layers. */
  loss: tf.Scalar;
  /** loss_ce / loss_mask / loss_dice of the final layer, loss_ce_i / … of auxiliary layer i (unweighted). */
  terms: Record<string, tf.Scalar>;
  /** The final prediction's Hungarian assignment to the GT, per image. */
  matches: Match[];
  /** The same for each auxiliary prediction (empty without deep supervision). */
  auxMatches: Match[][];
}

/** See the module comment. `outputs.aux` is used when `deepSupervision` is on (default). */
export function criterion(
  outputs: LayerPrediction & { aux?: LayerPrediction[] },
  targets: CriterionTarget[],
  options: CriterionOptions,
): CriterionResult {
  const batch = outputs.predLogits.shape[0];
  if (targets.length !== batch)
    throw new VidsegError(`criterion: ${batch} images but ${targets.length} targets`);
  // Hungarian matching pairs min(M, Q) queries of an image with M instances: the CE's summed weights.
  const numQueries = outputs.predLogits.shape[1];
  const gtMasks = targets.reduce((sum, t) => sum + t.labels.length, 0);
  const matched = targets.reduce((sum, t) => sum + Math.min(t.labels.length, numQueries), 0);
  const [batchMasks, batchMatched, batchImages] = batchSum(options.shares ?? WHOLE_BATCH, [
    gtMasks,
    matched,
    batch,
  ]);
  const noObjectWeight = options.noObjectWeight ?? 0.1;
  const normalisers = {
    numMasks: Math.max(1, batchMasks),
    classWeightSum: batchMatched + noObjectWeight * (batchImages * numQueries - batchMatched),
  };
  const layers: { prediction: LayerPrediction; suffix: string }[] = [{ prediction: outputs, suffix: "" }];
  if (options.deepSupervision ?? true) {
    (outputs.aux ?? []).forEach((prediction, i) => layers.push({ prediction, suffix: `_${i}` }));
  }
  const allMatches: Match[][] = [];
  const result = tf.tidy(() => {
    const terms: Record<string, tf.Scalar> = {};
    const weighted: tf.Scalar[] = [];
    for (const { prediction, suffix } of layers) {
      const { matches, ce, mask, dice } = layerLoss(prediction, targets, normalisers, options);
      allMatches.push(matches);
      terms[`loss_ce${suffix}`] = ce;
      terms[`loss_mask${suffix}`] = mask;
      terms[`loss_dice${suffix}`] = dice;
      weighted.push(
        tf.addN([
          tf.mul(ce, options.classWeight ?? 2),
          tf.mul(mask, options.maskWeight ?? 5),
          tf.mul(dice, options.diceWeight ?? 5),
        ]) as tf.Scalar,
      );
    }
    return { loss: tf.addN(weighted) as tf.Scalar, terms };
  });
  return { ...result, matches: allMatches[0], auxMatches: allMatches.slice(1) };
}

/**
 * Matching, classification loss and point-sampled mask losses of one prediction; the mask losses are
 * divided by `numMasks`, the CE by `classWeightSum` (both the whole batch's).
 */
function layerLoss(
  prediction: LayerPrediction,
  targets: CriterionTarget[],
  { numMasks, classWeightSum }: { numMasks: number; classWeightSum: number },
  options: CriterionOptions,
): { matches: Match[]; ce: tf.Scalar; mask: tf.Scalar; dice: tf.Scalar } {
  const { predLogits, predMasks } = prediction;
  const [batch, numQueries, numOutputs] = predLogits.shape;
  const noObject = numOutputs - 1;
  const matches = hungarianMatch(predLogits, predMasks, targets, {
    costClass: options.classWeight ?? 2,
    costMask: options.maskWeight ?? 5,
    costDice: options.diceWeight ?? 5,
    numPoints: options.numPoints ?? 12544,
    rng: options.rng,
  });

  const targetClasses = new Int32Array(batch * numQueries).fill(noObject);
  matches.forEach((match, b) =>
    match.queryIndices.forEach(
      (q, k) => (targetClasses[b * numQueries + q] = targets[b].labels[match.targetIndices[k]]),
    ),
  );
  const noObjectWeight = options.noObjectWeight ?? 0.1;
  const classWeights = new Array<number>(numOutputs).fill(1);
  classWeights[noObject] = noObjectWeight;
  const matched = matches.reduce((sum, match) => sum + match.queryIndices.length, 0);
  const ce = shareOfMean(
    weightedCrossEntropy(predLogits, tf.tensor2d(targetClasses, [batch, numQueries], "int32"), classWeights),
    matched + noObjectWeight * (batch * numQueries - matched),
    classWeightSum,
  );

  const sizes = new Set(targets.map((t) => `${t.masks.shape[1]}x${t.masks.shape[2]}`));
  if (sizes.size > 1)
    throw new VidsegError(`criterion: target masks of one batch differ in size (${[...sizes]})`);
  // Per image, so that an image's random points come from its own stream.
  const [, , h, w] = predMasks.shape;
  const masks: tf.Scalar[] = [];
  const dices: tf.Scalar[] = [];
  matches.forEach((match, b) => {
    if (match.queryIndices.length === 0) return;
    const losses = pointMaskLosses(
      tf.gather(
        predMasks.slice([b, 0, 0, 0], [1, numQueries, h, w]).squeeze([0]),
        match.queryIndices,
      ) as tf.Tensor3D,
      tf.gather(targets[b].masks, match.targetIndices).cast("float32") as tf.Tensor3D,
      numMasks,
      {
        numPoints: options.numPoints ?? 12544,
        oversampleRatio: options.oversampleRatio ?? 3,
        importanceSampleRatio: options.importanceSampleRatio ?? 0.75,
        rng: randomOf(options.rng, b),
      },
    );
    masks.push(losses.mask);
    dices.push(losses.dice);
  });
  if (masks.length === 0) return { matches, ce, mask: tf.scalar(0), dice: tf.scalar(0) };
  return { matches, ce, mask: tf.addN(masks) as tf.Scalar, dice: tf.addN(dices) as tf.Scalar };
}

/**
 * Contrastive identity loss on pairs of frames of one video: images 2p and 2p+1 of the batch. For each
 * query of one frame matched to GT instance i, a softmax over all queries of the other frame (cosine
 * similarity / temperature) should pick the query matched to the same instance i; cross-entropy, both
 * directions, averaged over the anchors (of the whole batch when these pairs are a share of it).
 * `queryEmbed` [B, N, E] L2-normalised; returns 0 when no instance is visible in both frames of any pair.
 */
export function contrastiveIdentityLoss(
  queryEmbed: tf.Tensor3D,
  matches: Match[],
  targets: CriterionTarget[],
  temperature: number,
  shares: BatchShares = WHOLE_BATCH,
): tf.Scalar {
  const [batch] = queryEmbed.shape;
  if (batch % 2 !== 0)
    throw new VidsegError(`contrastive loss needs pairs of frames, got a batch of ${batch}`);
  return tf.tidy(() => {
    const losses: tf.Scalar[] = [];
    let anchors = 0;
    for (let p = 0; p < batch; p += 2) {
      for (const [a, b] of [
        [p, p + 1],
        [p + 1, p],
      ]) {
        const queryOfId = (image: number) => {
          const ids = targets[image].ids;
          if (!ids) throw new VidsegError(`contrastive loss needs instance ids (target ${image})`);
          const map = new Map<number, number>();
          matches[image].queryIndices.forEach((q, k) => map.set(ids[matches[image].targetIndices[k]], q));
          return map;
        };
        const inA = queryOfId(a);
        const inB = queryOfId(b);
        const anchorQueries: number[] = [];
        const positives: number[] = [];
        for (const [id, q] of inA) {
          const positive = inB.get(id);
          if (positive === undefined) continue;
          anchorQueries.push(q);
          positives.push(positive);
        }
        if (anchorQueries.length === 0) continue;
        anchors += anchorQueries.length;
        const embedA = tf.gather(queryEmbed.slice([a, 0, 0], [1, -1, -1]).squeeze([0]), anchorQueries);
        const embedB = queryEmbed.slice([b, 0, 0], [1, -1, -1]).squeeze([0]);
        const logits = tf.div(tf.matMul(embedA, embedB, false, true), temperature);
        const oneHot = tf.oneHot(tf.tensor1d(positives, "int32"), embedB.shape[0]);
        losses.push(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits, -1), oneHot))) as tf.Scalar);
      }
    }
    const [batchAnchors] = batchSum(shares, [anchors]);
    if (anchors === 0) return tf.scalar(0);
    return tf.div(tf.addN(losses), batchAnchors) as tf.Scalar;
  });
}
