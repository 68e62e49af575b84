/**
 * Post-processing of the per-frame segmenter's output, shared by the streaming segmenter, validation
 * and diagnostics: one image's predictions read back to JavaScript, crop re-classification, duplicate
 * suppression and mask upsampling (plain JavaScript: no tensors outlive a call).
 */
import * as tf from "@tensorflow/tfjs";
import { likelyObjects, maskBox, type CropBox, type CropClassifier } from "../models/crop-classifier.js";
import type { SegmenterOutput } from "../models/segmenter.js";
import type { RgbImage } from "../core/image.js";

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
  const [probs, embeddings, maskLogits] = tf.tidy(() => [
    tf.softmax(output.predLogits.slice([b, 0, 0], [1, -1, -1]), -1),
    output.queryEmbed.slice([b, 0, 0], [1, -1, -1]),
    output.predMasks.slice([b, 0, 0, 0], [1, -1, -1, -1]),
  ]);
  try {
    return framePrediction({
      probs: probs.dataSync() as Float32Array,
      embeddings: Float32Array.from(embeddings.dataSync()),
      maskLogits: Float32Array.from(maskLogits.dataSync()),
      numQueries,
      numClasses: numOutputs - 1,
      embeddingDim,
      maskHeight,
      maskWidth,
    });
  } finally {
    tf.dispose([probs, embeddings, maskLogits]);
  }
}

/**
 * A {@link FramePrediction} from one image's network outputs in JavaScript (whatever ran the network):
 * `probs` [N, K+1] (softmax, last = no object), `embeddings` [N, E] and `maskLogits` [N, h, w], which it
 * keeps.
 */
export function framePrediction(outputs: {
  probs: Float32Array;
  embeddings: Float32Array;
  maskLogits: Float32Array;
  numQueries: number;
  numClasses: number;
  embeddingDim: number;
  maskHeight: number;
  maskWidth: number;
}): FramePrediction {
  const { probs, numQueries, numClasses } = outputs;
  const numOutputs = numClasses + 1;
  const prediction: FramePrediction = {
    numQueries,
    numClasses,
    classProbs: new Float32Array(numQueries * numClasses),
    scores: new Float32Array(numQueries),
    embeddings: outputs.embeddings,
    embeddingDim: outputs.embeddingDim,
    maskLogits: outputs.maskLogits,
    maskHeight: outputs.maskHeight,
    maskWidth: outputs.maskWidth,
  };
  for (let q = 0; q < numQueries; q++) {
    let best = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = probs[q * numOutputs + c];
      prediction.classProbs[q * numClasses + c] = p;
      best = Math.max(best, p);
    }
    prediction.scores[q] = best;
  }
  return prediction;
}

/** The queries worth a crop and their boxes (see {@link classifyCrops}). */
export interface CropCandidates {
  queries: number[];
  boxes: CropBox[];
  /** 1 − p(no object) of every query. */
  objectness: number[];
}

/**
 * The first half of {@link classifyCrops}, for any runtime: the (at most `maxCrops`) queries whose object
 * probability 1 − p(no object) reaches `minObjectness`, with the box of each one's mask at the model's
 * input size (height × width).
 */
export function cropCandidates(
  prediction: FramePrediction,
  height: number,
  width: number,
  options: { minObjectness?: number; maxCrops?: number } = {},
): CropCandidates {
  const { numQueries, numClasses, classProbs } = prediction;
  const objectness = Array.from({ length: numQueries }, (_, q) =>
    classProbs.subarray(q * numClasses, (q + 1) * numClasses).reduce((sum, p) => sum + p, 0),
  );
  const likely = likelyObjects(objectness, options.minObjectness ?? 0.05, options.maxCrops ?? numQueries);
  const boxes: CropBox[] = [];
  const queries: number[] = [];
  for (const q of likely) {
    const box = maskBox(upsampleQueryMask(prediction, q, height, width), height, width);
    if (!box) continue;
    boxes.push(box);
    queries.push(q);
  }
  return { queries, boxes, objectness };
}

/**
 * The second half of {@link classifyCrops}: with the crop classifier's probabilities `cropProbs`
 * [boxes, K], p(class c) of each candidate becomes (1 − p(no object)) · p_crop(c); updates `prediction`'s
 * class probabilities and scores in place.
 */
export function applyCropProbs(
  prediction: FramePrediction,
  candidates: CropCandidates,
  cropProbs: ArrayLike<number>,
): void {
  const { numClasses, classProbs, scores } = prediction;
  candidates.queries.forEach((q, i) => {
    let best = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = candidates.objectness[q] * cropProbs[i * numClasses + c];
      classProbs[q * numClasses + c] = p;
      best = Math.max(best, p);
    }
    scores[q] = best;
  });
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
  const [, height, width] = image.shape;
  const candidates = cropCandidates(prediction, height, width, options);
  if (candidates.boxes.length === 0) return;
  const probs = tf.tidy(() =>
    tf
      .softmax(
        classifier.forward(image, candidates.boxes, new Array<number>(candidates.boxes.length).fill(0)),
      )
      .dataSync(),
  );
  applyCropProbs(prediction, candidates, probs);
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
 * The mask-score sums of one query's logits `logits[offset, offset + size)`: Σ σ(logit) over the pixels
 * with logit > 0 and their count. Mask2Former's mask score is sum / pixels (0 for an empty mask).
 */
