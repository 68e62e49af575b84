/**
 * "A small model trains to a clearly lower loss on a toy task": a few-query mask decoder overfits a
 * handful of synthetic frames on the default wasm backend, through the real trainer (AdamW, warmup +
 * cosine schedule, clipping, checkpoints), and its loss must at least halve.
 *
 * Model (plain tf ops): a 3-layer conv encoder → 16×16×32 mask features; 4 learned queries with one
 * cross-attention layer and an FFN; mask logits = query embedding · features. Query i is supervised with
 * the mask of shape class i (circle, square, triangle) and query 3 with the background; loss = BCE + dice.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { initRuntime } from "../src/runtime/backend.js";
import { AdamW, isNormOrBias } from "../src/train/optim.js";
import { cosineLr, withWarmup } from "../src/train/schedule.js";
import { EpochSampler, train, type DataSource } from "../src/train/trainer.js";

const SIZE = 32; // frame side
const FEATURE_SIZE = 16; // mask feature side (stride 2)
const DIM = 32;
const QUERIES = 4;
const FRAMES = 6;
const BATCH = 3;
const STEPS = 100;

interface Frames {
  images: Float32Array; // [FRAMES, SIZE, SIZE, 3]
  masks: Float32Array; // [FRAMES, QUERIES, FEATURE_SIZE * FEATURE_SIZE]
}

/** Frames with a circle, a square and a triangle (each in its own colour) at random places and sizes. */
function makeFrames(rng: Rng): Frames {
  const images = new Float32Array(FRAMES * SIZE * SIZE * 3);
  const masks = new Float32Array(FRAMES * QUERIES * FEATURE_SIZE * FEATURE_SIZE);
  const colours = [
    [0.9, 0.2, 0.2],
    [0.2, 0.8, 0.3],
    [0.25, 0.3, 0.95],
  ];
  for (let f = 0; f < FRAMES; f++) {
    const label = new Int32Array(SIZE * SIZE).fill(3); // 3 = background
    for (let shape = 0; shape < 3; shape++) {
      const cx = rng.range(7, SIZE - 7);
      const cy = rng.range(7, SIZE - 7);
      const r = rng.range(4, 7);
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const dx = x + 0.5 - cx;
          const dy = y + 0.5 - cy;
          const inside =
            shape === 0
              ? dx * dx + dy * dy <= r * r
              : shape === 1
                ? Math.abs(dx) <= r && Math.abs(dy) <= r
                : dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2;
          if (inside) label[y * SIZE + x] = shape; // later shapes occlude earlier ones
        }
      }
    }
    for (let p = 0; p < SIZE * SIZE; p++) {
      const colour = label[p] === 3 ? [0.5, 0.5, 0.5] : colours[label[p]];
      for (let c = 0; c < 3; c++) images[(f * SIZE * SIZE + p) * 3 + c] = colour[c] + 0.05 * rng.normal();
    }
    // Targets at feature resolution: a 2×2 cell belongs to a class when most of it does.
    for (let y = 0; y < FEATURE_SIZE; y++) {
      for (let x = 0; x < FEATURE_SIZE; x++) {
        const votes = [0, 0, 0, 0];
        for (const [oy, ox] of [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1],
        ]) {
          votes[label[(2 * y + oy) * SIZE + 2 * x + ox]]++;
        }
        for (let q = 0; q < QUERIES; q++) {
          masks[(f * QUERIES + q) * FEATURE_SIZE * FEATURE_SIZE + y * FEATURE_SIZE + x] =
            votes[q] >= 2 ? 1 : 0;
        }
      }
    }
  }
  return { images, masks };
}

