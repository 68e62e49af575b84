/**
 * Mask2Former's HungarianMatcher: per image, the cost of assigning query q to target t is
 *   costClass·(−softmax(logits_q)[class_t]) + costMask·BCE(mask_q, mask_t) + costDice·dice(mask_q, mask_t)
 * with the mask terms computed on the same random points for all queries and targets of the image,
 * and the assignment minimising the total cost is exact (linearSumAssignment, scipy's answers).
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { linearSumAssignment } from "../math/hungarian.js";
import { pointSample, randomPointCoords } from "../nn/sampling.js";
import { randomOf, type Randoms } from "./batch-shares.js";

export interface MatcherTarget {
  /** Class index of each target instance, [T]. */
  labels: ArrayLike<number>;
  /** Binary masks [T, H, W] (any resolution; sampled at normalised points). */
  masks: tf.Tensor3D;
}

export interface MatcherOptions {
  costClass?: number;
  costMask?: number;
  costDice?: number;
  /** Points sampled per image (Mask2Former: 112·112 = 12544). */
  numPoints?: number;
  /** Source of the random points (one stream, or one per image); required unless pointCoords is given. */
  rng?: Randoms;
  /** Fixed point coordinates per image, each [P·2] ((x, y) in [0, 1]); for tests and reproducibility. */
  pointCoords?: Float32Array[];
}

export interface Match {
  /** Matched query indices, ascending. */
  queryIndices: number[];
  /** targetIndices[k] is the target matched to queryIndices[k]. */
  targetIndices: number[];
}

/**
 * The cost matrix [Q, T] of one image (no gradient). predLogits [Q, C+1], predMasks [Q, h, w] logits,
 * coords [P·2].
 */
export function matchingCost(
  predLogits: tf.Tensor2D,
  predMasks: tf.Tensor3D,
  target: MatcherTarget,
  coords: Float32Array,
  options: MatcherOptions = {},
): number[][] {
  const numQueries = predLogits.shape[0];
  const numTargets = target.labels.length;
  if (target.masks.shape[0] !== numTargets) {
    throw new VidsegError(`matcher: ${numTargets} target labels but ${target.masks.shape[0]} target masks`);
  }
  const numClasses = predLogits.shape[1];
  for (let t = 0; t < numTargets; t++) {
    const label = target.labels[t];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new VidsegError(
        `matcher: target label ${label} outside [0, ${numClasses})`,
        undefined,
        `labels[${t}]`,
      );
    }
  }
  if (numTargets === 0) return Array.from({ length: numQueries }, () => []);
  const costClass = options.costClass ?? 2;
  const costMask = options.costMask ?? 5;
  const costDice = options.costDice ?? 5;
  const cost = tf.tidy(() => {
    const p = coords.length / 2;
    const points = tf.tensor3d(coords, [1, p, 2]);
    // Sample every mask at once: masks as the channels of one image, [1, H, W, N] → [N, P].
    const sampleAll = (masks: tf.Tensor3D): tf.Tensor2D =>
      pointSample(tf.transpose(masks, [1, 2, 0]).expandDims(0) as tf.Tensor4D, points)
        .squeeze([0])
        .transpose() as tf.Tensor2D;
    const outMask = sampleAll(predMasks); // [Q, P] logits
    const tgtMask = sampleAll(target.masks.cast("float32") as tf.Tensor3D); // [T, P]

    return pairwiseCost(predLogits, outMask, target.labels, tgtMask, {
      classWeight: costClass,
      maskWeight: costMask,
      diceWeight: costDice,
    });
  });
  const values = cost.arraySync() as number[][];
  cost.dispose();
  return values;
}

/**
 * The matching cost of every prediction × target pair, written once for the frame matcher and the
 * clip matcher (src/models/vis/video-criterion.ts): weights · [−p(class), sigmoid BCE, dice] with
 * Mask2Former's batch_sigmoid_ce_loss and batch_dice_loss over the N sampled points.
 * predLogits [Q, C+1], outMask [Q, N] logits, tgtMask [T, N] in {0, 1}; returns [Q, T] (call in a tidy).
 */
