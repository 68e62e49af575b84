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
 *
 * The network runs on TensorFlow.js (a model file) or, for a model exported with `vidseg export onnx`
 * (`model.onnx` and its `.text`, `.target`, `.decode` graphs beside it), on onnxruntime; either way
 * the memory and θ solver are models/refer/meta-transfer.ts's (refer-network.ts). onnxruntime is
 * asynchronous: use `segmentForVideoAsync` (which runs either).
 */
import { VidsegError, check } from "../core/errors.js";
import { readBytes } from "../core/bytes.js";
import type { RgbImage } from "../core/image.js";
import {
  decodeModelFile,
  disposeModelFile,
  readModelFile,
  type ModelFile,
  type ModelInfo,
} from "../models/model-file.js";
import { isOnnxPath, referGraphFile, type ReferGraphPart } from "../models/onnx-file.js";
import type { ReferModel } from "../models/refer/model.js";
import { WordTokenizer, type TextTokenizer } from "../models/refer/tokenizer.js";
import { instantiateModel } from "../models/registry.js";
import { upsampleMask, upsampleProbabilities } from "../processing/postprocess.js";
import { initRuntime, type RuntimeOptions } from "../runtime/backend.js";
import { loadOnnxRuntimeNode, type OnnxRuntime } from "./onnx-network.js";
import { OnnxReferNetwork } from "./onnx-refer-network.js";
import {
  TfjsReferNetwork,
  TransferState,
  type MaskLogits,
  type NetworkFeatures,
  type ReferNetwork,
} from "./refer-network.js";
import { giveNotice, syntheticModelNotice } from "./synthetic-notice.js";

export interface ReferringSegmenterOptions {
  /**
   * The TensorFlow.js backend (createFromPath / createFromBuffer initialise it; an ONNX model's memory
   * and θ solver run on it too). Default: wasm in Node.
   */
  runtime?: RuntimeOptions;
  /**
   * For an exported `.onnx` model: the onnxruntime module (onnxruntime-web in a browser; default
   * onnxruntime-node in Node), its intra-op threads (default one per core) and execution providers.
   */
  onnx?: { runtime?: OnnxRuntime; threads?: number; executionProviders?: string[] };
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
  /** The network: the model's TensorFlow.js modules, or an exported model on onnxruntime. */
  readonly network: ReferNetwork;
  private cached:
    | { frame: RgbImage; timestampMs: number; features: NetworkFeatures | Promise<NetworkFeatures> }
    | undefined;
  private readonly targets = new Set<ReferringTarget>();
  private warned = false;
  private closed = false;

  /**
   * A segmenter around a model the caller keeps (close() leaves it alone), or around a network (which
   * close() frees); see createFromPath.
   */
  constructor(
    model: ReferModel | ReferNetwork,
    readonly info: ModelInfo,
    readonly options: ReferringSegmenterOptions = {},
  ) {
    if (!options.tokenizer && !info.vocabulary) {
      throw new VidsegError("the model info has no vocabulary (a referring model needs one)");
    }
    this.tokenizer = options.tokenizer ?? new WordTokenizer(info.vocabulary!);
    this.network = "segment" in model ? model : new TfjsReferNetwork(model, info, false);
  }

  /** The TensorFlow.js model (not for a model that runs on onnxruntime). */
  get model(): ReferModel {
    if (!(this.network instanceof TfjsReferNetwork)) {
      throw new VidsegError(`this referring model runs on ${this.network.runtime}, not TensorFlow.js`);
    }
    return this.network.model;
  }

  /**
   * Loads a model file (`vidseg train refer` writes `<run>/model.safetensors`), a run folder holding
   * one, or a training checkpoint — a path in Node, a URL in a browser — and initialises the runtime.
   * A `.onnx` file (`vidseg export onnx`) runs on onnxruntime instead (see `options.onnx`; its other
   * graphs are read from beside it).
   */
  static async createFromPath(
    path: string,
    options: ReferringSegmenterOptions = {},
  ): Promise<ReferringSegmenter> {
    if (isOnnxPath(path)) {
      return ReferringSegmenter.createFromOnnx(
        await readBytes(path),
        (part) => readBytes(referGraphFile(path, part)),
        { ...options, file: path },
      );
    }
    await initRuntime(options.runtime);
    return ReferringSegmenter.fromModelFile(await readModelFile(path), options);
  }

  /**
   * An exported model (`vidseg export onnx`) from the bytes of its frame graph, on onnxruntime
   * (`options.onnx.runtime`: required outside Node, e.g. onnxruntime-web); `parts` gives the bytes of
   * the graphs beside it. `file` names the model in errors.
   */
  static async createFromOnnx(
    bytes: Uint8Array,
    parts: (part: ReferGraphPart) => Promise<Uint8Array>,
    options: ReferringSegmenterOptions & { file?: string } = {},
  ): Promise<ReferringSegmenter> {
    const network = await OnnxReferNetwork.create(
      options.onnx?.runtime ?? (await loadOnnxRuntimeNode()),
      bytes,
      options.file ?? "<buffer>",
      parts,
      { ...options.onnx, runtime: options.runtime },
    );
    return new ReferringSegmenter(network, network.info, options);
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
      const network = new TfjsReferNetwork(instantiateModel(model, "refer"), model.info, true);
      return new ReferringSegmenter(network, model.info, options);
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
    const kept = ids.slice(0, this.info.config.refer.maxWords);
    let features: NetworkFeatures | Promise<NetworkFeatures>;
    if (this.network.sync) {
      features = this.network.sync.encodeText(kept);
    } else {
      features = this.network.encodeText(kept);
      // Reported where it is awaited (the target's first frame), not as an unhandled rejection.
      features.catch(() => undefined);
    }
    const target = new ReferringTarget(this, text, unknown, features);
    this.targets.add(target);
    return target;
  }

