/**
 * Streaming online video instance segmentation:
 *
 *   const seg = await OnlineSegmenter.load("run/model.safetensors");
 *   for await (const frame of frames) {
 *     const { instances } = seg.segmentFrame(frame, frame.timestampMs);
 *   }
 *
 * Each frame is resized to the model's input, segmented, and its queries (best class probability ≥ the
 * score threshold) are associated with the live tracks by the Tracker (Hungarian on cosine similarity
 * with a momentum track memory). The result holds instances with stable track ids, category, score and
 * a mask at the frame's own size.
 *
 * Memory is bounded whatever the video length: the model's tensors are freed every frame, the tracker
 * keeps one embedding and one class sum per live track, and nothing per frame is kept unless
 * `collectResults` is on (then the masks of the tracks that can still enter the top-k, as RLE strings,
 * for the YouTube-VIS results of `finish`).
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { VidsegError, check } from "../core/errors.js";
import type { YtvisResult } from "../formats/ytvis.js";
import {
  parseVisModelInfo,
  classifyCrops,
  duplicateQueries,
  readFramePrediction,
  readVisModel,
  segmenterFromWeights,
  upsampleQueryMask,
  type FramePrediction,
  type VisModelInfo,
} from "../models/online.js";
import { disposeSegmenterOutput, type FrameSegmenter } from "../models/segmenter.js";
import { disposeCheckpoint, loadCheckpoint } from "../train/checkpoint.js";
import { resizeFrame } from "../train/vis-data.js";
import type { Frame } from "./sources.js";
import { Tracker, type QueryOutput, type TrackerOptions } from "./tracker.js";

/** An RGB frame (row-major bytes, width × height × 3); `Frame` from the sources fits. */
export type RgbFrame = Pick<Frame, "width" | "height" | "data">;

export interface OnlineSegmenterOptions extends Omit<TrackerOptions, "mode" | "categoryIds"> {
  /** Keep what `finish` needs for the YouTube-VIS results (masks of top-k candidate tracks). Default false. */
  collectResults?: boolean;
  /**
   * A query whose mask (at the model's 1/4 resolution) overlaps a better-scoring query's by more than
   * this IoU is a duplicate and not handed to the tracker, so one object does not feed two tracks.
   * Default 0.6; 1 keeps every query.
   */
  duplicateIou?: number;
}

export interface SegmentedInstance {
  trackId: number;
  categoryId: number;
  /** Category name when the model file has names. */
  label?: string;
  /** The track's aggregated class probability so far. */
  score: number;
  /** This frame's query score. */
  frameScore: number;
  /** Row-major mask at the frame's size (1 = instance). */
  mask: Uint8Array;
}

export interface FrameResult {
  /** Index of the frame since load/reset. */
  frameIndex: number;
  timestampMs: number;
  width: number;
  height: number;
  /** Instances of this frame, best frame score first. */
  instances: SegmentedInstance[];
}

/** The online VIS model with its tracker; see the module comment. */
export class OnlineSegmenter {
  private tracker: Tracker;
  private readonly trackerOptions: TrackerOptions;
  private frameSize: { width: number; height: number } | null = null;

  constructor(
    readonly segmenter: FrameSegmenter,
    readonly info: VisModelInfo,
    readonly options: OnlineSegmenterOptions = {},
  ) {
    this.trackerOptions = {
      scoreThreshold: info.config.inference.scoreThreshold,
      topK: info.config.inference.topK,
      ...options,
      mode: options.collectResults ? "results" : "stream",
      categoryIds: info.categoryIds,
    };
    this.tracker = new Tracker(this.trackerOptions);
    segmenter.eval();
  }

  /**
   * Loads a model file (`vidseg train vis` writes `<run>/model.safetensors`), a run folder holding one,
   * or a training checkpoint (`<run>/checkpoints/ckpt-*.safetensors`).
   */
  static async load(path: string, options: OnlineSegmenterOptions = {}): Promise<OnlineSegmenter> {
    let file = path;
    if (existsSync(path) && statSync(path).isDirectory()) file = join(path, "model.safetensors");
    if (!existsSync(file)) throw new VidsegError("model file not found", file);
    let info: VisModelInfo;
    let weights: Map<string, tf.Tensor>;
    try {
      ({ info, weights } = await readVisModel(file));
    } catch (error) {
      if (!(error instanceof VidsegError && error.where === "__metadata__.format")) throw error;
      const checkpoint = await loadCheckpoint(file).catch(() => {
        throw error; // neither a model file nor a checkpoint: report the model-file error
      });
      try {
        info = parseVisModelInfo((checkpoint.config as { modelInfo?: unknown } | undefined)?.modelInfo, file);
        weights = checkpoint.weights;
        checkpoint.weights = new Map();
      } finally {
        disposeCheckpoint(checkpoint);
      }
    }
    try {
      return new OnlineSegmenter(segmenterFromWeights(info, weights, file), info, options);
    } finally {
      tf.dispose([...weights.values()]);
    }
  }

