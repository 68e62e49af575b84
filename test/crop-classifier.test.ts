/**
 * The second-stage crop classifier: boxes from masks (margin, clamping), jitter bounds, the classifier's
 * output shape, its training loss on GT crops, and how inference re-scores the candidate queries:
 * p(c) = (1 − p(no object)) · p_crop(c).
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { CropClassifier, jitterBox, maskBox, type CropBox } from "../src/models/crop-classifier.js";
import { cropLoss } from "../src/models/vis/online.js";
import { classifyCrops, duplicateQueries, type FramePrediction } from "../src/processing/postprocess.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
});

/** A [height, width] 0/1 mask with the box rows y0..y1, columns x0..x1 (inclusive) set. */
function boxMask(height: number, width: number, y0: number, x0: number, y1: number, x1: number): Uint8Array {
  const mask = new Uint8Array(height * width);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) mask[y * width + x] = 1;
  return mask;
}

describe("crop boxes", () => {
  it("boxes a mask with a margin of 15 % of its larger side + 2 px, clamped to the image", () => {
    // 21×11 box at rows 20..40, columns 30..40 of a 101×101 image: pad = 0.15·21 + 2 = 5.15 px.
    const box = maskBox(boxMask(101, 101, 20, 30, 40, 40), 101, 101)!;
    const expected = [20 - 5.15, 30 - 5.15, 40 + 5.15, 40 + 5.15].map((v) => v / 100);
    box.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 10));
    expect(maskBox(boxMask(101, 101, 0, 0, 3, 3), 101, 101)!.slice(0, 2)).toEqual([0, 0]);
    expect(maskBox(new Uint8Array(16), 4, 4)).toBeNull();
  });

  it("jitters each side by at most the given share of the box and keeps it inside the image", () => {
    const rng = new Rng(3);
    const box: CropBox = [0.2, 0.3, 0.6, 0.5];
    for (let i = 0; i < 200; i++) {
      const [y0, x0, y1, x1] = jitterBox(box, () => rng.uniform(), 0.15);
      expect(Math.abs(y0 - 0.2)).toBeLessThanOrEqual(0.06 + 1e-12);
      expect(Math.abs(x1 - 0.5)).toBeLessThanOrEqual(0.03 + 1e-12);
      expect(y1).toBeGreaterThan(y0);
      expect(x1).toBeGreaterThan(x0);
    }
    const edge = jitterBox([0, 0, 1, 1], () => 0, 0.5);
    expect(edge).toEqual([0, 0, 0.5, 0.5]);
  });
});

describe("CropClassifier", () => {
  it("classifies crops, trains on GT crops and re-scores candidate queries", () => {
    seedParameters(2);
    const classifier = new CropClassifier(3, 32);
    const images = tf.randomUniform([2, 64, 64, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    const logits = classifier.forward(
      images,
      [
        [0, 0, 0.5, 0.5],
        [0.2, 0.2, 1, 1],
      ],
      [0, 1],
    );
    expect(logits.shape).toEqual([2, 3]);

    // Training loss: one crop per instance (no jitter when the random source returns 0.5).
    const masks = tf.tensor3d(
      [...boxMask(64, 64, 4, 4, 20, 20), ...boxMask(64, 64, 30, 30, 60, 50)],
      [2, 64, 64],
    );
    const loss = cropLoss(classifier, images, [{ labels: [2, 0], masks }], 1, () => 0.5)!;
    const direct = tf.tidy(() => {
      const boxes = [
        maskBox(boxMask(64, 64, 4, 4, 20, 20), 64, 64)!,
        maskBox(boxMask(64, 64, 30, 30, 60, 50), 64, 64)!,
      ];
      const l = classifier.forward(images, boxes, [0, 0]);
      return tf.losses.softmaxCrossEntropy(tf.oneHot([2, 0], 3), l).dataSync()[0];
    });
    expect(loss.dataSync()[0]).toBeCloseTo(direct, 5);
    expect(
      cropLoss(
        classifier,
        images,
        [{ labels: [], masks: tf.zeros([0, 64, 64]) as tf.Tensor3D }],
        1,
        () => 0.5,
      ),
    ).toBeNull();

    // Inference: 3 queries at 16×16 mask resolution; query 0 covers a box, query 1 has an empty mask,
    // query 2 is below the objectness floor. Class probabilities [N, K] sum to 1 − p(no object).
    const h = 16;
    const maskLogits = new Float32Array(3 * h * h).fill(-5);
    for (let y = 2; y < 8; y++) for (let x = 3; x < 9; x++) maskLogits[y * h + x] = 5;
    const prediction: FramePrediction = {
      numQueries: 3,
      numClasses: 3,
      classProbs: Float32Array.from([0.5, 0.2, 0.1, 0.3, 0.3, 0.3, 0.01, 0.01, 0.01]),
      scores: Float32Array.from([0.5, 0.3, 0.01]),
      embeddings: new Float32Array(3),
      embeddingDim: 1,
      maskLogits,
      maskHeight: h,
      maskWidth: h,
    };
    const image = images.slice([1], [1]) as tf.Tensor4D;
    classifyCrops(prediction, image, classifier, { minObjectness: 0.05 });
    const box = maskBox(boxMask(64, 64, 8, 12, 31, 35), 64, 64)!; // the 4× upsampled mask's box
    const expected = tf.tidy(() => tf.softmax(classifier.forward(image, [box], [0])).dataSync());
    for (let c = 0; c < 3; c++) expect(prediction.classProbs[c]).toBeCloseTo(0.8 * expected[c], 5);
    expect(prediction.scores[0]).toBeCloseTo(0.8 * Math.max(...expected), 5);
    expect(Array.from(prediction.classProbs.slice(3))).toEqual(
      Array.from(Float32Array.from([0.3, 0.3, 0.3, 0.01, 0.01, 0.01])),
    );
    tf.dispose([images, logits, masks, loss, image]);
    classifier.dispose();
  });
});

describe("duplicate queries", () => {
  it("suppresses a query whose mask repeats a better-scoring one (greedy mask NMS at 1/4 resolution)", () => {
    const h = 8;
    const logits = new Float32Array(4 * h * h).fill(-1);
    const paint = (q: number, y0: number, x0: number, y1: number, x1: number) => {
      for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) logits[q * h * h + y * h + x] = 1;
    };
    paint(0, 0, 0, 3, 3); // 16 px
    paint(1, 0, 0, 3, 2); // 12 px inside query 0: IoU 0.75
    paint(2, 4, 4, 7, 7); // elsewhere
    // query 3: empty
    const prediction: FramePrediction = {
      numQueries: 4,
      numClasses: 1,
      classProbs: new Float32Array(4),
      scores: Float32Array.from([0.5, 0.9, 0.2, 0.8]),
      embeddings: new Float32Array(4),
      embeddingDim: 1,
      maskLogits: logits,
      maskHeight: h,
      maskWidth: h,
    };
    // Query 1 scores higher, so query 0 is the duplicate; query 2 overlaps nothing; empty masks never are.
    expect([...duplicateQueries(prediction, 0.6)]).toEqual([0]);
    expect([...duplicateQueries(prediction, 0.8)]).toEqual([]);
    expect([...duplicateQueries(prediction, 1)]).toEqual([]);
  });
});
