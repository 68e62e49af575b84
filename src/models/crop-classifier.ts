/**
 * A second-stage instance classifier on image crops: each instance's box (from its mask, with a margin)
 * is cut out of the frame, resized to a fixed square and classified by a small ResNet.
 *
 * Why: the per-frame segmenter classifies a query from masked attention over pixel features at 1/8 to
 * 1/32 of the input. Trained from scratch on small objects told apart by their outline (the synthetic
 * benchmarks: a 20–50 px star, hexagon or ring of any colour and texture), its masks become good within a
 * few hundred steps but its class accuracy stays at chance for thousands: the pixel features carry the
 * instance's colour and texture, not its shape (a linear probe on them stays at chance on held-out
 * videos). The same small ResNet on crops, where the object fills the input, learns the shapes within
 * minutes. So the query keeps deciding *whether* and *where* there is an object (1 − p(no object) and the
 * mask) and the crop decides *what* it is: p(class c) = (1 − p(no object)) · p_crop(c).
 *
 * Training crops come from the GT masks, jittered so that the classifier is robust to the imprecise
 * boxes of predicted masks; inference crops come from each candidate query's predicted mask.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { Module } from "../nn/module.js";
import { createResnet, imagenetNormalize, type ResNet } from "../nn/resnet.js";

/** A crop box in cropAndResize's normalised coordinates: [y0, x0, y1, x1], 0..1 over (size − 1). */
export type CropBox = [number, number, number, number];

/** Crops already cut, [n, cropSize, cropSize, 3] RGB in 0..1, with the class index of each. */
export interface LabelledCrops {
  images: tf.Tensor4D;
  labels: number[];
}

export class CropClassifier extends Module {
  readonly net: ResNet;

  constructor(
    readonly numClasses: number,
    readonly cropSize: number,
  ) {
    super();
    if (!Number.isInteger(cropSize) || cropSize < 32) {
      throw new VidsegError(`crop size must be an integer ≥ 32, got ${cropSize}`);
    }
    this.net = this.addModule("net", createResnet("resnetSmall", { norm: "GN", numClasses }));
  }

  /**
   * Class logits [n, K] of n crops: `boxes[i]` of image `imageIndices[i]` of `images` [B, H, W, 3]
   * (RGB in 0..1, the segmenter's input).
   */
  forward(images: tf.Tensor4D, boxes: CropBox[], imageIndices: number[]): tf.Tensor2D {
    if (boxes.length !== imageIndices.length || boxes.length === 0) {
      throw new VidsegError(
        `crop classifier: ${boxes.length} boxes for ${imageIndices.length} image indices`,
      );
    }
    return tf.tidy(() => this.classify(cropImages(images, boxes, imageIndices, this.cropSize)));
  }

  /** Class logits [n, K] of crops already cut: [n, cropSize, cropSize, 3], RGB in 0..1. */
  classify(crops: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const normalised = imagenetNormalize(crops);
      return this.net.classify(this.net.forward(normalised).res5);
    });
  }
}

/** `boxes[i]` of image `imageIndices[i]` of `images` [B, H, W, 3], each resized to size × size. */
export function cropImages(
  images: tf.Tensor4D,
  boxes: CropBox[],
  imageIndices: number[],
  size: number,
): tf.Tensor4D {
  return tf.image.cropAndResize(images, boxes, imageIndices, [size, size]);
}

/**
 * The box around a mask's foreground ([height, width], non-zero = foreground), widened by `margin` of
 * its larger side plus 2 px on every side, in normalised crop coordinates; null for an empty mask.
 */
export function maskBox(
  mask: ArrayLike<number>,
  height: number,
  width: number,
  margin = 0.15,
): CropBox | null {
  let y0 = height;
  let y1 = -1;
  let x0 = width;
  let x1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (!mask[row + x]) continue;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
    }
  }
  if (y1 < 0) return null;
  const pad = margin * Math.max(y1 - y0 + 1, x1 - x0 + 1) + 2;
  return [
    Math.max(0, y0 - pad) / (height - 1),
    Math.max(0, x0 - pad) / (width - 1),
    Math.min(height - 1, y1 + pad) / (height - 1),
    Math.min(width - 1, x1 + pad) / (width - 1),
  ];
}

/** Moves each side of a box by up to ±`amount` of the box's size (uniform), as predicted boxes err. */
export function jitterBox(box: CropBox, uniform: () => number, amount = 0.15): CropBox {
  const [y0, x0, y1, x1] = box;
  const dy = (y1 - y0) * amount;
  const dx = (x1 - x0) * amount;
  const shift = (d: number) => (2 * uniform() - 1) * d;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const ny0 = clamp(y0 + shift(dy));
  const nx0 = clamp(x0 + shift(dx));
  return [ny0, nx0, Math.max(ny0 + 1e-3, clamp(y1 + shift(dy))), Math.max(nx0 + 1e-3, clamp(x1 + shift(dx)))];
}

/**
 * Training boxes of GT instances: `perInstance` jittered boxes of every non-empty mask of every image,
 * with the image index and the label of each.
 */
export function jitteredInstanceBoxes(
  images: readonly {
    masks: readonly ArrayLike<number>[];
    labels: readonly number[];
    height: number;
    width: number;
  }[],
  perInstance: number,
  uniform: () => number,
): { boxes: CropBox[]; imageIndices: number[]; labels: number[] } {
  const boxes: CropBox[] = [];
  const imageIndices: number[] = [];
  const labels: number[] = [];
  images.forEach(({ masks, labels: imageLabels, height, width }, b) => {
    masks.forEach((mask, i) => {
      const box = maskBox(mask, height, width);
      if (!box) return;
      for (let k = 0; k < perInstance; k++) {
        boxes.push(jitterBox(box, uniform));
        imageIndices.push(b);
        labels.push(imageLabels[i]);
      }
    });
  });
  return { boxes, imageIndices, labels };
}

/**
 * The queries worth a crop: those whose object probability reaches `minObjectness`, most likely first,
 * at most `max` of them.
 */
export function likelyObjects(objectness: readonly number[], minObjectness: number, max: number): number[] {
  return objectness
    .map((value, q) => ({ value, q }))
    .filter(({ value }) => value >= minObjectness)
    .sort((a, b) => b.value - a.value || a.q - b.q)
    .slice(0, max)
    .map(({ q }) => q);
}
