/**
 * The referring model (YOFO, one stage): for a video and an expression, the referred object's mask in
 * every frame, frame by frame at a constant cost per frame.
 *
 *   text   → tokenizer → text encoder → word features, sentence feature
 *   frame  → ResNet (res2..res5)
 *   FM     res3..res5 + text → Y(t), W(t) at 1/8                        (feature-mining.ts)
 *   MT     X(t) = 1×1 conv of res3; (X, Y, W) into the memory; θ fitted over the memory by a few
 *          warm-started steepest-descent steps; θ ∗ X(t)                 (meta-transfer.ts)
 *   decoder  [Y(t), θ ∗ X(t)] → 3×3 conv, up to 1/4 + the res2 skip → mask logits at 1/4
 *
 * Training runs clips through the same per-frame path ({@link ReferModel.forwardClips}); streaming
 * inference (src/infer/referring-segmenter.ts) calls the pieces one frame at a time.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import { Conv2d, Linear } from "../../nn/layers.js";
import { Module } from "../../nn/module.js";
import { createBackbone, type Backbone } from "../../nn/backbone.js";
import type { ResnetFeatures } from "../../nn/resnet.js";
import { resizeBilinear } from "../../nn/sampling.js";
import type { ReferConfig, SegmenterConfig } from "../config.js";
import { FeatureMining } from "./feature-mining.js";
import {
  im2col,
  memorySample,
  refitTheta,
  TransferMemory,
  type MemoryOptions,
  type MemorySample,
} from "./meta-transfer.js";
import { TransformerTextEncoder, type ReferTextEncoder, type TextFeatures } from "./text-encoder.js";
import { padTokens } from "./tokenizer.js";

/** A frame's image features (res2..res5), shared by the targets that segment it. */
export type FrameFeatures = ResnetFeatures;

export interface ReferModelOptions {
  /** Backbone, its norm, width (hiddenDim), heads, GroupNorm groups and input size. */
  model: Pick<
    SegmenterConfig,
    "backbone" | "backboneNorm" | "hiddenDim" | "numHeads" | "normGroups" | "inputSize"
  >;
  refer: ReferConfig;
  /** Size of the tokenizer's id space (vocabulary + PAD + UNK). */
  vocabularySize: number;
  /** A replacement for the built-in text encoder (the seam for a pretrained one), width hiddenDim. */
  textEncoder?: ReferTextEncoder;
}

/** The meta-transfer's own parameters: the transfer input X and λ = exp(log_lambda). */
export class TransferHead extends Module {
  readonly input: Conv2d;
  readonly logLambda: tf.Variable;

  constructor(inChannels: number, refer: ReferConfig, normGroups: number) {
    super();
    const groups = Math.min(normGroups, refer.transferDim);
    this.input = this.addModule(
      "input",
      new Conv2d(inChannels, refer.transferDim, 1, {
        norm: "GN",
        normGroups: refer.transferDim % groups === 0 ? groups : 1,
      }),
    );
    this.logLambda = this.addParameter("log_lambda", tf.fill([1], Math.log(refer.initialLambda)));
  }

  lambda(): tf.Scalar {
    return tf.tidy(() => tf.exp(this.logLambda).reshape([]) as tf.Scalar);
  }
}

/**
 * mask decoder: fuse (3×3), lateral (1×1 on res2), refine (3×3), then one logit per position — from a
 * fixed 1×1 conv (`predict`), or (`textKernel`) from a 1×1 kernel and bias made from the sentence by a
 * linear layer (`text_kernel`), so that the text decides which features make the mask.
 */
export class MaskDecoder extends Module {
  readonly fuse: Conv2d;
  readonly lateral: Conv2d;
  readonly refine: Conv2d;
  readonly predict?: Conv2d;
  readonly textKernel?: Linear;

  constructor(
    inChannels: number,
    skipChannels: number,
    readonly dim: number,
    normGroups: number,
    textKernel: boolean,
  ) {
    super();
    const conv = { norm: "GN" as const, normGroups };
    this.fuse = this.addModule(
      "fuse",
      new Conv2d(inChannels, dim, 3, { ...conv, padding: 1, activation: "relu" }),
    );
    this.lateral = this.addModule("lateral", new Conv2d(skipChannels, dim, 1, conv));
    this.refine = this.addModule(
      "refine",
      new Conv2d(dim, dim, 3, { ...conv, padding: 1, activation: "relu" }),
    );
    if (textKernel) this.textKernel = this.addModule("text_kernel", new Linear(dim, dim + 1));
    else this.predict = this.addModule("predict", new Conv2d(dim, 1, 1));
  }

