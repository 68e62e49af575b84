/**
 * The backward pass of a Mask2Former-style model on wasm: every op such a model uses must have a
 * gradient that runs on wasm and matches the cpu backend (relative L2 < 1e-5). This is the checked
 * list; ops missing here are documented in BENCHMARKS.md (Neural-network runtime).
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";

import { initRuntime } from "../src/runtime/backend.js";
import { relativeL2 } from "./helpers/random.js";

async function gradientOn(
  backend: string,
  f: (x: tf.Tensor) => tf.Tensor,
  shape: number[],
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const grad = tf.tidy(() => {
    const x = tf.randomNormal(shape, 0, 1, "float32", 11);
    // A random cotangent makes every output element matter.
    return tf.grad((v: tf.Tensor) => {
      const y = f(v);
      return tf.sum(tf.mul(y, tf.randomNormal(y.shape, 0, 1, "float32", 12)));
    })(x);
  });
  const values = (await grad.data()) as Float32Array;
  grad.dispose();
  return values;
}

async function on(backend: string, compute: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const t = compute();
  const values = (await t.data()) as Float32Array;
  t.dispose();
  return values;
}

const nhwc = [2, 8, 6, 4];
const cases: Array<[string, (x: tf.Tensor) => tf.Tensor, number[]]> = [
  ["avgPool 2×2/2 valid", (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, "valid"), nhwc],
  ["avgPool 3×3/2 same", (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, "same"), nhwc],
  ["softmax", (x) => tf.softmax(x), [6, 10]],
  ["logSoftmax", (x) => tf.logSoftmax(x), [6, 10]],
  [
    "layer norm (moments, rsqrt)",
    (x) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    },
    [5, 16],
  ],
  [
    "group norm (reshape + moments)",
    (x) => {
      const g = tf.reshape(x, [2, 8 * 6, 2, 2]);
      const { mean, variance } = tf.moments(g, [1, 3], true);
      return tf.reshape(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, 1e-5))), nhwc);
    },
    nhwc,
  ],
  [
    "batchNorm",
    (x) => tf.batchNorm(x, tf.fill([4], 0.1), tf.fill([4], 2), tf.fill([4], 0.5), tf.fill([4], 1.5)),
    nhwc,
  ],
  [
    "where / select with a mask computed from x (zero-gradient comparisons)",
    (x) => tf.where(tf.greater(x, 0), tf.mul(x, 2), tf.square(x)),
    [7, 5],
  ],
  ["sigmoid, log1p, exp (BCE)", (x) => tf.log1p(tf.exp(tf.neg(tf.sigmoid(x)))), [7, 5]],
  ["erf (GELU)", (x) => tf.mul(x, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))), [7, 5]],
  [
    "relu6, leakyRelu, elu",
    (x) => tf.add(tf.add(tf.relu6(tf.mul(x, 4)), tf.leakyRelu(x, 0.1)), tf.elu(x)),
    [7, 5],
  ],
  [
    "clipByValue, abs, sqrt",
    (x) => tf.add(tf.clipByValue(x, -0.5, 0.5), tf.sqrt(tf.add(tf.abs(x), 1))),
    [7, 5],
  ],
  [
    "pad, mirrorPad",
    (x) =>
      tf.add(
        tf.pad(x, [
          [1, 2],
          [0, 3],
        ]),
        tf.mirrorPad(
          x,
          [
            [1, 2],
            [0, 3],
          ],
          "reflect",
        ),
      ),
    [7, 5],
  ],
  [
    "concat, split, stack, unstack",
    (x) =>
      tf.stack([tf.concat(tf.split(x, [2, 3], 1).reverse(), 1), tf.concat(tf.unstack(x), 0).reshape([7, 5])]),
    [7, 5],
  ],
  [
    "tile, broadcastTo, transpose",
    (x) =>
      tf.add(
        tf.tile(x, [2, 1]),
        tf.transpose(tf.broadcastTo(tf.reshape(x, [1, 7, 5]), [2, 7, 5]), [0, 1, 2]).reshape([14, 5]),
      ),
    [7, 5],
  ],
  ["gather axis 1 (point sampling)", (x) => tf.gather(x, tf.tensor1d([4, 0, 0, 2], "int32"), 1), [7, 5]],
  [
    "max, min, mean, sum, prod",
    (x) => tf.stack([tf.max(x, 1), tf.min(x, 1), tf.mean(x, 1), tf.sum(x, 1), tf.prod(x, 1)]),
    [7, 5],
  ],
  ["cumsum", (x) => tf.cumsum(x, 1), [7, 5]],
  ["matMul batched, transposed", (x) => tf.matMul(x, x, false, true), [3, 8, 6]],
  [
    "depthwiseConv2d",
    (x) => tf.depthwiseConv2d(x as tf.Tensor4D, tf.ones([3, 3, 4, 2]) as tf.Tensor4D, 2, "same"),
    nhwc,
  ],
  [
    "conv2dTranspose",
    (x) =>
      tf.conv2dTranspose(x as tf.Tensor4D, tf.ones([3, 3, 5, 4]) as tf.Tensor4D, [2, 16, 12, 5], 2, "same"),
    nhwc,
  ],
  [
    "separableConv2d",
    (x) =>
      tf.separableConv2d(
        x as tf.Tensor4D,
        tf.ones([3, 3, 4, 1]) as tf.Tensor4D,
        tf.ones([1, 1, 4, 6]) as tf.Tensor4D,
        1,
        "same",
      ),
    nhwc,
  ],
];

beforeAll(async () => {
  expect(await initRuntime({ backend: "wasm" })).toBe("wasm");
});

describe("gradients of the ops a Mask2Former-style model uses, wasm vs cpu", () => {
  it.each(cases)("%s", async (_, f, shape) => {
    const cpu = await gradientOn("cpu", f, shape);
    const wasm = await gradientOn("wasm", f, shape);
    expect(relativeL2(wasm, cpu)).toBeLessThan(1e-5);
  });

  it("gives masks from comparisons and logical ops a zero gradient", async () => {
    const grad = await gradientOn(
      "wasm",
      (x) =>
        tf.mul(x, tf.cast(tf.logicalAnd(tf.greater(x, -0.5), tf.logicalNot(tf.greater(x, 0.5))), "float32")),
      [6, 4],
    );
    const x = await (await on("wasm", () => tf.randomNormal([6, 4], 0, 1, "float32", 11))).slice();
    const cotangent = await on("wasm", () => tf.randomNormal([6, 4], 0, 1, "float32", 12));
    expect(Array.from(grad)).toEqual(Array.from(x, (v, i) => (v > -0.5 && v <= 0.5 ? cotangent[i] : 0)));
  });

  it("gives tf.gatherND a gradient (tfjs ships none): scatter-add of dy", async () => {
    await tf.setBackend("wasm");
    const x = tf.zeros([3, 2]);
    const indices = tf.tensor2d([2, 0, 2], [3, 1], "int32");
    const dy = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.gatherND(v, indices), dy)))(x);
    expect(Array.from(await grad.data())).toEqual([3, 4, 0, 0, 6, 8]);
    tf.dispose([x, indices, dy, grad]);
  });
});

describe("resize gradients are the exact adjoint of the forward resize", () => {
  // Resizing is linear: resizing one-hot images gives the columns of its matrix L, and dx must be Lᵀ·dy.
  const resizes: Array<[string, (x: tf.Tensor4D) => tf.Tensor4D]> = [
    [
      "bilinear, half-pixel centers (PyTorch align_corners=False)",
      (x) => tf.image.resizeBilinear(x, [13, 11], false, true),
    ],
    ["bilinear, half-pixel, downscale", (x) => tf.image.resizeBilinear(x, [3, 4], false, true)],
    ["bilinear, align corners", (x) => tf.image.resizeBilinear(x, [5, 9], true)],
    ["bilinear, legacy", (x) => tf.image.resizeBilinear(x, [13, 11])],
    ["nearest", (x) => tf.image.resizeNearestNeighbor(x, [16, 12])],
    ["nearest, half-pixel centers", (x) => tf.image.resizeNearestNeighbor(x, [13, 11], false, true)],
    ["nearest, align corners", (x) => tf.image.resizeNearestNeighbor(x, [5, 9], true)],
  ];
  it.each(resizes)("%s (wasm and cpu)", async (_, resize) => {
    const [h, w, channels] = [8, 6, 3];
    for (const backend of ["wasm", "cpu"]) {
      await tf.setBackend(backend);
      const [expected, actual] = tf.tidy(() => {
        const basis = tf.reshape(tf.eye(h * w), [h * w, h, w, 1]) as tf.Tensor4D;
        const columns = tf.reshape(resize(basis), [h * w, -1]); // [h·w, outH·outW]
        const x = tf.randomNormal([2, h, w, channels], 0, 1, "float32", 1) as tf.Tensor4D;
        const dy = tf.randomNormal(resize(x).shape, 0, 1, "float32", 2);
        // Lᵀ·dy per (batch, channel): [h·w, outH·outW] × [outH·outW, 2·C].
        const dyColumns = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [-1, 2 * channels]);
        const reference = tf.transpose(
          tf.reshape(tf.matMul(columns, dyColumns), [h, w, 2, channels]),
          [2, 0, 1, 3],
        );
        const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(resize(v as tf.Tensor4D), dy)))(x);
        return [reference, grad];
      });
      expect(actual.shape).toEqual(expected.shape);
      expect(relativeL2(await actual.data(), await expected.data()), backend).toBeLessThan(1e-6);
      tf.dispose([expected, actual]);
    }
  });
});

describe("maxPool gradient vs a JavaScript reference", () => {
  const pools: Array<[number, number, "same" | "valid"]> = [
    [3, 2, "same"],
    [3, 2, "valid"],
    [2, 2, "valid"],
    [3, 1, "same"],
  ];
  it.each(pools)("window %i, stride %i, %s", async (k, s, pad) => {
    await tf.setBackend("wasm");
    const shape: [number, number, number, number] = [2, 9, 7, 3];
    const x = tf.randomNormal(shape, 0, 1, "float32", 11) as tf.Tensor4D;
    const info = tf.backend_util.computePool2DInfo(shape, k, s, 1, pad);
    const dy = tf.randomNormal([2, info.outHeight, info.outWidth, 3], 0, 1, "float32", 12);
    const [xv, dyv] = [x.dataSync(), dy.dataSync()];
    const expected = new Float32Array(xv.length);
    const [n, h, w, c] = shape;
    for (let b = 0; b < n; b++)
      for (let oy = 0; oy < info.outHeight; oy++)
        for (let ox = 0; ox < info.outWidth; ox++)
          for (let d = 0; d < c; d++) {
            let best = -Infinity;
            let bestIndex = -1;
            for (let i = 0; i < k; i++)
              for (let j = 0; j < k; j++) {
                const y = oy * s + i - info.padInfo.top;
                const xx = ox * s + j - info.padInfo.left;
                if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                const index = ((b * h + y) * w + xx) * c + d;
                if (xv[index] > best) [best, bestIndex] = [xv[index], index];
              }
            expected[bestIndex] += dyv[((b * info.outHeight + oy) * info.outWidth + ox) * c + d];
          }
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, k, s, pad), dy)))(x);
    expect(relativeL2(await grad.data(), expected)).toBeLessThan(1e-6);
    tf.dispose([x, dy, grad]);
  });
});
