/**
 * Streaming online video instance segmentation, in the style of MediaPipe's video mode:
 *
 *   const seg = await OnlineSegmenter.createFromPath("run/model.safetensors");
 *   for await (const frame of frames) {
 *     const { instances } = seg.segmentForVideo(frame, frame.timestampMs);
 *   }
 *   seg.close();
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
import { VidsegError, check } from "../core/errors.js";
import { readBytes } from "../core/bytes.js";
import type { RgbImage } from "../core/image.js";
import type { YtvisResult } from "../formats/ytvis.js";
import {
  decodeModelFile,
  disposeModelFile,
  readModelFile,
  type ModelFile,
  type ModelInfo,
} from "../models/model-file.js";
import { cropClassifierFile, isOnnxPath } from "../models/onnx-file.js";
import { instantiateModel } from "../models/registry.js";
import type { FrameSegmenter } from "../models/segmenter.js";
import {
  cellColours,
  duplicateQueries,
  maskBoxes,
  maskScores,
  guidedUpsampleMask,
  upsampleQueryMask,
  type FramePrediction,
} from "../processing/postprocess.js";
import { initRuntime, type RuntimeOptions } from "../runtime/backend.js";
import { TfjsFrameNetwork, type FrameNetwork } from "./frame-network.js";
import { loadOnnxRuntimeNode, OnnxFrameNetwork, type OnnxRuntime } from "./onnx-network.js";
import { Tracker, type QueryOutput, type TrackerOptions } from "./tracker.js";
import { giveNotice, syntheticModelNotice } from "./synthetic-notice.js";

export interface OnlineSegmenterOptions extends Omit<TrackerOptions, "mode" | "categoryIds"> {
  /** The TensorFlow.js backend (createFromPath / createFromBuffer initialise it). Default: wasm in Node. */
  runtime?: RuntimeOptions;
  /**
   * For an exported `.onnx` model: the onnxruntime module (onnxruntime-web in a browser; default
   * onnxruntime-node in Node), its intra-op threads (default one per core) and execution providers.
   */
  onnx?: { runtime?: OnnxRuntime; threads?: number; executionProviders?: string[] };
  /**
   * Where the one-time notice goes when a model trained only on synthetic data segments its first frame
   * (default: `process.emitWarning` in Node, `console.warn` elsewhere); set `syntheticInput` when the
   * frames are synthetic too, and the notice is not given.
   */
  onWarning?: (message: string) => void;
  /** The frames come from a synthetic benchmark like the model's training data (no notice). */
  syntheticInput?: boolean;
  /** Keep what `finish` needs for the YouTube-VIS results (masks of top-k candidate tracks). Default false. */
  collectResults?: boolean;
  /**
   * A query whose mask (at the model's 1/4 resolution) overlaps a better-scoring query's by more than
   * this IoU is a duplicate and not handed to the tracker, so one object does not feed two tracks.
   * Default 0.6; 1 keeps every query.
   */
  duplicateIou?: number;
  /**
   * How query masks reach the frame's size from the model's 1/4 resolution: "bilinear" logits, or
   * "guided" by the frame's colours (edge-aware, {@link guidedUpsampleMask}). Default "guided": +0.077
   * AP for the shipped model on a fresh seed of the easy benchmark (BENCHMARKS.md, "VIS accuracy").
   */
  maskUpsampling?: "bilinear" | "guided";
  /**
   * Mask2Former's instance score: each query's class probabilities times its mask score (the mean
   * σ(logit) over its mask) before the tracker aggregates them, so that tracks rank by class and mask
   * confidence together. Default: the model file's `inference.maskScore`.
   */
  maskScore?: boolean;
  /**
   * Other tracker settings to follow every frame with, from the same network outputs, beside the
   * segmenter's own (results mode): what `vidseg tune vis` compares. {@link finishVariants} gives each
   * one's results. Default none.
   */
  trackerVariants?: readonly TrackerSettings[];
}

/** The tracker's association settings a model file stores (`inference.minSimilarity`, …). */
export interface TrackerSettings {
  minSimilarity: number;
  momentum: number;
  maxGap: number;
  boxIouWeight: number;
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
  private tracker!: Tracker;
  private readonly trackerOptions: TrackerOptions;
  private variants: Tracker[] = [];
  /** Some tracker weighs box IoU, so the queries need their boxes. */
  private readonly usesBoxes: boolean;
  private frameSize: { width: number; height: number } | null = null;
  private warned = false;
  /** The per-frame network: the model's TensorFlow.js modules, or an exported graph on onnxruntime. */
  readonly network: FrameNetwork;

