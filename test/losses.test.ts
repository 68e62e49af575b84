/** Losses against PyTorch golden values (scripts/nn_golden.py) and gradients against finite differences. */
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  diceLoss,
  lovaszHinge,
  lovaszSoftmax,
  pointMaskLosses,
  sigmoidCeLoss,
  sigmoidFocalLoss,
  weightedCrossEntropy,
} from "../src/nn/losses.js";
import { getUncertainPointCoords, pointSample } from "../src/nn/sampling.js";
import { initRuntime } from "../src/runtime/backend.js";
import { mulberry32 } from "./helpers/random.js";

type Nested = number | Nested[];
const golden = JSON.parse(readFileSync("test/golden/nn-losses.json", "utf8"));
const t = (values: Nested, dtype: "float32" | "int32" = "float32"): tf.Tensor =>
  tf.tensor(values as number[], undefined, dtype);
const scalar = (x: tf.Tensor): number => x.dataSync()[0];

beforeAll(async () => {
  await initRuntime();
});

/** Max relative difference between tf.grad and central finite differences of f at x. */
function gradientError(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, step: number): number {
  const analytic = tf.grad(f)(x).dataSync();
  const base = x.dataSync();
  let worst = 0;
  let scale = 0;
  const numeric = new Float32Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const plus = Float32Array.from(base);
    const minus = Float32Array.from(base);
    plus[i] += step;
    minus[i] -= step;
    const fp = tf.tidy(() => scalar(f(tf.tensor(plus, x.shape))));
    const fm = tf.tidy(() => scalar(f(tf.tensor(minus, x.shape))));
    numeric[i] = (fp - fm) / (2 * step);
    scale = Math.max(scale, Math.abs(numeric[i]));
  }
  for (let i = 0; i < base.length; i++) worst = Math.max(worst, Math.abs(analytic[i] - numeric[i]));
  return worst / Math.max(scale, 1e-6);
}

describe("sigmoid focal loss (torchvision semantics)", () => {
  const g = golden.focal;
  it("matches reduction none / mean / sum and alpha off", () => {
    const logits = t(g.logits);
    const targets = t(g.targets);
    const none = sigmoidFocalLoss(logits, targets).dataSync();
    const expected = (g.none as number[][]).flat();
    none.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    expect(scalar(sigmoidFocalLoss(logits, targets, { reduction: "mean" }))).toBeCloseTo(g.mean, 6);
    expect(
      scalar(sigmoidFocalLoss(logits, targets, { alpha: -1, gamma: 1.5, reduction: "sum" })),
    ).toBeCloseTo(g.sum_alpha_off_gamma_1_5, 5);
  });
});

describe("cross-entropy with a no-object weight", () => {
  it("matches F.cross_entropy(weight=empty_weight)", () => {
    const g = golden.cross_entropy;
    const loss = weightedCrossEntropy(t(g.logits), t(g.targets, "int32"), g.empty_weight);
    expect(scalar(loss)).toBeCloseTo(g.loss, 6);
  });

  it("equals the plain mean without weights", () => {
    const logits = tf.tensor2d([[2, 0, 0]]);
    // −log softmax = log(e² + 2) − 2
    expect(scalar(weightedCrossEntropy(logits, tf.tensor1d([0], "int32")))).toBeCloseTo(
      Math.log(Math.exp(2) + 2) - 2,
      6,
    );
  });
});

