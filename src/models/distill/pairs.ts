/**
 * Which student query learns from which teacher query (OOKD's query filtering and association, and the
 * two ablation variants). The student sees B clips of T frames as B·T images, clip-major (image
 * b·T + t is frame t of clip b); the teacher has Nv video queries per clip.
 *
 * - QFA (`qfaPairs`): the teacher's video queries are Hungarian-matched to the clip's GT tracks with
 *   the video matcher's cost (src/models/distill/teacher.ts); a matched query is kept when its clip mask
 *   IoU and its probability of the GT class pass the thresholds ({@link teacherQueryOfTrack}). In every
 *   frame, the student query that the student's own loss matched to track k is paired with the teacher
 *   query of track k. Queries matched to nothing, or to a track whose teacher query was filtered out,
 *   get no distillation.
 * - `none` (`embeddingPairs`): no filtering; in every frame, all min(N, Nv) queries are paired by a
 *   Hungarian assignment on the distance between the projected student queries and the teacher queries.
 * - `position` (`positionPairs`): query i ↔ video query i, for i < min(N, Nv).
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import { linearSumAssignment } from "../../math/hungarian.js";
import type { Match } from "../matcher.js";

/** Student query `studentQuery` of image `image` learns from video query `teacherQuery` of clip `clip`. */
export interface KdPair {
  image: number;
  studentQuery: number;
  clip: number;
  teacherQuery: number;
}

/** How well a teacher video query matched to a GT track fits it. */
export interface TeacherMatchQuality {
  /** IoU of the teacher's clip mask (logits > 0, at the GT's resolution) with the track, over all frames. */
  maskIou: number;
  /** The teacher's probability of the track's class. */
  classProb: number;
}

/**
 * QFA, teacher side: the teacher query of each of a clip's `numTracks` GT tracks, −1 where the video
 * matcher left the track unmatched or the matched query fails a threshold. `quality[k]` belongs to the
 * pair (match.queryIndices[k], match.targetIndices[k]).
 */
export function teacherQueryOfTrack(
  match: Match,
  numTracks: number,
  quality: readonly TeacherMatchQuality[],
  thresholds: { minMaskIou: number; minClassProb: number },
): number[] {
  if (quality.length !== match.queryIndices.length)
    throw new VidsegError(`QFA: ${quality.length} match qualities for ${match.queryIndices.length} matches`);
  const queryOfTrack = new Array<number>(numTracks).fill(-1);
  match.queryIndices.forEach((query, k) => {
    const track = match.targetIndices[k];
    if (track < 0 || track >= numTracks)
      throw new VidsegError(`QFA: track ${track} outside [0, ${numTracks})`);
    const { maskIou, classProb } = quality[k];
    if (maskIou >= thresholds.minMaskIou && classProb >= thresholds.minClassProb) queryOfTrack[track] = query;
  });
  return queryOfTrack;
}

/**
 * QFA, student side. `frameMatches[i]`: the student's assignment in image i = b·T + t, its targetIndices
 * being track indices of clip b; `queryOfTrack[b]`: clip b's teacher query per track (−1 = none).
 */
export function qfaPairs(
  frameMatches: readonly Match[],
  numFrames: number,
  queryOfTrack: number[][],
): KdPair[] {
  if (frameMatches.length !== queryOfTrack.length * numFrames) {
    throw new VidsegError(
      `QFA: ${frameMatches.length} frame matches for ${queryOfTrack.length} clips of ${numFrames} frames`,
    );
  }
  const pairs: KdPair[] = [];
  frameMatches.forEach((match, image) => {
    const clip = Math.floor(image / numFrames);
    match.queryIndices.forEach((studentQuery, k) => {
      const teacherQuery = queryOfTrack[clip][match.targetIndices[k]];
      if (teacherQuery === undefined) {
        throw new VidsegError(
          `QFA: image ${image} matches track ${match.targetIndices[k]} unknown to clip ${clip}`,
        );
      }
      if (teacherQuery >= 0) pairs.push({ image, studentQuery, clip, teacherQuery });
    });
  });
  return pairs;
}

/** Query i ↔ video query i in every image, for i < min(numQueries, numVideoQueries). */
export function positionPairs(
  numImages: number,
  numFrames: number,
  numQueries: number,
  numVideoQueries: number,
): KdPair[] {
  const pairs: KdPair[] = [];
  for (let image = 0; image < numImages; image++) {
    const clip = Math.floor(image / numFrames);
    for (let q = 0; q < Math.min(numQueries, numVideoQueries); q++)
      pairs.push({ image, studentQuery: q, clip, teacherQuery: q });
  }
  return pairs;
}

/**
 * All queries, paired in every image by the Hungarian assignment minimising the distance between the
 * projected student queries `student` [B·T, N, D] and the teacher queries `teacher` [B, Nv, D]: the mean
 * squared difference ("mse") or 1 − cos ("cosine"), the distance the KD loss then reduces. No gradient.
 */
export function embeddingPairs(
  student: tf.Tensor3D,
  teacher: tf.Tensor3D,
  numFrames: number,
  distance: "mse" | "cosine",
): KdPair[] {
  const [numImages, , dim] = student.shape;
  const [clips] = teacher.shape;
  if (numImages !== clips * numFrames || teacher.shape[2] !== dim) {
    throw new VidsegError(
      `KD pairs: student queries [${student.shape}] do not fit teacher queries [${teacher.shape}] in clips of ${numFrames}`,
    );
  }
  const costs = tf.tidy(() => {
    const clipOf = Array.from({ length: numImages }, (_, image) => Math.floor(image / numFrames));
    const perImage = tf.gather(teacher, clipOf); // [B·T, Nv, D]
    if (distance === "cosine") {
      const unit = (x: tf.Tensor) => tf.div(x, tf.maximum(tf.norm(x, "euclidean", -1, true), 1e-12));
      return tf.sub(1, tf.matMul(unit(student), unit(perImage), false, true));
    }
    // ‖s − t‖² / D = (‖s‖² + ‖t‖² − 2 s·t) / D
    const s2 = tf.sum(tf.square(student), -1, true); // [B·T, N, 1]
    const t2 = tf.sum(tf.square(perImage), -1).expandDims(1); // [B·T, 1, Nv]
    const cross = tf.matMul(student, perImage, false, true);
    return tf.div(tf.sub(tf.add(s2, t2), tf.mul(cross, 2)), dim);
  });
  const values = costs.arraySync() as number[][][];
  costs.dispose();
  const pairs: KdPair[] = [];
  values.forEach((cost, image) => {
    const clip = Math.floor(image / numFrames);
    const { rows, cols } = linearSumAssignment(cost);
    rows.forEach((studentQuery, k) => pairs.push({ image, studentQuery, clip, teacherQuery: cols[k] }));
  });
  return pairs;
}
