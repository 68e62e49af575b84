/**
 * The offline model's losses (VITA): frame-level + video-level + query similarity.
 *
 * - Frame level: the segmenter's Mask2Former criterion on every frame of every clip (frame targets are
 *   the GT tracks visible in that frame).
 * - Video level: per clip, video queries are Hungarian-matched to GT instance tracks with the cost
 *   classWeight·(−p(class)) + maskWeight·BCE + diceWeight·dice, the mask terms on the same random points
 *   in every frame of the clip (VITA's matcher), the masks of a track over all frames forming one vector.
 *   Loss: cross-entropy over all video queries (no-object class weighted by noObjectWeight), BCE and
 *   dice on the matched clip masks at points chosen by uncertainty per frame (VITA's loss_masks), the
 *   dice of a track computed over all its frames at once. Normalised by the number of GT tracks; the
 *   head's earlier decoder layers are supervised the same way (deep supervision).
 * - Similarity (VITA's loss_fg_sim): the similarity embeddings of the frame queries matched to GT
 *   tracks in every frame, and of the matched video queries, are compared pairwise:
 *   BCE-with-logits(scale·(cos − margin), same track ? 1 : 0), averaged over all pairs (i ≠ j). It pulls
 *   together the queries of one instance across frames (and the video query of that instance) and pushes
 *   different instances apart. The scaled, shifted cosine is this project's choice (VITA uses raw dot
 *   products); it keeps the embeddings on the unit sphere, where the clip linking of long-video
 *   inference compares them.
 *
 * Data-parallel training computes these on a share of the batch's clips (`shares`,
 * src/models/batch-shares.ts): the normalisers are the whole batch's, and the similarity loss also pairs
 * this share's embeddings with the other shares' (gathered, as constants), so that the shares' losses and
 * gradients add up to the whole batch's.
 *
 * The results carry the distillation hooks: the video queries, their embeddings and their Hungarian
 * assignment to the GT tracks, and the per-frame assignments of the frame queries (in track indices).
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import { linearSumAssignment } from "../../math/hungarian.js";
import { bceWithLogits, diceLoss, sigmoidCeLoss, weightedCrossEntropy } from "../../nn/losses.js";
import { getUncertainPointCoords, pointSample, randomPointCoords } from "../../nn/sampling.js";
import {
  batchSum,
  childRandoms,
  randomOf,
  shareOfMean,
  WHOLE_BATCH,
  type BatchShares,
  type Randoms,
} from "../batch-shares.js";
import type { CriterionConfig } from "../config.js";
import { criterion as frameCriterion, type CriterionTarget, type Match } from "../criterion.js";
import { pairwiseCost } from "../matcher.js";
import { tidyObject, videoMaskLogits, type OfflineOutput, type VideoPrediction } from "./offline.js";

/** Ground truth of one clip: its instance tracks. */
export interface ClipTarget {
  /** Class index (0..K−1) of each track, [M]. */
  labels: number[];
  /** Binary masks [M, T, H, W] (all zero in frames where the track is absent). */
  masks: tf.Tensor4D;
}

export interface VideoCriterionOptions extends Partial<CriterionConfig> {
  /** Source of the random points (matching and losses): one stream, or one per clip. */
  rng: Randoms;
  /** The clips are a share of the batch (data-parallel training); default: the whole batch. */
  shares?: BatchShares;
  /** Weight of the frame-level (segmenter) loss. Default 1. */
  frameWeight?: number;
  /** Weight of the video-level loss. Default 1. */
  videoWeight?: number;
  /** Weight of the similarity loss. Default 0.5 (VITA). 0 = off. */
  simWeight?: number;
  /** Similarity logit = simScale·(cos − simMargin). Defaults 10 and 0.5. */
  simScale?: number;
  simMargin?: number;
}

/** Result of {@link offlineCriterion}. */
export interface OfflineCriterionResult {
  /** frameWeight·frame + videoWeight·video + simWeight·similarity. */
  loss: tf.Scalar;
  /** Unweighted terms: frame_* (the segmenter's), video_loss_ce/mask/dice(_i), loss_sim. */
  terms: Record<string, tf.Scalar>;
  /** Per clip, the final layer's assignment of video queries to GT tracks (distillation hook). */
  videoMatches: Match[];
  /**
   * Per clip, per frame: the assignment of frame queries to GT tracks (targetIndices are track indices
   * of the clip, not per-frame target indices).
   */
  frameMatches: Match[][];
}

