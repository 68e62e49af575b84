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
  type DistillConfig,
  type FairAugConfig,
  type ReferConfig,
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
export { ReferModel, type ReferModelOptions } from "./models/refer/model.js";
export type { ReferTextEncoder, TextFeatures } from "./models/refer/text-encoder.js";
export {
  WordTokenizer,
  buildVocabulary,
  type TextTokenizer,
  type Tokenized,
} from "./models/refer/tokenizer.js";
export { hungarianMatch, type MatcherOptions, type Match } from "./models/matcher.js";

// Training: the task registry and the one loop
export {
  trainModel,
  trainOnlineVis,
  trainOfflineVis,
  trainReferModel,
  TRAIN_TASKS,
  type TrainTaskName,
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
  type TrackerSettings,
  type FrameResult,
} from "./infer/online-segmenter.js";
export {
  OfflineSegmenter,
  toYtvisResults,
  type OfflineSegmenterOptions,
  type OfflineVideoResult,
  type OfflineInstance,
} from "./infer/offline-segmenter.js";
export {
  ReferringSegmenter,
  ReferringTarget,
  type ReferringSegmenterOptions,
  type ReferringFrameResult,
} from "./infer/referring-segmenter.js";
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
export {
  DEFAULT_MIN_SIMILARITY,
  DEFAULT_MOMENTUM,
  DEFAULT_MAX_GAP,
  DEFAULT_BOX_IOU_WEIGHT,
  tuneVis,
  tuneVisSummaryText,
  type TuneVisOptions,
  type TuneVisSummary,
  type TuningPoint,
} from "./jobs/tune-vis.js";
export { exportOnnx, type ExportOnnxOptions, type ExportOnnxSummary } from "./jobs/export-onnx.js";
export { exportOnlineSegmenter, type OnnxExport, type OnnxExportOptions } from "./export/onnx-segmenter.js";
export { exportReferModel, type OnnxReferExport } from "./export/onnx-refer.js";
export {
  ONNX_NAMES,
  ONNX_REFER_NAMES,
  cropClassifierFile,
  referGraphFile,
  readOnnxMetadata,
  readOnnxReferMetadata,
  type OnnxModelMetadata,
  type OnnxReferMetadata,
  type OnnxPreprocessing,
  type ReferGraphPart,
} from "./models/onnx-file.js";
export { TfjsFrameNetwork, type FrameNetwork } from "./infer/frame-network.js";
export { OnnxFrameNetwork, type OnnxRuntime, type OnnxNetworkOptions } from "./infer/onnx-network.js";
export {
  TfjsReferNetwork,
  TransferState,
  type ReferNetwork,
  type NetworkFeatures,
  type MaskLogits,
} from "./infer/refer-network.js";
export { OnnxReferNetwork } from "./infer/onnx-refer-network.js";
export {
  trainVis,
  type TrainVisOptions,
  type TrainVisSummary,
  type DistillOverrides,
} from "./jobs/train-vis.js";

// Batch runner: manifests of jobs on a BullMQ queue (Redis), run by workers on any number of machines
export {
  submitBatch,
  submitSummaryText,
  batchStatus,
  batchStatusText,
  progressText,
  DEFAULT_ATTEMPTS,
  DEFAULT_BACKOFF_MS,
  type BatchQueueOptions,
  type SubmitOptions,
  type SubmitSummary,
  type BatchStatusOptions,
  type BatchStatus,
} from "./batch/queue.js";
export {
  startBatchWorker,
  type BatchWorker,
  type BatchWorkerOptions,
  type BatchWorkerEvent,
} from "./batch/worker.js";
export {
  checkCommandLineRedisUrl,
  DEFAULT_REDIS_URL,
  REDIS_URL_VARIABLE,
  REDIS_PASSWORD_VARIABLE,
} from "./batch/redis.js";
export { runBatchJob, type BatchJobResult, type RunBatchJobOptions } from "./batch/run-job.js";
export { readManifest, checkEntry, type ManifestEntry, type BatchJobData } from "./batch/manifest.js";
export { BATCH_TASKS, BATCH_TASK_NAMES, type BatchTask, type BatchTaskName } from "./batch/tasks.js";
export {
  trainRefer,
  validateRefer,
  type TrainReferOptions,
  type TrainReferSummary,
} from "./jobs/train-refer.js";
export {
  inferRefer,
  segmentExpressions,
  type InferReferOptions,
  type InferReferSummary,
} from "./jobs/infer-refer.js";
