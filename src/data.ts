/**
 * vidseg's data API (`vidseg/data`): the evaluation API (src/evaluate.ts: formats, RLE, metrics) plus
 * synthetic benchmarks, visualisation and progress display — everything that needs no neural-network
 * runtime, so that importing it does not load TensorFlow.js. The full API (`vidseg`) re-exports it.
 */

export * from "./evaluate.js";
export { Progress, type ProgressOptions } from "./core/progress.js";

// Synthetic benchmarks
export {
  resolveOptions as resolveSynthOptions,
  PRESETS as SYNTH_PRESETS,
  parseSize,
  totalVideos,
} from "./synth/options.js";
export type { SynthOptions, SynthOverrides } from "./synth/options.js";
export { generateVisDataset, type Split } from "./synth/vis.js";
export { generateReferDataset, type ReferStats, type ReferSplitStats } from "./synth/refer.js";
export { checkExpression, type CheckResult } from "./synth/expressions.js";
export { statsLines, SEVERE_OCCLUSION_FROM, SLIGHT_OCCLUSION_FROM, type SplitStats } from "./synth/stats.js";

// Visualisation
export { overlayMasks, idColour, type OverlayOptions } from "./viz/overlay.js";
export { contactSheet } from "./viz/sheet.js";
export { writeGif, encodeGif } from "./viz/gif.js";
export { writePng, readRgb, scaleImage } from "./viz/image.js";

// Jobs: what the CLI commands do, as typed functions with progress callbacks
export type { JobProgress } from "./jobs/progress.js";
export {
  synthVis,
  synthRefer,
  type SynthJobOptions,
  type SynthVisResult,
  type SynthReferResult,
} from "./jobs/synth.js";
