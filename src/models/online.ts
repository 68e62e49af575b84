/**
 * The online VIS model (MinVIS-style): the per-frame segmenter trained on single frames, with an
 * optional contrastive identity term on pairs of frames of one video, and at inference each frame's
 * queries handed to a tracker (src/infer/online-segmenter.ts) that associates them by cosine similarity
 * of their embeddings.
 *
 * This module holds the model-side pieces: the training loss of one batch, the per-frame query outputs
 * the tracker consumes (class probabilities, score, embedding, lazily upsampled mask), and the model
 * file (weights + config + category ids in one safetensors file).
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { parseJson } from "../core/json.js";
import { loadSafetensors, saveSafetensors } from "../nn/safetensors.js";
import type { Random } from "../nn/sampling.js";
import { resolveVisConfig, type CriterionConfig, type VisConfig } from "./config.js";
import { contrastiveIdentityLoss, criterion, type CriterionTarget, type Match } from "./criterion.js";
import {
  cropImages,
  jitteredInstanceBoxes,
  likelyObjects,
  maskBox,
  type CropBox,
  type CropClassifier,
  type LabelledCrops,
} from "./crop-classifier.js";
import { FrameSegmenter, disposeSegmenterOutput, type SegmenterOutput } from "./segmenter.js";

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

/** One image's predictions, read back to JavaScript (no tensors held). */
export interface FramePrediction {
  numQueries: number;
  numClasses: number;
  /** [N, K] class probabilities (softmax over K + 1, no-object column dropped). */
  classProbs: Float32Array;
  /** [N] best class probability of each query (MinVIS's query score). */
  scores: Float32Array;
  /** [N, E] L2-normalised association embeddings. */
  embeddings: Float32Array;
  embeddingDim: number;
  /** [N, h, w] mask logits at 1/4 of the model input. */
  maskLogits: Float32Array;
  maskHeight: number;
  maskWidth: number;
}

/** Reads image `b` of a segmenter output into a {@link FramePrediction}. */
export function readFramePrediction(output: SegmenterOutput, b = 0): FramePrediction {
  const [, numQueries, numOutputs] = output.predLogits.shape;
  const [, , maskHeight, maskWidth] = output.predMasks.shape;
  const embeddingDim = output.queryEmbed.shape[2];
  const numClasses = numOutputs - 1;
  const [probs, embeddings, maskLogits] = tf.tidy(() => [
    tf.softmax(output.predLogits.slice([b, 0, 0], [1, -1, -1]), -1),
    output.queryEmbed.slice([b, 0, 0], [1, -1, -1]),
    output.predMasks.slice([b, 0, 0, 0], [1, -1, -1, -1]),
  ]);
  const allProbs = probs.dataSync() as Float32Array;
  const prediction: FramePrediction = {
    numQueries,
    numClasses,
    classProbs: new Float32Array(numQueries * numClasses),
    scores: new Float32Array(numQueries),
    embeddings: Float32Array.from(embeddings.dataSync()),
    embeddingDim,
    maskLogits: Float32Array.from(maskLogits.dataSync()),
    maskHeight,
    maskWidth,
  };
  tf.dispose([probs, embeddings, maskLogits]);
  for (let q = 0; q < numQueries; q++) {
    let best = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = allProbs[q * numOutputs + c];
      prediction.classProbs[q * numClasses + c] = p;
      best = Math.max(best, p);
    }
    prediction.scores[q] = best;
  }
  return prediction;
}

/**
 * Re-classifies the candidate queries of a {@link FramePrediction} with the crop classifier (see
 * src/models/crop-classifier.ts): for each of the (at most `maxCrops`) queries whose object probability
 * 1 − p(no object) reaches `minObjectness`, the box of its mask at the input size is cropped from
 * `image` [1, H, W, 3] and p(class c) becomes (1 − p(no object)) · p_crop(c). Updates `prediction`'s
 * class probabilities and scores in place.
 */
export function classifyCrops(
  prediction: FramePrediction,
  image: tf.Tensor4D,
  classifier: CropClassifier,
  options: { minObjectness?: number; maxCrops?: number } = {},
): void {
  const { numQueries, numClasses, classProbs, scores } = prediction;
  const [, height, width] = image.shape;
  const objectness = Array.from({ length: numQueries }, (_, q) =>
    classProbs.subarray(q * numClasses, (q + 1) * numClasses).reduce((sum, p) => sum + p, 0),
  );
  const candidates = likelyObjects(objectness, options.minObjectness ?? 0.05, options.maxCrops ?? numQueries);
  const boxes: CropBox[] = [];
  const queries: number[] = [];
  for (const q of candidates) {
    const box = maskBox(upsampleQueryMask(prediction, q, height, width), height, width);
    if (!box) continue;
    boxes.push(box);
    queries.push(q);
  }
  if (boxes.length === 0) return;
  const probs = tf.tidy(() =>
    tf.softmax(classifier.forward(image, boxes, new Array<number>(boxes.length).fill(0))).dataSync(),
  );
  queries.forEach((q, i) => {
    let best = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = objectness[q] * probs[i * numClasses + c];
      classProbs[q * numClasses + c] = p;
      best = Math.max(best, p);
    }
    scores[q] = best;
  });
}

/**
 * Queries that repeat a better-scoring query: greedy non-maximum suppression on their masks at the
 * model's 1/4 resolution (logit > 0), best score first; a query whose mask overlaps a kept one by more
 * than `maxIou` is returned. Queries with empty masks are never duplicates.
 */