  /**
   * features at 1/8 [N, h, w, C], res2 [N, 2h, 2w, C2], the sentence features [N, D] (used with the
   * text kernel) → mask logits at 1/4 [N, 2h, 2w, 1].
   */
  forward(features: tf.Tensor4D, res2: tf.Tensor4D, sentence: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      const x = this.fuse.forward(features);
      const [n, h, w] = res2.shape;
      const merged = tf.add(resizeBilinear(x, h, w), this.lateral.forward(res2)) as tf.Tensor4D;
      const refined = this.refine.forward(merged);
      if (!this.textKernel) return this.predict!.forward(refined);
      const d = this.dim;
      const kernel = this.textKernel.forward(sentence); // [N, D + 1]
      const weights = kernel.slice([0, 0], [n, d]).reshape([n, 1, 1, d]);
      const bias = kernel.slice([0, d], [n, 1]).reshape([n, 1, 1, 1]);
      // 1/√D keeps the logits' scale that of one feature whatever the width.
      const dot = tf.sum(tf.mul(refined, weights), 3, true);
      return tf.add(tf.mul(dot, 1 / Math.sqrt(d)), bias) as tf.Tensor4D;
    });
  }
}

/** The memory's settings in a referring config. */
export function memoryOptions(refer: ReferConfig): MemoryOptions {
  return {
    slots: refer.memorySlots,
    learningRate: refer.memoryLearningRate,
    firstFrameMinWeight: refer.firstFrameMinWeight,
  };
}

/** The θ solver's steps in a referring config: from zero on a target's first frame, then warm-started. */
export function solverSteps(refer: ReferConfig): { initSteps: number; steps: number } {
  return { initSteps: refer.solverInitSteps, steps: refer.solverSteps };
}

/** One frame of N targets after feature mining. */
export type FrameStep = {
  y: tf.Tensor4D;
  weightLogits: tf.Tensor4D;
  /** [N, h·w, k²·transferDim] im2col patches of X(t) (with meta-transfer). */
  patches?: tf.Tensor3D;
};

/** What the model outputs for clips (training) or frames. */
export type ReferOutput = {
  /** [N, H/4, W/4, 1] mask logits. */
  maskLogits: tf.Tensor4D;
  /** [N, H/8, W/8, 1] weight-map logits. */
  weightLogits: tf.Tensor4D;
};

export class ReferModel extends Module {
  readonly backbone: Backbone;
  readonly text: ReferTextEncoder;
  readonly mining: FeatureMining;
  readonly transfer?: TransferHead;
  readonly decoder: MaskDecoder;

  constructor(readonly options: ReferModelOptions) {
    super();
    const { model, refer } = options;
    const dim = model.hiddenDim;
    if (options.vocabularySize < 3)
      throw new VidsegError("a referring model needs a vocabulary of at least one word");
    this.backbone = this.addModule("backbone", createBackbone(model.backbone, { norm: model.backboneNorm }));
    this.text = this.addModule(
      "text",
      options.textEncoder ??
        new TransformerTextEncoder({
          vocabularySize: options.vocabularySize,
          maxWords: refer.maxWords,
          dim,
          heads: model.numHeads,
          layers: refer.textLayers,
          feedforward: refer.textFeedforward,
        }),
    );
    const [c2, c3, c4, c5] = this.backbone.outChannels;
    this.mining = this.addModule(
      "mining",
      new FeatureMining({
        inChannels: [c3, c4, c5],
        dim,
        heads: model.numHeads,
        normGroups: model.normGroups,
        multiScale: refer.featureMining,
        globalContext: refer.globalContext,
      }),
    );
    if (refer.metaTransfer)
      this.transfer = this.addModule("transfer", new TransferHead(c3, refer, model.normGroups));
    this.decoder = this.addModule(
      "decoder",
      new MaskDecoder(refer.metaTransfer ? 2 * dim : dim, c2, dim, model.normGroups, refer.textKernelHead),
    );
  }

  get refer(): ReferConfig {
    return this.options.refer;
  }

  /** Token ids of B expressions → text features [B, L] (cut to maxWords, padded to the longest). */
  encodeText(tokens: readonly number[][]): TextFeatures {
    const length = Math.min(this.refer.maxWords, Math.max(1, ...tokens.map((t) => t.length)));
    const { ids, padding } = padTokens(tokens, length);
    return tf.tidy(() =>
      this.text.forward(
        tf.tensor2d(ids, [tokens.length, length], "int32"),
        tf.tensor2d(padding, [tokens.length, length]),
      ),
    );
  }

  /** Frames [N, H, W, 3] in 0..1 at the model's input size → res2..res5 (the backbone normalises). */
  encodeFrames(images: tf.Tensor4D): ResnetFeatures {
    return this.backbone.features(images);
  }

  /** Feature mining (and the transfer input's patches) for N frames, `text` holding N rows. */
  mine(features: ResnetFeatures, text: TextFeatures): FrameStep {
    return tf.tidy(() => {
      const { y, weightLogits } = this.mining.forward(features, text);
      if (!this.transfer) return { y, weightLogits };
      const x = this.transfer.input.forward(features.res3);
      return { y, weightLogits, patches: im2col(x, this.refer.transferKernel) };
    });
  }

