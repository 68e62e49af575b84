/**
 * The offline (VITA-style) VIS task: clips of T frames of one video from a YouTube-VIS-layout split
 * (VisClipData), the frame + video + similarity losses of src/models/vis/video-criterion.ts. The
 * settings of the clips, losses and head are the config's `offline` section.
 *
 * Initialisation from an online model (`init`): VITA trains its video head on top of a Mask2Former
 * frame model trained on the same data. With `init`, the frame segmenter starts from the weights of an
 * online model file; the segmenter's architecture (the config's `model` section) is then the file's,
 * and its categories must be the data's. Combined with `offline.freezeSegmenter`, only the head trains
 * (VITA's FREEZE_DETECTOR): much cheaper steps (no backward pass through the segmenter, the
 * frame-level loss on its final layer only), and the frame queries stay exactly those of the online
 * model. A resumed run needs the same `init` (it fixes the architecture; the weights then come from the
 * checkpoint).
 *
 * An offline model file as `init` continues that model instead: its segmenter and head (architecture
 * and weights), with the run's own clips, losses and schedule — a teacher trained longer, on longer clips.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import type { CropClassifier } from "../../models/crop-classifier.js";
import { disposeModelFile, readModelFile, type ModelFile, type ModelInfo } from "../../models/model-file.js";
import type { OfflineVisModel } from "../../models/vis/offline.js";
import { cropLoss } from "../../models/vis/online.js";
import { offlineCriterion } from "../../models/vis/video-criterion.js";
import { loadTorchvisionResnet } from "../../nn/safetensors.js";
import { randomOf, seededRandoms, type BatchShares, type Randoms } from "../../models/batch-shares.js";
import { buildTaskModel, checkOneStart, taskModelInfo, type TaskOptions, type TrainTask } from "../task.js";
import { VisClipData, type VisClipBatch } from "../vis-data.js";

/** The loss terms logged each step (unweighted; deep-supervision terms are left out of the log). */
const LOGGED_TERMS = [
  "frame_loss_ce",
  "frame_loss_mask",
  "frame_loss_dice",
  "video_loss_ce",
  "video_loss_mask",
  "video_loss_dice",
  "loss_sim",
  "loss_crop",
];