describe("Mask2Former mask losses", () => {
  const g = golden.mask;
  it("sigmoid_ce_loss and dice_loss match with num_masks normalisation", () => {
    const logits = t(g.logits) as tf.Tensor2D;
    const targets = t(g.targets) as tf.Tensor2D;
    expect(scalar(sigmoidCeLoss(logits, targets, g.num_masks))).toBeCloseTo(g.sigmoid_ce, 6);
    expect(scalar(diceLoss(logits, targets, g.num_masks))).toBeCloseTo(g.dice, 6);
  });

  it("BCE + dice gradient matches finite differences", () => {
    const targets = t(g.targets) as tf.Tensor2D;
    const f = (x: tf.Tensor): tf.Scalar =>
      tf.add(
        sigmoidCeLoss(x as tf.Tensor2D, targets, g.num_masks),
        diceLoss(x as tf.Tensor2D, targets, g.num_masks),
      );
    expect(gradientError(f, t(g.logits), 1e-2)).toBeLessThan(2e-3);
  });

  it("point-sampled losses use the uncertain points for both masks; gradients reach the logits", () => {
    const pred = tf.tidy(() =>
      tf.mul(tf.sub(tf.randomUniform([2, 8, 8], 0, 1, "float32", 3), 0.5), 8),
    ) as tf.Tensor3D;
    const target = tf.tidy(() =>
      tf.greater(tf.randomUniform([2, 16, 16], 0, 1, "float32", 4), 0.5).cast("float32"),
    ) as tf.Tensor3D;
    const { mask, dice } = pointMaskLosses(pred, target, 1.5, { numPoints: 30, rng: mulberry32(1) });
    const coords = getUncertainPointCoords(pred, 30, 3, 0.75, mulberry32(1));
    const sample = (x: tf.Tensor3D): tf.Tensor2D =>
      pointSample(x.expandDims(3) as tf.Tensor4D, coords).squeeze([2]) as tf.Tensor2D;
    expect(scalar(mask)).toBeCloseTo(scalar(sigmoidCeLoss(sample(pred), sample(target), 1.5)), 6);
    expect(scalar(dice)).toBeCloseTo(scalar(diceLoss(sample(pred), sample(target), 1.5)), 6);
    const ones = tf.ones([2, 16, 16]) as tf.Tensor3D;
    const grad = tf.grad((x: tf.Tensor) => {
      const losses = pointMaskLosses(x as tf.Tensor3D, ones, 2, { numPoints: 50, rng: mulberry32(1) });
      return tf.add(losses.mask, losses.dice) as tf.Scalar;
    })(tf.zeros([2, 8, 8]));
    // Pushing the logits up lowers both losses when the targets are all foreground.
    expect(grad.max().dataSync()[0]).toBeLessThanOrEqual(0);
    expect(grad.min().dataSync()[0]).toBeLessThan(0);
  });
});

describe("Lovász hinge (Berman et al.)", () => {
  const g = golden.lovasz_hinge;
  it("matches per-image, flattened and with an ignore label", () => {
    const logits = t(g.logits);
    expect(scalar(lovaszHinge(logits, t(g.labels)))).toBeCloseTo(g.per_image, 5);
    expect(scalar(lovaszHinge(logits, t(g.labels), { perImage: false }))).toBeCloseTo(g.flat, 5);
    expect(scalar(lovaszHinge(logits, t(g.labels_ignore), { ignore: 255 }))).toBeCloseTo(
      g.per_image_ignore,
      5,
    );
  });

  it("is zero for confident correct predictions", () => {
    const labels = tf.tensor2d([[1, 0, 1, 0]]);
    expect(scalar(lovaszHinge(tf.tensor2d([[3, -3, 2, -2]]), labels))).toBe(0);
  });

  it("gradient matches finite differences", () => {
    const labels = t(g.labels);
    const f = (x: tf.Tensor): tf.Scalar => lovaszHinge(x, labels);
    // The loss is piecewise linear: logits on a shifted grid keep every hinge error at least 0.013 away
    // from a kink (ties between errors, or zero), so ±4e-3 steps never cross one.
    const logits = tf.tensor(
      Array.from({ length: 60 }, (_, i) => ((i * 37) % 60) / 15 - 2 + 0.013),
      labels.shape,
    );
    expect(gradientError(f, logits, 4e-3)).toBeLessThan(1e-3);
  });
});

describe("Lovász-Softmax (Berman et al.)", () => {
  const g = golden.lovasz_softmax;
  it("matches present / all classes, per image, with ignore", () => {
    const probas = t(g.probas);
    const labels = t(g.labels, "int32");
    expect(scalar(lovaszSoftmax(probas, labels))).toBeCloseTo(g.present, 5);
    expect(scalar(lovaszSoftmax(probas, labels, { classes: "all" }))).toBeCloseTo(g.all, 5);
    expect(scalar(lovaszSoftmax(probas, labels, { perImage: true }))).toBeCloseTo(g.present_per_image, 5);
    expect(
      scalar(lovaszSoftmax(probas, t(g.labels_ignore, "int32"), { perImage: true, ignore: 255 })),
    ).toBeCloseTo(g.present_per_image_ignore, 5);
  });

  it("gradient matches finite differences", () => {
    const labels = t(g.labels, "int32");
    const f = (x: tf.Tensor): tf.Scalar => lovaszSoftmax(x, labels, { perImage: true });
    expect(gradientError(f, t(g.probas), 1e-3)).toBeLessThan(2e-3);
  });
});
