/**
 * The referring model's pieces that have exact answers: im2col equals the convolution it stands for;
 * the meta-transfer solver (steepest descent with the exact line search) reaches the closed-form ridge
 * solution of small random problems, including the memory's weighted problem; its gradient with
 * respect to every input (patches, targets, row weights, λ) agrees with central finite differences;
 * the memory's weights and eviction follow the rule; the tokenizer round-trips and maps unknown words
 * to UNK; the `refer` config section is composable and checked field by field; the feature-mining and
 * meta-transfer switches change the model as the ablation needs.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  im2col,
  memorySample,
  normalEquations,
  steepestDescent,
  TransferMemory,
  updateMemoryWeights,
  type RidgeProblem,
} from "../src/models/refer/meta-transfer.js";
import { buildVocabulary, padTokens, UNK_ID, WordTokenizer } from "../src/models/refer/tokenizer.js";
import { presetConfig, resolveVisConfig } from "../src/models/config.js";
import { parseModelInfo } from "../src/models/model-file.js";
import { knockOutWeights } from "../src/models/refer/knock-out.js";
import { MaskDecoder, ReferModel } from "../src/models/refer/model.js";
import { resizeBilinear } from "../src/nn/sampling.js";
import { initRuntime } from "../src/runtime/backend.js";
import { mulberry32, relativeL2 } from "./helpers/random.js";

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
});

function randomArray(length: number, random: () => number, scale = 1, offset = -0.5): Float32Array {
  return Float32Array.from({ length }, () => (random() + offset) * scale);
}

/**
 * The ridge solution θ* = (Σ_rows w² p pᵀ + λI)⁻¹ Σ_rows w² p yᵀ of one problem, in float64
 * (Gauss–Jordan on the normal equations).
 */
function ridgeSolution(
  patches: Float32Array,
  targets: Float32Array,
  weights: Float32Array,
  n: number,
  q: number,
  d: number,
  lambda: number,
): Float64Array {
  const a = new Float64Array(q * q);
  const b = new Float64Array(q * d);
  for (let r = 0; r < n; r++) {
    const w2 = weights[r] ** 2;
    for (let i = 0; i < q; i++) {
      const pi = patches[r * q + i] * w2;
      for (let j = 0; j < q; j++) a[i * q + j] += pi * patches[r * q + j];
      for (let k = 0; k < d; k++) b[i * d + k] += pi * targets[r * d + k];
    }
  }
  for (let i = 0; i < q; i++) a[i * q + i] += lambda;
  // Gauss–Jordan with partial pivoting on [a | b].
  for (let col = 0; col < q; col++) {
    let pivot = col;
    for (let r = col + 1; r < q; r++) if (Math.abs(a[r * q + col]) > Math.abs(a[pivot * q + col])) pivot = r;
    for (let j = 0; j < q; j++) [a[col * q + j], a[pivot * q + j]] = [a[pivot * q + j], a[col * q + j]];
    for (let k = 0; k < d; k++) [b[col * d + k], b[pivot * d + k]] = [b[pivot * d + k], b[col * d + k]];
    const inv = 1 / a[col * q + col];
    for (let j = 0; j < q; j++) a[col * q + j] *= inv;
    for (let k = 0; k < d; k++) b[col * d + k] *= inv;
    for (let r = 0; r < q; r++) {
      if (r === col) continue;
      const f = a[r * q + col];
      if (f === 0) continue;
      for (let j = 0; j < q; j++) a[r * q + j] -= f * a[col * q + j];
      for (let k = 0; k < d; k++) b[r * d + k] -= f * b[col * d + k];
    }
  }
  return b;
}

