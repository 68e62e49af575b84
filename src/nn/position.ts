/**
 * Positional encodings: Mask2Former's PositionEmbeddingSine (normalize=True) and learned tables.
 * Sine encodings depend only on the feature size (and an optional padding mask), so they are
 * computed once in JavaScript and returned as a constant tensor.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { Embedding } from "./layers.js";

export interface SinePositionOptions {
  /** Features per axis; the encoding has 2·numPosFeats channels (y first, then x). Default 64. */
  numPosFeats?: number;
  temperature?: number;
  normalize?: boolean;
  /** Scale of the normalised coordinates (default 2π). */
  scale?: number;
}

/**
 * Mask2Former's PositionEmbeddingSine as an NHWC tensor [B, H, W, 2·numPosFeats]. `mask` ([B, H, W],
 * 1 = padding) excludes padded pixels from the cumulative coordinates, as in DETR.
 */
export function sinePositionEncoding(
  batch: number,
  height: number,
  width: number,
  options: SinePositionOptions = {},
  mask?: Uint8Array,
): tf.Tensor4D {
  const numPosFeats = options.numPosFeats ?? 64;
  const temperature = options.temperature ?? 10000;
  const normalize = options.normalize ?? true;
  const scale = options.scale ?? 2 * Math.PI;
  if (mask && mask.length !== batch * height * width) {
    throw new VidsegError(`position mask must hold ${batch}×${height}×${width} values, got ${mask.length}`);
  }
  const channels = 2 * numPosFeats;
  const out = new Float32Array(batch * height * width * channels);
  const dimT = new Float64Array(numPosFeats);
  for (let i = 0; i < numPosFeats; i++) {
    dimT[i] = Math.pow(temperature, (2 * Math.floor(i / 2)) / numPosFeats);
  }
  const yEmbed = new Float64Array(height * width);
  const xEmbed = new Float64Array(height * width);
  const eps = 1e-6;
  for (let b = 0; b < batch; b++) {
    const valid = (y: number, x: number): number => (mask && mask[(b * height + y) * width + x] ? 0 : 1);
    // Cumulative sums of the valid pixels along each axis (torch.cumsum of not_mask).
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let y = 0; y < height; y++) yEmbed[y * width + x] = sum += valid(y, x);
    }
    for (let y = 0; y < height; y++) {
      let sum = 0;
      for (let x = 0; x < width; x++) xEmbed[y * width + x] = sum += valid(y, x);
    }
    if (normalize) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = y * width + x;
          yEmbed[i] = ((yEmbed[i] - 0.5) / (yEmbed[(height - 1) * width + x] + eps)) * scale;
          xEmbed[i] = ((xEmbed[i] - 0.5) / (xEmbed[y * width + width - 1] + eps)) * scale;
        }
      }
    }
    for (let i = 0; i < height * width; i++) {
      const base = (b * height * width + i) * channels;
      for (let k = 0; k < numPosFeats; k++) {
        const fy = yEmbed[i] / dimT[k];
        const fx = xEmbed[i] / dimT[k];
        // Even features take sin, odd ones cos (torch.stack(sin[0::2], cos[1::2]).flatten()).
        out[base + k] = k % 2 === 0 ? Math.sin(fy) : Math.cos(fy);
        out[base + numPosFeats + k] = k % 2 === 0 ? Math.sin(fx) : Math.cos(fx);
      }
    }
  }
  return tf.tensor4d(out, [batch, height, width, channels]);
}

/** A learned positional table of `count` positions (torch.nn.Embedding; parameter "weight"). */
export class LearnedPositionEmbedding extends Embedding {}
