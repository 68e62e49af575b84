/**
 * Building blocks against PyTorch (test/golden/nn-blocks.json from scripts/nn_golden.py): multi-head
 * attention, Mask2Former's decoder layer and sine positions, interpolate, point_sample, the FPN pixel
 * decoder; plus layer invariants.
 */
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { MultiheadAttention } from "../src/nn/attention.js";
import { MaskedAttentionDecoderLayer, maskedAttentionMask } from "../src/nn/decoder.js";
import { Conv2d, Dropout, GroupNorm, LayerNorm, Linear, Mlp } from "../src/nn/layers.js";
import type { Module } from "../src/nn/module.js";
import { FpnPixelDecoder } from "../src/nn/pixel-decoder.js";
import { sinePositionEncoding } from "../src/nn/position.js";
import { getUncertainPointCoords, pointSample, resizeBilinear, resizeNearest } from "../src/nn/sampling.js";
import { initRuntime } from "../src/runtime/backend.js";
import { mulberry32 } from "./helpers/random.js";

type Nested = number | boolean | Nested[];
const golden = JSON.parse(readFileSync("test/golden/nn-blocks.json", "utf8"));
const t = (values: Nested): tf.Tensor => tf.tensor(values as number[]);

beforeAll(async () => {
  await initRuntime();
});

function maxDiff(actual: tf.Tensor, expected: Nested): number {
  return tf.tidy(() => {
    const e = t(expected);
    expect(actual.shape).toEqual(e.shape);
    return tf.max(tf.abs(tf.sub(actual, e))).dataSync()[0];
  });
}

/** Loads a PyTorch state dict from the golden JSON; 4-D conv weights OIHW → HWIO. */
function loadTorchState(module: Module, state: Record<string, { shape: number[]; values: number[] }>): void {
  const values = new Map<string, tf.Tensor>();
  for (const [name, { shape, values: data }] of Object.entries(state)) {
    const tensor = tf.tensor(data, shape);
    values.set(name, shape.length === 4 ? tensor.transpose([2, 3, 1, 0]) : tensor);
  }
  module.loadStateDict(values);
}

describe("MultiheadAttention (torch.nn.MultiheadAttention parameters)", () => {
  const g = golden.mha;
  let mha: MultiheadAttention;
  let q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D;
  beforeAll(() => {
    mha = new MultiheadAttention(8, 2);
    loadTorchState(mha, g.state);
    [q, k, v] = [t(g.query), t(g.key), t(g.value)] as tf.Tensor3D[];
  });

  it("matches without masks, including the head-averaged weights", () => {
    const { output, weights } = mha.forwardWithWeights(q, k, v);
    expect(maxDiff(output, g.plain)).toBeLessThan(1e-5);
    expect(maxDiff(weights, g.weights)).toBeLessThan(1e-6);
  });

  it("matches with a boolean attention mask and a key padding mask", () => {
    const out = mha.forward(q, k, v, {
      attnMask: tf.tensor(g.attn_mask, undefined, "bool"),
      keyPaddingMask: tf.tensor(g.key_padding_mask, undefined, "bool"),
    });
    expect(maxDiff(out, g.masked)).toBeLessThan(1e-5);
  });

  it("matches with an additive float mask", () => {
    expect(maxDiff(mha.forward(q, k, v, { attnMask: t(g.float_mask) }), g.additive)).toBeLessThan(1e-5);
  });
});

describe("Mask2Former decoder layer", () => {
  const g = golden.decoder_layer;
  it("builds the masked-attention mask (all-masked rows unmasked)", () => {
    const mask = maskedAttentionMask(t(g.mask_logits) as tf.Tensor4D, 3, 5);
    const values = (mask.arraySync() as number[][][]).map((rows) => rows.map((row) => row.map(Boolean)));
    expect(values).toEqual(g.attn_mask);
    expect(values[0][1].every((m) => !m)).toBe(true);
  });

  it("masked cross-attention → self-attention → FFN matches the reference", () => {
    const layer = new MaskedAttentionDecoderLayer({ dModel: 8, numHeads: 2, dimFeedforward: 16 });
    loadTorchState(layer, g.state);
    const pos = sinePositionEncoding(2, 3, 5, { numPosFeats: 4 }).reshape([2, 15, 8]);
    const out = layer.forward(t(g.queries) as tf.Tensor3D, t(g.memory) as tf.Tensor3D, {
      attnMask: maskedAttentionMask(t(g.mask_logits) as tf.Tensor4D, 3, 5),
      memoryPos: pos,
      queryPos: t(g.query_pos),
    });
    expect(maxDiff(out, g.output)).toBeLessThan(1e-5);
    layer.dispose();
  });

  it("sine position encoding matches PositionEmbeddingSine(normalize=True)", () => {
    const { height, width, num_pos_feats: feats } = golden.position;
    expect(
      maxDiff(sinePositionEncoding(1, height, width, { numPosFeats: feats }), golden.position.nhwc),
    ).toBeLessThan(1e-6);
  });
});

