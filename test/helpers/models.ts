import { presetConfig, type VisConfig } from "../../src/models/config.js";
import type { TrainedOn } from "../../src/models/model-file.js";
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
