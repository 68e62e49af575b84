/**
 * YOFO's multi-scale cross-modal feature mining (FM). The image features res5, res4, res3 (1/32, 1/16,
 * 1/8) are projected to the model's width and merged top-down as in an FPN; at each scale the text is
 * fused into the merged feature — the scale's own image feature plus the previous scale's *fused*
 * result — so the language signal is carried from coarse to fine instead of being diluted by the
 * image-only levels. The output is the bi-modal feature Y(t) at 1/8 and the logits of the soft
 * per-position weight map W(t) (W = sigmoid).
 *
 * With `multiScale` false (the ablation's "base") the coarse levels are merged without text and the
 * text is fused at 1/8 only.
 *
 * One fusion: the pixels attend to the words (cross-attention with sine positions on the pixels), the
 * pixel feature is gated channel-wise by the sentence, and a 3×3 conv mixes both with the normalised
 * (x, y) coordinates (for "on the left"-type expressions).
 *
 * With `globalContext` the fused 1/16 map also passes through self-attention among all its positions
 * (GlobalContext): "the leftmost", "the bigger one" compare an object with the others in the frame,
 * which 3×3 convs at 1/16 and 1/8 cannot see at once. Its output enters through a zero-initialised
 * projection, so a trained model given the branch starts out computing exactly what it did.
 */
import * as tf from "@tensorflow/tfjs";
import { CrossAttentionLayer, SelfAttentionLayer } from "../../nn/decoder.js";
import { Conv2d, Linear } from "../../nn/layers.js";
import { Module } from "../../nn/module.js";
import { sinePositionEncoding } from "../../nn/position.js";
import { resizeBilinear } from "../../nn/sampling.js";
import type { TextFeatures } from "./text-encoder.js";

/** [1, h, w, 2] coordinates in −1..1 (x first), pixel centres. */
export function coordinateMap(h: number, w: number): tf.Tensor4D {
  const data = new Float32Array(h * w * 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      data[(y * w + x) * 2] = ((x + 0.5) / w) * 2 - 1;
      data[(y * w + x) * 2 + 1] = ((y + 0.5) / h) * 2 - 1;
    }
  }
  return tf.tensor4d(data, [1, h, w, 2]);
}

/** [1, h·w, d] sine positions of an h×w map's pixels, as the attention layers here take them. */
export function pixelPositions(h: number, w: number, d: number): tf.Tensor3D {
  return tf.tidy(() => sinePositionEncoding(1, h, w, { numPosFeats: d / 2 }).reshape([1, h * w, d]));
}

/** Text fused into one scale's feature map; see the module comment. */
export class TextFusion extends Module {
  readonly crossAttn: CrossAttentionLayer;
  readonly gate: Linear;
  readonly mix: Conv2d;

  constructor(
    readonly dim: number,
    heads: number,
    normGroups: number,
  ) {
    super();
    this.crossAttn = this.addModule("cross_attn", new CrossAttentionLayer(dim, heads));
    this.gate = this.addModule("gate", new Linear(dim, dim));
    this.mix = this.addModule(
      "mix",
      new Conv2d(2 * dim + 2, dim, 3, { padding: 1, norm: "GN", normGroups, activation: "relu" }),
    );
  }

  /** feature [N, h, w, D], text of the same N → [N, h, w, D]. */
  forward(feature: tf.Tensor4D, text: TextFeatures): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, d] = feature.shape;
      const pixels = feature.reshape([n, h * w, d]) as tf.Tensor3D;
      const pos = pixelPositions(h, w, d);
      const attended = this.crossAttn
        .forward(pixels, text.words, { memoryKeyPaddingMask: text.padding, queryPos: pos })
        .reshape([n, h, w, d]);
      const gate = tf.tanh(this.gate.forward(text.sentence)).reshape([n, 1, 1, d]);
      const gated = tf.mul(feature, tf.add(1, gate));
      const coords = tf.tile(coordinateMap(h, w), [n, 1, 1, 1]);
      return this.mix.forward(tf.concat([attended, gated, coords], 3) as tf.Tensor4D);
    });
  }
}