/** The clip-level matching cost [Nv, M] of one clip (no gradient); coords [P·2], the same in every frame. */
export function clipMatchingCost(
  predLogits: tf.Tensor2D,
  predMasks: tf.Tensor4D,
  target: ClipTarget,
  coords: Float32Array,
  weights: { classWeight?: number; maskWeight?: number; diceWeight?: number } = {},
): number[][] {
  const [numQueries, numClasses] = predLogits.shape;
  const numTargets = target.labels.length;
  const frames = predMasks.shape[1];
  checkClipTarget(target, numClasses - 1, frames);
  if (numTargets === 0) return Array.from({ length: numQueries }, () => []);
  const cost = tf.tidy(() => {
    const p = coords.length / 2;
    const points = tf.tensor3d(coords, [1, p, 2]);
    const outMask = sampleClip(predMasks, points); // [Nv, T·P] logits
    const tgtMask = sampleClip(target.masks.cast("float32") as tf.Tensor4D, points); // [M, T·P]
    return pairwiseCost(predLogits, outMask, target.labels, tgtMask, weights);
  });
  const values = cost.arraySync() as number[][];
  cost.dispose();
  return values;
}

/** Clip masks [Q, T, h, w] sampled at the same points [1, P, 2] in every frame → [Q, T·P]. */
function sampleClip(masks: tf.Tensor4D, points: tf.Tensor3D): tf.Tensor2D {
  const [q, t, h, w] = masks.shape;
  const p = points.shape[1];
  // Every (query, frame) mask as one channel of a single image.
  const channels = tf.transpose(masks, [2, 3, 0, 1]).reshape([1, h, w, q * t]) as tf.Tensor4D;
  const sampled = pointSample(channels, points).reshape([p, q, t]); // [P, Q, T]
  return tf.transpose(sampled, [1, 2, 0]).reshape([q, t * p]) as tf.Tensor2D;
}

/** Hungarian assignment of the video queries of each clip to its GT tracks (VITA's matcher). */
export function matchVideoQueries(
  prediction: VideoPrediction,
  videoMasks: tf.Tensor4D[],
  targets: ClipTarget[],
  options: VideoCriterionOptions & { pointCoords?: Float32Array[] },
): Match[] {
  const batch = prediction.predLogits.shape[0];
  if (targets.length !== batch || videoMasks.length !== batch) {
    throw new VidsegError(`video matcher: ${batch} clips but ${targets.length} targets`);
  }
  return targets.map((target, b) => {
    const coords =
      options.pointCoords?.[b] ?? randomPointCoords(1, options.numPoints ?? 12544, randomOf(options.rng, b));
    const logits = tf.tidy(
      () => prediction.predLogits.slice([b, 0, 0], [1, -1, -1]).squeeze([0]) as tf.Tensor2D,
    );
    const cost = clipMatchingCost(logits, videoMasks[b], target, coords, options);
    logits.dispose();
    if (target.labels.length === 0) return { queryIndices: [], targetIndices: [] };
    const { rows, cols } = linearSumAssignment(cost);
    return { queryIndices: rows, targetIndices: cols };
  });
}

/**
 * Video-level CE + BCE + dice of one decoder layer's prediction; the mask losses divided by `numTracks`,
 * the CE by `classWeightSum` (both the whole batch's).
 */
