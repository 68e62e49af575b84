/**
 * The referring model's language encoder: word embeddings plus learned positions through a small
 * transformer encoder (post-norm self-attention + FFN layers), trained with the model. It returns the
 * word features (for cross-attention) and the sentence feature (their mean over the words).
 *
 * The seam for a pretrained encoder is {@link ReferTextEncoder}: any module that maps token ids to
 * word features of the model's width can replace this one (with its own tokenizer, see tokenizer.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { FfnLayer, SelfAttentionLayer } from "../../nn/decoder.js";
import { Embedding } from "../../nn/layers.js";
import { Module, ModuleList } from "../../nn/module.js";

export type TextFeatures = {
  /** [B, L, D] one feature per token. */
  words: tf.Tensor3D;
  /** [B, L] 1 where the token is padding. */
  padding: tf.Tensor2D;
  /** [B, D] the mean of the word features over the real tokens. */
  sentence: tf.Tensor2D;
};

/** What the referring model needs from a text encoder. */
export interface ReferTextEncoder extends Module {
  /** ids [B, L] int32, padding [B, L] (1 = pad) → features of width D. */
  forward(ids: tf.Tensor2D, padding: tf.Tensor2D): TextFeatures;
}

/** One encoder layer: self-attention over the words, then an FFN (Mask2Former's layer modules). */
class TextLayer extends Module {
  readonly selfAttn: SelfAttentionLayer;
  readonly ffn: FfnLayer;
  constructor(dim: number, heads: number, feedforward: number) {
    super();
    this.selfAttn = this.addModule("self_attn", new SelfAttentionLayer(dim, heads));
    this.ffn = this.addModule("ffn", new FfnLayer(dim, feedforward));
  }
}

export interface TransformerTextEncoderOptions {
  /** Size of the embedding table (the tokenizer's ids, PAD and UNK included). */
  vocabularySize: number;
  /** Longest token sequence. */
  maxWords: number;
  dim: number;
  heads: number;
  layers: number;
  feedforward: number;
}

/** Embeddings (`embed`), positions (`pos`) and `layers.<i>.{self_attn, ffn}`. */
export class TransformerTextEncoder extends Module implements ReferTextEncoder {
  readonly embed: Embedding;
  readonly pos: Embedding;
  readonly layers: ModuleList<TextLayer>;

  constructor(readonly options: TransformerTextEncoderOptions) {
    super();
    const { dim } = options;
    this.embed = this.addModule("embed", new Embedding(options.vocabularySize, dim));
    this.pos = this.addModule("pos", new Embedding(options.maxWords, dim));
    // N(0, 1) embeddings would dwarf the positions and the layers' residuals: start them small.
    tf.tidy(() => {
      this.embed.weight.assign(tf.mul(this.embed.weight, 0.1));
      this.pos.weight.assign(tf.mul(this.pos.weight, 0.1));
    });
    this.layers = this.addModule("layers", new ModuleList<TextLayer>());
    for (let i = 0; i < options.layers; i++)
      this.layers.push(new TextLayer(dim, options.heads, options.feedforward));
  }

  forward(ids: tf.Tensor2D, padding: tf.Tensor2D): TextFeatures {
    return tf.tidy(() => {
      const [b, length] = ids.shape;
      const positions = this.pos.forward(tf.range(0, length, 1, "int32")); // [L, D]
      let words = tf.add(this.embed.forward(ids), positions) as tf.Tensor3D; // [B, L, D]
      for (const layer of this.layers.items) {
        words = layer.selfAttn.forward(words, { tgtKeyPaddingMask: padding });
        words = layer.ffn.forward(words);
      }
      const keep = tf.sub(1, padding.cast("float32")).reshape([b, length, 1]);
      const count = tf.maximum(tf.sum(keep, 1), 1);
      const sentence = tf.div(tf.sum(tf.mul(words, keep), 1), count) as tf.Tensor2D;
      return { words, padding: padding.cast("float32") as tf.Tensor2D, sentence };
    });
  }
}
