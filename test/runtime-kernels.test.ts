/**
 * Gradient checks for the project's wasm training kernels (src/runtime/wasm-kernels.ts): on random
 * shapes, strides and paddings, against the cpu backend's reference kernels (relative L2 < 1e-5) and
 * against finite differences of a float64 JavaScript convolution.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";

import { initRuntime } from "../src/runtime/backend.js";
import {
  conv2dFilterGrad,
  conv2dInputGrad,
  depthwiseFilterGrad,
  depthwiseInputGrad,
  type ConvGradOptions,
} from "../src/runtime/wasm-kernels.js";
import { mulberry32, relativeL2 } from "./helpers/random.js";

type Shape4 = [number, number, number, number];
type Pad = ConvGradOptions["pad"];

function randomArray(size: number, random: () => number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = random() * 2 - 1;
  return out;
}

/** Runs `compute` on a backend and returns its result as plain numbers (tensors disposed). */
async function on(backend: string, compute: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const result = tf.tidy(compute);
  const values = (await result.data()) as Float32Array;
  result.dispose();
  return values;
}

async function wasmVsCpu(compute: () => tf.Tensor): Promise<number> {
  const cpu = await on("cpu", compute);
  const wasm = await on("wasm", compute);
  return relativeL2(wasm, cpu);
}

const runKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  strides: [number, number];
  pad: Pad;
}

function randomConvCase(random: () => number): ConvCase {
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const kernel: [number, number] = [int(1, 4), int(1, 4)];
  const strides: [number, number] = random() < 0.5 ? [int(1, 3), int(1, 3)] : [2, 2];
  const pads: Pad[] = [
    "same",
    "valid",
    [
      [0, 0],
      [int(0, 2), int(0, 2)],
      [int(0, 2), int(0, 2)],
      [0, 0],
    ],
  ];
  return {
    batch: int(1, 2),
    height: int(kernel[0] + 2, 12),
    width: int(kernel[1] + 2, 12),
    inChannels: random() < 0.25 ? 16 : int(1, 5),
    outChannels: int(1, 6),
    kernel,
    strides,
    pad: pads[int(0, 2)],
  };
}

function outputShape(c: ConvCase, outChannels: number): Shape4 {
  const info = tf.backend_util.computeConv2DInfo(
    [c.batch, c.height, c.width, c.inChannels],
    [c.kernel[0], c.kernel[1], c.inChannels, outChannels],
    c.strides,
    1,
    c.pad,
  );
  return [c.batch, info.outHeight, info.outWidth, outChannels];
}

/** Naive float64 NHWC convolution (regular or depthwise), the independent reference. */
function convReference(
  x: Float32Array,
  xShape: Shape4,
  w: Float32Array,
  wShape: Shape4,
  o: { strides: [number, number]; pad: Pad; dilations: [number, number]; depthwise: boolean },
): { out: Float64Array; shape: Shape4 } {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    wShape,
    o.strides,
    o.dilations,
    o.pad,
    undefined,
    o.depthwise,
  );
  const [n, h, wd, cin] = xShape;
  const [kh, kw, , k3] = wShape;
  const cout = o.depthwise ? cin * k3 : k3;
  const shape: Shape4 = [n, info.outHeight, info.outWidth, cout];
  const out = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < info.outHeight; oy++)
      for (let ox = 0; ox < info.outWidth; ox++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const y = oy * o.strides[0] + i * o.dilations[0] - info.padInfo.top;
            const xx = ox * o.strides[1] + j * o.dilations[1] - info.padInfo.left;
            if (y < 0 || y >= h || xx < 0 || xx >= wd) continue;
            const xBase = ((b * h + y) * wd + xx) * cin;
            const oBase = ((b * info.outHeight + oy) * info.outWidth + ox) * cout;
            for (let ci = 0; ci < cin; ci++) {
              const xv = x[xBase + ci];
              const wBase = ((i * kw + j) * cin + ci) * k3;
              if (o.depthwise) for (let m = 0; m < k3; m++) out[oBase + ci * k3 + m] += xv * w[wBase + m];
              else for (let co = 0; co < cout; co++) out[oBase + co] += xv * w[wBase + co];
            }
          }
  return { out, shape };
}