function videoLayerLoss(
  prediction: VideoPrediction,
  videoMasks: tf.Tensor4D[],
  targets: ClipTarget[],
  { numTracks, classWeightSum }: { numTracks: number; classWeightSum: number },
  options: VideoCriterionOptions,
): { matches: Match[]; ce: tf.Scalar; mask: tf.Scalar; dice: tf.Scalar } {
  const matches = matchVideoQueries(prediction, videoMasks, targets, options);
  const [batch, numQueries, numOutputs] = prediction.predLogits.shape;
  const noObject = numOutputs - 1;
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
    weightedCrossEntropy(
      prediction.predLogits,
      tf.tensor2d(targetClasses, [batch, numQueries], "int32"),
      classWeights,
    ),
    matched + noObjectWeight * (batch * numQueries - matched),
    classWeightSum,
  );

  // Per clip, so that a clip's random points come from its own stream.
  const masks: tf.Scalar[] = [];
  const dices: tf.Scalar[] = [];
  matches.forEach((match, b) => {
    if (match.queryIndices.length === 0) return;
    const pred = tf.gather(videoMasks[b], match.queryIndices) as tf.Tensor4D; // [n, T, h, w]
    const gt = tf.gather(targets[b].masks, match.targetIndices).cast("float32") as tf.Tensor4D; // [n, T, H, W]
    const [n, frames, h, w] = pred.shape;
    const [, , gh, gw] = gt.shape;
    const numPoints = options.numPoints ?? 12544;
    // Points chosen per frame from that frame's uncertainty; the clip's points form one vector per track.
    const coords = getUncertainPointCoords(
      pred.reshape([n * frames, h, w]) as tf.Tensor3D,
      numPoints,
      options.oversampleRatio ?? 3,
      options.importanceSampleRatio ?? 0.75,
      randomOf(options.rng, b),
    );
    const logits = pointSample(pred.reshape([n * frames, h, w, 1]) as tf.Tensor4D, coords).reshape([
      n,
      frames * numPoints,
    ]) as tf.Tensor2D;
    const labels = pointSample(gt.reshape([n * frames, gh, gw, 1]) as tf.Tensor4D, coords).reshape([
      n,
      frames * numPoints,
    ]) as tf.Tensor2D;
    masks.push(sigmoidCeLoss(logits, labels, numTracks));
    dices.push(diceLoss(logits, labels, numTracks));
  });
  if (masks.length === 0) return { matches, ce, mask: tf.scalar(0), dice: tf.scalar(0) };
  return { matches, ce, mask: tf.addN(masks) as tf.Scalar, dice: tf.addN(dices) as tf.Scalar };
}

/**
 * Video-level loss over the final prediction and, when `aux` outputs are present and deepSupervision is
 * on, every earlier decoder layer (their mask logits computed from `maskFeatures`).
 */
export function videoLoss(
  output: OfflineOutput,
  targets: ClipTarget[],
  options: VideoCriterionOptions,
): { loss: tf.Scalar; terms: Record<string, tf.Scalar>; matches: Match[] } {
  // Hungarian matching pairs min(M, Nv) video queries of a clip with M tracks: the CE's summed weights.
  const [clips, numQueries] = output.video.predLogits.shape;
  const tracks = targets.reduce((sum, t) => sum + t.labels.length, 0);
  const matched = targets.reduce((sum, t) => sum + Math.min(t.labels.length, numQueries), 0);
  const [batchTracks, batchMatched, batchClips] = batchSum(options.shares ?? WHOLE_BATCH, [
    tracks,
    matched,
    clips,
  ]);
  const noObjectWeight = options.noObjectWeight ?? 0.1;
  const normalisers = {
    numTracks: Math.max(1, batchTracks),
    classWeightSum: batchMatched + noObjectWeight * (batchClips * numQueries - batchMatched),
  };
  let finalMatches: Match[] = [];
  const result = tf.tidy(() => {
    const terms: Record<string, tf.Scalar> = {};
    const weighted: tf.Scalar[] = [];
    const add = (suffix: string, layer: { ce: tf.Scalar; mask: tf.Scalar; dice: tf.Scalar }) => {
      terms[`video_loss_ce${suffix}`] = layer.ce;
      terms[`video_loss_mask${suffix}`] = layer.mask;
      terms[`video_loss_dice${suffix}`] = layer.dice;
      weighted.push(
        tf.addN([
          tf.mul(layer.ce, options.classWeight ?? 2),
          tf.mul(layer.mask, options.maskWeight ?? 5),
          tf.mul(layer.dice, options.diceWeight ?? 5),
        ]) as tf.Scalar,
      );
    };
    const last = videoLayerLoss(output.video, output.videoMasks, targets, normalisers, options);
    finalMatches = last.matches;
    add("", last);
    if (options.deepSupervision ?? true) {
      output.video.aux.forEach((prediction, i) => {
        const masks = videoMaskLogits(prediction.predMaskEmbed, output.frame.maskFeatures);
        add(`_${i}`, videoLayerLoss(prediction, masks, targets, normalisers, options));
      });
    }
    return { loss: tf.addN(weighted) as tf.Scalar, terms };
  });
  return { ...result, matches: finalMatches };
}

/**
 * VITA's similarity loss. frameEmbed [B, T, N, E] and videoEmbed [B, Nv, E] (L2-normalised);
 * frameMatches[b][t] and videoMatches[b] in track indices of clip b. 0 with fewer than two matched queries
 * in the whole batch.
 *
 * On a share of the batch, the pairs of this share's queries with the other shares' (whose embeddings
 * are gathered as constants) are this share's too: their value counts once, their gradient twice, since
 * the whole batch's loss holds each such pair in both orders and the other share gives its own queries
 * the gradient of the other order.
 */
