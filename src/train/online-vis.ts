/**
 * Training the online VIS model: the segmenter on frames of a YouTube-VIS-layout split (pairs of frames
 * of one video when the contrastive identity loss is on), AdamW with a warmup + cosine schedule,
 * gradient clipping, checkpoints with exact resume (src/train/trainer.ts), and at the end
 * `<runDir>/model.safetensors`, the file `OnlineSegmenter.load` and `vidseg infer vis` read.
 */
import { join } from "node:path";
import { seedParameters } from "../nn/init.js";
import { loadTorchvisionResnet } from "../nn/safetensors.js";
import type { VisConfig } from "../models/config.js";
import { onlineLoss, saveVisModel, type VisModelInfo } from "../models/online.js";
import { FrameSegmenter } from "../models/segmenter.js";
import { train, type TrainResult } from "./trainer.js";
import { VisFrameData } from "./vis-data.js";
import { inEvalMode, MODEL_FILE, visOptimizer, visSchedule, type VisTrainOptions } from "./vis-setup.js";

export { MODEL_FILE };

export type OnlineTrainOptions = VisTrainOptions<FrameSegmenter>;

export interface OnlineTrainResult extends TrainResult {
  /** The model file (written when the run completed). */
  modelFile?: string;
  info: VisModelInfo;
  segmenter: FrameSegmenter;
}

/** Trains (or resumes) the online model; the returned segmenter belongs to the caller (dispose it). */
export async function trainOnlineVis(options: OnlineTrainOptions): Promise<OnlineTrainResult> {
  const seed = options.seed ?? 0;
  const data = await VisFrameData.open({
    ...options.data,
    inputSize: options.config.model.inputSize,
    batchSize: options.config.optim.batchSize,
    pairs: options.config.criterion.contrastiveWeight > 0,
    pairMaxGap: options.config.optim.pairMaxGap,
    flipProbability: options.config.optim.flipProbability,
    repeatThreshold: options.config.optim.repeatThreshold,
    cropFrames: options.config.model.cropSize > 0 ? options.config.optim.cropFrames : 0,
    cropSize: options.config.model.cropSize,
    seed,
  });
  // The classifier's size follows the data.
  const config: VisConfig = structuredClone(options.config);
  config.model.numClasses = data.numClasses;
  const info: VisModelInfo = {
    kind: "online",
    config,
    categoryIds: data.categoryIds,
    categoryNames: data.reader.categoryNames,
  };

  seedParameters(seed);
  const segmenter = new FrameSegmenter(config.model);
  if (options.backboneWeights) await loadTorchvisionResnet(segmenter.backbone, options.backboneWeights);
  const params = segmenter.namedParameters();
  const { optim } = config;
  const optimizer = visOptimizer(params, optim, "backbone.");
  const schedule = visSchedule(optim);

  try {
    const result = await train({
      runDir: options.runDir,
      params,
      buffers: segmenter.namedBuffers(),
      optimizer,
      schedule,
      totalSteps: optim.totalSteps,
      data,
      seed,
      clipNorm: optim.clipNorm > 0 ? optim.clipNorm : undefined,
      checkpointEvery: options.checkpointEvery ?? 500,
      validateEvery: options.validateEvery,
      validate: options.validate
        ? (step) => inEvalMode(segmenter, () => options.validate!(segmenter, info, step))
        : undefined,
      resume: options.resume,
      config: { modelInfo: info, seed },
      progress: options.progress,
      signal: options.signal,
      onStep: options.onStep,
      step: (batch, rng) => {
        const { loss, terms } = onlineLoss(
          segmenter,
          batch.images,
          batch.targets,
          config.criterion,
          () => rng.uniform(),
          batch.crops,
        );
        const metrics: Record<string, typeof loss> = {
          loss_ce: terms.loss_ce,
          loss_mask: terms.loss_mask,
          loss_dice: terms.loss_dice,
        };
        if (terms.loss_contrastive) metrics.loss_contrastive = terms.loss_contrastive;
        if (terms.loss_crop) metrics.loss_crop = terms.loss_crop;
        return { loss, metrics };
      },
    });
    let modelFile: string | undefined;
    if (result.step === optim.totalSteps) {
      modelFile = join(options.runDir, MODEL_FILE);
      await saveVisModel(modelFile, segmenter.stateDict(), info);
    }
    return { ...result, modelFile, info, segmenter };
  } catch (error) {
    segmenter.dispose();
    throw error;
  } finally {
    optimizer.dispose();
  }
}