beforeAll(async () => {
  expect(await initRuntime({ backend: "wasm" })).toBe("wasm");
});

describe("wasm training kernels are registered", () => {
  it("has every kernel the tfjs gradients need for conv nets and embeddings", () => {
    for (const name of [
      "Conv2DBackpropFilter",
      "Conv2DBackpropInput",
      "DepthwiseConv2dNativeBackpropFilter",
      "DepthwiseConv2dNativeBackpropInput",
      "UnsortedSegmentSum",
      "BatchMatMul",
      "MaxPoolGrad",
      "AvgPoolGrad",
      "ResizeBilinearGrad",
    ]) {
      expect(tf.getKernel(name, "wasm"), name).toBeDefined();
    }
  });
});

describe("conv2d gradients vs the cpu backend", () => {
  const random = mulberry32(42);
  const cases = Array.from({ length: 24 }, () => randomConvCase(random));

  it.each(cases.map((c, i) => [i, c] as const))(
    "case %i: Conv2DBackpropFilter and Conv2DBackpropInput",
    async (_, c) => {
      const xShape: Shape4 = [c.batch, c.height, c.width, c.inChannels];
      const filterShape: Shape4 = [c.kernel[0], c.kernel[1], c.inChannels, c.outChannels];
      const dyShape = outputShape(c, c.outChannels);
      const x = randomArray(
        xShape.reduce((a, b) => a * b),
        random,
      );
      const dy = randomArray(
        dyShape.reduce((a, b) => a * b),
        random,
      );
      const w = randomArray(
        filterShape.reduce((a, b) => a * b),
        random,
      );
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC", filterShape, inputShape: xShape };
      const filterErr = await wasmVsCpu(() =>
        runKernel("Conv2DBackpropFilter", { x: tf.tensor4d(x, xShape), dy: tf.tensor4d(dy, dyShape) }, attrs),
      );
      const inputErr = await wasmVsCpu(() =>
        runKernel(
          "Conv2DBackpropInput",
          { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(w, filterShape) },
          attrs,
        ),
      );
      expect(filterErr).toBeLessThan(1e-5);
      expect(inputErr).toBeLessThan(1e-5);
    },
  );

  it("supports NCHW", async () => {
    const xShape: Shape4 = [2, 3, 9, 8];
    const dyShape: Shape4 = [2, 4, 5, 4];
    const filterShape: Shape4 = [3, 3, 3, 4];
    const attrs = { strides: 2, pad: "same", dataFormat: "NCHW", filterShape, inputShape: xShape };
    const filterErr = await wasmVsCpu(() =>
      runKernel(
        "Conv2DBackpropFilter",
        { x: tf.randomNormal(xShape, 0, 1, "float32", 1), dy: tf.randomNormal(dyShape, 0, 1, "float32", 2) },
        attrs,
      ),
    );
    const inputErr = await wasmVsCpu(() =>
      runKernel(
        "Conv2DBackpropInput",
        {
          dy: tf.randomNormal(dyShape, 0, 1, "float32", 2),
          filter: tf.randomNormal(filterShape, 0, 1, "float32", 3),
        },
        attrs,
      ),
    );
    expect(filterErr).toBeLessThan(1e-5);
    expect(inputErr).toBeLessThan(1e-5);
  });

  it("trains through tf.grad and through fused conv2d (bias + relu)", async () => {
    const x = tf.randomNormal([2, 11, 10, 3], 0, 1, "float32", 4);
    const filter = tf.randomNormal([3, 3, 3, 5], 0, 1, "float32", 5);
    const bias = tf.randomNormal([5], 0, 1, "float32", 6);
    const weights = tf.randomNormal([2, 6, 5, 5], 0, 1, "float32", 7);
    const loss = (xv: tf.Tensor, fv: tf.Tensor, bv: tf.Tensor): tf.Scalar =>
      tf.sum(
        tf.mul(
          tf.fused.conv2d({
            x: xv as tf.Tensor4D,
            filter: fv as tf.Tensor4D,
            strides: 2,
            pad: "same",
            bias: bv,
            activation: "relu",
          }),
          weights,
        ),
      );
    for (const which of [0, 1, 2]) {
      const err = await wasmVsCpu(() => tf.grads(loss)([x, filter, bias])[which]);
      expect(err, `gradient ${which}`).toBeLessThan(1e-5);
    }
  });
});

