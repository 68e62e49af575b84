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
import type { Random } from "../../nn/sampling.js";
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
 * weight is positive). Call inside tf.variableGrads / the trainer's step; the caller owns the tensors.
 */
export function onlineLoss(
  segmenter: FrameSegmenter,
  images: tf.Tensor4D,
  targets: CriterionTarget[],
  config: CriterionConfig,
  rng: Random,
  crops?: LabelledCrops,
): OnlineLoss {
  const output = segmenter.forward(images);
  const { loss, terms, matches } = criterion(output, targets, { ...config, rng });
  const extra: tf.Scalar[] = [];
  if (config.contrastiveWeight > 0) {
    terms.loss_contrastive = contrastiveIdentityLoss(
      output.queryEmbed,
      matches,
      targets,
      config.contrastiveTemperature,
    );
    extra.push(tf.mul(terms.loss_contrastive, config.contrastiveWeight) as tf.Scalar);
  }
  if (segmenter.cropClassifier) {
    const crop = cropLoss(segmenter.cropClassifier, images, targets, config.cropsPerInstance, rng, crops);
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
 * (boxes from the GT masks) and on `extra` crops already cut (more frames' instances, see VisBatch);
 * null when there is no instance.
 */
export function cropLoss(
  classifier: CropClassifier,
  images: tf.Tensor4D,
  targets: CriterionTarget[],
  perInstance: number,
  rng: Random,
  extra?: LabelledCrops,
): tf.Scalar | null {
  const gt = targets.map((target) => {
    const [m, height, width] = target.masks.shape;
    const data = m > 0 ? target.masks.dataSync() : new Float32Array(0);
    const masks = Array.from({ length: m }, (_, i) =>
      data.subarray(i * height * width, (i + 1) * height * width),
    );
    return { masks, labels: target.labels, height, width };
  });
  const { boxes, imageIndices, labels } = jitteredInstanceBoxes(gt, perInstance, rng);
  if (extra) labels.push(...extra.labels);
  if (labels.length === 0) return null;
  return tf.tidy(() => {
    const crops = [
      ...(boxes.length > 0 ? [cropImages(images, boxes, imageIndices, classifier.cropSize)] : []),
      ...(extra ? [extra.images] : []),
    ];
    const logits = classifier.classify(crops.length === 1 ? crops[0] : (tf.concat(crops) as tf.Tensor4D));
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, classifier.numClasses), logits) as tf.Scalar;
  });
}
