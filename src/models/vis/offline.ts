/**
 * The offline VIS model (the future distillation teacher): VITA-style video queries on top of the
 * per-frame segmenter.
 *
 *   frames → FrameSegmenter (per frame) → frame queries [T, N, D] and mask features [T, h, w, C]
 *          → object encoder: self-attention + FFN over the frame queries of several frames at once,
 *            in windows of W frames, the windows shifted by ⌈W/2⌉ on odd layers (cost linear in T)
 *          → Nv learned video queries decoded against all object tokens (cross-attention, self-attention,
 *            FFN per layer), LayerNorm, then per video query: class logits (K + 1) and a mask embedding;
 *            the instance's mask in frame t = mask embedding · mask features of frame t.
 *
 * Parameter names follow VITA's (enc_self_attn, enc_ffn, fq_pos, query_feat, query_embed,
 * transformer_*_layers, decoder_norm, class_embed, mask_embed, sim_embed_frame, sim_embed_clip).
 *
 * Design choices where VITA differs or is silent (all configurable):
 * - Shifted windows are used in training and inference alike (VITA shifts only at inference); when the
 *   clip fits in one window nothing is shifted, so windowed attention is exactly full attention then.
 *   The shift pads the front of the clip (masked keys) instead of VITA's cyclic roll + mask; the
 *   partition is the same.
 * - No temporal position encoding in the encoder (as VITA); the decoder's keys carry a learned
 *   embedding of the frame-query index (VITA's fq_pos).
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import { CrossAttentionLayer, FfnLayer, SelfAttentionLayer } from "../../nn/decoder.js";
import { Embedding, LayerNorm, Linear, Mlp } from "../../nn/layers.js";
import { Module, ModuleList } from "../../nn/module.js";
import {
  PRESET_NAMES,
  presetConfig,
  validateHeadOptions,
  type OfflineHeadOptions,
  type PresetName,
  type SegmenterConfig,
} from "../config.js";
import { FrameSegmenter, type SegmenterOutput } from "../segmenter.js";

export type { OfflineHeadOptions };

/** Everything that fixes the head's architecture. */
export interface OfflineHeadConfig extends OfflineHeadOptions {
  numClasses: number;
  /** Frame queries per frame (the segmenter's numQueries). */
  numFrameQueries: number;
  /** Width of the frame queries (the segmenter's hiddenDim). */
  frameQueryDim: number;
  /** Channels of the mask features (the segmenter's maskDim). */
  maskDim: number;
}

/** The offline model: the segmenter's architecture and the head's. */
export interface OfflineModelConfig {
  segmenter: SegmenterConfig;
  head: OfflineHeadOptions;
}

/** The head settings of each preset (the `offline.head` section of src/models/config.ts). */
export const OFFLINE_HEAD_PRESETS = Object.fromEntries(
  PRESET_NAMES.map((name) => [name, presetConfig(name).offline.head]),
) as Record<PresetName, OfflineHeadOptions>;

/** The head's full config for a segmenter config. */
export function headConfigFor(segmenter: SegmenterConfig, head: OfflineHeadOptions): OfflineHeadConfig {
  return {
    ...head,
    numClasses: segmenter.numClasses,
    numFrameQueries: segmenter.numQueries,
    frameQueryDim: segmenter.hiddenDim,
    maskDim: segmenter.maskDim,
  };
}

/** One decoder layer's video-level predictions. */
export interface VideoPrediction {
  /** [B, Nv, K+1] class logits, last = no object. */
  predLogits: tf.Tensor3D;
  /** [B, Nv, maskDim] mask embeddings (mask in frame t = embedding · mask features of frame t). */
  predMaskEmbed: tf.Tensor3D;
}

export interface OfflineHeadOutput extends VideoPrediction {
  /** [B, Nv, hiddenDim] the last decoder layer's video queries after the LayerNorm (distillation hook). */
  videoQueries: tf.Tensor3D;
  /** [B, Nv, embedDim] L2-normalised similarity embedding of each video query (links clips). */
  videoEmbed: tf.Tensor3D;
  /** [B, T, N, embedDim] L2-normalised similarity embedding of each encoded frame query. */
  frameEmbed: tf.Tensor4D;
  /** Predictions of decoder layers 1..L−1 (only with `aux`). */
  aux: VideoPrediction[];
}

/**
 * tf.tidy for a function returning a typed object of tensors (interfaces lack the index signature
 * tf.TensorContainer asks for): every tensor of the result is kept, the intermediates are freed.
 */
export function tidyObject<T>(fn: () => T): T {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as T;
}

function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, "euclidean", -1, true), 1e-12)) as T);
}

