import { presetConfig, type VisConfig } from "../../src/models/config.js";
import type { ModelInfo, TrainedOn } from "../../src/models/model-file.js";
import type { ReferModel } from "../../src/models/refer/model.js";
import { MODEL_KINDS } from "../../src/models/registry.js";
import type { OfflineVisModel } from "../../src/models/vis/offline.js";
import { FrameSegmenter } from "../../src/models/segmenter.js";
import { saveModelFile } from "../../src/train/checkpoint.js";
import { seedParameters } from "../../src/nn/init.js";
import { synthCategories } from "../../src/synth/vis.js";

/**
 * Writes a tiny online model with random weights (seeded) for the synthetic categories, whose every
 * query counts as a detection: enough to exercise inference end to end in tests. `changes` edits the
 * config first (another backbone, say).
 */
export async function writeRandomOnlineModel(
  file: string,
  seed: number,
  trainedOn?: TrainedOn,
  changes: (config: VisConfig) => void = () => {},
): Promise<void> {
  const config = presetConfig("tiny");
  const categories = synthCategories();
  config.model.numClasses = categories.length;
  config.inference.scoreThreshold = 0;
  changes(config);
  seedParameters(seed);
  const segmenter = new FrameSegmenter(config.model);
  await saveModelFile(file, segmenter.stateDict(), {
    kind: "online",
    config,
    categoryIds: categories.map((c) => c.id),
    categoryNames: categories.map((c) => c.name),
    ...(trainedOn ? { trainedOn } : {}),
  });
  segmenter.dispose();
}

/** Writes an offline model as a model file, its config the tiny preset around the model's architecture. */
export async function saveOfflineModelFile(
  file: string,
  model: OfflineVisModel,
  categoryIds: number[],
  changes: (config: VisConfig) => void = () => {},
): Promise<void> {
  const config = presetConfig("tiny");
  config.model = structuredClone(model.config.segmenter);
  config.offline.head = { ...config.offline.head, ...model.config.head };
  changes(config);
  await saveModelFile(file, model.stateDict(), { kind: "offline", config, categoryIds });
}

/** The words of the random referring models' vocabulary. */
export const REFER_VOCABULARY = ["big", "blue", "circle", "left", "moving", "red", "small", "square", "the"];

/** A tiny referring model with seeded random weights (`changes` edits its config first), and its info. */
export function randomReferModel(
  seed: number,
  changes: (config: VisConfig) => void = () => {},
): { model: ReferModel; info: ModelInfo } {
  const config = presetConfig("tiny");
  changes(config);
  const info: ModelInfo = {
    kind: "refer",
    config,
    categoryIds: [],
    vocabulary: REFER_VOCABULARY,
    trainedOn: { data: "random weights", synthetic: true },
  };
  seedParameters(seed);
  return { model: MODEL_KINDS.refer.build(info), info };
}

/** Writes {@link randomReferModel} as a model file. */
export async function writeRandomReferModel(file: string, seed: number): Promise<ModelInfo> {
  const { model, info } = randomReferModel(seed);
  await saveModelFile(file, model.stateDict(), info);
  model.dispose();
  return info;
}
