/**
 * The online VIS model (MinVIS-style): the per-frame segmenter trained on single frames, with an
 * optional contrastive identity term on pairs of frames of one video, and at inference each frame's
 * queries handed to a tracker (src/infer/online-segmenter.ts) that associates them by cosine similarity
 * of their embeddings.
 *
 * This module holds the training loss of one batch; the post-processing the tracker consumes is in
 * src/processing/postprocess.ts and the model file in src/models/model-file.ts.
 */
import * as tf from "@tensorflow/tfjs";
import { batchSum, randomOf, WHOLE_BATCH, type BatchShares, type Randoms } from "../batch-shares.js";
import type { CriterionConfig } from "../config.js";
import { contrastiveIdentityLoss, criterion, type CriterionTarget, type Match } from "../criterion.js";
import {
  cropImages,
  jitteredInstanceBoxes,
  type CropClassifier,
  type LabelledCrops,
} from "../crop-classifier.js";
import type { FrameSegmenter, SegmenterOutput } from "../segmenter.js";

/** What one training step of the online model computes. */
export interface OnlineLoss {
  loss: tf.Scalar;
  /** The criterion's unweighted terms plus `loss_contrastive` when enabled. */
  terms: Record<string, tf.Scalar>;
  /** Final-layer Hungarian assignment of queries to GT per image (distillation hook). */
  matches: Match[];
  /** The segmenter's outputs (queryEmbed and queryFeatures are the distillation hook's embeddings). */
  output: SegmenterOutput;
}

/**
 * Forward + loss on a batch of frames (pairs of frames of one video at 2p, 2p+1 when the contrastive
 * weight is positive), or on a share of one (`shares`: normalised as the whole batch). `rng`: one
 * stream, or one per image. Call inside tf.variableGrads / the trainer's step; the caller owns the
 * tensors.
 */
export function onlineLoss(
  segmenter: FrameSegmenter,
  images: tf.Tensor4D,
  targets: CriterionTarget[],
  config: CriterionConfig,
  rng: Randoms,
  crops?: LabelledCrops,
  shares: BatchShares = WHOLE_BATCH,
): OnlineLoss {
  const output = segmenter.forward(images);
  const { loss, terms, matches } = criterion(output, targets, { ...config, rng, shares });
  const extra: tf.Scalar[] = [];
  if (config.contrastiveWeight > 0) {
    terms.loss_contrastive = contrastiveIdentityLoss(
      output.queryEmbed,
      matches,
      targets,
      config.contrastiveTemperature,
      shares,
    );
    extra.push(tf.mul(terms.loss_contrastive, config.contrastiveWeight) as tf.Scalar);
  }
  if (segmenter.cropClassifier) {
    const crop = cropLoss(
      segmenter.cropClassifier,
      images,
      targets,
      config.cropsPerInstance,
      rng,
      crops,
      shares,
    );
    if (crop) {
      terms.loss_crop = crop;
      extra.push(tf.mul(crop, config.cropWeight) as tf.Scalar);
    }
  }
  if (extra.length === 0) return { loss, terms, matches, output };
  const total = tf.addN([loss, ...extra]) as tf.Scalar;
  tf.dispose([loss, ...extra]);
  return { loss: total, terms, matches, output };
}

/**
 * The crop classifier's cross-entropy on `perInstance` jittered crops of every GT instance of the batch
 * (boxes from the GT masks; `rng`: one stream, or one per image) and on `extra` crops already cut (more
 * frames' instances, see VisBatch), averaged over the crops of the whole batch (`shares`); null when this
 * share has no crop.
 */
export function cropLoss(
  classifier: CropClassifier,
  images: tf.Tensor4D,
  targets: CriterionTarget[],
  perInstance: number,
  rng: Randoms,
  extra?: LabelledCrops,
  shares: BatchShares = WHOLE_BATCH,
): tf.Scalar | null {
  const boxes: ReturnType<typeof jitteredInstanceBoxes>["boxes"] = [];
  const imageIndices: number[] = [];
  const labels: number[] = [];
  targets.forEach((target, b) => {
    const [m, height, width] = target.masks.shape;
    const data = m > 0 ? target.masks.dataSync() : new Float32Array(0);
    const masks = Array.from({ length: m }, (_, i) =>
      data.subarray(i * height * width, (i + 1) * height * width),
    );
    const image = jitteredInstanceBoxes(
      [{ masks, labels: target.labels, height, width }],
      perInstance,
      randomOf(rng, b),
    );
    boxes.push(...image.boxes);
    imageIndices.push(...image.imageIndices.map(() => b));
    labels.push(...image.labels);
  });
  if (extra) labels.push(...extra.labels);
  const [batchCrops] = batchSum(shares, [labels.length]);
  if (labels.length === 0) return null;
  return tf.tidy(() => {
    const crops = [
      ...(boxes.length > 0 ? [cropImages(images, boxes, imageIndices, classifier.cropSize)] : []),
      ...(extra ? [extra.images] : []),
    ];
    const logits = classifier.classify(crops.length === 1 ? crops[0] : (tf.concat(crops) as tf.Tensor4D));
    const total = tf.losses.softmaxCrossEntropy(
      tf.oneHot(labels, classifier.numClasses),
      logits,
      undefined,
      undefined,
      tf.Reduction.SUM,
    );
    return tf.div(total, batchCrops) as tf.Scalar;
  });
}
