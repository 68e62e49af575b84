/**
 * The per-frame segmenter shared by the online and offline VIS models: a Mask2Former-style network.
 *
 *   image → backbone (res2..res5: a ResNet, or the frozen pretrained CenterNet MobileNetV3; see
 *           src/nn/backbone.ts) → FPN pixel decoder (mask features at 1/4, memory at 1/32, 1/16, 1/8)
 *         → masked-attention transformer decoder with N learned queries
 *         → per query: class logits (K + 1, last = no object), mask embedding (mask logits = its dot
 *           product with the mask features), and an L2-normalised embedding for association.
 *
 * As in Mask2Former's MultiScaleMaskedTransformerDecoder: query features and learned query positions,
 * sine positions plus a learned level embedding on the memory, layer i attends to level i mod 3
 * (coarse to fine) under the mask predicted by the previous layer (first from the queries themselves),
 * and the heads run on the LayerNorm-ed decoder output before the first layer and after every layer;
 * all but the last prediction are the auxiliary outputs for deep supervision.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { MaskedAttentionDecoderLayer, maskedAttentionMask } from "../nn/decoder.js";
import { createBackbone, type Backbone } from "../nn/backbone.js";
import { Embedding, LayerNorm, Linear, Mlp } from "../nn/layers.js";
import { Module, ModuleList } from "../nn/module.js";
import { FpnPixelDecoder } from "../nn/pixel-decoder.js";
import { sinePositionEncoding } from "../nn/position.js";
import type { SegmenterConfig } from "./config.js";
import { CropClassifier } from "./crop-classifier.js";

export type { SegmenterConfig } from "./config.js";

/** One decoder layer's predictions (deep supervision). */
export interface LayerPrediction {
  /** [B, N, K+1] class logits, last index = no object. */
  predLogits: tf.Tensor3D;
  /** [B, N, h, w] mask logits at 1/4 of the input resolution. */
  predMasks: tf.Tensor4D;
}

/** An earlier layer's predictions and its queries (the distillation of every decoder layer reads them). */
export interface AuxPrediction extends LayerPrediction {
  /** [B, N, D] that layer's output after the final LayerNorm. */
  queryFeatures: tf.Tensor3D;
}

export interface SegmenterOutput extends LayerPrediction {
  /** [B, N, D] the last decoder layer's output after the final LayerNorm: the frame queries. */
  queryFeatures: tf.Tensor3D;
  /** [B, N, E] L2-normalised association embedding (see SegmenterConfig.trackEmbedding). */
  queryEmbed: tf.Tensor3D;
  /** [B, h, w, maskDim] the pixel decoder's mask features (1/4 resolution). */
  maskFeatures: tf.Tensor4D;
  /**
   * Predictions before the last: from the learned queries alone, then after decoder layers
   * 1..L−1 (L entries, Mask2Former's aux_outputs order).
   */
  aux: AuxPrediction[];
}

/** The Mask2Former-style per-frame segmenter; see the module comment. */
export class FrameSegmenter extends Module {
  readonly backbone: Backbone;
  readonly pixelDecoder: FpnPixelDecoder;
  readonly queryFeat: Embedding;
  readonly queryEmbedTable: Embedding;
  readonly levelEmbed: Embedding;
  readonly layers: ModuleList<MaskedAttentionDecoderLayer>;
  readonly decoderNorm: LayerNorm;
  readonly classEmbed: Linear;
  readonly maskEmbed: Mlp;
  readonly trackEmbed?: Mlp;
  /** The second-stage classifier on instance crops (config.cropSize > 0); not part of `forward`. */
  readonly cropClassifier?: CropClassifier;

  constructor(readonly config: SegmenterConfig) {
    super();
    const d = config.hiddenDim;
    this.backbone = this.addModule(
      "backbone",
      createBackbone(config.backbone, { norm: config.backboneNorm }),
    );
    this.pixelDecoder = this.addModule(
      "pixel_decoder",
      new FpnPixelDecoder({
        inChannels: [...this.backbone.outChannels],
        convDim: d,
        maskDim: config.maskDim,
        normGroups: config.normGroups,
      }),
    );
    this.queryFeat = this.addModule("query_feat", new Embedding(config.numQueries, d));
    this.queryEmbedTable = this.addModule("query_embed", new Embedding(config.numQueries, d));
    this.levelEmbed = this.addModule("level_embed", new Embedding(3, d));
    this.layers = this.addModule("layers", new ModuleList<MaskedAttentionDecoderLayer>());
    for (let i = 0; i < config.decoderLayers; i++) {
      this.layers.push(
        new MaskedAttentionDecoderLayer({
          dModel: d,
          numHeads: config.numHeads,
          dimFeedforward: config.dimFeedforward,
        }),
      );
    }
    this.decoderNorm = this.addModule("decoder_norm", new LayerNorm(d));
    this.classEmbed = this.addModule("class_embed", new Linear(d, config.numClasses + 1));
    this.maskEmbed = this.addModule("mask_embed", new Mlp(d, d, config.maskDim, 3));
    if (config.trackEmbedding === "head") {
      this.trackEmbed = this.addModule("track_embed", new Mlp(d, d, config.embedDim, 2));
    }
    if (config.cropSize > 0) {
      this.cropClassifier = this.addModule(
        "crop_classifier",
        new CropClassifier(config.numClasses, config.cropSize),
      );
    }
  }

