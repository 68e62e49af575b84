/**
 * vidseg for the browser (`vidseg/web`): streaming segmentation with the same models and tracker as in
 * Node, and nothing that needs Node (no node:* modules, sharp or ffmpeg in its import graph; a test
 * checks it). Models load from a URL or from bytes.
 */
export { initRuntime, type BackendName, type RuntimeOptions } from "./runtime/backend.js";
export type { RgbImage, Frame } from "./core/image.js";
export { VidsegError } from "./core/errors.js";
export {
  decodeModelFile,
  readModelFile,
  type ModelFile,
  type ModelInfo,
  type TrainedOn,
} from "./models/model-file.js";
export {
  OnlineSegmenter,
  type OnlineSegmenterOptions,
  type SegmentedInstance,
  type FrameResult,
} from "./infer/online-segmenter.js";
export {
  OfflineSegmenter,
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
export { Tracker, type TrackerOptions, type TrackedInstance } from "./infer/tracker.js";
export * as rle from "./mask/rle.js";
