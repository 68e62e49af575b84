/**
 * vidseg's library API. Everything the CLI does is reachable from here; deeper modules stay internal
 * so that they can change without breaking users.
 */

// Errors, randomness, files
export { VidsegError } from "./core/errors.js";
export { Rng, type RngState } from "./core/rng.js";
export { writeFileAtomic, writeJsonAtomic } from "./core/fs.js";

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
  type DavisTask,
} from "./formats/davis.js";
export {
  readRefMetaExpressions,
  writeRefMetaExpressions,
  readObjectMasks,
  writeObjectMask,
  writeExpressionMask,
  refDavisExpressionSets,
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
  type DavisResult,
  type DavisEvalOptions,
  type DavisGlobalStats,
  type DavisObjectStats,
} from "./eval/davis.js";
export {
  evaluateRefDavis,
  evaluatePerExpression,
  mergeObjectProbabilities,
  type RefDavisResult,
  type PerExpressionResult,
  type ReferProtocol,
} from "./eval/refer.js";

// Runtime, neural-network modules, training
export { initRuntime, type BackendName, type RuntimeOptions } from "./runtime/backend.js";
export { Module, ModuleList } from "./nn/module.js";
export { createResnet, ResNet, RESNET_CONFIGS, type ResnetName } from "./nn/resnet.js";
export { loadSafetensors, saveSafetensors, loadTorchvisionResnet } from "./nn/safetensors.js";
export { hungarianMatch, type MatcherOptions, type Match } from "./models/matcher.js";
export { AdamW, clipByGlobalNorm, type ParamGroup } from "./train/optim.js";
export { cosineLr, stepLr, withWarmup, type Schedule } from "./train/schedule.js";
export { train, EpochSampler, type TrainerOptions, type TrainResult } from "./train/trainer.js";

// Streaming inference building blocks
export { Tracker, type TrackerOptions, type TrackedInstance, type QueryOutput } from "./infer/tracker.js";
export {
  openVideo,
  openFrameFolder,
  rawFrames,
  openYtvisSplit,
  type Frame,
  type FrameSource,
} from "./infer/sources.js";

// Synthetic benchmarks
export { resolveOptions as resolveSynthOptions, PRESETS as SYNTH_PRESETS } from "./synth/options.js";
export type { SynthOptions, SynthOverrides } from "./synth/options.js";
export { generateVisDataset } from "./synth/vis.js";
export { generateReferDataset, type ReferStats } from "./synth/refer.js";
export { checkExpression, type CheckResult } from "./synth/expressions.js";

// Visualisation
export { overlayMasks, idColour, type OverlayOptions } from "./viz/overlay.js";
export { contactSheet } from "./viz/sheet.js";
export { writeGif, encodeGif } from "./viz/gif.js";
export { writePng, type RgbImage } from "./viz/image.js";

// Video instance segmentation models
export { FrameSegmenter, type SegmenterOutput } from "./models/segmenter.js";
export { criterion, type CriterionTarget, type CriterionResult } from "./models/criterion.js";
export { loadVisConfig, type VisConfig, type SegmenterConfig } from "./models/config.js";
export { OfflineVisModel, OfflineHead, saveOfflineModel, loadOfflineModel } from "./models/offline.js";
export { offlineCriterion } from "./models/video-criterion.js";
export { trainOnlineVis } from "./train/online-vis.js";
export { OnlineSegmenter, type SegmentedInstance, type FrameResult } from "./infer/online-segmenter.js";
export { OfflineSegmenter, toYtvisResults, type OfflineVideoResult } from "./infer/offline-segmenter.js";