  /** Targets not closed yet. */
  get openTargets(): number {
    return this.targets.size;
  }

  /**
   * Frees every open target, the cached frame and the network if the segmenter loaded it; the
   * segmenter cannot be used afterwards.
   */
  close(): void {
    if (this.closed) return;
    for (const target of [...this.targets]) target.close();
    this.dropCache();
    this.network.close();
    this.closed = true;
  }

  /** @internal The image features of `frame`, computed once per (frame, timestamp). */
  frameFeatures(
    frame: RgbImage,
    timestampMs: number,
    sync: boolean,
  ): NetworkFeatures | Promise<NetworkFeatures> {
    this.assertOpen();
    this.noticeSyntheticModel();
    if (this.cached && this.cached.frame === frame && this.cached.timestampMs === timestampMs) {
      return this.cached.features;
    }
    this.dropCache();
    const features = sync ? this.network.sync!.encodeFrame(frame) : this.network.encodeFrame(frame);
    this.cached = { frame, timestampMs, features };
    return features;
  }

  /** @internal */
  forget(target: ReferringTarget): void {
    this.targets.delete(target);
  }

  private dropCache(): void {
    if (!this.cached) return;
    disposeFeatures(this.cached.features);
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

/** Frees features now, or once computed (features that failed to compute hold nothing). */
function disposeFeatures(features: NetworkFeatures | Promise<NetworkFeatures>): void {
  if (features instanceof Promise)
    features.then(
      (f) => f.dispose(),
      () => undefined,
    );
  else features.dispose();
}

/** One expression followed through a stream: its text features, memory and θ. */
export class ReferringTarget {
  private readonly transfer = new TransferState();
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
    private readonly features: NetworkFeatures | Promise<NetworkFeatures>,
  ) {}

  /** Frames segmented since track()/reset(). */
  get frameCount(): number {
    return this.frames;
  }

  /** Samples in the memory now (at most the model's memory slots). */
  get memorySize(): number {
    return this.transfer.memory?.size ?? 0;
  }

  /**
   * Segments the next frame of the stream; all frames of a video must have one size. With
   * `{ probabilities: true }` the result also holds the per-pixel probabilities. TensorFlow.js models
   * only (onnxruntime is asynchronous): {@link segmentForVideoAsync} runs either.
   */
  segmentForVideo(
    frame: RgbImage,
    timestampMs = 0,
    options: { probabilities?: boolean } = {},
  ): ReferringFrameResult {
    const sync = this.owner.network.sync;
    if (!sync) {
      throw new VidsegError(
        `this model runs on ${this.owner.network.runtime}, which is asynchronous: use segmentForVideoAsync`,
      );
    }
    this.checkFrame(frame);
    const features = this.owner.frameFeatures(frame, timestampMs, true) as NetworkFeatures;
    const logits = sync.segment(features, this.features as NetworkFeatures, this.transfer);
    return this.result(frame, timestampMs, logits, options);
  }

  /** As {@link segmentForVideo}, on any runtime. */
  async segmentForVideoAsync(
    frame: RgbImage,
    timestampMs = 0,
    options: { probabilities?: boolean } = {},
  ): Promise<ReferringFrameResult> {
    this.checkFrame(frame);
    const network = this.owner.network;
    const features = await this.owner.frameFeatures(frame, timestampMs, network.sync !== undefined);
    const logits = await network.segment(features, await this.features, this.transfer);
    return this.result(frame, timestampMs, logits, options);
  }

  private checkFrame(frame: RgbImage): void {
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
  }

  /** The frame's result from its mask logits at 1/4. */
  private result(
    frame: RgbImage,
    timestampMs: number,
    { logits, height: h, width: w }: MaskLogits,
    options: { probabilities?: boolean },
  ): ReferringFrameResult {
    const { width, height } = frame;
    let sum = 0;
    let count = 0;
    for (const logit of logits) {
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
      mask: upsampleMask(logits, 0, h, w, height, width),
      score: count > 0 ? sum / count : 0,
      ...(options.probabilities
        ? { probabilities: upsampleProbabilities(logits, 0, h, w, height, width) }
        : {}),
    };
  }

  /** Starts a new video with the same expression (forgets the memory and θ). */
  reset(): void {
    this.transfer.reset();
    this.frameSize = undefined;
    this.frames = 0;
  }

  /** Frees the target's tensors. */
  close(): void {
    if (this.closed) return;
    this.reset();
    disposeFeatures(this.features);
    this.closed = true;
    this.owner.forget(this);
  }
}
