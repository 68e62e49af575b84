import { presetConfig } from "../../src/models/config.js";
import { saveVisModel } from "../../src/models/online.js";
import { FrameSegmenter } from "../../src/models/segmenter.js";
import { seedParameters } from "../../src/nn/init.js";
import { synthCategories } from "../../src/synth/vis.js";

/**
 * Writes a tiny online model with random weights (seeded) for the synthetic categories, whose every
 * query counts as a detection: enough to exercise inference end to end in tests.
 */
export async function writeRandomOnlineModel(file: string, seed: number): Promise<void> {
  const config = presetConfig("tiny");
  const categories = synthCategories();
  config.model.numClasses = categories.length;
  config.inference.scoreThreshold = 0;
  seedParameters(seed);
  const segmenter = new FrameSegmenter(config.model);
  await saveVisModel(file, segmenter.stateDict(), {
    kind: "online",
    config,
    categoryIds: categories.map((c) => c.id),
    categoryNames: categories.map((c) => c.name),
  });
  segmenter.dispose();
}