/** The object encoder and video-query decoder (VITA); see the module comment. */
export class OfflineHead extends Module {
  readonly inputProj?: Linear;
  readonly encSelfAttn: ModuleList<SelfAttentionLayer>;
  readonly encFfn: ModuleList<FfnLayer>;
  readonly fqPos: Embedding;
  readonly queryFeat: Embedding;
  readonly queryEmbed: Embedding;
  readonly crossAttn: ModuleList<CrossAttentionLayer>;
  readonly selfAttn: ModuleList<SelfAttentionLayer>;
  readonly ffn: ModuleList<FfnLayer>;
  readonly decoderNorm: LayerNorm;
  readonly classEmbed: Linear;
  readonly maskEmbed: Mlp;
  readonly simEmbedFrame: Linear;
  readonly simEmbedClip: Linear;

  constructor(readonly config: OfflineHeadConfig) {
    super();
    validateHeadConfig(config);
    const d = config.hiddenDim;
    const dropout = config.dropout ?? 0;
    if (config.frameQueryDim !== d) {
      this.inputProj = this.addModule("input_proj_dec", new Linear(config.frameQueryDim, d));
    }
    this.encSelfAttn = this.addModule("enc_self_attn", new ModuleList<SelfAttentionLayer>());
    this.encFfn = this.addModule("enc_ffn", new ModuleList<FfnLayer>());
    for (let i = 0; i < config.encoderLayers; i++) {
      this.encSelfAttn.push(new SelfAttentionLayer(d, config.numHeads, dropout));
      this.encFfn.push(new FfnLayer(d, config.dimFeedforward, dropout));
    }
    this.fqPos = this.addModule("fq_pos", new Embedding(config.numFrameQueries, d));
    this.queryFeat = this.addModule("query_feat", new Embedding(config.numVideoQueries, d));
    this.queryEmbed = this.addModule("query_embed", new Embedding(config.numVideoQueries, d));
    this.crossAttn = this.addModule(
      "transformer_cross_attention_layers",
      new ModuleList<CrossAttentionLayer>(),
    );
    this.selfAttn = this.addModule("transformer_self_attention_layers", new ModuleList<SelfAttentionLayer>());
    this.ffn = this.addModule("transformer_ffn_layers", new ModuleList<FfnLayer>());
    for (let i = 0; i < config.decoderLayers; i++) {
      this.crossAttn.push(new CrossAttentionLayer(d, config.numHeads, dropout));
      this.selfAttn.push(new SelfAttentionLayer(d, config.numHeads, dropout));
      this.ffn.push(new FfnLayer(d, config.dimFeedforward, dropout));
    }
    this.decoderNorm = this.addModule("decoder_norm", new LayerNorm(d));
    this.classEmbed = this.addModule("class_embed", new Linear(d, config.numClasses + 1));
    this.maskEmbed = this.addModule("mask_embed", new Mlp(d, d, config.maskDim, 3));
    this.simEmbedFrame = this.addModule("sim_embed_frame", new Linear(d, config.embedDim));
    this.simEmbedClip = this.addModule("sim_embed_clip", new Linear(d, config.embedDim));
  }

  /**
   * frameQueries [B, T, N, frameQueryDim] (the segmenter's queryFeatures of T frames per clip).
   * With `aux`, every decoder layer's predictions (deep supervision); otherwise only the last.
   */
  forward(frameQueries: tf.Tensor4D, options: { aux?: boolean } = {}): OfflineHeadOutput {
    const [batch, frames, numQueries, dim] = frameQueries.shape;
    const { numFrameQueries, frameQueryDim, hiddenDim: d, numVideoQueries } = this.config;
    if (numQueries !== numFrameQueries || dim !== frameQueryDim || frames < 1) {
      throw new VidsegError(
        `offline head: frame queries must be [B, T, ${numFrameQueries}, ${frameQueryDim}], got [${frameQueries.shape}]`,
      );
    }
    return tidyObject(() => {
      let tokens = (this.inputProj ? this.inputProj.forward(frameQueries) : frameQueries) as tf.Tensor4D;
      tokens = this.encode(tokens);
      const frameEmbed = l2Normalize(this.simEmbedFrame.forward(tokens)) as tf.Tensor4D;

      // Decoder: video queries attend to all T·N object tokens.
      const memory = tokens.reshape([batch, frames * numQueries, d]) as tf.Tensor3D;
      const memoryPos = tf.tile(this.fqPos.weight, [frames, 1]).expandDims(0); // [1, T·N, D]
      const queryPos = this.queryEmbed.weight.expandDims(0); // [1, Nv, D]
      let output = tf.tile(this.queryFeat.weight.expandDims(0), [batch, 1, 1]) as tf.Tensor3D;
      const predictions: (VideoPrediction & { normed: tf.Tensor3D })[] = [];
      const layers = this.config.decoderLayers;
      for (let i = 0; i < layers; i++) {
        output = this.crossAttn.at(i).forward(output, memory, { pos: memoryPos, queryPos });
        output = this.selfAttn.at(i).forward(output, { queryPos });
        output = this.ffn.at(i).forward(output);
        if (options.aux || i === layers - 1) {
          const normed = this.decoderNorm.forward(output) as tf.Tensor3D;
          predictions.push({
            normed,
            predLogits: this.classEmbed.forward(normed) as tf.Tensor3D,
            predMaskEmbed: this.maskEmbed.forward(normed) as tf.Tensor3D,
          });
        }
      }
      const last = predictions.pop()!;
      const videoEmbed = l2Normalize(this.simEmbedClip.forward(last.normed)) as tf.Tensor3D;
      if (videoEmbed.shape[1] !== numVideoQueries)
        throw new VidsegError("offline head: bad video query count");
      return {
        predLogits: last.predLogits,
        predMaskEmbed: last.predMaskEmbed,
        videoQueries: last.normed,
        videoEmbed,
        frameEmbed,
        aux: predictions.map(({ predLogits, predMaskEmbed }) => ({ predLogits, predMaskEmbed })),
      };
    });
  }

