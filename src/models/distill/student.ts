/**
 * The online student's own loss on clips (B clips of T frames, clip-major): the segmenter's criterion
 * on every frame, whose targets are the tracks visible in that frame, and, when the config has one,
 * the contrastive identity term on consecutive frames of each clip (t, t + 1), both directions. The
 * matches come back in track indices: the student side of QFA.
 */
import * as tf from "@tensorflow/tfjs";
import { WHOLE_BATCH, type BatchShares, type Randoms } from "../batch-shares.js";
import type { CriterionConfig } from "../config.js";
import { contrastiveIdentityLoss, criterion, type CriterionTarget, type Match } from "../criterion.js";
import type { FrameSegmenter, SegmenterOutput } from "../segmenter.js";
import { frameTargets, type ClipTarget } from "../vis/video-criterion.js";

export interface StudentClipLoss {
  loss: tf.Scalar;
  /** The criterion's unweighted terms, plus loss_contrastive when on. */
  terms: Record<string, tf.Scalar>;
  output: SegmenterOutput;
  /** Per image b·T + t: the final layer's assignment, targetIndices = track indices of clip b. */
  matches: Match[];
  /** The same for each earlier layer (output.aux order; empty without deep supervision). */
  auxMatches: Match[][];
}

/** Forward + loss; call inside the trainer's step (tf.variableGrads). The caller owns the tensors. */
export function studentClipLoss(
  segmenter: FrameSegmenter,
  images: tf.Tensor4D,
  numFrames: number,
  targets: ClipTarget[],
  config: CriterionConfig,
  rng: Randoms,
  shares: BatchShares = WHOLE_BATCH,
): StudentClipLoss {
  return clipCriterion(segmenter.forward(images), numFrames, targets, config, rng, shares);
}

/**
 * The loss of {@link studentClipLoss} on the segmenter's output for the B·T frames of the clips (`rng`:
 * one stream, or one per frame; `shares`: these clips are a share of the batch).
 */
export function clipCriterion(
  output: SegmenterOutput,
  numFrames: number,
  targets: ClipTarget[],
  config: CriterionConfig,
  rng: Randoms,
  shares: BatchShares = WHOLE_BATCH,
): StudentClipLoss {
  const perFrame = frameTargets(targets, numFrames);
  try {
    const result = criterion(output, perFrame, { ...config, rng, shares });
    const inTracks = (matches: Match[]) =>
      matches.map((match, i) => ({
        queryIndices: match.queryIndices,
        targetIndices: match.targetIndices.map((k) => perFrame[i].ids![k]),
      }));
    const matches = inTracks(result.matches);
    const { terms } = result;
    let { loss } = result;
    if (config.contrastiveWeight > 0 && numFrames > 1) {
      terms.loss_contrastive = consecutiveFrameContrastive(
        output.queryEmbed,
        result.matches,
        perFrame,
        numFrames,
        config.contrastiveTemperature,
        shares,
      );
      const total = tf.add(loss, tf.mul(terms.loss_contrastive, config.contrastiveWeight)) as tf.Scalar;
      loss.dispose();
      loss = total;
    }
    return { loss, terms, output, matches, auxMatches: result.auxMatches.map(inTracks) };
  } finally {
    tf.dispose(perFrame.map((t) => t.masks));
  }
}

/**
 * The contrastive identity loss (src/models/criterion.ts) on the pairs of consecutive frames of every
 * clip: `matches` and `targets` per image, the targets' ids being track indices within the clip.
 */
function consecutiveFrameContrastive(
  queryEmbed: tf.Tensor3D,
  matches: Match[],
  targets: CriterionTarget[],
  numFrames: number,
  temperature: number,
  shares: BatchShares,
): tf.Scalar {
  const images: number[] = [];
  for (let first = 0; first < queryEmbed.shape[0]; first++)
    if ((first + 1) % numFrames !== 0) images.push(first, first + 1);
  return tf.tidy(() =>
    contrastiveIdentityLoss(
      tf.gather(queryEmbed, images) as tf.Tensor3D,
      images.map((i) => matches[i]),
      images.map((i) => targets[i]),
      temperature,
      shares,
    ),
  );
}