  constructor(
    model: FrameSegmenter | FrameNetwork,
    readonly info: ModelInfo,
    readonly options: OnlineSegmenterOptions = {},
  ) {
    this.network = "predict" in model ? model : new TfjsFrameNetwork(model, info);
    const { scoreThreshold, topK, minSimilarity, momentum, maxGap, boxIouWeight } = info.config.inference;
    this.trackerOptions = {
      scoreThreshold,
      topK,
      minSimilarity,
      momentum,
      maxGap,
      boxIouWeight,
      ...options,
      mode: options.collectResults ? "results" : "stream",
      categoryIds: info.categoryIds,
    };
    this.usesBoxes = [this.trackerOptions, ...(options.trackerVariants ?? [])].some(
      (settings) => (settings.boxIouWeight ?? 0) > 0,
    );
    this.reset();
  }

  /**
   * Loads a model file (`vidseg train vis` writes `<run>/model.safetensors`), a run folder holding one,
   * or a training checkpoint — a path in Node, a URL in a browser — and initialises the runtime. A
   * `.onnx` file (`vidseg export onnx`) runs on onnxruntime instead (see `options.onnx`; its crop
   * classifier, if any, is read from `<name>.crop.onnx` beside it); such a segmenter is asynchronous:
   * use {@link segmentForVideoAsync}.
   */
  static async createFromPath(path: string, options: OnlineSegmenterOptions = {}): Promise<OnlineSegmenter> {
    if (isOnnxPath(path)) {
      return OnlineSegmenter.createFromOnnx(
        await readBytes(path),
        () => readBytes(cropClassifierFile(path)),
        {
          ...options,
          file: path,
        },
      );
    }
    await initRuntime(options.runtime);
    return OnlineSegmenter.fromModelFile(await readModelFile(path), options);
  }

  /**
   * An exported model (`vidseg export onnx`) from its bytes, on onnxruntime (`options.onnx.runtime`:
   * required outside Node, e.g. onnxruntime-web); `cropClassifier` gives the `.crop.onnx` graph's bytes
   * when the model has one. `file` names the model in errors.
   */
  static async createFromOnnx(
    bytes: Uint8Array,
    cropClassifier: () => Promise<Uint8Array>,
    options: OnlineSegmenterOptions & { file?: string } = {},
  ): Promise<OnlineSegmenter> {
    const network = await OnnxFrameNetwork.create(
      options.onnx?.runtime ?? (await loadOnnxRuntimeNode()),
      bytes,
      options.file ?? "<buffer>",
      cropClassifier,
      options.onnx,
    );
    return new OnlineSegmenter(network, network.info, options);
  }

  /** As {@link createFromPath}, from the bytes of a model file. */
  static async createFromBuffer(
    bytes: Uint8Array,
    options: OnlineSegmenterOptions = {},
  ): Promise<OnlineSegmenter> {
    await initRuntime(options.runtime);
    return OnlineSegmenter.fromModelFile(decodeModelFile(bytes, "<buffer>"), options);
  }

  /** Same as {@link createFromPath}. */
  static load(path: string, options: OnlineSegmenterOptions = {}): Promise<OnlineSegmenter> {
    return OnlineSegmenter.createFromPath(path, options);
  }