  /** Dimension of `queryEmbed`. */
  get embeddingDim(): number {
    return this.config.trackEmbedding === "head" ? this.config.embedDim : this.config.hiddenDim;
  }

  /**
   * images: [B, H, W, 3] RGB in 0..1 (not normalised: the backbone applies its own input normalisation). H and W must be multiples of 32 (normally `config.inputSize`).
   */
  forward(images: tf.Tensor4D): SegmenterOutput {
    const [, height, width, channels] = images.shape;
    if (images.rank !== 4 || channels !== 3 || height % 32 !== 0 || width % 32 !== 0) {
      throw new VidsegError(
        `segmenter input must be [B, H, W, 3] with H, W multiples of 32, got [${images.shape}]`,
      );
    }
    // tidy keeps every tensor of the returned (nested) object and frees the intermediates.
    return tf.tidy(() => {
      const { maskFeatures, multiScaleFeatures } = this.pixelDecoder.forward(this.backbone.features(images));
      return this.decode(maskFeatures, multiScaleFeatures) as unknown as tf.TensorContainer;
    }) as unknown as SegmenterOutput;
  }

  /** The transformer decoder and heads on the pixel decoder's outputs. */
  private decode(maskFeatures: tf.Tensor4D, levels: tf.Tensor4D[]): SegmenterOutput {
    const batch = maskFeatures.shape[0];
    const d = this.config.hiddenDim;
    const levelEmbeds = tf.split(this.levelEmbed.weight, 3, 0);
    const memory = levels.map((level, i) => {
      const [, h, w] = level.shape;
      return {
        height: h,
        width: w,
        features: tf.add(level.reshape([batch, h * w, d]), levelEmbeds[i]) as tf.Tensor3D,
        pos: sinePositionEncoding(batch, h, w, { numPosFeats: d / 2 }).reshape([batch, h * w, d]),
      };
    });
    const queryPos = this.queryEmbedTable.weight.expandDims(0); // [1, N, D], broadcast over the batch
    let output = tf.tile(this.queryFeat.weight.expandDims(0), [batch, 1, 1]) as tf.Tensor3D;

    const predictions: AuxPrediction[] = [];
    let heads = this.heads(output, maskFeatures);
    predictions.push(heads);
    this.layers.items.forEach((layer, i) => {
      const level = memory[i % memory.length];
      const attnMask = maskedAttentionMask(heads.predMasks, level.height, level.width);
      output = layer.forward(output, level.features, { attnMask, memoryPos: level.pos, queryPos });
      heads = this.heads(output, maskFeatures);
      predictions.push(heads);
    });
    const { predLogits, predMasks } = predictions.pop()!;
    // Normalised again rather than reusing the last layer's: the same gradients, bit for bit, as before.
    const queryFeatures = this.decoderNorm.forward(output) as tf.Tensor3D;
    const embedding = this.trackEmbed ? this.trackEmbed.forward(queryFeatures) : queryFeatures;
    const queryEmbed = tf.div(
      embedding,
      tf.maximum(tf.norm(embedding, "euclidean", -1, true), 1e-12),
    ) as tf.Tensor3D;
    return { predLogits, predMasks, queryFeatures, queryEmbed, maskFeatures, aux: predictions };
  }

  /** Mask2Former's forward_prediction_heads: class logits and mask logits from the normed queries. */
  private heads(output: tf.Tensor3D, maskFeatures: tf.Tensor4D): AuxPrediction {
    const [batch, h, w, c] = maskFeatures.shape;
    const normed = this.decoderNorm.forward(output) as tf.Tensor3D;
    const predLogits = this.classEmbed.forward(normed) as tf.Tensor3D;
    const embeds = this.maskEmbed.forward(normed) as tf.Tensor3D; // [B, N, C]
    const predMasks = tf
      .matMul(embeds, maskFeatures.reshape([batch, h * w, c]), false, true)
      .reshape([batch, this.config.numQueries, h, w]) as tf.Tensor4D;
    return { predLogits, predMasks, queryFeatures: normed };
  }
}

/** Disposes every tensor of a segmenter output. */
export function disposeSegmenterOutput(output: SegmenterOutput): void {
  tf.dispose([
    output.predLogits,
    output.predMasks,
    output.queryFeatures,
    output.queryEmbed,
    output.maskFeatures,
    ...output.aux.flatMap((a) => [a.predLogits, a.predMasks, a.queryFeatures]),
  ]);
}
