/**
 * Preprocessing, the one path from frames to model input, for training and inference alike: RGB bytes
 * → floats in 0..1 → bilinear resize (half-pixel centres) to the model's input size, optionally
 * mirrored; masks are resized nearest-neighbour with the same geometry.
 */
import * as tf from "@tensorflow/tfjs";
import type { RgbImage } from "../core/image.js";

/** Frames (all of one size) → the model's input [B, height, width, 3] in 0..1. */
export function preprocessFrames(
  frames: readonly RgbImage[],
  [height, width]: readonly [number, number],
  flip = false,
): tf.Tensor4D {
  return tf.tidy(() => {
    const { width: srcWidth, height: srcHeight } = frames[0];
    const pixels = new Float32Array(frames.length * srcHeight * srcWidth * 3);
    frames.forEach((frame, i) => pixels.set(frame.data, i * srcHeight * srcWidth * 3));
    const images = tf.tensor4d(pixels, [frames.length, srcHeight, srcWidth, 3]).div(255) as tf.Tensor4D;
    const resized = tf.image.resizeBilinear(images, [height, width], false, true);
    return flip ? tf.reverse(resized, 2) : resized;
  });
}

/**
 * RGB bytes → [height, width, 3] floats in 0..1, resized bilinearly with half-pixel centres: the same
 * resize the online segmenter applies to incoming frames, so training and inference see the same pixels.
 */
export function resizeFrame(
  rgb: Uint8Array,
  srcHeight: number,
  srcWidth: number,
  height: number,
  width: number,
  flip = false,
): Float32Array {
  const input = preprocessFrames([{ width: srcWidth, height: srcHeight, data: rgb }], [height, width], flip);
  try {
    return input.dataSync() as Float32Array;
  } finally {
    input.dispose();
  }
}

/**
 * Nearest-neighbour resize of a row-major 0/1 mask, sampling each output pixel's centre (optionally
 * mirrored horizontally).
 */
export function resizeMaskNearest(
  mask: Uint8Array,
  srcHeight: number,
  srcWidth: number,
  height: number,
  width: number,
  flip = false,
): Uint8Array {
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(srcHeight - 1, Math.floor(((y + 0.5) * srcHeight) / height));
    for (let x = 0; x < width; x++) {
      const ox = flip ? width - 1 - x : x;
      const sx = Math.min(srcWidth - 1, Math.floor(((ox + 0.5) * srcWidth) / width));
      out[y * width + x] = mask[sy * srcWidth + sx] ? 1 : 0;
    }
  }
  return out;
}