  /** A segmenter for a loaded model file (whose tensors it frees); the runtime must be initialised. */
  static fromModelFile(model: ModelFile, options: OnlineSegmenterOptions = {}): OnlineSegmenter {
    try {
      return new OnlineSegmenter(instantiateModel(model, "online"), model.info, options);
    } finally {
      disposeModelFile(model);
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

  /**
   * Segments the next frame of the current video (MediaPipe's name); all frames of a video must have
   * one size. Instances keep their track ids across frames. TensorFlow.js models only (onnxruntime is
   * asynchronous): {@link segmentForVideoAsync} runs either.
   */
  segmentForVideo(frame: RgbImage, timestampMs = 0): FrameResult {
    this.checkFrame(frame);
    if (!this.network.predictSync) {
      throw new VidsegError(
        `this model runs on ${this.network.runtime}, which is asynchronous: use segmentForVideoAsync`,
      );
    }
    return this.track(frame, this.network.predictSync(frame), timestampMs);
  }

  /** As {@link segmentForVideo}, on any runtime. */
  async segmentForVideoAsync(frame: RgbImage, timestampMs = 0): Promise<FrameResult> {
    this.checkFrame(frame);
    return this.track(frame, await this.network.predict(frame), timestampMs);
  }

  private checkFrame(frame: RgbImage): void {
    this.noticeSyntheticModel();
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
  }

  /** Associates one frame's predictions with the tracks. */
  private track(frame: RgbImage, prediction: FramePrediction, timestampMs: number): FrameResult {
    const { width, height } = frame;
    const frameIndex = this.frameCount;
    const masks = new Map<number, Uint8Array>();
    const { maskHeight, maskWidth, maskLogits } = prediction;
    let cells: Float32Array | undefined;
    const upsample =
      this.options.maskUpsampling !== "bilinear"
        ? (q: number) => {
            cells ??= cellColours(frame, maskHeight, maskWidth);
            return guidedUpsampleMask(
              maskLogits,
              q * maskHeight * maskWidth,
              maskHeight,
              maskWidth,
              frame,
              cells,
            );
          }
        : (q: number) => upsampleQueryMask(prediction, q, height, width);
    const maskOf = (q: number) => {
      let mask = masks.get(q);
      if (!mask) masks.set(q, (mask = upsample(q)));
      return mask;
    };
    const queries: QueryOutput[] = [];
    const { numQueries, numClasses, embeddingDim } = prediction;
    const boxes = this.usesBoxes ? maskBoxes(prediction) : undefined;
    const scales =
      (this.options.maskScore ?? this.info.config.inference.maskScore) ? maskScores(prediction) : null;
    for (let q = 0; q < numQueries; q++) {
      const classProbs = prediction.classProbs.subarray(q * numClasses, (q + 1) * numClasses);
      queries.push({
        embedding: prediction.embeddings.subarray(q * embeddingDim, (q + 1) * embeddingDim),
        box: boxes?.subarray(q * 4, q * 4 + 4),
        classProbs: scales ? classProbs.map((p) => p * scales[q]) : classProbs,
        score: prediction.scores[q],
        mask: () => maskOf(q),
      });
    }
    const duplicates = duplicateQueries(prediction, this.options.duplicateIou ?? 0.6);
    const kept = queries.map((_, q) => q).filter((q) => !duplicates.has(q));
    const candidates = kept.map((q) => queries[q]);
    const tracked = this.tracker.update(candidates, { width, height });
    for (const variant of this.variants) variant.update(candidates, { width, height });
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

  /** Same as {@link segmentForVideo}. */
  segmentFrame(frame: RgbImage, timestampMs = 0): FrameResult {
    return this.segmentForVideo(frame, timestampMs);
  }

  /** The video's top-k tracks as YouTube-VIS results (needs `collectResults`). */
  finish(videoId: number, topK?: number): YtvisResult[] {
    if (!this.options.collectResults) {
      throw new VidsegError("finish() needs the segmenter loaded with collectResults: true");
    }
    return this.tracker.finalize(videoId, topK);
  }

  /** The video's top-k tracks under each of `options.trackerVariants`, in their order. */
  finishVariants(videoId: number, topK?: number): YtvisResult[][] {
    return this.variants.map((variant) => variant.finalize(videoId, topK));
  }

  /** Starts a new video (forgets the tracks). */
  reset(): void {
    this.tracker = new Tracker(this.trackerOptions);
    this.variants = (this.options.trackerVariants ?? []).map(
      (settings) => new Tracker({ ...this.trackerOptions, ...settings, mode: "results" }),
    );
    this.frameSize = null;
  }

  /** Segments a whole video (any async iterable of frames) and returns its results (collectResults). */
  async segmentVideo(
    frames: AsyncIterable<RgbImage & { timestampMs?: number }>,
    videoId: number,
  ): Promise<YtvisResult[]> {
    this.reset();
    for await (const frame of frames) await this.segmentForVideoAsync(frame, frame.timestampMs ?? 0);
    const results = this.finish(videoId);
    this.reset();
    return results;
  }

  /** Frees the model's weights; the segmenter cannot be used afterwards. */
  close(): void {
    this.network.close();
  }

  /** Same as {@link close}. */
  dispose(): void {
    this.close();
  }

  /** Says once that a synthetic-only model is segmenting other input (see the options). */
  private noticeSyntheticModel(): void {
    const trainedOn = this.info.trainedOn;
    if (this.warned || this.options.syntheticInput || !trainedOn?.synthetic) return;
    this.warned = true;
    giveNotice(syntheticModelNotice(trainedOn, "classes and masks"), this.options.onWarning);
  }
}
