/**
 * The per-frame segmenter (tiny preset, wasm): output shapes and names, the SetCriterion on a hand-built
 * case (matching, CE value, deep supervision sum), the contrastive identity loss's exact value, a model
 * file round trip to identical outputs, and a few training steps lowering the loss.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { VidsegError } from "../src/core/errors.js";
import { presetConfig, resolveVisConfig } from "../src/models/config.js";
import { contrastiveIdentityLoss, criterion, type CriterionTarget } from "../src/models/criterion.js";
import { readModelFile } from "../src/models/model-file.js";
import { instantiateModel } from "../src/models/registry.js";
import { onlineLoss } from "../src/models/vis/online.js";
import { saveModelFile } from "../src/train/checkpoint.js";
import { FrameSegmenter, disposeSegmenterOutput } from "../src/models/segmenter.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { AdamW } from "../src/train/optim.js";

const tmp = mkdtempSync(join(tmpdir(), "vidseg-segmenter-"));
beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A 0/1 mask [size, size] of an axis-aligned box. */
function box(size: number, y0: number, x0: number, y1: number, x1: number): number[][] {
  return Array.from({ length: size }, (_, y) =>
    Array.from({ length: size }, (_, x) => (y >= y0 && y < y1 && x >= x0 && x < x1 ? 1 : 0)),
  );
}

/** Frames with a red square (class 0) and a blue disc (class 1) on grey, and their GT at 64×64. */
function syntheticBatch(rng: Rng, count: number): { images: tf.Tensor4D; targets: CriterionTarget[] } {
  const size = 64;
  const pixels = new Float32Array(count * size * size * 3);
  const targets: CriterionTarget[] = [];
  for (let i = 0; i < count; i++) {
    const square = { x: rng.range(4, 30), y: rng.range(4, 30), r: rng.range(8, 14) };
    const disc = { x: rng.range(20, 44), y: rng.range(20, 44), r: rng.range(7, 12) };
    const masks = new Float32Array(2 * size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = y * size + x;
        const inSquare = x >= square.x && x < square.x + square.r && y >= square.y && y < square.y + square.r;
        const inDisc = (x + 0.5 - disc.x) ** 2 + (y + 0.5 - disc.y) ** 2 <= disc.r ** 2;
        const colour = inDisc ? [0.15, 0.2, 0.9] : inSquare ? [0.9, 0.15, 0.1] : [0.5, 0.5, 0.5];
        for (let c = 0; c < 3; c++) pixels[(i * size * size + p) * 3 + c] = colour[c];
        masks[p] = inSquare && !inDisc ? 1 : 0;
        masks[size * size + p] = inDisc ? 1 : 0;
      }
    }
    targets.push({ labels: [0, 1], ids: [1, 2], masks: tf.tensor3d(masks, [2, size, size]) });
  }
  return { images: tf.tensor4d(pixels, [count, size, size, 3]), targets };
}

