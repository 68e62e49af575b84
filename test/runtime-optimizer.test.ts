/**
 * The one-kernel AdamW update (src/runtime/optimizer-kernels.ts) against the same step written with
 * tfjs ops (torch.optim.AdamW's formula), on the cpu and wasm backends.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";

import { initRuntime } from "../src/runtime/backend.js";
import { adamWUpdate, type AdamWHyper } from "../src/runtime/optimizer-kernels.js";

function opUpdate(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, h: AdamWHyper): tf.Tensor[] {
  return tf.tidy(() => {
    const decayed = p.mul(1 - h.lr * h.weightDecay);
    const expAvg = m.mul(h.beta1).add(g.mul(1 - h.beta1));
    const expAvgSq = v.mul(h.beta2).add(g.mul(1 - h.beta2).mul(g));
    const denom = expAvgSq.sqrt().div(h.biasCorrection2Sqrt).add(h.eps);
    return [decayed.sub(expAvg.div(denom).mul(h.lr / h.biasCorrection1)), expAvg, expAvgSq];
  });
}

/** Largest |a − b| relative to max(1, |b|): float32 rounding of intermediate results differs by ulps. */
function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

beforeAll(async () => {
  expect(await initRuntime({ backend: "wasm" })).toBe("wasm");
});

describe("AdamW update kernel", () => {
  const cases: Array<[number[], Partial<AdamWHyper>, number]> = [
    [[7, 5], {}, 1],
    [[3, 3, 4, 8], { weightDecay: 0 }, 3],
    [[129], { lr: 0.5, weightDecay: 0.1, beta1: 0.5, beta2: 0.9 }, 50],
    [[2, 1, 33], { eps: 1e-3 }, 2],
  ];
  for (const backend of ["cpu", "wasm"]) {
    it.each(cases)(`${backend}: %j %j step %i matches the op formulation`, async (shape, overrides, step) => {
      await tf.setBackend(backend);
      const [beta1, beta2] = [overrides.beta1 ?? 0.9, overrides.beta2 ?? 0.999];
      const hyper: AdamWHyper = {
        lr: 1e-2,
        eps: 1e-8,
        weightDecay: 0.01,
        ...overrides,
        beta1,
        beta2,
        biasCorrection1: 1 - beta1 ** step,
        biasCorrection2Sqrt: Math.sqrt(1 - beta2 ** step),
      };
      const [p, g, m] = [1, 2, 3].map((seed) => tf.randomNormal(shape, 0, 1, "float32", seed));
      const v = tf.square(tf.randomNormal(shape, 0, 1, "float32", 4));
      const fused = adamWUpdate(p, g, m, v, hyper);
      expect(fused).not.toBeNull();
      const expected = opUpdate(p, g, m, v, hyper);
      const actual = [fused!.param, fused!.expAvg, fused!.expAvgSq];
      for (let i = 0; i < 3; i++) {
        expect(actual[i].shape).toEqual(shape);
        expect(
          maxDiff(actual[i].dataSync() as Float32Array, expected[i].dataSync() as Float32Array),
        ).toBeLessThan(1e-6);
      }
      // The inputs are untouched (the kernel writes new tensors).
      expect(Array.from(p.dataSync())).toEqual(
        Array.from(tf.randomNormal(shape, 0, 1, "float32", 1).dataSync()),
      );
      tf.dispose([p, g, m, v, ...expected, ...actual]);
    });
  }

  it("declines other dtypes, so the caller falls back to ops", async () => {
    await tf.setBackend("wasm");
    const p = tf.zeros([4], "int32");
    const hyper = {
      lr: 1,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      biasCorrection1: 0.1,
      biasCorrection2Sqrt: 0.03,
    };
    expect(adamWUpdate(p, p, p, p, hyper)).toBeNull();
    p.dispose();
  });
});
