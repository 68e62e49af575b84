/**
 * The frozen offline teacher on a training clip: its video queries and class logits (the KD targets)
 * and, for QFA, the teacher side of the pairing: its video queries Hungarian-matched to the clip's GT
 * tracks with the video matcher's cost (src/models/vis/video-criterion.ts, the teacher's own weights and
 * point count), each match scored by its clip mask IoU and class probability, and filtered by the
 * thresholds (src/models/distill/pairs.ts).
 *
 * Run it outside the student's gradient tape (no backward pass goes through the teacher), in eval mode.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import { resizeBilinear } from "../../nn/sampling.js";
import type { Randoms } from "../batch-shares.js";
import type { CriterionConfig } from "../config.js";
import type { Match } from "../matcher.js";
import { disposeOfflineOutput, type OfflineVisModel, type VideoPrediction } from "../vis/offline.js";
import { matchVideoQueries, type ClipTarget } from "../vis/video-criterion.js";
import { teacherQueryOfTrack, type TeacherMatchQuality } from "./pairs.js";

/** What the teacher contributes to one distillation step. */
export interface TeacherOutput {
  /** [B, Nv, Dt] the last decoder layer's video queries. */
  videoQueries: tf.Tensor3D;
  /** [B, Nv, K+1] video class logits. */
  predLogits: tf.Tensor3D;
  /** QFA only: per clip, the teacher query of each GT track (−1: unmatched or filtered out). */
  queryOfTrack?: number[][];
  /** QFA only: per clip, the video matcher's assignment and the quality of each matched pair. */
  matches?: { match: Match; quality: TeacherMatchQuality[] }[];
}

export interface TeacherOptions {
  /** The teacher's matcher: its criterion weights and point count. */
  matcher: Pick<CriterionConfig, "classWeight" | "maskWeight" | "diceWeight" | "numPoints">;
  /** QFA thresholds; without them no matching is done (the `none` and `position` variants). */
  qfa?: { minMaskIou: number; minClassProb: number };
  /** The matcher's random points: one stream, or one per clip. */
  rng: Randoms;
}

/**
 * The teacher on B clips of `numFrames` frames: `images` [B·T, H, W, 3] clip-major, resized to the
 * teacher's input size when it differs; `targets` the clips' GT tracks at the images' size.
 */
export function runTeacher(
  teacher: OfflineVisModel,
  images: tf.Tensor4D,
  numFrames: number,
  targets: readonly ClipTarget[],
  options: TeacherOptions,
): TeacherOutput {
  if (teacher.training) throw new VidsegError("the distillation teacher must be in eval mode");
  const [height, width] = teacher.config.segmenter.inputSize;
  const input =
    images.shape[1] === height && images.shape[2] === width ? images : resizeBilinear(images, height, width);
  const output = teacher.forward(input, numFrames, { aux: false });
  if (input !== images) input.dispose();
  try {
    const videoQueries = tf.clone(output.video.videoQueries);
    const predLogits = tf.clone(output.video.predLogits);
    if (!options.qfa) return { videoQueries, predLogits };
    const qfa = qfaTeacherSide(output.video, output.videoMasks, targets, { ...options, qfa: options.qfa });
    return { videoQueries, predLogits, ...qfa };
  } finally {
    disposeOfflineOutput(output);
  }
}

/**
 * QFA's teacher side on the teacher's final video predictions (`videoMasks`: per clip [Nv, T, h, w]
 * logits): the video matcher's assignment of each clip, the quality of each matched pair, and the
 * teacher query of each GT track after the thresholds.
 */
export function qfaTeacherSide(
  prediction: VideoPrediction,
  videoMasks: tf.Tensor4D[],
  targets: readonly ClipTarget[],
  options: Required<Omit<TeacherOptions, "qfa">> & { qfa: NonNullable<TeacherOptions["qfa"]> },
): Required<Pick<TeacherOutput, "queryOfTrack" | "matches">> {
  const videoMatches = matchVideoQueries(prediction, videoMasks, [...targets], {
    ...options.matcher,
    rng: options.rng,
  });
  const matches = videoMatches.map((match, b) => ({
    match,
    quality: matchQuality(prediction.predLogits, videoMasks[b], targets[b], b, match),
  }));
  const queryOfTrack = matches.map(({ match, quality }, b) =>
    teacherQueryOfTrack(match, targets[b].labels.length, quality, options.qfa),
  );
  return { queryOfTrack, matches };
}

/** Frees a teacher output's tensors. */
export function disposeTeacherOutput(output: TeacherOutput): void {
  tf.dispose([output.videoQueries, output.predLogits]);
}

/**
 * Clip mask IoU (teacher mask logits upsampled bilinearly to the GT's size, > 0; intersection and union
 * summed over the clip's frames) and class probability of each matched (query, track) pair of clip b.
 */
function matchQuality(
  predLogits: tf.Tensor3D,
  videoMasks: tf.Tensor4D,
  target: ClipTarget,
  clip: number,
  match: Match,
): TeacherMatchQuality[] {
  const n = match.queryIndices.length;
  if (n === 0) return [];
  const values = tf.tidy(() => {
    const [, frames, h, w] = videoMasks.shape;
    const [, , height, width] = target.masks.shape;
    const logits = tf.gather(videoMasks, match.queryIndices).reshape([n * frames, h, w, 1]) as tf.Tensor4D;
    const predicted = tf
      .greater(resizeBilinear(logits, height, width), 0)
      .reshape([n, -1])
      .cast("float32");
    const gt = tf.gather(target.masks, match.targetIndices).reshape([n, -1]).cast("float32");
    const intersection = tf.sum(tf.mul(predicted, gt), -1);
    const union = tf.sub(tf.add(tf.sum(predicted, -1), tf.sum(gt, -1)), intersection);
    const iou = tf.div(intersection, tf.maximum(union, 1));
    const probs = tf.softmax(predLogits.slice([clip, 0, 0], [1, -1, -1]).squeeze([0]), -1); // [Nv, K+1]
    const classProb = tf.stack(
      match.queryIndices.map((q, k) =>
        probs.slice([q, target.labels[match.targetIndices[k]]], [1, 1]).reshape([]),
      ),
    );
    return tf.stack([iou, classProb]);
  });
  const [iou, classProb] = values.arraySync() as number[][];
  values.dispose();
  return iou.map((maskIou, k) => ({ maskIou, classProb: classProb[k] }));
}
