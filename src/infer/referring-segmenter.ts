/**
 * Streaming referring segmentation (the YOFO model), in the style of MediaPipe's video mode:
 *
 *   const seg = await ReferringSegmenter.createFromPath("run/model.safetensors");
 *   const target = seg.track("the red square moving left"); // one memory per expression
 *   for await (const frame of frames) {
 *     const { mask, score } = target.segmentForVideo(frame, frame.timestampMs);
 *   }
 *   target.close();
 *   seg.close();
 *
 * Several expressions can follow one stream at once, each with its own memory: the frame's image
 * features are computed once and shared by the targets that segment the same frame object at the same
 * timestamp. Per frame and target, the text is fused into the features, the frame joins the target's
 * bounded memory, θ is refitted (warm-started) and the mask decoded; memory and time per frame stay
 * constant on long videos (the memory's K slots, one θ, one cached frame).
 *
 * Words the model's vocabulary does not know become UNK, and `onWarning` is told once per expression
 * which they were.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError, check } from "../core/errors.js";
import type { RgbImage } from "../core/image.js";
import {
  decodeModelFile,
  disposeModelFile,
  readModelFile,
  type ModelFile,
  type ModelInfo,
} from "../models/model-file.js";
import type { FrameFeatures, ReferModel } from "../models/refer/model.js";
import type { TransferMemory } from "../models/refer/meta-transfer.js";
import type { TextFeatures } from "../models/refer/text-encoder.js";
import { WordTokenizer, type TextTokenizer } from "../models/refer/tokenizer.js";
import { instantiateModel } from "../models/registry.js";
import { upsampleMask, upsampleProbabilities } from "../processing/postprocess.js";
import { preprocessFrames } from "../processing/preprocess.js";
import { initRuntime, type RuntimeOptions } from "../runtime/backend.js";
import { giveNotice, syntheticModelNotice } from "./synthetic-notice.js";

export interface ReferringSegmenterOptions {
  /** The TensorFlow.js backend (createFromPath / createFromBuffer initialise it). Default: wasm in Node. */
  runtime?: RuntimeOptions;
  /**
   * Notices: the unknown words of an expression (once per expression), and once that a model trained
   * only on synthetic data segments other input (without a callback that one goes to
   * `process.emitWarning`, as for the online segmenter; unknown words are only reported here).
   */
  onWarning?: (message: string) => void;
  /** The frames come from a synthetic benchmark like the model's training data (no notice). */
  syntheticInput?: boolean;
  /** A pretrained tokenizer, for a model whose text encoder was trained with it. Default: the vocabulary's. */
  tokenizer?: TextTokenizer;
}

export interface ReferringFrameResult {
  /** Index of the frame for this target since track()/reset(). */
  frameIndex: number;
  timestampMs: number;
  width: number;
  height: number;
  /** Row-major mask at the frame's size (1 = the referred object). */
  mask: Uint8Array;
  /** The mean foreground probability over the mask's pixels (at 1/4 of the model input); 0 when empty. */
  score: number;
  /**
   * Row-major foreground probabilities at the frame's size (> 0.5 exactly where the mask is 1), when
   * asked for (`{ probabilities: true }`): what merging several objects into one label map needs.
   */
  probabilities?: Float32Array;
}

/** The referring model with a frame-feature cache shared by its targets; see the module comment. */
export class ReferringSegmenter {
  readonly tokenizer: TextTokenizer;
  private cached: { frame: RgbImage; timestampMs: number; features: FrameFeatures } | undefined;
  private readonly targets = new Set<ReferringTarget>();
  private warned = false;
  private closed = false;
  /** Whether close() frees the model (it does when the segmenter loaded it). */
  private ownsModel = false;

