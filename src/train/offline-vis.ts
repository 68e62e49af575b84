/**
 * Training the offline (VITA-style) VIS model: clips of T frames of one video from a YouTube-VIS-layout
 * split (VisClipData), the frame + video + similarity losses of src/models/video-criterion.ts, AdamW
 * with a warmup + cosine schedule, gradient clipping, checkpoints with exact resume
 * (src/train/trainer.ts), and at the end `<runDir>/model.safetensors`, the file `OfflineSegmenter.load`
 * reads. The settings of the clips, losses and head are the config's `offline` section.
 *
 * Initialisation from an online model (`init`): VITA trains its video head on top of a Mask2Former
 * frame model trained on the same data. With `init`, the frame segmenter starts from the weights of a
 * model file written by `trainOnlineVis` (`vidseg train vis --model online`); the segmenter's
 * architecture (the config's `model` section) is then the file's, and its categories must be the
 * data's. Combined with `offline.freezeSegmenter`, only the head trains (VITA's FREEZE_DETECTOR): much
 * cheaper steps (no backward pass through the segmenter, the frame-level loss on its final layer only),
 * and the frame queries stay exactly those of the online model. A resumed run needs the
 * same `init` (it fixes the architecture; the weights then come from the checkpoint).
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { VidsegError } from "../core/errors.js";
import type { VisConfig } from "../models/config.js";
import {
  OFFLINE_HEAD_PRESETS,
  OfflineVisModel,
  saveOfflineModel,
  type OfflineHeadOptions,
} from "../models/offline.js";
import type { CropClassifier } from "../models/crop-classifier.js";
import { cropLoss, readVisModel, type VisModelInfo } from "../models/online.js";
import { offlineCriterion } from "../models/video-criterion.js";
import { seedParameters } from "../nn/init.js";
import { loadTorchvisionResnet } from "../nn/safetensors.js";
import type { AdamW } from "./optim.js";
import { train, type TrainResult } from "./trainer.js";
import { VisClipData, type VisClipBatch } from "./vis-data.js";
import { inEvalMode, MODEL_FILE, visOptimizer, visSchedule, type VisTrainOptions } from "./vis-setup.js";

export interface OfflineTrainOptions extends VisTrainOptions<OfflineVisModel> {
  /** An online model file whose segmenter initialises the frame segmenter (not with `backboneWeights`). */
  init?: string;
}

export interface OfflineTrainResult extends TrainResult {
  /** The model file (written when the run completed). */
  modelFile?: string;
  /** kind "offline"; `config` is the run's (numClasses from the data, the segmenter from `init`). */
  info: VisModelInfo;
  /** The head's resolved options (preset + overrides). */
  head: OfflineHeadOptions;
  model: OfflineVisModel;
}

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