/** Self-attention among the positions of a map, added back through a zero-initialised projection. */
export class GlobalContext extends Module {
  readonly attention: SelfAttentionLayer;
  readonly project: Linear;

  constructor(dim: number, heads: number) {
    super();
    this.attention = this.addModule("attention", new SelfAttentionLayer(dim, heads));
    this.project = this.addModule("project", new Linear(dim, dim, { init: "zeros" }));
  }

  /** feature [N, h, w, D] → feature + project(self-attention over the h·w positions, sine positions). */
  forward(feature: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, d] = feature.shape;
      const pos = pixelPositions(h, w, d);
      const attended = this.attention.forward(feature.reshape([n, h * w, d]) as tf.Tensor3D, {
        queryPos: pos,
      });
      return tf.add(feature, this.project.forward(attended).reshape([n, h, w, d])) as tf.Tensor4D;
    });
  }
}

export interface FeatureMiningOptions {
  /** Channels of res3, res4, res5. */
  inChannels: [number, number, number];
  dim: number;
  heads: number;
  normGroups: number;
  multiScale: boolean;
  /** Self-attention among the positions of the fused 1/16 map (GlobalContext). */
  globalContext: boolean;
}

export type MinedFeatures = {
  /** [N, h, w, D] the bi-modal feature Y(t) at 1/8. */
  y: tf.Tensor4D;
  /** [N, h, w, 1] logits of the weight map W(t). */
  weightLogits: tf.Tensor4D;
};

/** The index (in the order 1/32, 1/16, 1/8) of the level whose output gets the global context. */
export const CONTEXT_LEVEL = 1;

/**
 * lateral_{3,4,5} (1×1 conv + GN), fuse_{3,4,5} (text fusion; only fuse_3 without multi-scale, then
 * smooth_{4,5}, FPN output convs), weight (1×1 conv → W logits).
 */
export class FeatureMining extends Module {
  /** lateral_5, lateral_4, lateral_3. */
  readonly laterals: Conv2d[] = [];
  /** Per level 5, 4, 3: a text fusion, or an image-only conv. */
  readonly levels: (TextFusion | Conv2d)[] = [];
  readonly weight: Conv2d;
  /** After the 1/16 level, with `globalContext`. */
  readonly context?: GlobalContext;

  constructor(readonly options: FeatureMiningOptions) {
    super();
    const { dim, heads, normGroups, multiScale } = options;
    const conv = { norm: "GN" as const, normGroups };
    for (const [k, level] of [5, 4, 3].entries()) {
      const channels = options.inChannels[2 - k];
      this.laterals.push(this.addModule(`lateral_${level}`, new Conv2d(channels, dim, 1, conv)));
      this.levels.push(
        multiScale || level === 3
          ? this.addModule(`fuse_${level}`, new TextFusion(dim, heads, normGroups))
          : this.addModule(
              `smooth_${level}`,
              new Conv2d(dim, dim, 3, { ...conv, padding: 1, activation: "relu" }),
            ),
      );
    }
    this.weight = this.addModule("weight", new Conv2d(dim, 1, 1));
    if (options.globalContext) this.context = this.addModule("context", new GlobalContext(dim, heads));
  }

  /** res3..res5 of N frames, the text repeated per frame (N rows) → Y(t) and W(t)'s logits. */
  forward(
    features: { res3: tf.Tensor4D; res4: tf.Tensor4D; res5: tf.Tensor4D },
    text: TextFeatures,
  ): MinedFeatures {
    return tf.tidy(() => {
      const inputs = [features.res5, features.res4, features.res3];
      let previous: tf.Tensor4D | undefined;
      for (let k = 0; k < 3; k++) {
        let merged = this.laterals[k].forward(inputs[k]);
        if (previous) {
          const [, h, w] = merged.shape;
          merged = tf.add(merged, resizeBilinear(previous, h, w)) as tf.Tensor4D;
        }
        const level = this.levels[k];
        previous = level instanceof TextFusion ? level.forward(merged, text) : level.forward(merged);
        if (k === CONTEXT_LEVEL && this.context) previous = this.context.forward(previous);
      }
      const y = previous!;
      return { y, weightLogits: this.weight.forward(y) };
    });
  }
}