describe("resize and point sampling (F.interpolate, grid_sample)", () => {
  const g = golden.resize;
  let x: tf.Tensor4D;
  beforeAll(() => {
    x = t(g.input_nhwc) as tf.Tensor4D;
  });
  for (const name of ["up_false", "up_true", "down_false", "down_true"]) {
    it(`bilinear ${name}`, () => {
      const [h, w] = g[name].size;
      const y = resizeBilinear(x, h, w, { alignCorners: name.endsWith("true") });
      expect(maxDiff(y, g[name].nhwc)).toBeLessThan(1e-6);
    });
  }
  for (const name of ["nearest_up", "nearest_odd"]) {
    it(`nearest ${name}`, () => {
      const [h, w] = g[name].size;
      expect(maxDiff(resizeNearest(x, h, w), g[name].nhwc)).toBeLessThan(1e-7);
    });
  }

  it("pointSample equals point_sample (zeros padding, align_corners=False)", () => {
    const p = golden.point_sample;
    const out = pointSample(t(p.features_nhwc) as tf.Tensor4D, t(p.coords) as tf.Tensor3D);
    expect(maxDiff(out, p.output)).toBeLessThan(1e-6);
  });

  it("pointSample passes gradients to the features", () => {
    const p = golden.point_sample;
    const coords = t(p.coords) as tf.Tensor3D;
    const grad = tf.grad((f: tf.Tensor) => tf.sum(pointSample(f as tf.Tensor4D, coords)))(t(p.features_nhwc));
    // Each point spreads weight ≤ 1 over its four taps (less at the border), once per channel.
    const total = grad.sum().dataSync()[0];
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(2 * 9 * 3 + 1e-4);
  });

  it("getUncertainPointCoords keeps the most uncertain candidates", () => {
    // Logits are 0 in columns 12–19 of a 32-wide map and ±10 elsewhere: importance points land there.
    const data = new Float32Array(32 * 32).map((_, i) =>
      i % 32 >= 12 && i % 32 < 20 ? 0 : i % 2 ? 10 : -10,
    );
    const rng = mulberry32(7);
    const coords = getUncertainPointCoords(tf.tensor3d(data, [1, 32, 32]), 40, 3, 0.75, rng);
    expect(coords.shape).toEqual([1, 40, 2]);
    const xs = (coords.arraySync() as number[][][])[0].map(([cx]) => cx * 32);
    expect(xs.slice(0, 30).every((x) => x >= 8.5 && x <= 23.5)).toBe(true);
    expect(xs.slice(30).some((x) => x < 8.5 || x > 23.5)).toBe(true);
  });
});

describe("FPN pixel decoder (MaskFormer BasePixelDecoder)", () => {
  it("matches the reference mask features and multi-scale features", () => {
    const g = golden.pixel_decoder;
    const decoder = new FpnPixelDecoder({ inChannels: [4, 6, 8, 10], convDim: 8, maskDim: 6, normGroups: 2 });
    loadTorchState(decoder, g.state);
    const [res2, res3, res4, res5] = g.features_nhwc.map((f: Nested) => t(f) as tf.Tensor4D);
    const out = decoder.forward({ res2, res3, res4, res5 });
    expect(maxDiff(out.maskFeatures, g.mask_features)).toBeLessThan(1e-5);
    out.multiScaleFeatures.forEach((f, i) => expect(maxDiff(f, g.multi_scale[i])).toBeLessThan(1e-5));
    decoder.dispose();
  });
});

describe("layers", () => {
  it("Linear keeps PyTorch's [out, in] weight layout", () => {
    const linear = new Linear(3, 2);
    linear.loadStateDict(
      new Map<string, tf.Tensor>([
        [
          "weight",
          tf.tensor2d([
            [1, 2, 3],
            [4, 5, 6],
          ]),
        ],
        ["bias", tf.tensor1d([0.5, -0.5])],
      ]),
    );
    expect(linear.forward(tf.tensor2d([[1, 0, -1]])).arraySync()).toEqual([[-1.5, -2.5]]);
  });

  it("Mlp names its layers layers.0 … and applies ReLU between them", () => {
    const mlp = new Mlp(4, 8, 2, 3);
    expect([...mlp.namedParameters().keys()]).toEqual([
      "layers.0.weight",
      "layers.0.bias",
      "layers.1.weight",
      "layers.1.bias",
      "layers.2.weight",
      "layers.2.bias",
    ]);
    expect(mlp.forward(tf.ones([5, 4])).shape).toEqual([5, 2]);
  });

  it("GroupNorm and LayerNorm normalise to zero mean and unit variance", () => {
    const x = tf.randomNormal([2, 3, 4, 8], 3, 2, "float32", 1) as tf.Tensor4D;
    const gn = new GroupNorm(2, 8).forward(x);
    const { mean, variance } = tf.moments(gn.reshape([2, 12, 2, 4]), [1, 3]);
    mean.dataSync().forEach((m) => expect(Math.abs(m)).toBeLessThan(1e-5));
    variance.dataSync().forEach((v) => expect(v).toBeCloseTo(1, 3));
    const ln = tf.moments(new LayerNorm(8).forward(x), -1);
    ln.variance.dataSync().forEach((v) => expect(v).toBeCloseTo(1, 3));
  });

  it("Conv2d carries detectron2 names (weight, norm.*) and an HWIO weight", () => {
    const conv = new Conv2d(3, 4, 3, { padding: 1, norm: "GN", normGroups: 2, activation: "relu" });
    expect([...conv.stateDict().keys()]).toEqual(["weight", "norm.weight", "norm.bias"]);
    expect(conv.weight.shape).toEqual([3, 3, 3, 4]);
    const y = conv.forward(tf.ones([1, 5, 5, 3]));
    expect(y.shape).toEqual([1, 5, 5, 4]);
    expect(y.min().dataSync()[0]).toBeGreaterThanOrEqual(0);
  });

  it("Dropout is the identity in eval mode and reproducible with a seed", () => {
    const dropout = new Dropout(0.5);
    const x = tf.ones([100]);
    const a = dropout.forward(x, 3).dataSync();
    expect(Array.from(dropout.forward(x, 3).dataSync())).toEqual(Array.from(a));
    expect(a.filter((v) => v === 0).length).toBeGreaterThan(20);
    expect(new Set(a)).toEqual(new Set([0, 2]));
    dropout.eval();
    expect(dropout.forward(x, 3)).toBe(x);
  });
});
