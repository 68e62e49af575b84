/**
 * The referring task (YOFO): clips of one expression's video from a Ref-YouTube-VOS-layout split
 * (src/train/refer-data.ts) through the referring model's clip forward, with the loss of
 * src/models/refer/loss.ts. The task's data path is the split's meta_expressions.json and its
 * JPEGImages folder; the vocabulary of the split's expressions goes into the model file. Pseudo-videos
 * (`options.pseudo`) are mixed into the batches at `refer.pseudoRatio`.
 *
 * With `init` it continues a trained referring model: its architecture (the model section and the
 * refer fields that shape weights) and weights, with the run's own loss, clips and schedule; its
 * vocabulary must be the data's, since the word embeddings are indexed by it. The run's config may
 * remove the init model's feature mining or meta-transfer (`refer.featureMining` / `metaTransfer`
 * false: a knock-out, src/models/refer/knock-out.ts), not add them.
 *
 * With `backboneFrom` the backbone starts from another model file's (e.g. the online VIS model trained
 * on the same kind of frames, which tells the shapes apart) and stays frozen.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import type { ReferConfig } from "../../models/config.js";
import { disposeModelFile, readModelFile, type ModelFile } from "../../models/model-file.js";
import type { ReferModel } from "../../models/refer/model.js";
import { knockOutWeights, REFER_COMPONENTS, removedComponents } from "../../models/refer/knock-out.js";
import { referLoss } from "../../models/refer/loss.js";
import { loadTorchvisionResnet } from "../../nn/safetensors.js";
import { ReferClipData, type ReferBatch } from "../refer-data.js";
import { buildTaskModel, taskModelInfo, withInitModel, type TaskOptions, type TrainTask } from "../task.js";

/** The refer fields that shape a model's weights: an init model's win over the run's config. */
const REFER_ARCHITECTURE = [
  "maxWords",
  "textLayers",
  "textFeedforward",
  "featureMining",
  "metaTransfer",
  "textKernelHead",
  "globalContext",
  "transferDim",
  "transferKernel",
] as const satisfies readonly (keyof ReferConfig)[];

export async function createReferTask(options: TaskOptions): Promise<TrainTask<ReferBatch, ReferModel>> {
  return withInitModel(options, (init) => buildReferTask(options, init));
}

async function buildReferTask(
  options: TaskOptions,
  init: ModelFile | undefined,
): Promise<TrainTask<ReferBatch, ReferModel>> {
  const { seed } = options;
  const config = structuredClone(options.config);
  if (init) {
    if (init.info.kind !== "refer")
      throw new VidsegError(
        `holds an ${init.info.kind} model; --init takes a referring model file`,
        init.file,
        "__metadata__.info.kind",
      );
    config.model = structuredClone(init.info.config.model);
    const from = init.info.config.refer;
    config.refer = Object.assign(
      config.refer,
      Object.fromEntries(REFER_ARCHITECTURE.map((field) => [field, from[field]])),
    );
    // The run may knock a component out of the init model, never add one; it may add the global
    // context (zero-initialised: the model starts out as the init model).
    for (const component of REFER_COMPONENTS)
      config.refer[component] = from[component] && options.config.refer[component];
    config.refer.globalContext = from.globalContext || options.config.refer.globalContext;
  }
  const refer = config.refer;
  const addsContext = init !== undefined && refer.globalContext && !init.info.config.refer.globalContext;
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
    otherObjects: refer.otherObjectsWeight > 0,
    seed,
    pseudo: options.pseudo && { ...options.pseudo, ratio: refer.pseudoRatio },
  });
  if (init && (init.info.vocabulary ?? []).join(" ") !== data.vocabulary.join(" "))
    throw new VidsegError(
      `the model's vocabulary (${init.info.vocabulary?.length ?? 0} words) is not the training data's (${data.vocabulary.length} words)`,
      init.file,
      "__metadata__.info.vocabulary",
    );
  const info = taskModelInfo(
    "refer",
    config,
    { categoryIds: [], vocabulary: data.vocabulary },
    options,
    init,
  );
  const model = await buildTaskModel(info, seed, async (model) => {
    if (init) {
      const { weights, created } = knockOutWeights(
        init.weights,
        init.info.config.refer,
        config.refer,
        config.model.hiddenDim,
      );
      // A global context the init model lacks keeps its fresh weights.
      if (addsContext)
        for (const [name, variable] of model.stateDict())
          if (name.startsWith("mining.context.")) weights.set(name, variable);
      try {
        return model.loadStateDict(weights, { file: init.file });
      } finally {
        tf.dispose(created);
      }
    }
    if (options.backboneFrom) return loadFrozenBackbone(model, options.backboneFrom, config.model.backbone);
    return options.backboneWeights
      ? loadTorchvisionResnet(model.backbone, options.backboneWeights)
      : undefined;
  });
  return {
    info,
    model,
    data,
    backbonePrefix: "backbone.",
    ...(init
      ? {
          runConfig: {
            init: options.init,
            ...knockedOut(init.info.config.refer, config.refer),
            ...(addsContext ? { added: ["globalContext"] } : {}),
          },
        }
      : {}),
    ...(options.backboneFrom ? { runConfig: { backboneFrom: options.backboneFrom } } : {}),
    step: (batch, shares) => {
      const output = model.forwardClips(batch.images, batch.tokens, batch.clipLength);
      const { loss, terms } = referLoss(output, batch.masks, refer, shares, batch.others);
      return { loss, metrics: { ...terms } };
    },
  };
}

/** The components of the init model that the run removed, for the checkpoints' run config. */
function knockedOut(from: ReferConfig, refer: ReferConfig): { knockedOut?: string[] } {
  const removed = removedComponents(from, refer);
  return removed.length > 0 ? { knockedOut: removed } : {};
}

/** The `backbone.*` weights of a model file into the model's backbone, which is then frozen. */
async function loadFrozenBackbone(model: ReferModel, path: string, backbone: string): Promise<void> {
  const source = await readModelFile(path);
  try {
    const theirs = source.info.config.model.backbone;
    if (theirs !== backbone)
      throw new VidsegError(
        `its backbone is ${theirs}, the run's is ${backbone} (set model.backbone in the config)`,
        source.file,
        "__metadata__.info.config.model.backbone",
      );
    const prefix = "backbone.";
    const weights = new Map(
      [...source.weights]
        .filter(([name]) => name.startsWith(prefix))
        .map(([name, value]) => [name.slice(prefix.length), value]),
    );
    model.backbone.loadStateDict(weights, { file: source.file });
    model.backbone.setTrainable(false);
  } finally {
    disposeModelFile(source);
  }
}