  /** The object encoder on [B, T, N, D] tokens: windowed self-attention + FFN per layer. */
  encode(tokens: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let x = tokens;
      for (let i = 0; i < this.config.encoderLayers; i++) x = this.encoderLayer(x, i, i % 2 === 1);
      return x;
    });
  }

  /**
   * One encoder layer. The clip (padded with masked frames) is cut into windows of W frames — shifted
   * by ⌈W/2⌉ frames when `shifted` — and the N·W tokens of each window attend to each other.
   */
  private encoderLayer(x: tf.Tensor4D, layer: number, shifted: boolean): tf.Tensor4D {
    const [batch, frames, n, d] = x.shape;
    const { front, windowFrames, numWindows } = windowPartition(frames, this.config.windowSize, shifted);
    const total = numWindows * windowFrames;
    const back = total - front - frames;
    return tf.tidy(() => {
      const padded =
        front + back > 0
          ? tf.pad(x, [
              [0, 0],
              [front, back],
              [0, 0],
              [0, 0],
            ])
          : x;
      // [B, Nw·W, N, D] is laid out window by window: a reshape groups each window's tokens.
      const windows = padded.reshape([batch * numWindows, windowFrames * n, d]) as tf.Tensor3D;
      let keyPadding: tf.Tensor | undefined;
      if (front + back > 0) {
        const mask = new Uint8Array(batch * total * n);
        for (let b = 0; b < batch; b++) {
          for (let t = 0; t < total; t++) {
            if (t < front || t >= front + frames) mask.fill(1, (b * total + t) * n, (b * total + t + 1) * n);
          }
        }
        keyPadding = tf.tensor2d(mask, [batch * numWindows, windowFrames * n], "bool");
      }
      let y = this.encSelfAttn.at(layer).forward(windows, { tgtKeyPaddingMask: keyPadding });
      y = this.encFfn.at(layer).forward(y);
      const out = y.reshape([batch, total, n, d]) as tf.Tensor4D;
      return front + back > 0 ? (out.slice([0, front, 0, 0], [batch, frames, n, d]) as tf.Tensor4D) : out;
    });
  }
}

/**
 * How an encoder layer cuts T frames into windows: `front` padding frames (the shift), windows of
 * `windowFrames` frames, `numWindows` of them. A clip that fits in one window is never shifted.
 */
export function windowPartition(
  frames: number,
  windowSize: number,
  shifted: boolean,
): { front: number; windowFrames: number; numWindows: number } {
  if (windowSize <= 0 || frames <= windowSize) return { front: 0, windowFrames: frames, numWindows: 1 };
  const front = shifted ? Math.ceil(windowSize / 2) : 0;
  return { front, windowFrames: windowSize, numWindows: Math.ceil((front + frames) / windowSize) };
}

/**
 * Per-clip video mask logits: maskEmbed [B, Nv, C] · maskFeatures [B·T, h, w, C] (clip-major) →
 * one [Nv, T, h, w] tensor per clip.
 */