function makeParams(rng: Rng): Map<string, tf.Variable> {
  const param = (shape: number[], fanIn: number) =>
    tf.variable(
      tf.tensor(
        rng.normalArray(
          shape.reduce((a, b) => a * b),
          0,
          Math.sqrt(1 / fanIn),
        ),
        shape,
      ),
      true,
    );
  const zeros = (shape: number[]) => tf.variable(tf.zeros(shape), true);
  return new Map([
    ["encoder.conv1.weight", param([3, 3, 5, 16], 27)], // RGB + 2 coordinate channels
    ["encoder.conv1.bias", zeros([16])],
    ["encoder.conv2.weight", param([3, 3, 16, DIM], 144)],
    ["encoder.conv2.bias", zeros([DIM])],
    ["encoder.conv3.weight", param([3, 3, DIM, DIM], 9 * DIM)],
    ["encoder.conv3.bias", zeros([DIM])],
    ["decoder.query", param([QUERIES, DIM], 1)],
    ["decoder.attn.q.weight", param([DIM, DIM], DIM)],
    ["decoder.attn.k.weight", param([DIM, DIM], DIM)],
    ["decoder.attn.v.weight", param([DIM, DIM], DIM)],
    ["decoder.attn.out.weight", param([DIM, DIM], DIM)],
    ["decoder.ffn.fc1.weight", param([DIM, 2 * DIM], DIM)],
    ["decoder.ffn.fc2.weight", param([2 * DIM, DIM], 2 * DIM)],
    ["decoder.mask_embed.weight", param([DIM, DIM], DIM)],
  ]);
}

/** Mask logits [B, QUERIES, FEATURE_SIZE²] for images [B, SIZE, SIZE, 3]. */
function forward(p: Map<string, tf.Variable>, images: tf.Tensor4D): tf.Tensor3D {
  const w = (name: string) => p.get(name)!;
  const batch = images.shape[0];
  // Coordinate channels let the queries tell shapes apart by more than colour.
  const coords = tf.tidy(() => {
    const ramp = tf.linspace(-1, 1, SIZE);
    const xs = ramp.reshape([1, 1, SIZE, 1]).tile([batch, SIZE, 1, 1]);
    const ys = ramp.reshape([1, SIZE, 1, 1]).tile([batch, 1, SIZE, 1]);
    return tf.concat([xs, ys], 3);
  });
  let x = tf.concat([images, coords], 3) as tf.Tensor4D;
  x = tf
    .conv2d(x, w("encoder.conv1.weight") as tf.Tensor4D, 1, "same")
    .add(w("encoder.conv1.bias"))
    .relu();
  x = tf
    .conv2d(x, w("encoder.conv2.weight") as tf.Tensor4D, 2, "same")
    .add(w("encoder.conv2.bias"))
    .relu();
  x = tf.conv2d(x, w("encoder.conv3.weight") as tf.Tensor4D, 1, "same").add(w("encoder.conv3.bias"));
  const features = x.reshape([batch * FEATURE_SIZE * FEATURE_SIZE, DIM]); // mask features, flattened

  // One cross-attention layer: the learned queries attend to every frame's features.
  const keys = features.matMul(w("decoder.attn.k.weight")).reshape([batch, FEATURE_SIZE * FEATURE_SIZE, DIM]);
  const values = features
    .matMul(w("decoder.attn.v.weight"))
    .reshape([batch, FEATURE_SIZE * FEATURE_SIZE, DIM]);
  const queries = w("decoder.query");
  const q = queries.matMul(w("decoder.attn.q.weight")).expandDims(0).tile([batch, 1, 1]) as tf.Tensor3D;
  const attention = tf.matMul(q, keys, false, true).div(Math.sqrt(DIM)).softmax();
  const attended = tf.matMul(attention, values).reshape([batch * QUERIES, DIM]);
  let h = queries
    .expandDims(0)
    .tile([batch, 1, 1])
    .reshape([batch * QUERIES, DIM]);
  h = h.add(attended.matMul(w("decoder.attn.out.weight")));
  h = h.add(h.matMul(w("decoder.ffn.fc1.weight")).relu().matMul(w("decoder.ffn.fc2.weight")));
  const embed = h.matMul(w("decoder.mask_embed.weight")).reshape([batch, QUERIES, DIM]);
  const featureMaps = features.reshape([batch, FEATURE_SIZE * FEATURE_SIZE, DIM]);
  return tf.matMul(embed, featureMaps, false, true) as tf.Tensor3D;
}