export function similarityLoss(
  frameEmbed: tf.Tensor4D,
  videoEmbed: tf.Tensor3D,
  frameMatches: Match[][],
  videoMatches: Match[],
  options: { simScale?: number; simMargin?: number; shares?: BatchShares } = {},
): tf.Scalar {
  const shares = options.shares ?? WHOLE_BATCH;
  const [batch, frames, n, e] = frameEmbed.shape;
  const numVideoQueries = videoEmbed.shape[1];
  const frameRows: number[] = [];
  const videoRows: number[] = [];
  const clipOfRow: number[] = [];
  const trackOfRow: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < frames; t++) {
      const match = frameMatches[b]?.[t];
      if (!match) throw new VidsegError(`similarity loss: no frame matches for clip ${b}, frame ${t}`);
      match.queryIndices.forEach((q, k) => {
        frameRows.push((b * frames + t) * n + q);
        clipOfRow.push(b);
        trackOfRow.push(match.targetIndices[k]);
      });
    }
  }
  for (let b = 0; b < batch; b++) {
    videoMatches[b].queryIndices.forEach((q, k) => {
      videoRows.push(b * numVideoQueries + q);
      clipOfRow.push(b);
      trackOfRow.push(videoMatches[b].targetIndices[k]);
    });
  }
  const own = frameRows.length + videoRows.length;
  const embeddings = tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    if (frameRows.length > 0) parts.push(tf.gather(frameEmbed.reshape([batch * frames * n, e]), frameRows));
    if (videoRows.length > 0)
      parts.push(tf.gather(videoEmbed.reshape([batch * numVideoQueries, e]), videoRows));
    return parts.length > 0 ? (tf.concat(parts, 0) as tf.Tensor2D) : undefined;
  });
  // Every share's clips, rows (clip, track) and, from the other shares, embeddings: [clips, rows, …].
  const gathered = shares.gather(
    shares.count === 1
      ? [batch, own]
      : [batch, own, ...clipOfRow, ...trackOfRow, ...(embeddings ? embeddings.dataSync() : [])],
  );
  // Track k of (batch-wide) clip b has the id b·2^20 + k: tracks of different clips are different instances.
  const id = (clip: number, track: number) => clip * 1048576 + track;
  const ownIds: number[] = [];
  const otherIds: number[] = [];
  const otherEmbeddings: number[] = [];
  let clipOffset = 0;
  gathered.forEach((values, s) => {
    const [clips, rows] = values;
    const mine = s === shares.index;
    const ids = Array.from({ length: rows }, (_, r) =>
      id(clipOffset + (mine ? clipOfRow[r] : values[2 + r]), mine ? trackOfRow[r] : values[2 + rows + r]),
    );
    if (mine) ownIds.push(...ids);
    else {
      otherIds.push(...ids);
      for (let i = 2 + 2 * rows; i < values.length; i++) otherEmbeddings.push(values[i]);
    }
    clipOffset += clips;
  });
  const count = ownIds.length + otherIds.length;
  if (count < 2 || !embeddings) {
    embeddings?.dispose();
    return tf.scalar(0);
  }
  const pairLoss = (rows: tf.Tensor2D, columns: tf.Tensor2D, columnIds: number[], diagonal: boolean) => {
    const targets = new Float32Array(own * columnIds.length);
    const pairWeights = new Float32Array(own * columnIds.length);
    for (let i = 0; i < own; i++) {
      for (let j = 0; j < columnIds.length; j++) {
        targets[i * columnIds.length + j] = ownIds[i] === columnIds[j] ? 1 : 0;
        pairWeights[i * columnIds.length + j] = diagonal && i === j ? 0 : 1 / (count * (count - 1));
      }
    }
    const cosine = tf.matMul(rows, columns, false, true);
    const logits = tf.mul(tf.sub(cosine, options.simMargin ?? 0.5), options.simScale ?? 10);
    const bce = bceWithLogits(logits, tf.tensor2d(targets, [own, columnIds.length]));
    return tf.sum(tf.mul(bce, tf.tensor2d(pairWeights, [own, columnIds.length]))) as tf.Scalar;
  };
  const loss = tf.tidy(() => {
    const withinShare = pairLoss(embeddings, embeddings, ownIds, true);
    if (otherIds.length === 0) return withinShare;
    const others = tf.tensor2d(otherEmbeddings, [otherIds.length, e]);
    return tf.add(withinShare, doubleGradient(pairLoss(embeddings, others, otherIds, false))) as tf.Scalar;
  });
  embeddings.dispose();
  return loss;
}

