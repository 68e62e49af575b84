/**
 * Training through the blocks on wasm: a small backbone → FPN pixel decoder → masked-attention decoder
 * layer → point-sampled mask losses. Every trainable parameter gets a gradient, and the wasm gradients
 * (with the project's training kernels) equal the cpu backend's reference kernels.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { MaskedAttentionDecoderLayer, maskedAttentionMask } from "../src/nn/decoder.js";
import { seedParameters } from "../src/nn/init.js";
import { Embedding, Linear } from "../src/nn/layers.js";
import { pointMaskLosses } from "../src/nn/losses.js";
import { Module } from "../src/nn/module.js";
import { FpnPixelDecoder } from "../src/nn/pixel-decoder.js";
import { ResNet } from "../src/nn/resnet.js";
import { sinePositionEncoding } from "../src/nn/position.js";
import { initRuntime } from "../src/runtime/backend.js";
import { mulberry32 } from "./helpers/random.js";

class TinySegmenter extends Module {
  readonly backbone = this.addModule(
    "backbone",
    new ResNet({ block: "basic", layers: [1, 1, 1, 1], widths: [8, 8, 16, 16], stemWidth: 8, norm: "BN" }),
  );
  readonly pixelDecoder = this.addModule(
    "pixel_decoder",
    new FpnPixelDecoder({ inChannels: [8, 8, 16, 16], convDim: 16, maskDim: 16, normGroups: 4 }),
  );
  readonly queries = this.addModule("query_feat", new Embedding(3, 16));
  readonly layer = this.addModule(
    "layer",
    new MaskedAttentionDecoderLayer({ dModel: 16, numHeads: 2, dimFeedforward: 32 }),
  );
  readonly maskEmbed = this.addModule("mask_embed", new Linear(16, 16));

  /** Mask logits [3, H/4, W/4] for one image. */
  forward(image: tf.Tensor4D): tf.Tensor3D {
    const { maskFeatures, multiScaleFeatures } = this.pixelDecoder.forward(this.backbone.forward(image));
    const memory = multiScaleFeatures[2]; // 1/8
    const [, h, w, c] = memory.shape;
    const [, mh, mw] = maskFeatures.shape;
    const predict = (q: tf.Tensor): tf.Tensor3D =>
      tf
        .matMul(this.maskEmbed.forward(q).reshape([3, c]), maskFeatures.reshape([mh * mw, c]), false, true)
        .reshape([1, 3, mh, mw])
        .squeeze([0]) as tf.Tensor3D;
    const queries = this.queries.forward().expandDims(0) as tf.Tensor3D;
    const attnMask = maskedAttentionMask(predict(queries).expandDims(0) as tf.Tensor4D, h, w);
    const out = this.layer.forward(queries, memory.reshape([1, h * w, c]) as tf.Tensor3D, {
      attnMask,
      memoryPos: sinePositionEncoding(1, h, w, { numPosFeats: c / 2 }).reshape([1, h * w, c]),
    });
    return predict(out);
  }
}

/** Loss and gradients of every trainable parameter, by name, on the given backend. */
async function gradients(
  backend: "wasm" | "cpu",
): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  if (backend === "wasm") await initRuntime({ backend: "wasm" });
  else await tf.setBackend("cpu");
  seedParameters(3);
  const model = new TinySegmenter();
  const image = tf.randomUniform([1, 32, 32, 3], -1, 1, "float32", 9) as tf.Tensor4D;
  const target = tf.tidy(() =>
    tf.greater(tf.randomUniform([3, 32, 32], 0, 1, "float32", 10), 0.5).cast("float32"),
  ) as tf.Tensor3D;
  const params = model.namedParameters();
  const { value, grads } = tf.variableGrads(() => {
    const losses = pointMaskLosses(model.forward(image), target, 3, { numPoints: 64, rng: mulberry32(5) });
    return tf.add(losses.mask, losses.dice) as tf.Scalar;
  }, [...params.values()]);
  const byName = new Map<string, Float32Array>();
  for (const [name, variable] of params) byName.set(name, grads[variable.name].dataSync() as Float32Array);
  const loss = value.dataSync()[0];
  tf.dispose([value, image, target, ...Object.values(grads)]);
  model.dispose();
  return { loss, grads: byName };
}

afterAll(async () => {
  await initRuntime({ backend: "wasm" });
});

describe("gradients through the blocks", () => {
  it("reach every trainable parameter and match the cpu backend on wasm", async () => {
    const wasm = await gradients("wasm");
    const cpu = await gradients("cpu");
    expect(wasm.loss).toBeCloseTo(cpu.loss, 4);
    expect([...wasm.grads.keys()]).toEqual([...cpu.grads.keys()]);
    let worst = 0;
    for (const [name, g] of wasm.grads) {
      const ref = cpu.grads.get(name)!;
      let num = 0;
      let den = 0;
      for (let i = 0; i < g.length; i++) {
        num += (g[i] - ref[i]) ** 2;
        den += ref[i] ** 2;
      }
      // BN running statistics are buffers, not parameters; every parameter must be reached.
      expect(den, `gradient of ${name}`).toBeGreaterThan(0);
      worst = Math.max(worst, Math.sqrt(num / den));
    }
    expect(worst).toBeLessThan(1e-3);
  });
});