describe("im2col", () => {
  it("times a flattened HWIO kernel equals conv2d with same padding", () => {
    const random = mulberry32(3);
    for (const k of [1, 3, 5]) {
      const x = tf.tensor4d(randomArray(2 * 5 * 6 * 3, random), [2, 5, 6, 3]);
      const kernel = tf.tensor4d(randomArray(k * k * 3 * 4, random), [k, k, 3, 4]);
      const viaPatches = tf.matMul(im2col(x, k), tf.tile(kernel.reshape([1, k * k * 3, 4]), [2, 1, 1]));
      const conv = tf.conv2d(x, kernel, 1, "same").reshape([2, 30, 4]);
      expect(relativeL2(viaPatches.dataSync(), conv.dataSync())).toBeLessThan(1e-6);
      tf.dispose([x, kernel, viaPatches, conv]);
    }
  });
});

/** Rows → the ridge problem the solver takes (its normal equations). */
function ridgeProblem(
  patches: tf.Tensor3D,
  targets: tf.Tensor3D,
  rowWeights: tf.Tensor3D,
  lambda: tf.Scalar,
): RidgeProblem {
  return { ...normalEquations(patches, targets, rowWeights), lambda };
}

/** ½ Σ_rows ‖w (Pθ − Y)‖² + ½ λ‖θ‖² per problem, computed from the rows. */
function objective(
  rows: { patches: tf.Tensor3D; targets: tf.Tensor3D; rowWeights: tf.Tensor3D; lambda: tf.Scalar },
  theta: tf.Tensor,
): tf.Tensor1D {
  return tf.tidy(() => {
    const residual = tf.mul(
      rows.rowWeights,
      tf.sub(tf.matMul(rows.patches, theta as tf.Tensor3D), rows.targets),
    );
    const data = tf.sum(tf.square(residual), [1, 2]);
    return tf.mul(0.5, tf.add(data, tf.mul(rows.lambda, tf.sum(tf.square(theta), [1, 2])))) as tf.Tensor1D;
  });
}