  /** A segmenter around a model the caller keeps (close() leaves it alone); see createFromPath. */
  constructor(
    readonly model: ReferModel,
    readonly info: ModelInfo,
    readonly options: ReferringSegmenterOptions = {},
  ) {
    if (!options.tokenizer && !info.vocabulary) {
      throw new VidsegError("the model info has no vocabulary (a referring model needs one)");
    }
    this.tokenizer = options.tokenizer ?? new WordTokenizer(info.vocabulary!);
    model.eval();
  }

  /**
   * Loads a model file (`vidseg train refer` writes `<run>/model.safetensors`), a run folder holding
   * one, or a training checkpoint — a path in Node, a URL in a browser — and initialises the runtime.
   */
  static async createFromPath(
    path: string,
    options: ReferringSegmenterOptions = {},
  ): Promise<ReferringSegmenter> {
    await initRuntime(options.runtime);
    return ReferringSegmenter.fromModelFile(await readModelFile(path), options);
  }

  /** As {@link createFromPath}, from the bytes of a model file. */
  static async createFromBuffer(
    bytes: Uint8Array,
    options: ReferringSegmenterOptions = {},
  ): Promise<ReferringSegmenter> {
    await initRuntime(options.runtime);
    return ReferringSegmenter.fromModelFile(decodeModelFile(bytes, "<buffer>"), options);
  }

  /** A segmenter for a loaded model file (whose tensors it frees); the runtime must be initialised. */
  static fromModelFile(model: ModelFile, options: ReferringSegmenterOptions = {}): ReferringSegmenter {
    try {
      const segmenter = new ReferringSegmenter(instantiateModel(model, "refer"), model.info, options);
      segmenter.ownsModel = true;
      return segmenter;
    } finally {
      disposeModelFile(model);
    }
  }

  /** Starts following the object `text` refers to, with a memory of its own. */
  track(text: string): ReferringTarget {
    this.assertOpen();
    const { ids, unknown } = this.tokenizer.encode(text);
    if (ids.length === 0) throw new VidsegError(`the expression ${JSON.stringify(text)} has no words`);
    if (unknown.length > 0) {
      this.options.onWarning?.(
        `unknown words in ${JSON.stringify(text)}: ${unknown.join(", ")} (read as UNK; the model's vocabulary has ${this.tokenizer.size - 2} words)`,
      );
    }
    const target = new ReferringTarget(this, text, unknown, this.model.encodeText([ids]));
    this.targets.add(target);
    return target;
  }

  /** Targets not closed yet. */
  get openTargets(): number {
    return this.targets.size;
  }

  /**
   * Frees every open target, the cached frame and the model if the segmenter loaded it; the segmenter
   * cannot be used afterwards.
   */
  close(): void {
    if (this.closed) return;
    for (const target of [...this.targets]) target.close();
    this.dropCache();
    if (this.ownsModel) this.model.dispose();
    this.closed = true;
  }

  /** @internal The image features of `frame`, computed once per (frame, timestamp). */
  frameFeatures(frame: RgbImage, timestampMs: number): FrameFeatures {
    this.assertOpen();
    this.noticeSyntheticModel();
    if (this.cached && this.cached.frame === frame && this.cached.timestampMs === timestampMs) {
      return this.cached.features;
    }
    this.dropCache();
    const input = preprocessFrames([frame], this.info.config.model.inputSize);
    try {
      this.cached = { frame, timestampMs, features: this.model.encodeFrames(input) };
    } finally {
      input.dispose();
    }
    return this.cached.features;
  }

  /** @internal */
  forget(target: ReferringTarget): void {
    this.targets.delete(target);
  }

  private dropCache(): void {
    if (!this.cached) return;
    const { res2, res3, res4, res5 } = this.cached.features;
    tf.dispose([res2, res3, res4, res5]);
    this.cached = undefined;
  }

  private assertOpen(): void {
    if (this.closed) throw new VidsegError("the referring segmenter is closed");
  }

