/**
 * Losses for mask classification and mask segmentation, with the semantics of their references:
 * torchvision's sigmoid_focal_loss, Mask2Former's SetCriterion (weighted cross-entropy with a no-object
 * weight, sigmoid_ce_loss and dice_loss on importance-sampled points) and Berman et al.'s Lovász hinge
 * and Lovász-Softmax. All are differentiable in their predictions.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { getUncertainPointCoords, pointSample, type Random } from "./sampling.js";

export type Reduction = "none" | "mean" | "sum";

function reduce(loss: tf.Tensor, reduction: Reduction): tf.Tensor {
  if (reduction === "mean") return tf.mean(loss);
  if (reduction === "sum") return tf.sum(loss);
  return loss;
}

function sameShape(a: tf.Tensor, b: tf.Tensor, what: string): void {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new VidsegError(`${what}: predictions [${a.shape}] and targets [${b.shape}] differ in shape`);
  }
}

/** Elementwise binary cross-entropy with logits, stable form: max(x, 0) − x·t + log(1 + e^(−|x|)). */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))),
  );
}

/** torchvision.ops.sigmoid_focal_loss (alpha < 0 disables the class balancing). */
export function sigmoidFocalLoss(
  logits: tf.Tensor,
  targets: tf.Tensor,
  options: { alpha?: number; gamma?: number; reduction?: Reduction } = {},
): tf.Tensor {
  sameShape(logits, targets, "sigmoidFocalLoss");
  const alpha = options.alpha ?? 0.25;
  const gamma = options.gamma ?? 2;
  return tf.tidy(() => {
    const p = tf.sigmoid(logits);
    const ce = bceWithLogits(logits, targets);
    // p_t = p·t + (1 − p)·(1 − t)
    const pT = tf.add(tf.mul(p, targets), tf.mul(tf.sub(1, p), tf.sub(1, targets)));
    let loss = tf.mul(ce, tf.pow(tf.sub(1, pT), gamma));
    if (alpha >= 0) {
      const alphaT = tf.add(tf.mul(targets, alpha), tf.mul(tf.sub(1, targets), 1 - alpha));
      loss = tf.mul(alphaT, loss);
    }
    return reduce(loss, options.reduction ?? "none");
  });
}

/**
 * F.cross_entropy(logits, targets, weight=classWeights) with mean reduction: Σ w[t]·nll / Σ w[t].
 * logits [..., C], targets int32 [...] (class indices), classWeights [C] (Mask2Former's empty_weight:
 * 1 for every class and eos_coef for the last, "no object", class).
 */
export function weightedCrossEntropy(
  logits: tf.Tensor,
  targets: tf.Tensor,
  classWeights?: tf.Tensor | number[],
): tf.Scalar {
  const numClasses = logits.shape[logits.rank - 1];
  if (!tf.util.arraysEqual(logits.shape.slice(0, -1), targets.shape)) {
    throw new VidsegError(
      `weightedCrossEntropy: logits [${logits.shape}] do not match targets [${targets.shape}]`,
    );
  }
  return tf.tidy(() => {
    const flatLogits = logits.reshape([-1, numClasses]);
    const oneHot = tf.oneHot(targets.reshape([-1]).cast("int32"), numClasses).cast("float32");
    const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(flatLogits), oneHot), -1));
    const weights =
      classWeights === undefined
        ? tf.ones([numClasses])
        : tf.tensor1d(Array.isArray(classWeights) ? classWeights : (classWeights.dataSync() as Float32Array));
    const sampleWeights = tf.sum(tf.mul(oneHot, weights), -1);
    return tf.div(tf.sum(tf.mul(nll, sampleWeights)), tf.sum(sampleWeights)) as tf.Scalar;
  });
}

/** Mask2Former's sigmoid_ce_loss: per-mask mean BCE over points, summed and divided by numMasks. */
export function sigmoidCeLoss(logits: tf.Tensor2D, targets: tf.Tensor2D, numMasks: number): tf.Scalar {
  sameShape(logits, targets, "sigmoidCeLoss");
  return tf.tidy(() => tf.div(tf.sum(tf.mean(bceWithLogits(logits, targets), 1)), numMasks) as tf.Scalar);
}

