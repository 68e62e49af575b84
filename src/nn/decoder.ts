/**
 * Mask2Former's masked-attention transformer decoder layer: masked cross-attention to the pixel
 * features → self-attention among the queries → FFN, each followed by residual + LayerNorm (post-norm,
 * Mask2Former's default). Parameter names match Mask2Former's CrossAttentionLayer, SelfAttentionLayer
 * and FFNLayer.
 */
import * as tf from "@tensorflow/tfjs";
import { MultiheadAttention } from "./attention.js";
import { Dropout, LayerNorm, Linear } from "./layers.js";
import { Module } from "./module.js";
import { resizeBilinear } from "./sampling.js";

function withPosition(x: tf.Tensor3D, pos?: tf.Tensor): tf.Tensor3D {
  return pos ? (tf.add(x, pos) as tf.Tensor3D) : x;
}

/** multihead_attn, norm: tgt = norm(tgt + attn(tgt + queryPos, memory + pos, memory, mask)). */
export class CrossAttentionLayer extends Module {
  readonly multiheadAttn: MultiheadAttention;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;

  constructor(dModel: number, numHeads: number, dropout = 0) {
    super();
    this.multiheadAttn = this.addModule(
      "multihead_attn",
      new MultiheadAttention(dModel, numHeads, { dropout }),
    );
    this.norm = this.addModule("norm", new LayerNorm(dModel));
    this.dropout = this.addModule("dropout", new Dropout(dropout));
  }

  /** tgt [B, Q, E], memory [B, HW, E], memoryMask bool [B, Q, HW] or [B·heads, Q, HW] (true = masked). */
  forward(
    tgt: tf.Tensor3D,
    memory: tf.Tensor3D,
    options: {
      memoryMask?: tf.Tensor;
      memoryKeyPaddingMask?: tf.Tensor;
      pos?: tf.Tensor;
      queryPos?: tf.Tensor;
    } = {},
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const attended = this.multiheadAttn.forward(
        withPosition(tgt, options.queryPos),
        withPosition(memory, options.pos),
        memory,
        {
          attnMask: options.memoryMask,
          keyPaddingMask: options.memoryKeyPaddingMask,
        },
      );
      return this.norm.forward(tf.add(tgt, this.dropout.forward(attended))) as tf.Tensor3D;
    });
  }
}

/** self_attn, norm: tgt = norm(tgt + attn(q = k = tgt + queryPos, v = tgt)). */
export class SelfAttentionLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;

  constructor(dModel: number, numHeads: number, dropout = 0) {
    super();
    this.selfAttn = this.addModule("self_attn", new MultiheadAttention(dModel, numHeads, { dropout }));
    this.norm = this.addModule("norm", new LayerNorm(dModel));
    this.dropout = this.addModule("dropout", new Dropout(dropout));
  }

  forward(
    tgt: tf.Tensor3D,
    options: { tgtMask?: tf.Tensor; tgtKeyPaddingMask?: tf.Tensor; queryPos?: tf.Tensor } = {},
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const q = withPosition(tgt, options.queryPos);
      const attended = this.selfAttn.forward(q, q, tgt, {
        attnMask: options.tgtMask,
        keyPaddingMask: options.tgtKeyPaddingMask,
      });
      return this.norm.forward(tf.add(tgt, this.dropout.forward(attended))) as tf.Tensor3D;
    });
  }
}

/** linear1, linear2, norm: tgt = norm(tgt + linear2(relu(linear1(tgt)))). */
export class FfnLayer extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;

  constructor(dModel: number, dimFeedforward: number, dropout = 0) {
    super();
    this.linear1 = this.addModule("linear1", new Linear(dModel, dimFeedforward, { init: "xavier" }));
    this.linear2 = this.addModule("linear2", new Linear(dimFeedforward, dModel, { init: "xavier" }));
    this.norm = this.addModule("norm", new LayerNorm(dModel));
    this.dropout = this.addModule("dropout", new Dropout(dropout));
  }

  forward(tgt: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const hidden = this.dropout.forward(tf.relu(this.linear1.forward(tgt)));
      const out = this.linear2.forward(hidden);
      return this.norm.forward(tf.add(tgt, this.dropout.forward(out))) as tf.Tensor3D;
    });
  }
}

export interface DecoderLayerOptions {
  dModel: number;
  numHeads: number;
  dimFeedforward: number;
  dropout?: number;
}

/** One Mask2Former decoder layer: children cross_attn, self_attn, ffn. */
export class MaskedAttentionDecoderLayer extends Module {
  readonly crossAttn: CrossAttentionLayer;
  readonly selfAttn: SelfAttentionLayer;
  readonly ffn: FfnLayer;

  constructor(readonly options: DecoderLayerOptions) {
    super();
    const dropout = options.dropout ?? 0;
    this.crossAttn = this.addModule(
      "cross_attn",
      new CrossAttentionLayer(options.dModel, options.numHeads, dropout),
    );
    this.selfAttn = this.addModule(
      "self_attn",
      new SelfAttentionLayer(options.dModel, options.numHeads, dropout),
    );
    this.ffn = this.addModule("ffn", new FfnLayer(options.dModel, options.dimFeedforward, dropout));
  }

  /**
   * queries [B, Q, E]; memory [B, HW, E] (one feature level, flattened); attnMask bool [B, Q, HW]
   * (true = masked; see maskedAttentionMask); memoryPos [B, HW, E]; queryPos [B or 1, Q, E].
   */
  forward(
    queries: tf.Tensor3D,
    memory: tf.Tensor3D,
    options: { attnMask?: tf.Tensor; memoryPos?: tf.Tensor; queryPos?: tf.Tensor } = {},
  ): tf.Tensor3D {
    return tf.tidy(() => {
      let out = this.crossAttn.forward(queries, memory, {
        memoryMask: options.attnMask,
        pos: options.memoryPos,
        queryPos: options.queryPos,
      });
      out = this.selfAttn.forward(out, { queryPos: options.queryPos });
      return this.ffn.forward(out);
    });
  }
}

/**
 * Mask2Former's attention mask from the previous layer's mask logits [B, Q, h, w]: resized
 * (bilinear, align_corners=False) to the attended level's size, masked where sigmoid < 0.5, i.e.
 * logit < 0; a query whose row would be entirely masked attends everywhere instead. Returns bool
 * [B, Q, H·W] (true = masked), with no gradient (the mask is detached in Mask2Former too).
 */
export function maskedAttentionMask(maskLogits: tf.Tensor4D, height: number, width: number): tf.Tensor3D {
  // One custom-gradient node with a zero gradient: the comparison ops inside have no gradients, and
  // tfjs would otherwise try to differentiate through them when the logits depend on parameters.
  const detached = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const logits = inputs[0] as tf.Tensor;
    return {
      value: tf.tidy(() => {
        const [b, q] = logits.shape;
        // [B, Q, h, w] → [B, h, w, Q] to resize as NHWC.
        const resized = resizeBilinear(tf.transpose(logits, [0, 2, 3, 1]) as tf.Tensor4D, height, width);
        const flat = tf.transpose(resized, [0, 3, 1, 2]).reshape([b, q, height * width]);
        const masked = tf.less(tf.sigmoid(flat), 0.5);
        const allMasked = tf.all(masked, -1, true);
        return tf.logicalAnd(masked, tf.logicalNot(allMasked));
      }),
      gradFunc: () => tf.zerosLike(logits),
    };
  });
  return detached(maskLogits) as tf.Tensor3D;
}