export async function createOfflineTask(
  options: TaskOptions,
): Promise<TrainTask<VisClipBatch, OfflineVisModel>> {
  const { seed } = options;
  checkOneStart(options);
  const init = options.init ? await readModelFile(options.init) : undefined;
  let data: VisClipData;
  let info: ModelInfo & { kind: "offline" };
  let model: OfflineVisModel;
  try {
    const config = structuredClone(options.config);
    if (init) config.model = structuredClone(init.info.config.model);
    if (init?.info.kind === "offline") config.offline.head = structuredClone(init.info.config.offline.head);
    data = await VisClipData.open({
      ...options.data,
      inputSize: config.model.inputSize,
      clipLength: config.offline.clipLength,
      clipsPerBatch: config.offline.clipsPerBatch,
      maxStride: config.offline.clipMaxStride,
      flipProbability: config.optim.flipProbability,
      repeatThreshold: config.optim.repeatThreshold,
      seed,
    });
    const { reader } = data;
    if (init) checkInitModel(init, reader.categoryIds, ["online", "offline"]);
    // The classifier's size follows the data.
    config.model.numClasses = reader.numClasses;
    info = taskModelInfo(
      "offline",
      config,
      { categoryIds: reader.categoryIds, categoryNames: reader.categoryNames },
      options,
      init,
    );
    model = await buildTaskModel(info, seed, (model) => {
      if (init?.info.kind === "offline") model.loadStateDict(init.weights, { file: init.file });
      else if (init) model.segmenter.loadStateDict(init.weights, { file: init.file });
      else if (options.backboneWeights)
        return loadTorchvisionResnet(model.segmenter.backbone, options.backboneWeights);
    });
  } finally {
    if (init) disposeModelFile(init);
  }
  const { config } = info;
  const { offline } = config;
  if (offline.freezeSegmenter) model.segmenter.setTrainable(false);
  const criterionOptions = {
    ...config.criterion,
    frameWeight: offline.frameWeight,
    videoWeight: offline.videoWeight,
    simWeight: offline.simWeight,
  };
  return {
    info,
    model,
    data,
    backbonePrefix: "segmenter.backbone.",
    runConfig: { init: options.init ?? null },
    step: (batch, shares) => {
      const rng = seededRandoms(batch.seeds); // one stream per clip
      let output = model.forward(batch.images, batch.numFrames, { aux: config.criterion.deepSupervision });
      // A frozen segmenter gets no gradient from the frame-level loss: only its final layer's matches
      // are needed (for the similarity loss), so its per-layer losses are skipped.
      if (offline.freezeSegmenter) output = { ...output, frame: { ...output.frame, aux: [] } };
      const criterionResult = offlineCriterion(output, batch.targets, { ...criterionOptions, rng, shares });
      const { terms } = criterionResult;
      let { loss } = criterionResult;
      const classifier = model.segmenter.cropClassifier;
      if (classifier && !offline.freezeSegmenter) {
        // The crop classifier is a per-frame model: one random frame of each clip is enough.
        const crop = clipFrameCropLoss(classifier, batch, config.criterion.cropsPerInstance, rng, shares);
        if (crop) {
          terms.loss_crop = crop;
          const total = tf.add(loss, tf.mul(crop, config.criterion.cropWeight)) as tf.Scalar;
          loss.dispose();
          loss = total;
        }
      }
      const metrics: Record<string, tf.Scalar> = {};
      for (const name of LOGGED_TERMS) if (terms[name]) metrics[name] = terms[name];
      return { loss, metrics };
    },
  };
}

/**
 * The crop classifier's loss on one random frame of each clip of the batch (src/models/vis/online.ts);
 * `rng`: one stream per clip, continued after the criterion's draws.
 */
export function clipFrameCropLoss(
  classifier: CropClassifier,
  batch: VisClipBatch,
  perInstance: number,
  rng: Randoms,
  shares: BatchShares,
): tf.Scalar | null {
  const { numFrames } = batch;
  const picks = batch.targets.map((_, b) => b * numFrames + Math.floor(randomOf(rng, b)() * numFrames));
  const images = tf.gather(batch.images, picks) as tf.Tensor4D;
  const targets = batch.targets.map((target, b) => ({
    labels: target.labels,
    masks: tf.tidy(() => {
      const [m, , h, w] = target.masks.shape;
      const t = picks[b] - b * numFrames;
      return target.masks.slice([0, t, 0, 0], [m, 1, h, w]).reshape([m, h, w]) as tf.Tensor3D;
    }),
  }));
  try {
    return cropLoss(classifier, images, targets, perInstance, rng, undefined, shares);
  } finally {
    tf.dispose([images, ...targets.map((t) => t.masks)]);
  }
}

/** An init model must be of an accepted kind (an online model by default) over the training data's categories. */
export function checkInitModel(
  { info, file }: ModelFile,
  categoryIds: number[],
  kinds: ModelInfo["kind"][] = ["online"],
): void {
  if (!kinds.includes(info.kind)) {
    const article = (kind: string) => (/^[aeiou]/.test(kind) ? "an" : "a");
    throw new VidsegError(
      `holds ${article(info.kind)} ${info.kind} model; --init takes ${kinds.map((k) => `${article(k)} ${k}`).join(" or ")} model file`,
      file,
      "__metadata__.info.kind",
    );
  }
  if (info.categoryIds.join(",") !== categoryIds.join(",")) {
    throw new VidsegError(
      `the model's categories [${info.categoryIds}] are not the training data's [${categoryIds}]`,
      file,
      "__metadata__.info.categoryIds",
    );
  }
}