export function maskProbabilitySum(
  logits: ArrayLike<number>,
  offset: number,
  size: number,
): { sum: number; pixels: number } {
  let sum = 0;
  let pixels = 0;
  for (let i = offset; i < offset + size; i++) {
    if (logits[i] <= 0) continue;
    sum += 1 / (1 + Math.exp(-logits[i]));
    pixels++;
  }
  return { sum, pixels };
}

/** Mask2Former's mask score per query of one frame: the mean σ(logit) over its mask, 0 when empty. */
export function maskScores(prediction: FramePrediction): Float32Array {
  const size = prediction.maskHeight * prediction.maskWidth;
  return Float32Array.from({ length: prediction.numQueries }, (_, q) => {
    const { sum, pixels } = maskProbabilitySum(prediction.maskLogits, q * size, size);
    return pixels > 0 ? sum / pixels : 0;
  });
}

/**
 * The box of each query's mask (its positive logits at 1/4 resolution), as [x0, y0, x1, y1] fractions of
 * the frame, [N, 4]; an empty mask is [0, 0, 0, 0]. What the tracker's box cue compares across frames.
 */
export function maskBoxes(prediction: FramePrediction): Float32Array {
  const { maskHeight: h, maskWidth: w, maskLogits } = prediction;
  const boxes = new Float32Array(prediction.numQueries * 4);
  for (let q = 0; q < prediction.numQueries; q++) {
    let [x0, y0, x1, y1] = [w, h, -1, -1];
    const offset = q * h * w;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        if (maskLogits[offset + y * w + x] <= 0) continue;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    if (x1 >= 0) boxes.set([x0 / w, y0 / h, (x1 + 1) / w, (y1 + 1) / h], q * 4);
  }
  return boxes;
}

/**
 * Linear Soft-NMS (Bodla et al., 2017) within groups (a video's results of one class): the best-scoring
 * item is taken, every item left in its group whose overlap with it exceeds `iouThreshold` has its score
 * multiplied by 1 − overlap, and so on down. Unlike hard suppression, a duplicate sinks below the other
 * objects instead of vanishing, so a look-alike that merely overlaps keeps its place when it is better
 * than what is left. Returns the new scores in the input's order; ties go to the lower index.
 * `overlap(i, j)` is asked at most once per pair of one group; `iouThreshold` ≥ 1 changes nothing.
 */
export function softSuppress(
  scores: readonly number[],
  groups: readonly number[],
  overlap: (i: number, j: number) => number,
  iouThreshold: number,
): number[] {
  const result = [...scores];
  if (iouThreshold >= 1) return result;
  const byGroup = new Map<number, number[]>();
  groups.forEach((group, i) => byGroup.set(group, [...(byGroup.get(group) ?? []), i]));
  for (let left of byGroup.values()) {
    while (left.length > 1) {
      const best = left.reduce((a, b) =>
        result[b] > result[a] || (result[b] === result[a] && b < a) ? b : a,
      );
      left = left.filter((i) => i !== best);
      for (const i of left) {
        const iou = overlap(best, i);
        if (iou > iouThreshold) result[i] *= 1 - iou;
      }
    }
  }
  return result;
}

/** Query q's mask at height × width (see {@link upsampleMask}). */
export function upsampleQueryMask(
  prediction: FramePrediction,
  q: number,
  height: number,
  width: number,
): Uint8Array {
  const { maskHeight: h, maskWidth: w, maskLogits } = prediction;
  return upsampleMask(maskLogits, q * h * w, h, w, height, width);
}

/**
 * A mask at height × width from h × w mask logits (starting at `base` in `maskLogits`, row-major):
 * the logits bilinearly upsampled (PyTorch's interpolate, align_corners=False) and thresholded at 0
 * (sigmoid 0.5). The one mask upsampling of the online, offline and referring paths; plain JavaScript,
 * O(H·W).
 */
export function upsampleMask(
  maskLogits: Float32Array,
  base: number,
  h: number,
  w: number,
  height: number,
  width: number,
): Uint8Array {
  const out = new Uint8Array(height * width);
  upsampleBilinear(maskLogits, base, h, w, height, width, (i, logit) => (out[i] = logit > 0 ? 1 : 0));
  return out;
}

/**
 * The foreground probabilities (sigmoid of the logits upsampled as in {@link upsampleMask}, so p > 0.5
 * exactly where the mask is 1) at height × width.
 */
