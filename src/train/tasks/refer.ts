/**
 * The referring task (YOFO): clips of one expression's video from a Ref-YouTube-VOS-layout split
 * (src/train/refer-data.ts) through the referring model's clip forward, with the loss of
 * src/models/refer/loss.ts. The task's data path is the split's meta_expressions.json and its
 * JPEGImages folder; the vocabulary of the split's expressions goes into the model file. Pseudo-videos
 * (`options.pseudo`) are mixed into the batches at `refer.pseudoRatio`.
 */
import { VidsegError } from "../../core/errors.js";
import type { ReferModel } from "../../models/refer/model.js";
import { referLoss } from "../../models/refer/loss.js";
import { loadTorchvisionResnet } from "../../nn/safetensors.js";
import { ReferClipData, type ReferBatch } from "../refer-data.js";
import { buildTaskModel, taskModelInfo, type TaskOptions, type TrainTask } from "../task.js";

export async function createReferTask(options: TaskOptions): Promise<TrainTask<ReferBatch, ReferModel>> {
  const { config, seed } = options;
  const refer = config.refer;
  if (options.pseudo === undefined && refer.pseudoRatio > 0)
    throw new VidsegError(
      `is ${refer.pseudoRatio}, but no pseudo-videos were given (--pseudo <root>)`,
      undefined,
      "refer.pseudoRatio",
    );
  if (options.pseudo !== undefined && refer.pseudoRatio === 0)
    throw new VidsegError(
      "pseudo-videos given, but refer.pseudoRatio is 0: set the share of clips to draw from them in the config",
      options.pseudo.annotationFile,
      "--pseudo",
    );
  const data = await ReferClipData.open({
    ...options.data,
    inputSize: config.model.inputSize,
    clipLength: refer.clipLength,
    clipMaxStride: refer.clipMaxStride,
    clipsPerBatch: refer.clipsPerBatch,
    expressionsPerClip: refer.expressionsPerClip,
    seed,
    pseudo: options.pseudo && { ...options.pseudo, ratio: refer.pseudoRatio },
  });
  const info = taskModelInfo("refer", config, { categoryIds: [], vocabulary: data.vocabulary }, options);
  const model = await buildTaskModel(info, seed, (model) =>
    options.backboneWeights ? loadTorchvisionResnet(model.backbone, options.backboneWeights) : undefined,
  );
  return {
    info,
    model,
    data,
    backbonePrefix: "backbone.",
    step: (batch, shares) => {
      const output = model.forwardClips(batch.images, batch.tokens, batch.clipLength);
      const { loss, terms } = referLoss(output, batch.masks, refer, shares);
      return { loss, metrics: { ...terms } };
    },
  };
}
