/**
 * The online VIS task: the per-frame segmenter on frames of a YouTube-VIS-layout split (pairs of frames
 * of one video when the contrastive identity loss is on), with the loss of src/models/vis/online.ts.
 * With `init` it fine-tunes a trained online model (its architecture and weights; the run's own
 * optimiser settings and schedule), e.g. a longer schedule, or the easy preset's model on another preset.
 */
import { seededRandoms } from "../../models/batch-shares.js";
import type { ModelFile } from "../../models/model-file.js";
import type { FrameSegmenter } from "../../models/segmenter.js";
import { onlineLoss } from "../../models/vis/online.js";
import { loadTorchvisionResnet } from "../../nn/safetensors.js";
import { buildTaskModel, taskModelInfo, withInitModel, type TaskOptions, type TrainTask } from "../task.js";
import { VisFrameData, type VisBatch } from "../vis-data.js";
import { checkInitModel } from "./offline.js";

export async function createOnlineTask(options: TaskOptions): Promise<TrainTask<VisBatch, FrameSegmenter>> {
  return withInitModel(options, (init) => buildOnlineTask(options, init));
}

async function buildOnlineTask(
  options: TaskOptions,
  init: ModelFile | undefined,
): Promise<TrainTask<VisBatch, FrameSegmenter>> {
  const { seed } = options;
  const base = structuredClone(options.config);
  if (init) base.model = structuredClone(init.info.config.model);
  const data = await VisFrameData.open({
    ...options.data,
    inputSize: base.model.inputSize,
    batchSize: base.optim.batchSize,
    pairs: base.criterion.contrastiveWeight > 0,
    pairMaxGap: base.optim.pairMaxGap,
    flipProbability: base.optim.flipProbability,
    repeatThreshold: base.optim.repeatThreshold,
    cropFrames: base.model.cropSize > 0 ? base.optim.cropFrames : 0,
    cropSize: base.model.cropSize,
    seed,
  });
  if (init) checkInitModel(init, data.categoryIds);
  // The classifier's size follows the data.
  const config = base;
  config.model.numClasses = data.numClasses;
  const info = taskModelInfo(
    "online",
    config,
    { categoryIds: data.categoryIds, categoryNames: data.reader.categoryNames },
    options,
    init,
  );
  const model = await buildTaskModel(info, seed, (model) => {
    if (init) return model.loadStateDict(init.weights, { file: init.file });
    return options.backboneWeights
      ? loadTorchvisionResnet(model.backbone, options.backboneWeights)
      : undefined;
  });
  return {
    info,
    model,
    data,
    backbonePrefix: "backbone.",
    ...(init ? { runConfig: { init: options.init } } : {}),
    step: (batch, shares) => {
      const { loss, terms } = onlineLoss(
        model,
        batch.images,
        batch.targets,
        config.criterion,
        seededRandoms(batch.seeds),
        batch.crops,
        shares,
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
  };
}