/** Mask2Former's dice_loss: 1 − (2·Σpt + 1)/(Σp + Σt + 1) per mask (p = sigmoid), summed / numMasks. */
export function diceLoss(logits: tf.Tensor2D, targets: tf.Tensor2D, numMasks: number): tf.Scalar {
  sameShape(logits, targets, "diceLoss");
  return tf.tidy(() => {
    const p = tf.sigmoid(logits);
    const numerator = tf.add(tf.mul(tf.sum(tf.mul(p, targets), 1), 2), 1);
    const denominator = tf.add(tf.add(tf.sum(p, 1), tf.sum(targets, 1)), 1);
    return tf.div(tf.sum(tf.sub(1, tf.div(numerator, denominator))), numMasks) as tf.Scalar;
  });
}

export interface PointSamplingOptions {
  /** Points per mask (Mask2Former: 112·112 = 12544). */
  numPoints: number;
  /** Candidates drawn per kept point (Mask2Former: 3). */
  oversampleRatio?: number;
  /** Fraction of points chosen by uncertainty (Mask2Former: 0.75). */
  importanceSampleRatio?: number;
  rng: Random;
}

/**
 * Mask2Former's loss_masks on matched pairs: predicted mask logits [N, h, w] and target masks
 * [N, H, W] (0/1, any resolution) are compared at importance-sampled points chosen from the
 * predictions' uncertainty (no gradient through the choice). Returns { mask: BCE, dice }.
 */
export function pointMaskLosses(
  predLogits: tf.Tensor3D,
  targetMasks: tf.Tensor3D,
  numMasks: number,
  options: PointSamplingOptions,
): { mask: tf.Scalar; dice: tf.Scalar } {
  if (predLogits.shape[0] !== targetMasks.shape[0]) {
    throw new VidsegError(
      `pointMaskLosses: ${predLogits.shape[0]} predictions but ${targetMasks.shape[0]} targets`,
    );
  }
  const n = predLogits.shape[0];
  if (n === 0) return { mask: tf.scalar(0), dice: tf.scalar(0) };
  const coords = getUncertainPointCoords(
    predLogits,
    options.numPoints,
    options.oversampleRatio ?? 3,
    options.importanceSampleRatio ?? 0.75,
    options.rng,
  );
  return tf.tidy(() => {
    const labels = pointSample(targetMasks.expandDims(3) as tf.Tensor4D, coords).squeeze([2]) as tf.Tensor2D;
    const logits = pointSample(predLogits.expandDims(3) as tf.Tensor4D, coords).squeeze([2]) as tf.Tensor2D;
    coords.dispose();
    return { mask: sigmoidCeLoss(logits, labels, numMasks), dice: diceLoss(logits, labels, numMasks) };
  });
}

/**
 * Lovász extension gradient of the Jaccard loss for ground truth sorted by decreasing error
 * (lovasz_grad of the reference implementation).
 */
function lovaszGrad(gtSorted: Float32Array | number[]): Float64Array {
  const p = gtSorted.length;
  let gts = 0;
  for (let i = 0; i < p; i++) gts += gtSorted[i];
  const jaccard = new Float64Array(p);
  let cumGt = 0;
  let cumNotGt = 0;
  for (let i = 0; i < p; i++) {
    cumGt += gtSorted[i];
    cumNotGt += 1 - gtSorted[i];
    jaccard[i] = 1 - (gts - cumGt) / (gts + cumNotGt);
  }
  for (let i = p - 1; i > 0; i--) jaccard[i] -= jaccard[i - 1];
  return jaccard;
}

/**
 * Weights w such that Σ w·e = Σ e_sorted·lovaszGrad(gt_sorted) over the `valid` entries of one group:
 * the reference sorts the errors and takes a dot product; scattering the gradient back to the
 * unsorted positions gives the same value and the same gradient without a differentiable gather.
 */
function lovaszWeights(errors: Float32Array, gt: Float32Array, indices: number[], out: Float32Array): void {
  const order = indices.slice().sort((a, b) => errors[b] - errors[a] || a - b);
  const grad = lovaszGrad(order.map((i) => gt[i]));
  order.forEach((index, rank) => (out[index] = grad[rank]));
}

/**
 * Lovász hinge (Berman et al.): logits and binary labels [B, ...]. perImage (default true) averages
 * the per-image losses, otherwise one loss over all pixels. Pixels whose label equals `ignore` are left
 * out. An image without valid pixels contributes 0.
 */