export function videoMaskLogits(maskEmbed: tf.Tensor3D, maskFeatures: tf.Tensor4D): tf.Tensor4D[] {
  const [batch, numVideoQueries, c] = maskEmbed.shape;
  const [bt, h, w, fc] = maskFeatures.shape;
  if (fc !== c || bt % batch !== 0) {
    throw new VidsegError(
      `video masks: mask embeddings [${maskEmbed.shape}] do not fit mask features [${maskFeatures.shape}]`,
    );
  }
  const frames = bt / batch;
  return tf.tidy(() => {
    // [B, T·h·w, C] · [B, C, Nv]: explicit transposes keep wasm on its fast matMul path.
    const features = maskFeatures.reshape([batch, frames * h * w, c]);
    const logits = tf.matMul(features, tf.transpose(maskEmbed, [0, 2, 1])); // [B, T·h·w, Nv]
    const perClip = tf.transpose(logits, [0, 2, 1]).reshape([batch * numVideoQueries, frames, h, w]);
    // Slices, not tf.split: split's gradient fails for a single piece (tfjs passes dy unwrapped).
    return Array.from(
      { length: batch },
      (_, b) => perClip.slice([b * numVideoQueries, 0, 0, 0], [numVideoQueries, -1, -1, -1]) as tf.Tensor4D,
    );
  });
}

/** What one training or inference forward of the offline model produces. */
export interface OfflineOutput {
  /** The segmenter's per-frame output on the B·T frames (clip-major): frame-level losses and hooks. */
  frame: SegmenterOutput;
  /** The head's video-level output. */
  video: OfflineHeadOutput;
  /** Per clip: the final layer's video mask logits [Nv, T, h, w]. */
  videoMasks: tf.Tensor4D[];
  /** Frames per clip. */
  numFrames: number;
}

/** The offline VIS model: `segmenter` (FrameSegmenter) + `head` (OfflineHead). */
export class OfflineVisModel extends Module {
  readonly segmenter: FrameSegmenter;
  readonly head: OfflineHead;

  constructor(readonly config: OfflineModelConfig) {
    super();
    this.segmenter = this.addModule("segmenter", new FrameSegmenter(config.segmenter));
    this.head = this.addModule("head", new OfflineHead(headConfigFor(config.segmenter, config.head)));
  }

  /**
   * frames [B·T, H, W, 3] RGB in 0..1, B clips of `numFrames` frames each, clip-major. With `aux`, the
   * head's per-layer predictions are kept for deep supervision.
   */
  forward(frames: tf.Tensor4D, numFrames: number, options: { aux?: boolean } = {}): OfflineOutput {
    const total = frames.shape[0];
    if (!Number.isInteger(numFrames) || numFrames < 1 || total % numFrames !== 0) {
      throw new VidsegError(`offline model: ${total} frames do not form clips of ${numFrames}`);
    }
    return tidyObject(() => {
      const frame = this.segmenter.forward(frames);
      const video = this.forwardHead(frame.queryFeatures, numFrames, options);
      const videoMasks = videoMaskLogits(video.predMaskEmbed, frame.maskFeatures);
      return { frame, video, videoMasks, numFrames };
    });
  }

  /** The head on the segmenter's frame queries [B·T, N, D] (clip-major). */
  forwardHead(
    queryFeatures: tf.Tensor3D,
    numFrames: number,
    options: { aux?: boolean } = {},
  ): OfflineHeadOutput {
    const [bt, n, d] = queryFeatures.shape;
    return tidyObject(() =>
      this.head.forward(queryFeatures.reshape([bt / numFrames, numFrames, n, d]) as tf.Tensor4D, options),
    );
  }
}

/** Disposes every tensor of an OfflineOutput. */
export function disposeOfflineOutput(output: OfflineOutput): void {
  const { frame, video } = output;
  tf.dispose([
    frame.predLogits,
    frame.predMasks,
    frame.queryFeatures,
    frame.queryEmbed,
    frame.maskFeatures,
    ...frame.aux.flatMap((a) => [a.predLogits, a.predMasks, a.queryFeatures]),
    video.predLogits,
    video.predMaskEmbed,
    video.videoQueries,
    video.videoEmbed,
    video.frameEmbed,
    ...video.aux.flatMap((a) => [a.predLogits, a.predMaskEmbed]),
    ...output.videoMasks,
  ]);
}

/** The head's own settings, then what it takes from the segmenter. */
function validateHeadConfig(config: OfflineHeadConfig): void {
  validateHeadOptions({ ...config, dropout: config.dropout ?? 0 });
  for (const field of ["numClasses", "numFrameQueries", "frameQueryDim", "maskDim"] as const) {
    if (!Number.isInteger(config[field]) || config[field] < 1) {
      throw new VidsegError(`must be a positive integer, got ${config[field]}`, undefined, `head.${field}`);
    }
  }
}