  /**
   * The meta-transfer for one frame of the memory's B problems: the frame joins the memory, θ is
   * refitted (from zero on the first frame, `solverInitSteps` steps; else warm-started from
   * `theta`, `solverSteps` steps) and applied. Returns θ and θ ∗ X(t) [B, h, w, D].
   */
  transferFrame(
    memory: TransferMemory,
    step: FrameStep,
    theta: tf.Tensor3D | undefined,
  ): { theta: tf.Tensor3D; transferred: tf.Tensor4D } {
    if (!this.transfer || !step.patches) throw new VidsegError("this model has no meta-transfer");
    const [b, h, w, d] = step.y.shape;
    const sample: MemorySample = tf.tidy(() =>
      memorySample(
        step.patches!,
        step.y.reshape([b, h * w, d]),
        tf.sigmoid(step.weightLogits).reshape([b, h * w, 1]),
      ),
    );
    return tf.tidy(() => {
      const next = refitTheta(memory, sample, theta, this.transfer!.lambda(), solverSteps(this.refer));
      const transferred = tf.matMul(step.patches!, next).reshape([b, h, w, d]) as tf.Tensor4D;
      return { theta: next, transferred };
    });
  }

  /**
   * Mask logits at 1/4 from Y(t) (and θ ∗ X(t) with meta-transfer), the res2 skip and the text of the
   * same rows (its sentence makes the text kernel).
   */
  decode(
    y: tf.Tensor4D,
    transferred: tf.Tensor4D | undefined,
    res2: tf.Tensor4D,
    text: TextFeatures,
  ): tf.Tensor4D {
    return tf.tidy(() =>
      this.decoder.forward(
        transferred ? (tf.concat([y, transferred], 3) as tf.Tensor4D) : y,
        res2,
        text.sentence,
      ),
    );
  }

  /** A fresh memory for a batch of targets or clips, with the config's slots and weights. */
  newMemory(ownsTensors: boolean): TransferMemory {
    return new TransferMemory(memoryOptions(this.refer), ownsTensors);
  }

  /**
   * C clips of T frames (row c·T + t of `images`), each segmented for E = tokens.length / C expressions
   * (`tokens` clip-major: row c·E + e): the frames are encoded once, then every (clip, expression) runs
   * the meta-transfer frame by frame as in streaming. Output rows are (c·E + e)·T + t.
   */
  forwardClips(images: tf.Tensor4D, tokens: readonly number[][], clipLength: number): ReferOutput {
    const clips = images.shape[0] / clipLength;
    const perClip = tokens.length / clips;
    if (!Number.isInteger(clips) || !Number.isInteger(perClip) || perClip < 1) {
      throw new VidsegError(
        `forwardClips: ${images.shape[0]} frames in clips of ${clipLength} for ${tokens.length} expressions`,
      );
    }
    const sequences = tokens.length;
    return tf.tidy(() => {
      const text = this.encodeText(tokens);
      const perFrame = (t: tf.Tensor) => {
        const shape = t.shape;
        return tf
          .tile(t.expandDims(1), [1, clipLength, ...shape.slice(1).map(() => 1)])
          .reshape([sequences * clipLength, ...shape.slice(1)]);
      };
      const frameText: TextFeatures = {
        words: perFrame(text.words) as tf.Tensor3D,
        padding: perFrame(text.padding) as tf.Tensor2D,
        sentence: perFrame(text.sentence) as tf.Tensor2D,
      };
      const encoded = this.encodeFrames(images);
      // Each clip's frames repeated for its E expressions: [C, T·…] → [C, E, T·…] → rows (c·E + e)·T + t.
      const repeat = <T extends tf.Tensor>(x: T): T => {
        if (perClip === 1) return x;
        const rest = x.shape.slice(1);
        return tf
          .tile(x.reshape([clips, 1, -1]), [1, perClip, 1])
          .reshape([sequences * clipLength, ...rest]) as T;
      };
      const features: ResnetFeatures = {
        res2: repeat(encoded.res2),
        res3: repeat(encoded.res3),
        res4: repeat(encoded.res4),
        res5: repeat(encoded.res5),
      };
      const step = this.mine(features, frameText);
      let decoderInput: tf.Tensor4D | undefined;
      if (this.transfer) {
        const memory = this.newMemory(false);
        const [, h, w, d] = step.y.shape;
        const frame = (x: tf.Tensor, t: number) => {
          const rest = x.shape.slice(1);
          return x
            .reshape([sequences, clipLength, ...rest])
            .slice([0, t, ...rest.map(() => 0)], [sequences, 1, ...rest])
            .reshape([sequences, ...rest]);
        };
        let theta: tf.Tensor3D | undefined;
        const transferred: tf.Tensor4D[] = [];
        for (let t = 0; t < clipLength; t++) {
          const result = this.transferFrame(
            memory,
            {
              y: frame(step.y, t) as tf.Tensor4D,
              weightLogits: frame(step.weightLogits, t) as tf.Tensor4D,
              patches: frame(step.patches!, t) as tf.Tensor3D,
            },
            theta,
          );
          theta = result.theta;
          transferred.push(result.transferred);
        }
        // [T][S, h, w, D] → rows s·T + t.
        decoderInput = tf.stack(transferred, 1).reshape([sequences * clipLength, h, w, d]) as tf.Tensor4D;
      }
      return {
        maskLogits: this.decode(step.y, decoderInput, features.res2, frameText),
        weightLogits: step.weightLogits,
      };
    });
  }
}
