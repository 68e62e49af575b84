/**
 * FPN-style multi-scale pixel decoder (MaskFormer's BasePixelDecoder, as used by Mask2Former's
 * simpler configurations): lateral 1×1 convs on res2–res4 and a 3×3 conv on res5, top-down nearest
 * upsampling and addition, a 3×3 output conv per level (GroupNorm + ReLU), and a 3×3 conv producing the
 * mask features at 1/4 scale. Parameter names follow MaskFormer: adapter_{1..3}, layer_{1..4},
 * mask_features.
 */
import * as tf from "@tensorflow/tfjs";
import { Conv2d, type NormKind } from "./layers.js";
import { Module } from "./module.js";
import { resizeBilinear, resizeNearest } from "./sampling.js";

export interface PixelDecoderOptions {
  /** Channels of res2..res5 (e.g. ResNet.outChannels). */
  inChannels: [number, number, number, number];
  /** Width of the FPN (MaskFormer: 256). */
  convDim: number;
  /** Channels of the mask features (MaskFormer: 256). */
  maskDim: number;
  /** Norm of the lateral and output convs (default GN with 32 groups). */
  norm?: NormKind;
  normGroups?: number;
  /** Top-down upsampling (MaskFormer: nearest). */
  upsample?: "nearest" | "bilinear";
}

export interface PixelDecoderOutput {
  /** [N, H/4, W/4, maskDim]. */
  maskFeatures: tf.Tensor4D;
  /** FPN outputs at 1/32, 1/16, 1/8 (the decoder's memory levels, coarse to fine), [N, h, w, convDim]. */
  multiScaleFeatures: [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
}

export class FpnPixelDecoder extends Module {
  /** Lateral convs for res2..res4 (adapter_1..adapter_3). */
  readonly lateralConvs: Conv2d[] = [];
  /** Output convs for res2..res5 (layer_1..layer_4). */
  readonly outputConvs: Conv2d[] = [];
  readonly maskFeatures: Conv2d;

  constructor(readonly options: PixelDecoderOptions) {
    super();
    const norm = options.norm ?? "GN";
    const groups = options.normGroups ?? 32;
    const { convDim } = options;
    options.inChannels.forEach((channels, idx) => {
      if (idx < 3) {
        this.lateralConvs.push(
          this.addModule(
            `adapter_${idx + 1}`,
            new Conv2d(channels, convDim, 1, { norm, normGroups: groups }),
          ),
        );
      }
      const inCh = idx === 3 ? channels : convDim;
      this.outputConvs.push(
        this.addModule(
          `layer_${idx + 1}`,
          new Conv2d(inCh, convDim, 3, { padding: 1, norm, normGroups: groups, activation: "relu" }),
        ),
      );
    });
    this.maskFeatures = this.addModule(
      "mask_features",
      new Conv2d(convDim, options.maskDim, 3, { padding: 1 }),
    );
  }

  /** features: res2..res5 (strides 4, 8, 16, 32). */
  forward(features: {
    res2: tf.Tensor4D;
    res3: tf.Tensor4D;
    res4: tf.Tensor4D;
    res5: tf.Tensor4D;
  }): PixelDecoderOutput {
    return tf.tidy(() => {
      const levels = [features.res2, features.res3, features.res4, features.res5];
      let y = this.outputConvs[3].forward(levels[3]);
      const multiScale: tf.Tensor4D[] = [y];
      for (let idx = 2; idx >= 0; idx--) {
        const lateral = this.lateralConvs[idx].forward(levels[idx]);
        const [, h, w] = lateral.shape;
        const up = this.options.upsample === "bilinear" ? resizeBilinear(y, h, w) : resizeNearest(y, h, w);
        y = this.outputConvs[idx].forward(tf.add(lateral, up) as tf.Tensor4D);
        if (multiScale.length < 3) multiScale.push(y);
      }
      return {
        maskFeatures: this.maskFeatures.forward(y),
        multiScaleFeatures: multiScale as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D],
      };
    });
  }
}
