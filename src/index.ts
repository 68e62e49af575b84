/**
 * vidseg's library API: the data API (src/data.ts: formats, RLE, metrics, synthetic benchmarks,
 * visualisation) plus the models, training and inference. Deeper modules stay internal so that they
 * can change without breaking users. `vidseg/web` (src/web.ts) is the Node-free subset for browsers.
 */
export * from "./data.js";

// Runtime and models
export { initRuntime, type BackendName, type RuntimeOptions } from "./runtime/backend.js";
export { Module, ModuleList } from "./nn/module.js";
export { createResnet, ResNet, RESNET_CONFIGS, type ResnetName } from "./nn/resnet.js";
export {
  loadSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  loadTorchvisionResnet,
} from "./nn/safetensors.js";
export { saveSafetensors } from "./nn/safetensors-file.js";
export {
  presetConfig,
  resolveVisConfig,
  PRESET_NAMES,
  type VisConfig,
  type SegmenterConfig,
  type CriterionConfig,
  type OptimConfig,
  type InferenceConfig,
  type OfflineConfig,
  type OfflineHeadOptions,
} from "./models/config.js";
export { loadVisConfig } from "./models/config-file.js";
export {
  readModelFile,
  decodeModelFile,
  encodeModelFile,
  MODEL_FILE_NAME,
  type ModelFile,
  type ModelInfo,
  type TrainedOn,
} from "./models/model-file.js";
export { MODEL_KINDS, buildModel, instantiateModel, type ModelKindName } from "./models/registry.js";
export { FrameSegmenter, type SegmenterOutput } from "./models/segmenter.js";
export { OfflineVisModel } from "./models/vis/offline.js";
export { hungarianMatch, type MatcherOptions, type Match } from "./models/matcher.js";

// Training: the task registry and the one loop
export {
  trainModel,
  trainOnlineVis,
  trainOfflineVis,
  TRAIN_TASKS,
  type TrainModelOptions,
  type TrainModelResult,
} from "./train/run.js";
export type { TrainTask, TaskOptions } from "./train/task.js";
export {
  train,
  type TrainerOptions,
  type TrainResult,
  type StepLogEntry,
  type DataSource,
} from "./train/trainer.js";
export { cosineLr, stepLr, withWarmup, type Schedule } from "./train/schedule.js";

// Streaming inference
export {
  OnlineSegmenter,
  type OnlineSegmenterOptions,
  type SegmentedInstance,
  type FrameResult,
} from "./infer/online-segmenter.js";
export {
  OfflineSegmenter,
  toYtvisResults,
  type OfflineSegmenterOptions,
  type OfflineVideoResult,
  type OfflineInstance,
} from "./infer/offline-segmenter.js";
export { Tracker, type TrackerOptions, type TrackedInstance, type QueryOutput } from "./infer/tracker.js";
export { openVideo, openFrameFolder, rawFrames, openYtvisSplit, type FrameSource } from "./infer/sources.js";

// Jobs that run models
export {
  inferVis,
  inferVisSummaryText,
  type InferVisOptions,
  type InferVisSummary,
  type InferVideoSummary,
  type AnimationChoice,
} from "./jobs/infer-vis.js";
export { trainVis, type TrainVisOptions, type TrainVisSummary } from "./jobs/train-vis.js";
