/**
 * Resizing and point sampling with PyTorch's semantics, on NHWC tensors.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";

/** A source of uniform random numbers in [0, 1). */
export type Random = () => number;

/**
 * torch.nn.functional.interpolate(mode="bilinear", size=(height, width)) on NHWC input.
 * align_corners=False is TF's half-pixel-centres mode; both clamp source coordinates at the border.
 */
export function resizeBilinear(
  x: tf.Tensor4D,
  height: number,
  width: number,
  options: { alignCorners?: boolean } = {},
): tf.Tensor4D {
  const alignCorners = options.alignCorners ?? false;
  if (x.shape[1] === height && x.shape[2] === width) return tf.clone(x);
  return tf.image.resizeBilinear(x, [height, width], alignCorners, !alignCorners);
}

/** torch.nn.functional.interpolate(mode="nearest", size=(height, width)) on NHWC input. */
export function resizeNearest(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  if (x.shape[1] === height && x.shape[2] === width) return tf.clone(x);
  // PyTorch's legacy "nearest": source index floor(dst · in / out), i.e. no half-pixel centres.
  return tf.image.resizeNearestNeighbor(x, [height, width], false, false);
}

/** Bilinear corner indices (into a [N·H·W] flattening) and weights for points, zero padding. */
interface Taps {
  indices: Int32Array; // [N·P·4]
  weights: Float32Array; // [N·P·4]
}

function bilinearTaps(coords: Float32Array, n: number, p: number, h: number, w: number): Taps {
  const indices = new Int32Array(n * p * 4);
  const weights = new Float32Array(n * p * 4);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < p; i++) {
      const k = b * p + i;
      // grid_sample(align_corners=False) with grid = 2·coords − 1: pixel = coord·size − 0.5.
      const x = coords[2 * k] * w - 0.5;
      const y = coords[2 * k + 1] * h - 0.5;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const corners: [number, number, number][] = [
        [y0, x0, (1 - fy) * (1 - fx)],
        [y0, x0 + 1, (1 - fy) * fx],
        [y0 + 1, x0, fy * (1 - fx)],
        [y0 + 1, x0 + 1, fy * fx],
      ];
      corners.forEach(([cy, cx, weight], c) => {
        const inside = cy >= 0 && cy < h && cx >= 0 && cx < w;
        // Outside taps read pixel 0 with weight 0 (zeros padding).
        indices[4 * k + c] = inside ? (b * h + cy) * w + cx : 0;
        weights[4 * k + c] = inside ? weight : 0;
      });
    }
  }
  return { indices, weights };
}

function pointCoordsData(coords: tf.Tensor | Float32Array, n: number, p: number): Float32Array {
  const data = coords instanceof Float32Array ? coords : (coords.dataSync() as Float32Array);
  if (data.length !== n * p * 2) {
    throw new VidsegError(`point coordinates must be [${n}, ${p}, 2], got ${data.length} values`);
  }
  return data;
}

/**
 * Mask2Former's point_sample: features [N, H, W, C] sampled at coords [N, P, 2] ((x, y) in [0, 1]) →
 * [N, P, C]; the equivalent of grid_sample(2·coords − 1, bilinear, zeros padding, align_corners=False).
 * Gradients flow to the features (through a gather), not to the coordinates.
 */
export function pointSample(features: tf.Tensor4D, coords: tf.Tensor3D): tf.Tensor3D {
  const [n, h, w, c] = features.shape;
  const [cn, p, two] = coords.shape;
  if (cn !== n || two !== 2) {
    throw new VidsegError(`point coordinates must be [${n}, P, 2], got [${coords.shape}]`);
  }
  const taps = bilinearTaps(pointCoordsData(coords, n, p), n, p, h, w);
  return tf.tidy(() => {
    const flat = features.reshape([n * h * w, c]);
    const gathered = tf.gather(flat, tf.tensor1d(taps.indices, "int32")); // [N·P·4, C]
    const weighted = tf.mul(gathered, tf.tensor2d(taps.weights, [n * p * 4, 1]));
    return weighted.reshape([n, p, 4, c]).sum(2) as tf.Tensor3D;
  });
}

/** point_sample on plain arrays (no tensors): values [N, H, W] at coords [N, P, 2] → [N·P]. */
export function pointSampleArray(
  values: Float32Array,
  n: number,
  h: number,
  w: number,
  coords: Float32Array,
  p: number,
): Float32Array {
  const taps = bilinearTaps(pointCoordsData(coords, n, p), n, p, h, w);
  const out = new Float32Array(n * p);
  for (let k = 0; k < n * p; k++) {
    let sum = 0;
    for (let c = 0; c < 4; c++) sum += taps.weights[4 * k + c] * values[taps.indices[4 * k + c]];
    out[k] = sum;
  }
  return out;
}

/** Uniform random point coordinates [n, p, 2] in [0, 1). */
export function randomPointCoords(n: number, p: number, rng: Random): Float32Array {
  const out = new Float32Array(n * p * 2);
  for (let i = 0; i < out.length; i++) out[i] = rng();
  return out;
}

/**
 * Mask2Former's get_uncertain_point_coords_with_randomness with uncertainty −|logit|: draws
 * numPoints·oversampleRatio random points per mask, keeps the importanceSampleRatio·numPoints most
 * uncertain ones (logits closest to 0) and fills up with fresh random points.
 * logits: [N, H, W] class-agnostic mask logits. Returns coords [N, numPoints, 2] (no gradient).
 */
export function getUncertainPointCoords(
  logits: tf.Tensor3D,
  numPoints: number,
  oversampleRatio: number,
  importanceSampleRatio: number,
  rng: Random,
): tf.Tensor3D {
  if (!(oversampleRatio >= 1)) throw new VidsegError(`oversampleRatio must be ≥ 1, got ${oversampleRatio}`);
  if (!(importanceSampleRatio >= 0 && importanceSampleRatio <= 1)) {
    throw new VidsegError(`importanceSampleRatio must be in [0, 1], got ${importanceSampleRatio}`);
  }
  const [n, h, w] = logits.shape;
  const numSampled = Math.floor(numPoints * oversampleRatio);
  const numUncertain = Math.floor(importanceSampleRatio * numPoints);
  const candidates = randomPointCoords(n, numSampled, rng);
  const sampled = pointSampleArray(logits.dataSync() as Float32Array, n, h, w, candidates, numSampled);
  const out = new Float32Array(n * numPoints * 2);
  const order = new Array<number>(numSampled);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < numSampled; i++) order[i] = i;
    // Most uncertain first: ascending |logit| (= descending −|logit|, torch.topk), ties by index.
    const base = b * numSampled;
    order.sort((i, j) => Math.abs(sampled[base + i]) - Math.abs(sampled[base + j]) || i - j);
    for (let k = 0; k < numUncertain; k++) {
      const src = (base + order[k]) * 2;
      const dst = (b * numPoints + k) * 2;
      out[dst] = candidates[src];
      out[dst + 1] = candidates[src + 1];
    }
  }
  // The random points are drawn after the candidates, for all masks at once, as in Mask2Former.
  for (let b = 0; b < n; b++) {
    for (let k = numUncertain; k < numPoints; k++) {
      const dst = (b * numPoints + k) * 2;
      out[dst] = rng();
      out[dst + 1] = rng();
    }
  }
  return tf.tensor3d(out, [n, numPoints, 2]);
}