/** Sigmoid BCE (mean) + dice loss (mean over masks), as in Mask2Former's mask losses. */
function maskLoss(logits: tf.Tensor3D, targets: tf.Tensor3D): tf.Scalar {
  const bce = tf.losses.sigmoidCrossEntropy(targets, logits);
  const probabilities = logits.sigmoid();
  const intersection = probabilities.mul(targets).sum(2);
  const dice = tf
    .scalar(1)
    .sub(
      intersection
        .mul(2)
        .add(1)
        .div(probabilities.sum(2).add(targets.sum(2)).add(1)),
    )
    .mean();
  return bce.add(dice) as tf.Scalar;
}

describe("toy mask decoder", () => {
  let backend = "";
  const runDir = mkdtempSync(join(tmpdir(), "vidseg-toy-"));

  beforeAll(async () => {
    backend = await initRuntime();
  });
  afterAll(() => rmSync(runDir, { recursive: true, force: true }));

  it("overfits a handful of synthetic frames: the loss at least halves", async () => {
    expect(backend).toBe("wasm");
    const rng = new Rng(2024);
    const frames = makeFrames(rng);
    const images = tf.tensor4d(frames.images, [FRAMES, SIZE, SIZE, 3]);
    const masks = tf.tensor3d(frames.masks, [FRAMES, QUERIES, FEATURE_SIZE * FEATURE_SIZE]);
    const params = makeParams(rng);
    const fullLoss = () => tf.tidy(() => maskLoss(forward(params, images), masks).dataSync()[0]);

    const sampler = new EpochSampler(FRAMES, BATCH, 5);
    const data: DataSource<{ images: tf.Tensor4D; masks: tf.Tensor3D }> = {
      next: () => {
        const indices = tf.tensor1d(sampler.nextIndices(), "int32");
        const batch = { images: tf.gather(images, indices), masks: tf.gather(masks, indices) };
        indices.dispose();
        return batch;
      },
      getState: () => sampler.getState(),
      setState: (state) => sampler.setState(state),
      release: (batch) => tf.dispose([batch.images, batch.masks]),
    };
    const optimizer = new AdamW(params, {
      weightDecay: 0.01,
      groups: [{ name: "no_decay", match: isNormOrBias, weightDecay: 0 }],
    });

    const before = fullLoss();
    const stepTimes: number[] = [];
    const started = performance.now();
    const result = await train({
      runDir,
      params,
      optimizer,
      schedule: withWarmup(cosineLr({ lr: 1e-2, totalSteps: STEPS, minLr: 1e-4 }), {
        steps: 10,
        startFactor: 0.1,
      }),
      totalSteps: STEPS,
      data,
      step: (batch) => maskLoss(forward(params, batch.images), batch.masks),
      seed: 1,
      clipNorm: 1,
      checkpointEvery: 50,
      validateEvery: 25,
      validate: () => ({ full_loss: fullLoss() }),
      progress: false,
      onStep: (entry) => stepTimes.push(entry.step_ms),
    });
    const seconds = (performance.now() - started) / 1000;
    const after = fullLoss();
    const medianStepMs = [...stepTimes].sort((a, b) => a - b)[stepTimes.length >> 1];
    console.log(
      `toy mask decoder on ${backend}: loss ${before.toFixed(4)} → ${after.toFixed(4)} ` +
        `(×${(after / before).toFixed(3)}) in ${STEPS} steps, ${seconds.toFixed(1)} s, median step ${medianStepMs.toFixed(1)} ms`,
    );

    expect(result.step).toBe(STEPS);
    // Every mask of every frame is recovered (IoU of the thresholded logits with the target).
    const ious = tf.tidy(() => {
      const predicted = forward(params, images).greater(0).toFloat();
      const intersection = predicted.mul(masks).sum(2);
      const union = predicted.add(masks).sub(predicted.mul(masks)).sum(2);
      return intersection.div(union.maximum(1)).dataSync();
    });
    expect(Math.min(...ious)).toBeGreaterThan(0.9);
    const validation = readFileSync(join(runDir, "log.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; full_loss?: number })
      .filter((entry) => entry.type === "val")
      .map((entry) => entry.full_loss!);
    expect(validation).toHaveLength(4);
    expect(validation[3]).toBeLessThan(validation[0]);
    expect(after).toBeLessThan(before / 2);
    expect(Math.abs(after - result.lastLoss)).toBeLessThan(before); // the logged loss tracks the real one
    optimizer.dispose();
    tf.dispose([images, masks, ...params.values()]);
  });
});