  /** Says once that a synthetic-only model is segmenting other input (see the options). */
  private noticeSyntheticModel(): void {
    const trainedOn = this.info.trainedOn;
    if (this.warned || this.options.syntheticInput || !trainedOn?.synthetic) return;
    this.warned = true;
    giveNotice(syntheticModelNotice(trainedOn, "masks"), this.options.onWarning);
  }
}

/** One expression followed through a stream: its text features, memory and θ. */
export class ReferringTarget {
  private memory: TransferMemory | undefined;
  private theta: tf.Tensor3D | undefined;
  private frameSize: { width: number; height: number } | undefined;
  private frames = 0;
  private closed = false;

  /** @internal Use {@link ReferringSegmenter.track}. */
  constructor(
    private readonly owner: ReferringSegmenter,
    /** The expression. */
    readonly text: string,
    /** Its words outside the model's vocabulary (read as UNK). */
    readonly unknownWords: readonly string[],
    private readonly features: TextFeatures,
  ) {}

  /** Frames segmented since track()/reset(). */
  get frameCount(): number {
    return this.frames;
  }

  /** Samples in the memory now (at most the model's memory slots). */
  get memorySize(): number {
    return this.memory?.size ?? 0;
  }

  /**
   * Segments the next frame of the stream; all frames of a video must have one size. With
   * `{ probabilities: true }` the result also holds the per-pixel probabilities.
   */
  segmentForVideo(
    frame: RgbImage,
    timestampMs = 0,
    options: { probabilities?: boolean } = {},
  ): ReferringFrameResult {
    if (this.closed) throw new VidsegError("this referring target is closed");
    const { width, height, data } = frame;
    const where = `frame ${this.frames}`;
    check(
      Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0,
      `frame size must be positive integers, got ${width}×${height}`,
      undefined,
      where,
    );
    check(
      data.length === width * height * 3,
      `frame has ${data.length} bytes, expected ${width}×${height}×3`,
      undefined,
      where,
    );
    this.frameSize ??= { width, height };
    check(
      this.frameSize.width === width && this.frameSize.height === height,
      `frame is ${width}×${height}, earlier frames were ${this.frameSize.width}×${this.frameSize.height} (reset() between videos)`,
      undefined,
      where,
    );
    const model = this.owner.model;
    const features = this.owner.frameFeatures(frame, timestampMs);
    if (model.transfer) this.memory ??= model.newMemory(true);
    const { logits, theta } = tf.tidy(() => {
      const step = model.mine(features, this.features);
      if (!model.transfer)
        return { logits: model.decode(step.y, undefined, features.res2, this.features), theta: undefined };
      const transfer = model.transferFrame(this.memory!, step, this.theta);
      return {
        logits: model.decode(step.y, transfer.transferred, features.res2, this.features),
        theta: transfer.theta,
      };
    });
    this.theta?.dispose();
    this.theta = theta;
    const [, h, w] = logits.shape;
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    let sum = 0;
    let count = 0;
    for (const logit of values) {
      if (logit > 0) {
        sum += 1 / (1 + Math.exp(-logit));
        count++;
      }
    }
    const frameIndex = this.frames++;
    return {
      frameIndex,
      timestampMs,
      width,
      height,
      mask: upsampleMask(values, 0, h, w, height, width),
      score: count > 0 ? sum / count : 0,
      ...(options.probabilities
        ? { probabilities: upsampleProbabilities(values, 0, h, w, height, width) }
        : {}),
    };
  }

  /** Starts a new video with the same expression (forgets the memory and θ). */
  reset(): void {
    this.memory?.dispose();
    this.memory = undefined;
    this.theta?.dispose();
    this.theta = undefined;
    this.frameSize = undefined;
    this.frames = 0;
  }

  /** Frees the target's tensors. */
  close(): void {
    if (this.closed) return;
    this.reset();
    tf.dispose([this.features.words, this.features.padding, this.features.sentence]);
    this.closed = true;
    this.owner.forget(this);
  }
}