describe("meta-transfer solver", () => {
  it("converges to the closed-form ridge solution on small random problems", () => {
    const random = mulberry32(11);
    for (const [b, n, q, d, lambda] of [
      [1, 30, 4, 2, 0.5],
      [3, 40, 6, 3, 2],
      [2, 25, 9, 1, 0.1],
    ] as const) {
      const patches = randomArray(b * n * q, random, 2);
      const targets = randomArray(b * n * d, random, 2);
      const weights = randomArray(b * n, random, 1, 0.2); // 0.2..1.2
      const rows = {
        patches: tf.tensor3d(patches, [b, n, q]),
        targets: tf.tensor3d(targets, [b, n, d]),
        rowWeights: tf.tensor3d(weights, [b, n, 1]),
        lambda: tf.scalar(lambda),
      };
      const problem = ridgeProblem(rows.patches, rows.targets, rows.rowWeights, rows.lambda);
      const theta = steepestDescent(problem, tf.zeros([b, q, d]), 300);
      const solved = theta.dataSync();
      for (let p = 0; p < b; p++) {
        const expected = ridgeSolution(
          patches.subarray(p * n * q, (p + 1) * n * q),
          targets.subarray(p * n * d, (p + 1) * n * d),
          weights.subarray(p * n, (p + 1) * n),
          n,
          q,
          d,
          lambda,
        );
        expect(relativeL2(solved.subarray(p * q * d, (p + 1) * q * d), expected)).toBeLessThan(2e-4);
      }
      // The step is the exact line search: the new gradient is orthogonal to the step's direction.
      const gradient = (theta: tf.Tensor3D) => tf.grad((t: tf.Tensor) => tf.sum(objective(rows, t)))(theta);
      const theta0 = tf.tensor3d(randomArray(b * q * d, random), [b, q, d]);
      const theta1 = steepestDescent(problem, theta0, 1);
      const g0 = gradient(theta0).dataSync();
      const g1 = gradient(theta1).dataSync();
      for (let p = 0; p < b; p++) {
        let dot = 0;
        let norm = 0;
        for (let i = p * q * d; i < (p + 1) * q * d; i++) {
          dot += g0[i] * g1[i];
          norm += g0[i] * g0[i];
        }
        expect(Math.abs(dot)).toBeLessThan(1e-4 * norm);
      }
      tf.dispose([theta0, theta1]);
      // Every exact line-search step lowers the objective.
      let previous = Infinity;
      let current = tf.zeros([b, q, d]) as tf.Tensor3D;
      for (let s = 0; s < 5; s++) {
        const value = objective(rows, current).dataSync()[0];
        expect(value).toBeLessThan(previous);
        previous = value;
        const next = steepestDescent(problem, current, 1);
        current.dispose();
        current = next;
      }
      tf.dispose([theta, current, problem.gram, problem.cross, ...Object.values(rows)]);
    }
  });

  it("solves the memory's problem: Σ γ_m ‖W_m ⊙ (P_m θ − Y_m)‖² + λ‖θ‖²", () => {
    const random = mulberry32(5);
    const [n, q, d, lambda] = [12, 5, 2, 0.3];
    const memory = new TransferMemory({ slots: 3, learningRate: 0.4, firstFrameMinWeight: 0.3 });
    const raw: { patches: Float32Array; targets: Float32Array; w: Float32Array }[] = [];
    for (let m = 0; m < 4; m++) {
      const sample = {
        patches: randomArray(n * q, random, 2),
        targets: randomArray(n * d, random, 2),
        w: randomArray(n, random, 1, 0),
      };
      raw.push(sample);
      memory.add(
        memorySample(
          tf.tensor3d(sample.patches, [1, n, q]),
          tf.tensor3d(sample.targets, [1, n, d]),
          tf.tensor3d(sample.w, [1, n, 1]),
        ),
      );
    }
    // Four arrivals in three slots: the second sample (the weakest) was evicted.
    expect(memory.frames).toEqual([0, 2, 3]);
    const held = memory.frames.map((f) => raw[f]);
    const gammas = memory.weights;
    const patches = new Float32Array(held.flatMap((s) => [...s.patches]));
    const targets = new Float32Array(held.flatMap((s) => [...s.targets]));
    const weights = new Float32Array(held.flatMap((s, m) => [...s.w].map((w) => w * Math.sqrt(gammas[m]))));
    const expected = ridgeSolution(patches, targets, weights, 3 * n, q, d, lambda);
    const problem = memory.problem(tf.scalar(lambda));
    const theta = steepestDescent(problem, tf.zeros([1, q, d]), 400);
    expect(relativeL2(theta.dataSync(), expected)).toBeLessThan(5e-4);
    tf.dispose([theta, problem.gram, problem.cross, problem.lambda]);
  });

  it("has the gradient of central finite differences in every input", () => {
    const random = mulberry32(23);
    const [b, n, q, d] = [2, 10, 4, 3];
    const values = {
      patches: randomArray(b * n * q, random, 2),
      targets: randomArray(b * n * d, random, 2),
      rowWeights: randomArray(b * n, random, 1, 0.3),
      lambda: Float32Array.of(0.7),
      theta0: randomArray(b * q * d, random, 0.5),
    };
    const shapes = {
      patches: [b, n, q],
      targets: [b, n, d],
      rowWeights: [b, n, 1],
      lambda: [],
      theta0: [b, q, d],
    };
    const probe = tf.tensor3d(randomArray(b * q * d, random, 2), [b, q, d]);
    // f = Σ probe ⊙ θ after 3 steps, as a function of all inputs.
    const f = (
      patches: tf.Tensor,
      targets: tf.Tensor,
      rowWeights: tf.Tensor,
      lambda: tf.Tensor,
      theta0: tf.Tensor,
    ) =>
      tf.sum(
        tf.mul(
          probe,
          steepestDescent(
            ridgeProblem(
              patches as tf.Tensor3D,
              targets as tf.Tensor3D,
              rowWeights as tf.Tensor3D,
              lambda as tf.Scalar,
            ),
            theta0 as tf.Tensor3D,
            3,
          ),
        ),
      ) as tf.Scalar;
    const names = ["patches", "targets", "rowWeights", "lambda", "theta0"] as const;
    const tensors = names.map((name) => tf.tensor(values[name], shapes[name]));
    const grads = tf
      .grads(f)(tensors)
      .map((g) => g.dataSync());
    const evaluate = (changed: (typeof names)[number], index: number, delta: number) =>
      tf.tidy(() => {
        const inputs = names.map((name) => {
          const data = Float32Array.from(values[name]);
          if (name === changed) data[index] += delta;
          return tf.tensor(data, shapes[name]);
        });
        return f(...(inputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])).dataSync()[0];
      });
    const eps = 1e-2;
    names.forEach((name, k) => {
      const count = Math.min(6, values[name].length);
      for (let c = 0; c < count; c++) {
        const index = Math.floor((c * values[name].length) / count);
        const numeric = (evaluate(name, index, eps) - evaluate(name, index, -eps)) / (2 * eps);
        const analytic = grads[k][index];
        expect(Math.abs(numeric - analytic), `${name}[${index}]`).toBeLessThan(
          2e-2 * Math.max(1, Math.abs(numeric)),
        );
      }
    });
    tf.dispose([...tensors, probe]);
  });
});