export function pairwiseCost(
  predLogits: tf.Tensor2D,
  outMask: tf.Tensor2D,
  labels: ArrayLike<number>,
  tgtMask: tf.Tensor2D,
  weights: { classWeight?: number; maskWeight?: number; diceWeight?: number } = {},
): tf.Tensor2D {
  const n = outMask.shape[1];
  const probs = tf.softmax(predLogits, -1);
  const classCost = tf.neg(tf.gather(probs, tf.tensor1d(Array.from(labels), "int32"), 1)); // [Q, T]
  // batch_sigmoid_ce_loss: (BCE(x, 1)·tᵀ + BCE(x, 0)·(1 − t)ᵀ) / N, BCE(x, 1) = softplus(−x).
  const maskCost = tf.div(
    tf.add(
      tf.matMul(tf.softplus(tf.neg(outMask)), tgtMask, false, true),
      tf.matMul(tf.softplus(outMask), tf.sub(1, tgtMask), false, true),
    ),
    n,
  );
  // batch_dice_loss: 1 − (2·p·tᵀ + 1) / (Σp + Σt + 1).
  const sig = tf.sigmoid(outMask);
  const numerator = tf.add(tf.mul(tf.matMul(sig, tgtMask, false, true), 2), 1);
  const denominator = tf.add(tf.add(tf.sum(sig, -1, true), tf.sum(tgtMask, -1).expandDims(0)), 1);
  const diceCost = tf.sub(1, tf.div(numerator, denominator));
  return tf.addN([
    tf.mul(classCost, weights.classWeight ?? 2),
    tf.mul(maskCost, weights.maskWeight ?? 5),
    tf.mul(diceCost, weights.diceWeight ?? 5),
  ]) as tf.Tensor2D;
}

/**
 * Matches queries to targets per image. predLogits [B, Q, C+1] (last class = no object), predMasks
 * [B, Q, h, w] mask logits; targets one entry per image.
 */
export function hungarianMatch(
  predLogits: tf.Tensor3D,
  predMasks: tf.Tensor4D,
  targets: MatcherTarget[],
  options: MatcherOptions = {},
): Match[] {
  const [batch, numQueries] = predLogits.shape;
  if (targets.length !== batch)
    throw new VidsegError(`matcher: ${batch} images but ${targets.length} targets`);
  if (predMasks.shape[0] !== batch || predMasks.shape[1] !== numQueries) {
    throw new VidsegError(
      `matcher: predMasks [${predMasks.shape}] do not match predLogits [${predLogits.shape}]`,
    );
  }
  const numPoints = options.numPoints ?? 112 * 112;
  const matches: Match[] = [];
  for (let b = 0; b < batch; b++) {
    const coords = options.pointCoords?.[b] ?? sampleCoords(numPoints, options.rng, b);
    const logits = tf.tidy(() => predLogits.slice([b, 0, 0], [1, -1, -1]).squeeze([0]) as tf.Tensor2D);
    const masks = tf.tidy(() => predMasks.slice([b, 0, 0, 0], [1, -1, -1, -1]).squeeze([0]) as tf.Tensor3D);
    const rows = matchingCost(logits, masks, targets[b], coords, options);
    logits.dispose();
    masks.dispose();
    if (targets[b].labels.length === 0) {
      matches.push({ queryIndices: [], targetIndices: [] });
      continue;
    }
    const { rows: queryIndices, cols: targetIndices } = linearSumAssignment(rows);
    matches.push({ queryIndices, targetIndices });
  }
  return matches;
}

function sampleCoords(numPoints: number, rng: Randoms | undefined, image: number): Float32Array {
  if (!rng) throw new VidsegError("matcher: either rng or pointCoords is required");
  return randomPointCoords(1, numPoints, randomOf(rng, image));
}