export function duplicateQueries(prediction: FramePrediction, maxIou: number): Set<number> {
  const { numQueries, maskHeight, maskWidth, maskLogits, scores } = prediction;
  const size = maskHeight * maskWidth;
  const duplicates = new Set<number>();
  if (maxIou >= 1) return duplicates;
  const order = Array.from({ length: numQueries }, (_, q) => q).sort(
    (a, b) => scores[b] - scores[a] || a - b,
  );
  const kept: { mask: Uint8Array; area: number }[] = [];
  for (const q of order) {
    const mask = new Uint8Array(size);
    let area = 0;
    for (let i = 0; i < size; i++) if (maskLogits[q * size + i] > 0) area += mask[i] = 1;
    if (area === 0) continue;
    const repeats = kept.some((other) => {
      let intersection = 0;
      for (let i = 0; i < size; i++) intersection += mask[i] & other.mask[i];
      return intersection / (area + other.area - intersection) > maxIou;
    });
    if (repeats) duplicates.add(q);
    else kept.push({ mask, area });
  }
  return duplicates;
}

/**
 * Query q's mask at height × width: its logits bilinearly upsampled (PyTorch's interpolate,
 * align_corners=False) and thresholded at 0 (sigmoid 0.5). Plain JavaScript: no tensors, O(H·W).
 */
export function upsampleQueryMask(
  prediction: FramePrediction,
  q: number,
  height: number,
  width: number,
): Uint8Array {
  const { maskHeight: h, maskWidth: w, maskLogits } = prediction;
  const base = q * h * w;
  const out = new Uint8Array(height * width);
  const xs = axisTaps(w, width);
  const ys = axisTaps(h, height);
  for (let y = 0; y < height; y++) {
    const row0 = base + ys.low[y] * w;
    const row1 = base + ys.high[y] * w;
    const fy = ys.frac[y];
    for (let x = 0; x < width; x++) {
      const x0 = xs.low[x];
      const x1 = xs.high[x];
      const fx = xs.frac[x];
      const top = maskLogits[row0 + x0] * (1 - fx) + maskLogits[row0 + x1] * fx;
      const bottom = maskLogits[row1 + x0] * (1 - fx) + maskLogits[row1 + x1] * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy > 0 ? 1 : 0;
    }
  }
  return out;
}

/** Source indices and weights of a half-pixel-centre bilinear resize along one axis. */
function axisTaps(
  inSize: number,
  outSize: number,
): { low: Int32Array; high: Int32Array; frac: Float32Array } {
  const low = new Int32Array(outSize);
  const high = new Int32Array(outSize);
  const frac = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const source = Math.max(0, (i + 0.5) * scale - 0.5);
    const i0 = Math.min(inSize - 1, Math.floor(source));
    low[i] = i0;
    high[i] = Math.min(inSize - 1, i0 + 1);
    frac[i] = source - i0;
  }
  return { low, high, frac };
}

// Model files -------------------------------------------------------------------------------------

export const VIS_MODEL_FORMAT = "vidseg-vis-model";

/** What a model file holds besides the weights. */
export interface VisModelInfo {
  /** "online" (this module) or "offline". */
  kind: string;
  config: VisConfig;
  /** YouTube-VIS category id of each class index. */
  categoryIds: number[];
  /** Category names, when known (for labels). */
  categoryNames?: string[];
}

/** Writes the segmenter's weights and its info as one safetensors file (atomically). */
export async function saveVisModel(
  path: string,
  weights: Map<string, tf.Tensor>,
  info: VisModelInfo,
): Promise<void> {
  await saveSafetensors(path, weights, { format: VIS_MODEL_FORMAT, info: JSON.stringify(info) });
}

/** Reads a model file written by {@link saveVisModel}: the info and the weights (caller disposes them). */
export async function readVisModel(
  path: string,
): Promise<{ info: VisModelInfo; weights: Map<string, tf.Tensor> }> {
  const { tensors, metadata } = await loadSafetensors(path);
  try {
    if (metadata.format !== VIS_MODEL_FORMAT) {
      throw new VidsegError(`not a ${VIS_MODEL_FORMAT} file`, path, "__metadata__.format");
    }
    return { info: parseVisModelInfo(metadata.info, path), weights: tensors };
  } catch (error) {
    tf.dispose([...tensors.values()]);
    throw error;
  }
}

/** Validates model info (from a model file's metadata or a checkpoint's config). */
export function parseVisModelInfo(json: unknown, file?: string): VisModelInfo {
  const value = typeof json === "string" ? parseJson(json, file, "__metadata__.info") : json;
  const info = value as Partial<VisModelInfo> | null;
  if (typeof info !== "object" || info === null) throw new VidsegError("missing model info", file, "info");
  if (typeof info.kind !== "string") throw new VidsegError("missing model kind", file, "info.kind");
  const config = resolveVisConfig(info.config, file);
  const ids = info.categoryIds;
  if (!Array.isArray(ids) || ids.length !== config.model.numClasses || !ids.every(Number.isInteger)) {
    throw new VidsegError(
      `must be ${config.model.numClasses} integer category ids`,
      file,
      "info.categoryIds",
    );
  }
  return { kind: info.kind, config, categoryIds: ids, categoryNames: info.categoryNames };
}

/** Builds a segmenter for `info` and loads `weights` into it (strict: every name and shape must match). */
export function segmenterFromWeights(
  info: VisModelInfo,
  weights: ReadonlyMap<string, tf.Tensor>,
  file?: string,
): FrameSegmenter {
  const segmenter = new FrameSegmenter(info.config.model);
  try {
    segmenter.loadStateDict(weights, { file });
  } catch (error) {
    segmenter.dispose();
    throw error;
  }
  return segmenter.eval();
}

export { disposeSegmenterOutput };