  /** Frames processed since load/reset. */
  get frameCount(): number {
    return this.tracker.frameCount;
  }

  /** Live tracks now (bounded by the tracker's maxLiveTracks). */
  get liveTrackCount(): number {
    return this.tracker.liveTrackCount;
  }

  /** Segments the next frame of the current video. All frames of a video must have one size. */
  segmentFrame(frame: RgbFrame, timestampMs = 0): FrameResult {
    const { width, height, data } = frame;
    check(
      Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0,
      `frame size must be positive integers, got ${width}×${height}`,
      undefined,
      `frame ${this.frameCount}`,
    );
    check(
      data.length === width * height * 3,
      `frame has ${data.length} bytes, expected ${width}×${height}×3`,
      undefined,
      `frame ${this.frameCount}`,
    );
    this.frameSize ??= { width, height };
    check(
      this.frameSize.width === width && this.frameSize.height === height,
      `frame is ${width}×${height}, earlier frames were ${this.frameSize.width}×${this.frameSize.height} (reset() between videos)`,
      undefined,
      `frame ${this.frameCount}`,
    );
    const prediction = this.predict(frame);
    const frameIndex = this.frameCount;
    const masks = new Map<number, Uint8Array>();
    const maskOf = (q: number) => {
      let mask = masks.get(q);
      if (!mask) masks.set(q, (mask = upsampleQueryMask(prediction, q, height, width)));
      return mask;
    };
    const queries: QueryOutput[] = [];
    const { numQueries, numClasses, embeddingDim } = prediction;
    for (let q = 0; q < numQueries; q++) {
      queries.push({
        embedding: prediction.embeddings.subarray(q * embeddingDim, (q + 1) * embeddingDim),
        classProbs: prediction.classProbs.subarray(q * numClasses, (q + 1) * numClasses),
        score: prediction.scores[q],
        mask: () => maskOf(q),
      });
    }
    const duplicates = duplicateQueries(prediction, this.options.duplicateIou ?? 0.6);
    const kept = queries.map((_, q) => q).filter((q) => !duplicates.has(q));
    const tracked = this.tracker.update(
      kept.map((q) => queries[q]),
      { width, height },
    );
    const names = this.info.categoryNames;
    const instances = tracked.map((instance) => ({
      trackId: instance.trackId,
      categoryId: instance.categoryId,
      label: names?.[this.info.categoryIds.indexOf(instance.categoryId)],
      score: instance.score,
      frameScore: instance.frameScore,
      mask: maskOf(kept[instance.queryIndex]),
    }));
    return { frameIndex, timestampMs, width, height, instances };
  }

  /** The video's top-k tracks as YouTube-VIS results (needs `collectResults`). */
  finish(videoId: number, topK?: number): YtvisResult[] {
    if (!this.options.collectResults) {
      throw new VidsegError("finish() needs the segmenter loaded with collectResults: true");
    }
    return this.tracker.finalize(videoId, topK);
  }

  /** Starts a new video (forgets the tracks). */
  reset(): void {
    this.tracker = new Tracker(this.trackerOptions);
    this.frameSize = null;
  }

  /** Segments a whole video (any async iterable of frames) and returns its results (collectResults). */
  async segmentVideo(
    frames: AsyncIterable<RgbFrame & { timestampMs?: number }>,
    videoId: number,
  ): Promise<YtvisResult[]> {
    this.reset();
    for await (const frame of frames) this.segmentFrame(frame, frame.timestampMs ?? 0);
    const results = this.finish(videoId);
    this.reset();
    return results;
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.segmenter.dispose();
  }

  /** The model's predictions for one frame, read back to JavaScript; no tensor outlives the call. */
  private predict(frame: RgbFrame): FramePrediction {
    const [inputHeight, inputWidth] = this.info.config.model.inputSize;
    const pixels = resizeFrame(frame.data, frame.height, frame.width, inputHeight, inputWidth);
    const input = tf.tensor4d(pixels, [1, inputHeight, inputWidth, 3]);
    const output = this.segmenter.forward(input);
    try {
      const prediction = readFramePrediction(output, 0);
      if (this.segmenter.cropClassifier) classifyCrops(prediction, input, this.segmenter.cropClassifier);
      return prediction;
    } finally {
      input.dispose();
      disposeSegmenterOutput(output);
    }
  }
}