describe("memory", () => {
  const options = { slots: 4, learningRate: 0.3, firstFrameMinWeight: 0.25 };

  it("weights new samples in, decays old ones and keeps the first frame above its minimum", () => {
    let weights: number[] = [];
    const first = updateMemoryWeights(weights, options);
    expect(first).toEqual({ weights: [1], evicted: undefined });
    weights = first.weights;
    const second = updateMemoryWeights(weights, options);
    expect(second.weights[0]).toBeCloseTo(0.7, 12);
    expect(second.weights[1]).toBeCloseTo(0.3, 12);
    weights = second.weights;
    for (let t = 2; t < 30; t++) {
      const next = updateMemoryWeights(weights, options);
      expect(next.weights.length).toBe(Math.min(t + 1, options.slots));
      expect(next.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(next.weights[0]).toBeGreaterThanOrEqual(options.firstFrameMinWeight - 1e-12);
      // The newest sample has the largest weight among the non-first ones.
      const newest = next.weights[next.weights.length - 1];
      for (let k = 1; k < next.weights.length - 1; k++) expect(newest).toBeGreaterThan(next.weights[k]);
      if (t + 1 > options.slots)
        expect(next.evicted).toBe(1); // the oldest after the first frame
      else expect(next.evicted).toBeUndefined();
      weights = next.weights;
    }
    // Without the floor the first frame's weight would decay as 0.7^t.
    expect(weights[0]).toBeCloseTo(0.25, 12);
  });

  it("evicts the weakest sample, not the first frame nor the newest, the oldest on ties", () => {
    const rule = { slots: 3, learningRate: 0.5, firstFrameMinWeight: 0 };
    expect(updateMemoryWeights([0.1, 0.6, 0.3], rule).evicted).toBe(2);
    expect(updateMemoryWeights([0.2, 0.4, 0.4], rule).evicted).toBe(1);
    expect(updateMemoryWeights([0.01, 0.5, 0.49], rule).evicted).toBe(2);
  });

  it("holds at most K samples and frees what it evicts when it owns them", () => {
    const memory = new TransferMemory({ slots: 3, learningRate: 0.5, firstFrameMinWeight: 0.2 }, true);
    const before = tf.memory().numTensors;
    for (let t = 0; t < 10; t++) {
      tf.tidy(() => memory.add({ gram: tf.fill([1, 2, 2], t), cross: tf.fill([1, 2, 1], t) }));
      expect(memory.size).toBe(Math.min(t + 1, 3));
      expect(tf.memory().numTensors - before).toBe(2 * memory.size);
    }
    expect(memory.frames).toEqual([0, 8, 9]);
    // The problem is the γ-weighted sum of the samples held.
    const problem = memory.problem(tf.scalar(1));
    const [g0, g8, g9] = memory.weights;
    expect(problem.gram.dataSync()[0]).toBeCloseTo(g0 * 0 + g8 * 8 + g9 * 9, 5);
    tf.dispose([problem.gram, problem.cross, problem.lambda]);
    memory.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("tokenizer", () => {
  const expressions = ["The red circle moving left", "the small BLUE square, on the left!", "a triangle"];
  const vocabulary = buildVocabulary(expressions);

  it("builds a sorted vocabulary of lower-case words, independent of the order", () => {
    expect(vocabulary).toEqual([
      "a",
      "blue",
      "circle",
      "left",
      "moving",
      "on",
      "red",
      "small",
      "square",
      "the",
      "triangle",
    ]);
    expect(buildVocabulary([...expressions].reverse())).toEqual(vocabulary);
  });

  it("round-trips known words and maps unknown ones to UNK, naming each once", () => {
    const tokenizer = new WordTokenizer(vocabulary);
    expect(tokenizer.size).toBe(vocabulary.length + 2);
    const known = tokenizer.encode("The small blue square on the LEFT");
    expect(known.unknown).toEqual([]);
    expect(tokenizer.decode(known.ids)).toBe("the small blue square on the left");
    const mixed = tokenizer.encode("the purple hexagon, the purple one");
    expect(mixed.unknown).toEqual(["purple", "hexagon", "one"]);
    expect(mixed.ids.filter((id) => id === UNK_ID).length).toBe(4);
    expect(tokenizer.decode(mixed.ids)).toBe("the [UNK] [UNK] the [UNK] [UNK]");
    // A model file's vocabulary gives the same ids.
    const reloaded = new WordTokenizer(JSON.parse(JSON.stringify(vocabulary)));
    expect(reloaded.encode("the red circle").ids).toEqual(tokenizer.encode("the red circle").ids);
  });

  it("pads and cuts to a length, and rejects an expression without words", () => {
    const { ids, padding, lengths } = padTokens([[5, 6, 7], [8]], 2);
    expect([...ids]).toEqual([5, 6, 8, 0]);
    expect([...padding]).toEqual([0, 0, 0, 1]);
    expect(lengths).toEqual([2, 1]);
    expect(() => padTokens([[]], 4)).toThrow(/no words/);
    expect(() => new WordTokenizer(["Red"])).toThrow(/lower-case/);
  });
});

describe("refer config", () => {
  it("composes: presets name what they change, files override single fields", () => {
    const tiny = presetConfig("tiny");
    expect(tiny.refer).toMatchObject({ textLayers: 1, transferDim: 16, memorySlots: 4, clipLength: 3 });
    expect(tiny.refer.featureMining).toBe(true);
    const config = resolveVisConfig({ preset: "tiny", refer: { metaTransfer: false, memorySlots: 6 } });
    expect(config.refer).toEqual({ ...tiny.refer, metaTransfer: false, memorySlots: 6 });
    // A config stored before the section existed gets the defaults.
    expect(resolveVisConfig({ preset: "cpu-small", model: {} }).refer).toEqual(
      presetConfig("cpu-small").refer,
    );
  });

  it("names the file and the field of a bad value", () => {
    const bad = (refer: object) => () => resolveVisConfig({ preset: "tiny", refer }, "run.json");
    expect(bad({ transferKernel: 2 })).toThrow(/run\.json.*refer\.transferKernel.*odd/);
    expect(bad({ memorySlots: 1 })).toThrow(/refer\.memorySlots/);
    expect(bad({ lovaszWeight: 0, bceWeight: 0 })).toThrow(/refer\.lovaszWeight/);
    expect(bad({ expressionsPerClip: 0 })).toThrow(/refer\.expressionsPerClip/);
    expect(bad({ textKernelHead: 1 })).toThrow(/refer\.textKernelHead.*true or false/);
    expect(bad({ featureMining: "yes" })).toThrow(/refer\.featureMining.*true or false/);
    expect(bad({ solverStep: 3 })).toThrow(/unknown field "solverStep"/);
  });

  it("a referring model file needs a vocabulary and no classes", () => {
    const config = presetConfig("tiny");
    const info = { kind: "refer", config, categoryIds: [], vocabulary: ["red", "the"] };
    expect(parseModelInfo(info).vocabulary).toEqual(["red", "the"]);
    expect(() => parseModelInfo({ ...info, vocabulary: undefined }, "m.safetensors")).toThrow(
      /m\.safetensors.*info\.vocabulary/,
    );
    expect(() => parseModelInfo({ ...info, vocabulary: ["red", "red"] })).toThrow(/distinct words/);
    expect(() => parseModelInfo({ ...info, categoryIds: [1] })).toThrow(/categoryIds.*no classes/);
  });

  it("the ablation switches remove the multi-scale fusion and the meta-transfer", () => {
    const names = (featureMining: boolean, metaTransfer: boolean) => {
      const config = presetConfig("tiny");
      config.refer = { ...config.refer, featureMining, metaTransfer };
      const model = new ReferModel({ model: config.model, refer: config.refer, vocabularySize: 5 });
      const keys = [...model.stateDict().keys()];
      model.dispose();
      return keys;
    };
    const full = names(true, true);
    const base = names(false, false);
    for (const level of [5, 4]) {
      expect(full.some((n) => n.startsWith(`mining.fuse_${level}.`))).toBe(true);
      expect(base.some((n) => n.startsWith(`mining.fuse_${level}.`))).toBe(false);
      expect(base.some((n) => n.startsWith(`mining.smooth_${level}.`))).toBe(true);
    }
    expect(base.some((n) => n.startsWith("mining.fuse_3."))).toBe(true);
    expect(full).toContain("transfer.log_lambda");
    expect(base.some((n) => n.startsWith("transfer."))).toBe(false);
  });

  it("a knock-out keeps what the removed component leaves: the image path of the fusions, the decoder over Y(t)", () => {
    const random = mulberry32(12);
    const build = (featureMining: boolean, metaTransfer: boolean) => {
      const config = presetConfig("tiny");
      config.refer = { ...config.refer, featureMining, metaTransfer };
      return new ReferModel({ model: config.model, refer: config.refer, vocabularySize: 6 });
    };
    const full = build(true, true);
    const dim = full.options.model.hiddenDim;
    // A full model whose 1/32 and 1/16 fusions ignore the text (gate 0, no weight on the attended
    // words and the coordinates): there feature mining and its knock-out must agree exactly.
    const textFree = new Map(
      [...full.stateDict()].map(([name, value]) => {
        if (/^mining\.fuse_[45]\.gate\./.test(name)) return [name, tf.zerosLike(value)];
        if (/^mining\.fuse_[45]\.mix\.weight$/.test(name)) {
          const channels = value.shape[2]!;
          const keep = tf.tensor1d(
            Array.from({ length: channels }, (_, c) => (c >= dim && c < 2 * dim ? 1 : 0)),
          );
          return [name, tf.mul(value, keep.reshape([1, 1, channels, 1]))];
        }
        return [name, tf.randomNormal(value.shape, 0, 0.3, "float32", Math.floor(random() * 1e6))];
      }),
    );
    full.loadStateDict(textFree);
    const from = { featureMining: true, metaTransfer: true };
    for (const to of [
      { featureMining: false, metaTransfer: true },
      { featureMining: true, metaTransfer: false },
      { featureMining: false, metaTransfer: false },
    ]) {
      const knocked = build(to.featureMining, to.metaTransfer);
      const { weights, created } = knockOutWeights(full.stateDict(), from, to, dim);
      knocked.loadStateDict(weights); // strict: exactly the names and shapes of the smaller model
      tf.dispose(created);
      if (!to.featureMining) {
        const smooth = knocked.stateDict().get("mining.smooth_4.weight")!;
        const mix = full.stateDict().get("mining.fuse_4.mix.weight")!;
        expect(smooth.dataSync()).toEqual(tf.slice(mix, [0, 0, dim, 0], [3, 3, dim, dim]).dataSync());
      }
      const [, c3, c4, c5] = full.backbone.outChannels;
      const values = (shape: number[]) => tf.randomNormal(shape, 0, 1, "float32", Math.floor(random() * 1e6));
      const features = {
        res2: values([2, 16, 16, full.backbone.outChannels[0]]) as tf.Tensor4D,
        res3: values([2, 8, 8, c3]) as tf.Tensor4D,
        res4: values([2, 4, 4, c4]) as tf.Tensor4D,
        res5: values([2, 2, 2, c5]) as tf.Tensor4D,
      };
      const text = full.encodeText([
        [2, 3, 4],
        [5, 2],
      ]);
      const mined = {
        full: full.mining.forward(features, text),
        knocked: knocked.mining.forward(features, text),
      };
      expect(relativeL2(mined.knocked.y.dataSync(), mined.full.y.dataSync())).toBeLessThan(1e-5);
      if (!to.metaTransfer) {
        // Without the memory the decoder sees Y(t) alone: the full decoder with θ ∗ X(t) = 0.
        const y = mined.full.y;
        const withZero = full.decode(y, tf.zerosLike(y), features.res2, text);
        const alone = knocked.decode(y, undefined, features.res2, text);
        expect(alone.shape).toEqual([2, 16, 16, 1]);
        expect(relativeL2(alone.dataSync(), withZero.dataSync())).toBeLessThan(1e-5);
      }
      knocked.dispose();
    }
    full.dispose();
  });

  it("the text kernel head: each logit is the decoder feature · kernel(sentence) / √D + bias", () => {
    const random = mulberry32(5);
    const values = (n: number) => Array.from({ length: n }, () => random() * 2 - 1);
    const decoder = new MaskDecoder(8, 4, 8, 2, true);
    expect([...decoder.stateDict().keys()].some((n) => n.startsWith("predict."))).toBe(false);
    const features = tf.tensor4d(values(2 * 2 * 2 * 8), [2, 2, 2, 8]);
    const res2 = tf.tensor4d(values(2 * 4 * 4 * 4), [2, 4, 4, 4]);
    const sentence = tf.tensor2d(values(2 * 8), [2, 8]);
    const logits = decoder.forward(features, res2, sentence);
    const refined = tf.tidy(() =>
      decoder.refine.forward(
        tf.add(
          resizeBilinear(decoder.fuse.forward(features), 4, 4),
          decoder.lateral.forward(res2),
        ) as tf.Tensor4D,
      ),
    );
    const kernel = decoder.textKernel!.forward(sentence).arraySync() as number[][];
    const f = refined.arraySync() as number[][][][];
    const got = logits.arraySync() as number[][][][];
    for (let n = 0; n < 2; n++)
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 4; x++) {
          let dot = 0;
          for (let c = 0; c < 8; c++) dot += f[n][y][x][c] * kernel[n][c];
          expect(got[n][y][x][0]).toBeCloseTo(dot / Math.sqrt(8) + kernel[n][8], 4);
        }
    // The same pixels with another sentence give other logits.
    const other = decoder.forward(features, res2, tf.reverse(sentence, 0) as tf.Tensor2D);
    expect(tf.tidy(() => tf.sub(other, logits).abs().max().dataSync()[0])).toBeGreaterThan(1e-3);
    tf.dispose([features, res2, sentence, logits, refined, other]);
    decoder.dispose();
  });
});