/** The identity in value, twice the gradient. */
function doubleGradient(x: tf.Scalar): tf.Scalar {
  const doubled = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(inputs[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, 2),
  }));
  return doubled(x) as tf.Scalar;
}

/**
 * Per-frame targets of clips of T frames: frame t of clip b (index b·T + t) gets the tracks with any
 * foreground in that frame, with `ids` = their track indices.
 */
export function frameTargets(targets: ClipTarget[], numFrames: number): CriterionTarget[] {
  const result: CriterionTarget[] = [];
  for (const target of targets) {
    const [m, t, h, w] = target.masks.shape;
    if (t !== numFrames) throw new VidsegError(`clip target has ${t} frames, the clip ${numFrames}`);
    const presence = tf.tidy(() => tf.any(target.masks.cast("bool"), [2, 3]));
    const present = presence.arraySync() as unknown as number[][]; // [M, T], 0/1
    presence.dispose();
    for (let f = 0; f < numFrames; f++) {
      const tracks = Array.from({ length: m }, (_, k) => k).filter((k) => present[k][f]);
      const masks = tf.tidy(() =>
        tracks.length === 0
          ? tf.zeros([0, h, w])
          : tf.gather(target.masks.slice([0, f, 0, 0], [m, 1, h, w]).reshape([m, h, w]), tracks),
      ) as tf.Tensor3D;
      result.push({ labels: tracks.map((k) => target.labels[k]), masks, ids: tracks });
    }
  }
  return result;
}

/**
 * The offline model's full loss (see the module comment) on a forward of B clips of T frames and
 * their targets. The frame-level term uses the segmenter's criterion with the same options.
 */
export function offlineCriterion(
  output: OfflineOutput,
  targets: ClipTarget[],
  options: VideoCriterionOptions,
): OfflineCriterionResult {
  const numFrames = output.numFrames;
  const batch = output.video.predLogits.shape[0];
  if (targets.length !== batch)
    throw new VidsegError(`offline criterion: ${batch} clips but ${targets.length} targets`);
  const perFrame = frameTargets(targets, numFrames);
  try {
    const frameWeight = options.frameWeight ?? 1;
    const videoWeight = options.videoWeight ?? 1;
    const simWeight = options.simWeight ?? 0.5;
    // One stream per frame, drawn from its clip's (one shared stream stays shared).
    const frameRng = childRandoms(options.rng, batch, numFrames);
    const frame = frameCriterion(output.frame, perFrame, { ...options, rng: frameRng });
    const frameMatches: Match[][] = [];
    for (let b = 0; b < batch; b++) {
      frameMatches.push(
        Array.from({ length: numFrames }, (_, t) => {
          const match = frame.matches[b * numFrames + t];
          const ids = perFrame[b * numFrames + t].ids!;
          return { queryIndices: match.queryIndices, targetIndices: match.targetIndices.map((i) => ids[i]) };
        }),
      );
    }
    const video = videoLoss(output, targets, options);
    return tidyObject(() => {
      const terms: Record<string, tf.Scalar> = {};
      for (const [name, value] of Object.entries(frame.terms)) terms[`frame_${name}`] = value;
      Object.assign(terms, video.terms);
      const parts = [tf.mul(frame.loss, frameWeight), tf.mul(video.loss, videoWeight)];
      if (simWeight > 0) {
        const sim = similarityLoss(
          output.video.frameEmbed,
          output.video.videoEmbed,
          frameMatches,
          video.matches,
          options,
        );
        terms.loss_sim = sim;
        parts.push(tf.mul(sim, simWeight));
      }
      return {
        loss: tf.addN(parts) as tf.Scalar,
        terms,
        videoMatches: video.matches,
        frameMatches,
      };
    });
  } finally {
    tf.dispose(perFrame.map((t) => t.masks));
  }
}

function checkClipTarget(target: ClipTarget, numClasses: number, frames: number): void {
  const m = target.labels.length;
  if (target.masks.rank !== 4 || target.masks.shape[0] !== m || target.masks.shape[1] !== frames) {
    throw new VidsegError(
      `clip target masks must be [${m}, ${frames}, H, W], got [${target.masks.shape}]`,
      undefined,
      "masks",
    );
  }
  target.labels.forEach((label, k) => {
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new VidsegError(`label ${label} outside [0, ${numClasses})`, undefined, `labels[${k}]`);
    }
  });
}