/** Trains (or resumes) the offline model; the returned model belongs to the caller (dispose it). */
export async function trainOfflineVis(options: OfflineTrainOptions): Promise<OfflineTrainResult> {
  const seed = options.seed ?? 0;
  if (options.init && options.backboneWeights) {
    throw new VidsegError("give either backbone weights or an init model, not both", options.init, "init");
  }
  const init = options.init ? await readVisModel(options.init) : undefined;
  let run: Awaited<ReturnType<typeof setUpRun>>;
  try {
    run = await setUpRun(options, seed, init && { ...init, file: options.init! });
  } finally {
    if (init) tf.dispose([...init.weights.values()]);
  }
  const { data, info, head, model } = run;
  const { config } = info;
  const { offline } = config;
  let optimizer: AdamW | undefined;
  try {
    if (!init && options.backboneWeights)
      await loadTorchvisionResnet(model.segmenter.backbone, options.backboneWeights);
    if (offline.freezeSegmenter) model.segmenter.setTrainable(false);
    const params = model.namedParameters();
    // Frozen parameters travel with the buffers, so checkpoints hold the whole model.
    const buffers = new Map([...model.stateDict()].filter(([name]) => !params.has(name)));
    optimizer = visOptimizer(params, config.optim, "segmenter.backbone.");
    const criterionOptions = {
      ...config.criterion,
      frameWeight: offline.frameWeight,
      videoWeight: offline.videoWeight,
      simWeight: offline.simWeight,
    };
    const result = await train({
      runDir: options.runDir,
      params,
      buffers,
      optimizer,
      schedule: visSchedule(config.optim),
      totalSteps: config.optim.totalSteps,
      data,
      seed,
      clipNorm: config.optim.clipNorm > 0 ? config.optim.clipNorm : undefined,
      checkpointEvery: options.checkpointEvery ?? 500,
      validateEvery: options.validateEvery,
      validate: options.validate
        ? (step) => inEvalMode(model, () => options.validate!(model, info, step))
        : undefined,
      resume: options.resume,
      // modelInfo + offlineHead let loadOfflineModel rebuild the model from a checkpoint.
      config: { modelInfo: info, offlineHead: head, seed, init: options.init ?? null },
      progress: options.progress,
      signal: options.signal,
      onStep: options.onStep,
      step: (batch, rng) => {
        let output = model.forward(batch.images, batch.numFrames, { aux: config.criterion.deepSupervision });
        // A frozen segmenter gets no gradient from the frame-level loss: only its final layer's matches
        // are needed (for the similarity loss), so its per-layer losses are skipped.
        if (offline.freezeSegmenter) output = { ...output, frame: { ...output.frame, aux: [] } };
        const criterionResult = offlineCriterion(output, batch.targets, {
          ...criterionOptions,
          rng: () => rng.uniform(),
        });
        const { terms } = criterionResult;
        let { loss } = criterionResult;
        const classifier = model.segmenter.cropClassifier;
        if (classifier && !offline.freezeSegmenter) {
          // The crop classifier is a per-frame model: one random frame of each clip is enough.
          const crop = clipFrameCropLoss(classifier, batch, config.criterion.cropsPerInstance, () =>
            rng.uniform(),
          );
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
    });
    let modelFile: string | undefined;
    if (result.step === config.optim.totalSteps) {
      modelFile = join(options.runDir, MODEL_FILE);
      await saveOfflineModel(modelFile, model, {
        categoryIds: info.categoryIds,
        categoryNames: info.categoryNames,
        visConfig: config,
      });
    }
    return { ...result, modelFile, info, head, model };
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    optimizer?.dispose();
  }
}

/** The crop classifier's loss on one random frame of each clip of the batch (src/models/online.ts). */
function clipFrameCropLoss(
  classifier: CropClassifier,
  batch: VisClipBatch,
  perInstance: number,
  uniform: () => number,
): tf.Scalar | null {
  const { numFrames } = batch;
  const picks = batch.targets.map((_, b) => b * numFrames + Math.floor(uniform() * numFrames));
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
    return cropLoss(classifier, images, targets, perInstance, uniform);
  } finally {
    tf.dispose([images, ...targets.map((t) => t.masks)]);
  }
}

/**
 * The run's data source, model info (config with the data's classes and, with `init`, the init model's
 * segmenter architecture), head options, and the model, seeded and initialised from `init`.
 */
async function setUpRun(
  options: OfflineTrainOptions,
  seed: number,
  init: { info: VisModelInfo; weights: Map<string, tf.Tensor>; file: string } | undefined,
): Promise<{ data: VisClipData; info: VisModelInfo; head: OfflineHeadOptions; model: OfflineVisModel }> {
  const config: VisConfig = structuredClone(options.config);
  if (init) config.model = structuredClone(init.info.config.model);
  const data = await VisClipData.open({
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
  if (init) checkInitModel(init.info, reader.categoryIds, init.file);
  // The classifier's size follows the data.
  config.model.numClasses = reader.numClasses;
  const info: VisModelInfo = {
    kind: "offline",
    config,
    categoryIds: reader.categoryIds,
    categoryNames: reader.categoryNames,
  };
  const head = resolveHeadOptions(config);
  seedParameters(seed);
  const model = new OfflineVisModel({ segmenter: config.model, head });
  try {
    if (init) model.segmenter.loadStateDict(init.weights, { file: init.file });
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { data, info, head, model };
}

/** The head's options: the config's head preset with its single-field overrides. */
export function resolveHeadOptions(config: VisConfig, file?: string): OfflineHeadOptions {
  const preset = OFFLINE_HEAD_PRESETS[config.offline.headPreset];
  for (const field of Object.keys(config.offline.head)) {
    if (!(field in preset) && field !== "dropout")
      throw new VidsegError(`unknown head field "${field}"`, file, `offline.head.${field}`);
  }
  return { ...preset, ...config.offline.head };
}

/** An init model must be an online model over the same categories as the training data. */
function checkInitModel(info: VisModelInfo, categoryIds: number[], file: string): void {
  if (info.kind !== "online") {
    throw new VidsegError(
      `holds a${info.kind === "offline" ? "n" : ""} ${info.kind} model; --init takes an online model file`,
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
