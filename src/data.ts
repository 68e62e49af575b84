/**
 * vidseg's data API (`vidseg/data`): dataset formats, RLE, the official metrics, synthetic benchmarks,
 * visualisation and progress display — everything that needs no neural-network runtime, so that
 * importing it does not load TensorFlow.js. The full API (`vidseg`, src/index.ts) re-exports it.
 */

// Errors, randomness, files
export { VidsegError } from "./core/errors.js";
export { Rng, type RngState } from "./core/rng.js";
export { writeFileAtomic, writeJsonAtomic } from "./core/fs.js";
export { Progress, type ProgressOptions } from "./core/progress.js";
export type { RgbImage, Frame } from "./core/image.js";

// Exact algorithms
export { linearSumAssignment, type Assignment } from "./math/hungarian.js";

// COCO run-length encoding (pycocotools-compatible): rle.encode, rle.decode, rle.iou, …
export * as rle from "./mask/rle.js";
export type { Rle, CocoRle, Bbox } from "./mask/rle.js";

// Dataset formats
export {
  readYtvis,
  writeYtvis,
  readResults,
  writeResults,
  validateYtvis,
  validateResults,
  annotationFromMasks,
  resultFromMasks,
  type YtvisDataset,
  type YtvisVideo,
  type YtvisCategory,
  type YtvisAnnotation,
  type YtvisResult,
  type YtvisSegmentation,
  type OcclusionLabel,
} from "./formats/ytvis.js";
export {
  readIndexedPng,
  writeIndexedPng,
  decodeIndexedPng,
  encodeIndexedPng,
  davisPalette,
  type LabelMap,
} from "./formats/png.js";
export {
  readImageSet,
  readSequenceGt,
  readResultMasks,
  writeDavisMask,
  writeResultMask,
  DAVIS_TASKS,
  type DavisTask,
} from "./formats/davis.js";
export { locateVisSplit, resolveVisSplit, type VisSplitPaths } from "./formats/ytvis-layout.js";
export {
  readRefMetaExpressions,
  writeRefMetaExpressions,
  readObjectMasks,
  writeObjectMask,
  writeExpressionMask,
  refDavisExpressionSets,
  resolveReferSplit,
  type ReferSplitPaths,
  type RefMetaExpressions,
  type RefVideo,
  type RefExpression,
} from "./formats/refytvos.js";
export {
  readMevisMetaExpressions,
  readMevisMaskDict,
  writeMevisMetaExpressions,
  writeMevisMaskDict,
  mevisExpressionMask,
  type MevisMetaExpressions,
  type MevisMaskDict,
} from "./formats/mevis.js";

// Evaluation, number for number with the official evaluators
export {
  evaluateYtvis,
  summaryLines,
  perCategoryLines,
  YTVIS_STAT_NAMES,
  OVIS_STAT_NAMES,
  type YtvisEvaluation,
  type YtvisEvalOptions,
  type CategoryAp,
} from "./eval/ytvis.js";
export {
  evaluateDavis,
  binaryJF,
  davisCsvFiles,
  formatFixed,
  DAVIS_GLOBAL_STATS,
  DAVIS_OBJECT_STATS,
  type DavisResult,
  type DavisEvalOptions,
  type DavisGlobalStats,
  type DavisObjectStats,
} from "./eval/davis.js";
export {
  evaluateRefDavis,
  evaluatePerExpression,
  mergeObjectProbabilities,
  REFER_PROTOCOLS,
  type RefDavisResult,
  type PerExpressionResult,
  type ReferProtocol,
} from "./eval/refer.js";

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
export { evaluateVisFiles, type EvaluateVisOptions } from "./jobs/evaluate.js";
export {
  synthVis,
  synthRefer,
  type SynthJobOptions,
  type SynthVisResult,
  type SynthReferResult,
} from "./jobs/synth.js";