export function upsampleProbabilities(
  maskLogits: Float32Array,
  base: number,
  h: number,
  w: number,
  height: number,
  width: number,
): Float32Array {
  const out = new Float32Array(height * width);
  upsampleBilinear(
    maskLogits,
    base,
    h,
    w,
    height,
    width,
    (i, logit) => (out[i] = 1 / (1 + Math.exp(-logit))),
  );
  return out;
}

/** Half-pixel-centre bilinear upsampling of h × w values at `base`, each output value given to `put`. */
function upsampleBilinear(
  values: Float32Array,
  base: number,
  h: number,
  w: number,
  height: number,
  width: number,
  put: (index: number, value: number) => void,
): void {
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
      const top = values[row0 + x0] * (1 - fx) + values[row0 + x1] * fx;
      const bottom = values[row1 + x0] * (1 - fx) + values[row1 + x1] * fx;
      put(y * width + x, top * (1 - fy) + bottom * fy);
    }
  }
}

/**
 * The guide of {@link guidedUpsampleMask}: the frame's mean colour in each cell of the h × w mask grid
 * (a pixel belongs to the cell its centre falls in), RGB interleaved.
 */
export function cellColours(frame: RgbImage, h: number, w: number): Float32Array {
  const { width, height, data } = frame;
  const sums = new Float32Array(h * w * 3);
  const counts = new Float32Array(h * w);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(((y + 0.5) * h) / height) * w;
    for (let x = 0; x < width; x++) {
      const cell = row + Math.floor(((x + 0.5) * w) / width);
      const p = 3 * (y * width + x);
      sums[3 * cell] += data[p];
      sums[3 * cell + 1] += data[p + 1];
      sums[3 * cell + 2] += data[p + 2];
      counts[cell]++;
    }
  }
  for (let cell = 0; cell < h * w; cell++) {
    const n = Math.max(1, counts[cell]);
    for (let c = 0; c < 3; c++) sums[3 * cell + c] /= n;
  }
  return sums;
}

/** Colour distance scale (0–255 levels) of {@link guidedUpsampleMask}'s range weight. */
export const GUIDE_SIGMA_COLOUR = 30;

/**
 * Edge-aware mask upsampling (joint bilateral upsampling, Kopf et al. 2007): a mask at the frame's size
 * from h × w mask logits, where each output pixel averages the probabilities of the 4 × 4 nearest grid
 * cells weighted by distance (σ = 1 cell) and by how close the cell's mean colour (`cells`, from
 * {@link cellColours}) is to the pixel's own colour, so that mask edges snap to the frame's edges
 * instead of following the 1/4-resolution grid. Where the 16 logits agree in sign the output is that
 * sign (the bilinear result), so only pixels near a mask edge pay for the weights.
 */
export function guidedUpsampleMask(
  maskLogits: Float32Array,
  base: number,
  h: number,
  w: number,
  frame: RgbImage,
  cells: Float32Array,
  sigmaColour = GUIDE_SIGMA_COLOUR,
): Uint8Array {
  const { width, height, data } = frame;
  const out = new Uint8Array(height * width);
  const rangeScale = -1 / (2 * sigmaColour * sigmaColour);
  for (let y = 0; y < height; y++) {
    const sy = Math.max(0, ((y + 0.5) * h) / height - 0.5);
    const i0 = Math.min(h - 1, Math.floor(sy));
    const iLo = Math.max(0, i0 - 1);
    const iHi = Math.min(h - 1, i0 + 2);
    for (let x = 0; x < width; x++) {
      const sx = Math.max(0, ((x + 0.5) * w) / width - 0.5);
      const j0 = Math.min(w - 1, Math.floor(sx));
      const jLo = Math.max(0, j0 - 1);
      const jHi = Math.min(w - 1, j0 + 2);
      let positive = 0;
      let negative = 0;
      for (let i = iLo; i <= iHi; i++) {
        for (let j = jLo; j <= jHi; j++) {
          if (maskLogits[base + i * w + j] > 0) positive++;
          else negative++;
        }
      }
      if (negative === 0 || positive === 0) {
        out[y * width + x] = positive > 0 ? 1 : 0;
        continue;
      }
      const p = 3 * (y * width + x);
      let weighted = 0;
      let total = 0;
      for (let i = iLo; i <= iHi; i++) {
        for (let j = jLo; j <= jHi; j++) {
          const cell = i * w + j;
          const dr = data[p] - cells[3 * cell];
          const dg = data[p + 1] - cells[3 * cell + 1];
          const db = data[p + 2] - cells[3 * cell + 2];
          const spatial = (i - sy) * (i - sy) + (j - sx) * (j - sx);
          const weight = Math.exp(-0.5 * spatial + rangeScale * (dr * dr + dg * dg + db * db));
          weighted += weight / (1 + Math.exp(-maskLogits[base + cell]));
          total += weight;
        }
      }
      out[y * width + x] = total > 0 && weighted > 0.5 * total ? 1 : 0;
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