describe("depthwise conv2d gradients vs the cpu backend", () => {
  const random = mulberry32(7);
  const cases = Array.from({ length: 12 }, () => ({
    ...randomConvCase(random),
    multiplier: 1 + Math.floor(random() * 2),
  }));

  it.each(cases.map((c, i) => [i, c] as const))("case %i", async (_, c) => {
    const xShape: Shape4 = [c.batch, c.height, c.width, c.inChannels];
    const filterShape: Shape4 = [c.kernel[0], c.kernel[1], c.inChannels, c.multiplier];
    // tfjs depthwise convs need equal strides.
    const strides: [number, number] = [c.strides[0], c.strides[0]];
    const dyShape = outputShape({ ...c, strides }, c.inChannels * c.multiplier);
    const x = randomArray(
      xShape.reduce((a, b) => a * b),
      random,
    );
    const dy = randomArray(
      dyShape.reduce((a, b) => a * b),
      random,
    );
    const w = randomArray(
      filterShape.reduce((a, b) => a * b),
      random,
    );
    const attrs = { strides, pad: c.pad, dilations: 1, filterShape, inputShape: xShape };
    const filterErr = await wasmVsCpu(() =>
      runKernel(
        "DepthwiseConv2dNativeBackpropFilter",
        { x: tf.tensor4d(x, xShape), dy: tf.tensor4d(dy, dyShape) },
        attrs,
      ),
    );
    const inputErr = await wasmVsCpu(() =>
      runKernel(
        "DepthwiseConv2dNativeBackpropInput",
        { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(w, filterShape) },
        attrs,
      ),
    );
    expect(filterErr).toBeLessThan(1e-5);
    expect(inputErr).toBeLessThan(1e-5);
  });
});