export function lovaszHinge(
  logits: tf.Tensor,
  labels: tf.Tensor,
  options: { perImage?: boolean; ignore?: number } = {},
): tf.Scalar {
  sameShape(logits, labels, "lovaszHinge");
  const perImage = options.perImage ?? true;
  const batch = logits.shape[0] ?? 1;
  const groups = perImage ? batch : 1;
  const size = logits.size / groups;
  const labelData = labels.dataSync();
  return tf.tidy(() => {
    const flatLogits = logits.reshape([groups, size]);
    const gt = Float32Array.from(labelData, (v) => (v === options.ignore ? 0 : v));
    const signs = tf.sub(tf.mul(tf.tensor2d(gt, [groups, size]), 2), 1);
    const errors = tf.sub(1, tf.mul(flatLogits, signs)); // hinge errors
    const errorData = errors.dataSync() as Float32Array;
    const weights = new Float32Array(groups * size);
    for (let g = 0; g < groups; g++) {
      const indices: number[] = [];
      for (let i = g * size; i < (g + 1) * size; i++) if (labelData[i] !== options.ignore) indices.push(i);
      if (indices.length > 0) lovaszWeights(errorData, gt, indices, weights);
    }
    const perGroup = tf.sum(tf.mul(tf.relu(errors), tf.tensor2d(weights, [groups, size])), 1);
    return tf.mean(perGroup) as tf.Scalar;
  });
}

/**
 * Lovász-Softmax (Berman et al.): probabilities [B, ..., C] (softmax output, channels last) and integer
 * labels [B, ...]. classes: "present" (default; classes absent from the labels are skipped) or "all".
 * perImage averages per-image losses (default false: one loss over all pixels). `ignore` drops pixels.
 */
export function lovaszSoftmax(
  probabilities: tf.Tensor,
  labels: tf.Tensor,
  options: { classes?: "present" | "all"; perImage?: boolean; ignore?: number } = {},
): tf.Scalar {
  const numClasses = probabilities.shape[probabilities.rank - 1];
  if (!tf.util.arraysEqual(probabilities.shape.slice(0, -1), labels.shape)) {
    throw new VidsegError(
      `lovaszSoftmax: probabilities [${probabilities.shape}] do not match labels [${labels.shape}]`,
    );
  }
  const classes = options.classes ?? "present";
  const perImage = options.perImage ?? false;
  const groups = perImage ? (labels.shape[0] ?? 1) : 1;
  const size = labels.size / groups;
  const labelData = labels.dataSync();
  return tf.tidy(() => {
    const probs = probabilities.reshape([groups * size, numClasses]);
    const fg = tf
      .oneHot(
        tf.tensor1d(
          Int32Array.from(labelData, (v) => (v === options.ignore ? -1 : v)),
          "int32",
        ),
        numClasses,
      )
      .cast("float32");
    const errors = tf.abs(tf.sub(fg, probs)); // [P, C]
    const errorData = errors.dataSync() as Float32Array;
    const fgData = fg.dataSync() as Float32Array;
    // Per (group, class): weights in [P, C] plus the number of classes that count in the group's mean.
    const weights = new Float32Array(groups * size * numClasses);
    const groupScale = new Float32Array(groups * size * numClasses);
    const columnErrors = new Float32Array(groups * size);
    const columnFg = new Float32Array(groups * size);
    const columnWeights = new Float32Array(groups * size);
    for (let g = 0; g < groups; g++) {
      const indices: number[] = [];
      for (let i = g * size; i < (g + 1) * size; i++) if (labelData[i] !== options.ignore) indices.push(i);
      const counted: number[] = [];
      for (let c = 0; c < numClasses; c++) {
        let present = false;
        for (const i of indices) {
          columnErrors[i] = errorData[i * numClasses + c];
          columnFg[i] = fgData[i * numClasses + c];
          if (columnFg[i] > 0) present = true;
        }
        if (indices.length === 0 || (classes === "present" && !present)) continue;
        columnWeights.fill(0);
        lovaszWeights(columnErrors, columnFg, indices, columnWeights);
        for (const i of indices) weights[i * numClasses + c] = columnWeights[i];
        counted.push(c);
      }
      // Mean over the counted classes, then mean over the groups.
      for (const c of counted) {
        for (const i of indices) groupScale[i * numClasses + c] = 1 / (counted.length * groups);
      }
    }
    const scaled = tf.mul(
      tf.tensor2d(weights, [groups * size, numClasses]),
      tf.tensor2d(groupScale, [groups * size, numClasses]),
    );
    return tf.sum(tf.mul(errors, scaled)) as tf.Scalar;
  });
}
