/**
 * The model registry: model kind → its config section → its builder. A model file names its kind
 * (src/models/model-file.ts); loading builds that kind's module from the file's config and loads the
 * weights strictly. A new model (distillation student, referring model) registers here.
 */
import type * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import type { Module } from "../nn/module.js";
import type { VisConfig } from "./config.js";
import type { ModelFile, ModelInfo } from "./model-file.js";
import { FrameSegmenter } from "./segmenter.js";
import { ReferModel } from "./refer/model.js";
import { OfflineVisModel } from "./vis/offline.js";

interface ModelKind<M extends Module> {
  /** One line for help texts. */
  description: string;
  /** The config section the kind adds beyond the segmenter's (`model`, `criterion`, `optim`, `inference`). */
  section?: keyof VisConfig;
  build(info: ModelInfo): M;
}

export const MODEL_KINDS = {
  online: {
    description: "MinVIS-style online model: the per-frame segmenter, associated frame by frame",
    build: (info) => new FrameSegmenter(info.config.model),
  } satisfies ModelKind<FrameSegmenter>,
  offline: {
    description: "VITA-style offline model: video queries over the frame queries of a whole clip",
    section: "offline",
    build: (info) => new OfflineVisModel({ segmenter: info.config.model, head: info.config.offline.head }),
  } satisfies ModelKind<OfflineVisModel>,
  refer: {
    description:
      "YOFO-style referring model: text + frame → the referred object's mask, streamed with a memory",
    section: "refer",
    build: (info) =>
      new ReferModel({
        model: info.config.model,
        refer: info.config.refer,
        // parseModelInfo guarantees a vocabulary for this kind; +2 for PAD and UNK.
        vocabularySize: (info.vocabulary?.length ?? 0) + 2,
      }),
  } satisfies ModelKind<ReferModel>,
};

export type ModelKindName = keyof typeof MODEL_KINDS;
export type ModelOf<K extends ModelKindName> = ReturnType<(typeof MODEL_KINDS)[K]["build"]>;

/** Whether `kind` names a registered model kind. */
export function isModelKind(kind: string): kind is ModelKindName {
  return Object.hasOwn(MODEL_KINDS, kind);
}

/** Builds the (untrained) model a model info describes. */
export function buildModel<K extends ModelKindName>(info: ModelInfo & { kind: K }): ModelOf<K> {
  return MODEL_KINDS[info.kind].build(info) as ModelOf<K>;
}

/**
 * The model of a loaded model file, in eval mode, when it is of kind `expected`: built from the file's
 * config, weights loaded strictly (every name and shape must match). The file's tensors stay the
 * caller's.
 */
export function instantiateModel<K extends ModelKindName>(model: ModelFile, expected: K): ModelOf<K> {
  const { info, file } = model;
  if (info.kind !== expected) {
    const article = (word: string) => (/^[aeiou]/.test(word) ? "an" : "a");
    throw new VidsegError(
      `holds ${article(info.kind)} ${info.kind} model, not ${article(expected)} ${expected} one`,
      file,
      "__metadata__.info.kind",
    );
  }
  const module = buildModel(info as ModelInfo & { kind: K });
  try {
    module.loadStateDict(model.weights as ReadonlyMap<string, tf.Tensor>, { file });
  } catch (error) {
    module.dispose();
    throw error;
  }
  return module.eval() as ModelOf<K>;
}
