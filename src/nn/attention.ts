/**
 * Multi-head attention with torch.nn.MultiheadAttention's parameters (in_proj_weight [3E, E],
 * in_proj_bias [3E], out_proj.weight [E, E], out_proj.bias [E]) and batch-first tensors [B, L, E].
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { xavierUniform } from "./init.js";
import { Dropout, Linear } from "./layers.js";
import { Module } from "./module.js";

/** Added to the scores of masked positions; finite so that a fully masked row stays finite. */
const MASKED_SCORE = -1e9;

export interface AttentionMasks {
  /**
   * [Lq, Lk], [B, Lq, Lk] or [B·heads, Lq, Lk]. A bool mask marks positions that may NOT be attended
   * (true = masked, as in PyTorch); a float mask is added to the scores.
   */
  attnMask?: tf.Tensor;
  /** [B, Lk] bool, true marks padding keys that are ignored. */
  keyPaddingMask?: tf.Tensor;
  /** Seed for attention dropout (training only). */
  dropoutSeed?: number;
}

export class MultiheadAttention extends Module {
  readonly inProjWeight: tf.Variable;
  readonly inProjBias: tf.Variable;
  readonly outProj: Linear;
  readonly dropout: Dropout;
  readonly headDim: number;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    options: { dropout?: number } = {},
  ) {
    super();
    if (embedDim % numHeads !== 0) {
      throw new VidsegError(`attention: embedding size ${embedDim} is not divisible by ${numHeads} heads`);
    }
    this.headDim = embedDim / numHeads;
    // PyTorch: xavier_uniform on the packed [3E, E] matrix, zero biases.
    this.inProjWeight = this.addParameter(
      "in_proj_weight",
      xavierUniform([3 * embedDim, embedDim], embedDim, 3 * embedDim),
    );
    this.inProjBias = this.addParameter("in_proj_bias", tf.zeros([3 * embedDim]));
    this.outProj = this.addModule("out_proj", new Linear(embedDim, embedDim));
    tf.tidy(() => this.outProj.bias!.assign(tf.zeros([embedDim])));
    this.dropout = this.addModule("dropout", new Dropout(options.dropout ?? 0));
  }

  /**
   * query [B, Lq, E], key and value [B, Lk, E] → [B, Lq, E]. With `needWeights`, also the attention
   * weights averaged over heads [B, Lq, Lk].
   */
  forward(query: tf.Tensor3D, key: tf.Tensor3D, value: tf.Tensor3D, masks: AttentionMasks = {}): tf.Tensor3D {
    return this.forwardWithWeights(query, key, value, masks).output;
  }

  forwardWithWeights(
    query: tf.Tensor3D,
    key: tf.Tensor3D,
    value: tf.Tensor3D,
    masks: AttentionMasks = {},
  ): { output: tf.Tensor3D; weights: tf.Tensor3D } {
    return tf.tidy(() => {
      const [b, lq, e] = query.shape;
      const lk = key.shape[1];
      const h = this.numHeads;
      const d = this.headDim;
      const [wq, wk, wv] = tf.split(this.inProjWeight, 3, 0);
      const [bq, bk, bv] = tf.split(this.inProjBias, 3, 0);
      const project = (x: tf.Tensor3D, w: tf.Tensor, bias: tf.Tensor, length: number): tf.Tensor3D =>
        // [B, L, E] → [B, L, H, D] → [B, H, L, D] → [B·H, L, D]
        tf
          .add(tf.matMul(x.reshape([-1, e]), w, false, true), bias)
          .reshape([b, length, h, d])
          .transpose([0, 2, 1, 3])
          .reshape([b * h, length, d]);
      const q = tf.mul(project(query, wq, bq, lq), 1 / Math.sqrt(d));
      const k = project(key, wk, bk, lk);
      const v = project(value, wv, bv, lk);
      let scores: tf.Tensor = tf.matMul(q, k, false, true); // [B·H, Lq, Lk]
      if (masks.attnMask) scores = tf.add(scores, this.additiveAttnMask(masks.attnMask, b, lq, lk));
      if (masks.keyPaddingMask) {
        check2d(masks.keyPaddingMask, [b, lk], "keyPaddingMask");
        const padding = tf.where(
          masks.keyPaddingMask.cast("bool"),
          tf.fill([b, lk], MASKED_SCORE),
          tf.zeros([b, lk]),
        );
        scores = tf
          .add(scores.reshape([b, h, lq, lk]), padding.reshape([b, 1, 1, lk]))
          .reshape([b * h, lq, lk]);
      }
      let attention = tf.softmax(scores, -1);
      const weights = attention.reshape([b, h, lq, lk]).mean(1) as tf.Tensor3D;
      attention = this.dropout.forward(attention, masks.dropoutSeed);
      const context = tf
        .matMul(attention as tf.Tensor3D, v)
        .reshape([b, h, lq, d])
        .transpose([0, 2, 1, 3])
        .reshape([b, lq, e]);
      return { output: this.outProj.forward(context) as tf.Tensor3D, weights };
    });
  }

  /** Turns any supported attention mask into an additive float tensor broadcastable to [B·H, Lq, Lk]. */
  private additiveAttnMask(mask: tf.Tensor, b: number, lq: number, lk: number): tf.Tensor {
    const h = this.numHeads;
    const additive =
      mask.dtype === "bool"
        ? tf.where(mask, tf.fill(mask.shape, MASKED_SCORE), tf.zeros(mask.shape))
        : mask.cast("float32");
    const tail = additive.shape.slice(-2);
    if (tail[0] !== lq || tail[1] !== lk) {
      throw new VidsegError(`attnMask must end in [${lq}, ${lk}], got [${additive.shape}]`);
    }
    if (additive.rank === 2) return additive;
    if (additive.rank === 3 && additive.shape[0] === b * h) return additive;
    if (additive.rank === 3 && additive.shape[0] === b) {
      return tf.tile(additive.reshape([b, 1, lq, lk]), [1, h, 1, 1]).reshape([b * h, lq, lk]);
    }
    throw new VidsegError(
      `attnMask must be [Lq, Lk], [B, Lq, Lk] or [B·heads, Lq, Lk]; got [${additive.shape}]`,
    );
  }
}

function check2d(mask: tf.Tensor, shape: number[], name: string): void {
  if (!tf.util.arraysEqual(mask.shape, shape)) {
    throw new VidsegError(`${name} must be [${shape}], got [${mask.shape}]`);
  }
}