describe("FrameSegmenter", () => {
  it("produces Mask2Former's outputs with the documented shapes", () => {
    const config = presetConfig("tiny").model;
    seedParameters(1);
    const model = new FrameSegmenter(config);
    const images = tf.randomUniform([2, 64, 64, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    const out = model.forward(images);
    const { numQueries: n, numClasses: k, hiddenDim: d, maskDim } = config;
    expect(out.predLogits.shape).toEqual([2, n, k + 1]);
    expect(out.predMasks.shape).toEqual([2, n, 16, 16]);
    expect(out.queryFeatures.shape).toEqual([2, n, d]);
    expect(out.queryEmbed.shape).toEqual([2, n, config.embedDim]);
    expect(out.maskFeatures.shape).toEqual([2, 16, 16, maskDim]);
    // Initial prediction + layers 1..L-1.
    expect(out.aux.length).toBe(config.decoderLayers);
    for (const aux of out.aux) {
      expect(aux.predLogits.shape).toEqual([2, n, k + 1]);
      expect(aux.predMasks.shape).toEqual([2, n, 16, 16]);
    }
    const norms = tf.tidy(() => tf.norm(out.queryEmbed, "euclidean", -1).dataSync());
    for (const norm of norms) expect(norm).toBeCloseTo(1, 5);
    // The masks are the dot products of the mask embeddings with the mask features: changing only the
    // second image changes only the second image's outputs.
    const other = tf.tidy(() => tf.concat([images.slice([0], [1]), tf.zerosLike(images.slice([1], [1]))]));
    const out2 = model.forward(other as tf.Tensor4D);
    const first = (t: tf.Tensor) => tf.tidy(() => Array.from(t.slice([0], [1]).dataSync()));
    expect(first(out2.predMasks)).toEqual(first(out.predMasks));
    expect(first(out2.queryEmbed)).toEqual(first(out.queryEmbed));
    const names = [...model.namedParameters().keys()];
    expect(names).toContain("query_feat.weight");
    expect(names).toContain("layers.2.cross_attn.multihead_attn.in_proj_weight");
    expect(names).toContain("pixel_decoder.mask_features.weight");
    expect(names).toContain("backbone.layer4.1.conv2.weight");
    expect(names).toContain("track_embed.layers.1.weight");
    tf.dispose([images, other]);
    disposeSegmenterOutput(out);
    disposeSegmenterOutput(out2);
    model.dispose();
  });

  it("rejects inputs that are not multiples of 32", () => {
    seedParameters(1);
    const model = new FrameSegmenter(presetConfig("tiny").model);
    const bad = tf.zeros([1, 50, 64, 3]) as tf.Tensor4D;
    expect(() => model.forward(bad)).toThrow(VidsegError);
    bad.dispose();
    model.dispose();
  });
});

describe("criterion", () => {
  const size = 8;
  // Two GT instances: A (class 0, top-left box), B (class 1, bottom-right box). Query 0 predicts B,
  // query 1 predicts A, query 2 predicts nothing.
  const maskA = box(size, 0, 0, 4, 4);
  const maskB = box(size, 4, 4, 8, 8);
  const logitsOf = (mask: number[][]) => mask.map((row) => row.map((v) => (v ? 8 : -8)));
  const makeOutputs = () => ({
    predLogits: tf.tensor3d([
      [
        [-2, 3, -1],
        [4, -2, -1],
        [-3, -3, 5],
      ],
    ]),
    predMasks: tf.tensor4d([[logitsOf(maskB), logitsOf(maskA), logitsOf(box(size, 0, 0, 0, 0))]]),
  });
  const makeTargets = (): CriterionTarget[] => [
    { labels: [0, 1], ids: [7, 9], masks: tf.tensor3d([maskA, maskB]) },
  ];

  it("matches each query to the instance it predicts and weights the no-object class", () => {
    const outputs = makeOutputs();
    const targets = makeTargets();
    const rng = new Rng(5);
    const result = criterion(outputs, targets, { numPoints: 64, rng: () => rng.uniform() });
    expect(result.matches).toEqual([{ queryIndices: [0, 1], targetIndices: [1, 0] }]);
    // CE with targets [1, 0, no-object] and class weights [1, 1, 0.1], by hand.
    const rows = [
      [-2, 3, -1],
      [4, -2, -1],
      [-3, -3, 5],
    ];
    const nll = (row: number[], t: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[t];
    const expectedCe = (nll(rows[0], 1) + nll(rows[1], 0) + 0.1 * nll(rows[2], 2)) / 2.1;
    expect(result.terms.loss_ce.dataSync()[0]).toBeCloseTo(expectedCe, 5);
    // Confident, correct masks: mask losses far below those of empty predictions (the importance-
    // sampled points sit on the boundaries, where the bilinear targets are fractional).
    const empty = criterion(
      { predLogits: outputs.predLogits, predMasks: tf.fill([1, 3, size, size], -8) as tf.Tensor4D },
      targets,
      { numPoints: 64, rng: () => rng.uniform() },
    );
    expect(result.terms.loss_dice.dataSync()[0]).toBeLessThan(0.35);
    expect(empty.terms.loss_dice.dataSync()[0]).toBeGreaterThan(0.9);
    expect(result.terms.loss_mask.dataSync()[0]).toBeLessThan(0.5 * empty.terms.loss_mask.dataSync()[0]);
    tf.dispose([empty.loss, ...Object.values(empty.terms)]);
    const loss = result.loss.dataSync()[0];
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeCloseTo(
      2 * expectedCe + 5 * result.terms.loss_mask.dataSync()[0] + 5 * result.terms.loss_dice.dataSync()[0],
      4,
    );
    tf.dispose([result.loss, ...Object.values(result.terms), ...Object.values(outputs)]);
    tf.dispose(targets.map((t) => t.masks));
  });

  it("supervises every auxiliary layer and sums their weighted terms", () => {
    const outputs = makeOutputs();
    const aux = [makeOutputs(), makeOutputs()];
    const targets = makeTargets();
    const rng = new Rng(6);
    const result = criterion({ ...outputs, aux }, targets, { numPoints: 64, rng: () => rng.uniform() });
    expect(Object.keys(result.terms).sort()).toEqual(
      ["", "_0", "_1"].flatMap((s) => [`loss_ce${s}`, `loss_dice${s}`, `loss_mask${s}`]).sort(),
    );
    expect(result.auxMatches).toHaveLength(2);
    const value = (name: string) => result.terms[name].dataSync()[0];
    let expected = 0;
    for (const s of ["", "_0", "_1"]) {
      expected += 2 * value(`loss_ce${s}`) + 5 * value(`loss_mask${s}`) + 5 * value(`loss_dice${s}`);
    }
    expect(result.loss.dataSync()[0]).toBeCloseTo(expected, 4);
    // The same predictions give the same CE on every layer.
    expect(value("loss_ce_0")).toBeCloseTo(value("loss_ce"), 6);
    const noAux = criterion({ ...outputs, aux }, targets, {
      numPoints: 64,
      deepSupervision: false,
      rng: () => rng.uniform(),
    });
    expect(Object.keys(noAux.terms)).toHaveLength(3);
    tf.dispose([result.loss, noAux.loss, ...Object.values(result.terms), ...Object.values(noAux.terms)]);
    tf.dispose([outputs, aux]);
    tf.dispose(targets.map((t) => t.masks));
  });

  it("contrastive identity loss: exact value for orthogonal embeddings", () => {
    // Two frames of one video, 3 queries each, one-hot embeddings. Instance 7 is query 0 in frame A and
    // query 2 in frame B; instance 9 only appears in frame A.
    const e = (i: number) => [0, 1, 2].map((j) => (i === j ? 1 : 0));
    const embed = tf.tensor3d([
      [e(0), e(1), e(2)],
      [e(1), e(2), e(0)],
    ]);
    const targets: CriterionTarget[] = [
      { labels: [0, 1], ids: [7, 9], masks: tf.zeros([2, 4, 4]) as tf.Tensor3D },
      { labels: [0], ids: [7], masks: tf.zeros([1, 4, 4]) as tf.Tensor3D },
    ];
    const matches = [
      { queryIndices: [0, 1], targetIndices: [0, 1] },
      { queryIndices: [2], targetIndices: [0] },
    ];
    // Aligned: A.q0 = B.q2 = e0. Each direction: −log(e^10 / (e^10 + 2)).
    const aligned = contrastiveIdentityLoss(embed, matches, targets, 0.1);
    expect(aligned.dataSync()[0]).toBeCloseTo(Math.log(1 + 2 * Math.exp(-10)), 6);
    // Swapped: instance 7 is B.q1 (e2), orthogonal to A.q0 (e0), and e0 sits on B.q2: −log(1/(e^10 + 2)).
    const swapped = contrastiveIdentityLoss(
      embed,
      [matches[0], { queryIndices: [1], targetIndices: [0] }],
      targets,
      0.1,
    );
    expect(swapped.dataSync()[0]).toBeCloseTo(Math.log(Math.exp(10) + 2), 4);
    tf.dispose([embed, aligned, swapped, ...targets.map((t) => t.masks)]);
  });
});

describe("training and model files", () => {
  it("a few AdamW steps on synthetic frames lower the loss (with the contrastive term)", () => {
    const config = presetConfig("tiny");
    config.model.numClasses = 2;
    seedParameters(2);
    const model = new FrameSegmenter(config.model);
    const params = model.namedParameters();
    const optimizer = new AdamW(params, { lr: 1e-3, weightDecay: 0 });
    const data = syntheticBatch(new Rng(3), 2);
    const rng = new Rng(4);
    const losses: number[] = [];
    const before = tf.memory().numTensors;
    for (let step = 0; step < 12; step++) {
      const { value, grads } = tf.variableGrads(
        () => onlineLoss(model, data.images, data.targets, config.criterion, () => rng.uniform()).loss,
        [...params.values()],
      );
      losses.push(value.dataSync()[0]);
      const named = new Map(
        [...params].map(([name, v]) => [name, grads[v.name]] as const).filter(([, g]) => g),
      );
      optimizer.step(named as Map<string, tf.Tensor>);
      tf.dispose([value, ...Object.values(grads)]);
      if (step === 1) expect(tf.memory().numTensors).toBe(before + 2 * params.size); // moments only
    }
    expect(tf.memory().numTensors).toBe(before + 2 * params.size);
    const first = (losses[0] + losses[1]) / 2;
    const last = (losses[10] + losses[11]) / 2;
    expect(last).toBeLessThan(0.75 * first);
    optimizer.dispose();
    model.dispose();
    tf.dispose([data.images, ...data.targets.map((t) => t.masks)]);
  });

  it("a saved model file reloads to identical outputs", async () => {
    const config = presetConfig("tiny");
    seedParameters(9);
    const model = new FrameSegmenter(config.model);
    const file = join(tmp, "model.safetensors");
    const info = { kind: "online", config, categoryIds: [1, 2, 3, 4], categoryNames: ["a", "b", "c", "d"] };
    await saveModelFile(file, model.stateDict(), info);
    const modelFile = await readModelFile(file);
    expect(modelFile.info).toEqual(info);
    const loaded = instantiateModel(modelFile, "online");
    tf.dispose([...modelFile.weights.values()]);
    const images = tf.randomUniform([1, 64, 64, 3], 0, 1, "float32", 11) as tf.Tensor4D;
    const a = model.eval().forward(images);
    const b = loaded.forward(images);
    for (const key of ["predLogits", "predMasks", "queryEmbed", "queryFeatures"] as const) {
      expect(Array.from(b[key].dataSync())).toEqual(Array.from(a[key].dataSync()));
    }
    disposeSegmenterOutput(a);
    disposeSegmenterOutput(b);
    images.dispose();
    model.dispose();
    loaded.dispose();
  });

  it("config files override a preset and name the bad field", () => {
    const config = resolveVisConfig({ preset: "tiny", model: { numQueries: 4 }, optim: { lr: 0.01 } });
    expect(config.model.numQueries).toBe(4);
    expect(config.optim.lr).toBe(0.01);
    expect(config.model.hiddenDim).toBe(presetConfig("tiny").model.hiddenDim);
    expect(() => resolveVisConfig({ model: { hiddenDim: 30 } }, "c.json")).toThrow(
      /c\.json: model\.numHeads/,
    );
    expect(() => resolveVisConfig({ model: { inputSize: [100, 64] } }, "c.json")).toThrow(/model\.inputSize/);
    expect(() => resolveVisConfig({ model: { bogus: 1 } }, "c.json")).toThrow(/model\.bogus: unknown field/);
    expect(() => resolveVisConfig({ preset: "huge" }, "c.json")).toThrow(/unknown preset/);
  });
});