describe("conv gradients vs finite differences of a float64 convolution", () => {
  // L(x, w) = Σ conv(x, w) · r is bilinear, so central differences of the float64 reference are exact
  // up to rounding; the float32 wasm gradients must match them to float32 accuracy.
  const cases: Array<{
    depthwise: boolean;
    strides: [number, number];
    dilations: [number, number];
    pad: Pad;
    kernel: [number, number];
  }> = [
    { depthwise: false, strides: [2, 2], dilations: [1, 1], pad: "same", kernel: [3, 3] },
    { depthwise: false, strides: [1, 1], dilations: [2, 2], pad: "same", kernel: [3, 3] },
    { depthwise: false, strides: [3, 2], dilations: [1, 1], pad: "valid", kernel: [2, 3] },
    {
      depthwise: true,
      strides: [2, 2],
      dilations: [1, 1],
      pad: [
        [0, 0],
        [1, 0],
        [2, 1],
        [0, 0],
      ],
      kernel: [3, 2],
    },
    { depthwise: true, strides: [1, 1], dilations: [2, 1], pad: "same", kernel: [3, 3] },
  ];

  it.each(cases.map((c, i) => [i, c] as const))("case %i", async (_, c) => {
    await tf.setBackend("wasm");
    const random = mulberry32(100 + _);
    const xShape: Shape4 = [2, 9, 8, 3];
    const wShape: Shape4 = [c.kernel[0], c.kernel[1], 3, c.depthwise ? 2 : 4];
    const x = randomArray(
      xShape.reduce((a, b) => a * b),
      random,
    );
    const w = randomArray(
      wShape.reduce((a, b) => a * b),
      random,
    );
    const opts = { strides: c.strides, pad: c.pad, dilations: c.dilations, depthwise: c.depthwise };
    const { out, shape: yShape } = convReference(x, xShape, w, wShape, opts);
    const r = randomArray(out.length, random);
    const loss = (xv: Float32Array, wv: Float32Array): number =>
      convReference(xv, xShape, wv, wShape, opts).out.reduce((sum, v, i) => sum + v * r[i], 0);

    const options: ConvGradOptions = { strides: c.strides, pad: c.pad, dilations: c.dilations };
    const dy = tf.tensor4d(r, yShape);
    const dw = c.depthwise
      ? depthwiseFilterGrad(tf.tensor4d(x, xShape), dy, wShape, options)
      : conv2dFilterGrad(tf.tensor4d(x, xShape), dy, wShape, options);
    const dx = c.depthwise
      ? depthwiseInputGrad(xShape, dy, tf.tensor4d(w, wShape), options)
      : conv2dInputGrad(xShape, dy, tf.tensor4d(w, wShape), options);
    const [dwValues, dxValues] = [await dw.data(), await dx.data()];
    tf.dispose([dy, dw, dx]);

    const h = 1e-3;
    const check = (
      values: Float32Array,
      grad: ArrayLike<number>,
      other: Float32Array,
      isX: boolean,
    ): void => {
      for (let k = 0; k < 12; k++) {
        const idx = Math.floor(random() * values.length);
        const plus = Float32Array.from(values);
        const minus = Float32Array.from(values);
        plus[idx] += h;
        minus[idx] -= h;
        const fd = isX
          ? (loss(plus, other) - loss(minus, other)) / (2 * h)
          : (loss(other, plus) - loss(other, minus)) / (2 * h);
        expect(Math.abs(grad[idx] - fd), `index ${idx}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(fd)));
      }
    };
    check(x, dxValues, w, true);
    check(w, dwValues, x, false);
  });
});

describe("UnsortedSegmentSum and the gather gradient", () => {
  it("sums rows per segment and drops out-of-range ids", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5, 2]);
    const ids = tf.tensor1d([2, 0, 2, -1, 5], "int32");
    const out = tf.unsortedSegmentSum(x, ids, 3);
    expect(Array.from(await out.data())).toEqual([3, 4, 0, 0, 6, 8]);
    tf.dispose([x, ids, out]);
  });

  it("matches the cpu backend on random segments", async () => {
    const random = mulberry32(3);
    const ids = Array.from({ length: 40 }, () => Math.floor(random() * 7));
    const values = randomArray(40 * 6, random);
    const err = await wasmVsCpu(() =>
      tf.unsortedSegmentSum(tf.tensor3d(values, [40, 3, 2]), tf.tensor1d(ids, "int32"), 7),
    );
    expect(err).toBeLessThan(1e-6);
  });

  it("gives embedding lookups (tf.gather) a gradient", async () => {
    await tf.setBackend("wasm");
    const table = tf.tensor2d([0, 0, 0, 0, 0, 0, 0, 0], [4, 2]);
    const indices = tf.tensor1d([3, 1, 3], "int32");
    const weights = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, indices), weights)))(table);
    expect(Array.from(await grad.data())).toEqual([0, 0, 3, 4, 0, 0, 6, 8]);
    tf.dispose([table, indices, weights, grad]);
  });
});

describe("BatchMatMul (transposed and batched, routed to XNNPACK)", () => {
  const shapes: Array<[number[], number[], boolean, boolean]> = [
    [[64, 32], [64, 48], true, false],
    [[64, 32], [48, 32], false, true],
    [[40, 64], [48, 40], true, true],
    [[3, 20, 32], [3, 32, 40], false, false],
    [[3, 32, 20], [3, 40, 32], true, true],
    [[3, 20, 32], [32, 40], false, false],
    [[20, 32], [4, 32, 40], false, false],
    [[2, 3, 20, 32], [2, 3, 40, 32], false, true],
    [[2, 1, 20, 32], [1, 3, 32, 40], false, false],
    [[4, 4], [4, 4], true, false],
    [[16, 32], [300, 32], false, true],
    [[32, 16], [300, 32], true, true],
    [[2, 32, 16], [2, 32, 300], true, false],
  ];
  it.each(shapes)("%j × %j (transposeA %s, transposeB %s)", async (a, b, ta, tb) => {
    const err = await wasmVsCpu(() =>
      tf.matMul(tf.randomNormal(a, 0, 1, "float32", 1), tf.randomNormal(b, 0, 1, "float32", 2), ta, tb),
    );
    expect(err).toBeLessThan(1e-5);
  });

  it("has correct gradients for attention-style products", async () => {
    const q = tf.randomNormal([4, 16, 32], 0, 1, "float32", 1);
    const k = tf.randomNormal([4, 64, 32], 0, 1, "float32", 2);
    const f = (qv: tf.Tensor, kv: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.matMul(qv, kv, false, true)));
    for (const which of [0, 1]) {
      const err = await wasmVsCpu(() => tf.grads(f)([q, k])[which]);
      expect(err).toBeLessThan(1e-5);
    }
  });
});

describe("Slice (heap views instead of the shipped kernel's whole-input copy)", () => {
  it("matches the cpu backend exactly on random slices of rank 1-6, float32 and int32", async () => {
    const random = mulberry32(11);
    const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
    for (let trial = 0; trial < 60; trial++) {
      const shape = Array.from({ length: int(1, 6) }, () => int(1, 5));
      const begin = shape.map((d) => int(0, d - 1));
      // Some axes whole (long contiguous runs), some cut, some empty.
      const size = shape.map((d, i) =>
        random() < 0.3 ? d - begin[i] : random() < 0.05 ? 0 : int(1, d - begin[i]),
      );
      const values = randomArray(
        shape.reduce((p, d) => p * d, 1),
        random,
      );
      const dtype = trial % 3 === 2 ? "int32" : "float32";
      const compute = (): tf.Tensor =>
        tf.slice(
          tf.tensor(dtype === "int32" ? Int32Array.from(values, (v) => v * 100) : values, shape, dtype),
          begin,
          size,
        );
      const cpu = await on("cpu", compute);
      const wasm = await on("wasm", compute);
      expect(Array.from(wasm), JSON.stringify({ shape, begin, size })).toEqual(Array.from(cpu));
    }
  });
});

describe("Identity (shares data instead of copying)", () => {
  it("clones stay valid and unchanged after the original and a variable update", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    const original = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const copy = tf.clone(original);
    original.dispose();
    expect(Array.from(await copy.data())).toEqual([1, 2, 3, 4]);
    const variable = tf.tidy(() => tf.variable(tf.tensor1d([5, 6])));
    const saved = tf.clone(variable);
    tf.tidy(() => variable.assign(tf.tensor1d([7, 8])));
    expect(Array.from(await saved.data())).toEqual([5, 6]);
    expect(Array.from(await variable.data())).toEqual([7, 8]);
    tf.dispose([copy, saved, variable]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("Cast", () => {
  it("keeps values for same-dtype and converting casts", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor1d([1.5, -2.25, 3]);
    const same = tf.cast(x, "float32");
    x.dispose();
    expect(Array.from(await same.data())).toEqual([1.5, -2.25, 3]);
    const ints = tf.cast(same, "int32");
    expect(Array.from(await ints.data())).toEqual([1, -2, 3]);
    // The shipped wasm kernel kept 2 and -0.5 as they were.
    const bools = tf.cast(tf.tensor1d([0, 2, 0, -0.5]), "bool");
    expect(Array.from(await tf.cast(bools, "bool").data())).toEqual([0, 1, 0, 1]);
    const fromInts = tf.cast(tf.tensor1d([3, 0], "int32"), "bool");
    expect(Array.from(await fromInts.data())).toEqual([1, 0]);
    tf.dispose([same, ints, bools, fromInts]);
  });
});

describe("data movement on the wasm heap: pad, unstack, split, sum over leading axes", () => {
  const random = mulberry32(23);
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const randomShape = (rank: number): number[] => Array.from({ length: rank }, () => int(1, 5));
  const sizeOf = (shape: number[]): number => shape.reduce((p, d) => p * d, 1);

  async function sameOnBoth(
    compute: () => tf.Tensor | tf.Tensor[],
    label: string,
    tolerance = 1e-6,
  ): Promise<void> {
    const run = async (backend: string): Promise<number[][]> => {
      await tf.setBackend(backend);
      const outputs = tf.tidy(() => {
        const result = compute();
        return Array.isArray(result) ? result : [result];
      });
      const values = await Promise.all(outputs.map(async (t) => [...t.shape, -1, ...(await t.data())]));
      tf.dispose(outputs);
      return values.map((v) => Array.from(v as ArrayLike<number>));
    };
    const cpu = await run("cpu");
    const wasm = await run("wasm");
    expect(wasm.length, label).toBe(cpu.length);
    for (let i = 0; i < cpu.length; i++) {
      expect(relativeL2(wasm[i], cpu[i]), label).toBeLessThan(tolerance);
    }
  }

  it("pads like the cpu backend (rank 1-5, constant values, int32)", async () => {
    for (let trial = 0; trial < 40; trial++) {
      const shape = randomShape(int(1, 5));
      const paddings = shape.map(() => [
        random() < 0.4 ? 0 : int(0, 3),
        random() < 0.4 ? 0 : int(0, 3),
      ]) as Array<[number, number]>;
      const value = trial % 4 === 0 ? 0 : int(-3, 3);
      const dtype = trial % 5 === 4 ? "int32" : "float32";
      const values = randomArray(sizeOf(shape), random).map((v) =>
        dtype === "int32" ? Math.round(v * 50) : v,
      );
      await sameOnBoth(
        () => tf.pad(tf.tensor(values, shape, dtype), paddings, value),
        JSON.stringify({ shape, paddings }),
      );
    }
  });

  it("unstacks and splits like the cpu backend", async () => {
    for (let trial = 0; trial < 30; trial++) {
      const shape = randomShape(int(1, 4));
      const axis = int(0, shape.length - 1);
      const values = randomArray(sizeOf(shape), random);
      await sameOnBoth(
        () => tf.unstack(tf.tensor(values, shape), axis),
        `unstack ${JSON.stringify({ shape, axis })}`,
      );
      const first = int(0, shape[axis]);
      const sizes = first === shape[axis] ? [first] : [first, shape[axis] - first];
      await sameOnBoth(
        () => tf.split(tf.tensor(values, shape), sizes, axis),
        `split ${JSON.stringify({ shape, sizes })}`,
      );
    }
  });

  it("sums over leading axes like the cpu backend (and every other axis choice still works)", async () => {
    for (let trial = 0; trial < 40; trial++) {
      const shape = randomShape(int(2, 4)).map((d) => d * int(1, 20));
      const rank = shape.length;
      // Leading axes (the heap path) or any proper subset (the shipped kernel); a full reduction of
      // ~10^6 values differs between backends by float32 rounding alone, so none here.
      const axes =
        trial % 2 === 0
          ? Array.from({ length: int(1, rank - 1) }, (_, i) => i)
          : Array.from({ length: rank }, (_, i) => i).filter(() => random() < 0.5);
      if (axes.length === rank) axes.pop();
      if (axes.length === 0) axes.push(rank - 1);
      const keepDims = random() < 0.5;
      const values = randomArray(sizeOf(shape), random);
      // Both sides sum up to ~4·10^4 float32 values in different orders.
      await sameOnBoth(
        () => tf.sum(tf.tensor(values, shape), axes, keepDims),
        JSON.stringify({ shape, axes, keepDims }),
        1e-5,
      );
    }
  });
});

describe("Transpose of long matrices (heap path) and everything else", () => {
  it("matches the cpu backend exactly", async () => {
    const random = mulberry32(31);
    const cases: Array<[number[], number[]]> = [
      [
        [1024, 128],
        [1, 0],
      ],
      [
        [300, 70],
        [1, 0],
      ],
      [
        [1, 257, 64],
        [0, 2, 1],
      ],
      [
        [257, 1, 64],
        [2, 1, 0],
      ],
      [
        [64, 257],
        [1, 0],
      ],
      [
        [2, 300, 70],
        [0, 2, 1],
      ],
      [
        [33, 2, 33, 8],
        [1, 3, 0, 2],
      ],
    ];
    for (const [shape, perm] of cases) {
      const values = randomArray(
        shape.reduce((p, d) => p * d, 1),
        random,
      );
      const compute = (): tf.Tensor => tf.transpose(tf.tensor(values, shape), perm);
      const cpu = await on("cpu", compute);
      const wasm = await on("wasm", compute);
      expect(Array.from(wasm), JSON.stringify({ shape, perm })).toEqual(Array.from(cpu));
    }
  });
});
