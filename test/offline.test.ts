/**
 * The offline (VITA-style) VIS model: head shapes and video masks, windowed object-encoder attention,
 * the video-level matcher on a hand-built case, the loss going down in a few training steps on tiny
 * synthetic clips, segmentVideo results that the YouTube-VIS evaluator accepts, clip linking, and
 * checkpoint round trips.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { evaluateYtvis, YTVIS_STAT_NAMES } from "../src/eval/ytvis.js";
import { annotationFromMasks, validateResults, type YtvisDataset } from "../src/formats/ytvis.js";
import { OfflineSegmenter, snapToFrameMasks, toYtvisResults } from "../src/infer/offline-segmenter.js";
import type { Frame } from "../src/core/image.js";
import { decode, fromCoco, tubeIou, type CocoRle } from "../src/mask/rle.js";
import {
  cellColours,
  guidedUpsampleMask,
  softSuppress,
  upsampleMask,
} from "../src/processing/postprocess.js";
import { presetConfig } from "../src/models/config.js";
import {
  OFFLINE_HEAD_PRESETS,
  OfflineHead,
  OfflineVisModel,
  disposeOfflineOutput,
  headConfigFor,
  windowPartition,
  type OfflineHeadConfig,
  type OfflineModelConfig,
} from "../src/models/vis/offline.js";
import {
  clipMatchingCost,
  matchVideoQueries,
  offlineCriterion,
  type ClipTarget,
} from "../src/models/vis/video-criterion.js";
import { seedParameters } from "../src/nn/init.js";
import { pointSampleArray, randomPointCoords } from "../src/nn/sampling.js";
import { initRuntime } from "../src/runtime/backend.js";
import { saveSafetensors } from "../src/nn/safetensors-file.js";
import { AdamW } from "../src/train/optim.js";
import { saveOfflineModelFile } from "./helpers/models.js";

const SIZE = 32;
const FRAMES = 4;
const NUM_CLASSES = 2;

function tinyConfig(cropSize = 0): OfflineModelConfig {
  const segmenter = { ...presetConfig("tiny").model, inputSize: [SIZE, SIZE] as [number, number], cropSize };
  return { segmenter: { ...segmenter, numClasses: NUM_CLASSES }, head: { ...OFFLINE_HEAD_PRESETS.tiny } };
}

function tinyModel(seed = 1, cropSize = 0): OfflineVisModel {
  seedParameters(seed);
  return new OfflineVisModel(tinyConfig(cropSize));
}

/** A clip of FRAMES frames with a red square (class 0) and a blue disc (class 1) moving across grey. */
function syntheticClip(rng: Rng, frames = FRAMES): { images: Float32Array; masks: Uint8Array[][] } {
  const images = new Float32Array(frames * SIZE * SIZE * 3);
  const masks: Uint8Array[][] = [[], []]; // [track][frame] SIZE×SIZE
  const start = [0, 1].map(() => [rng.range(8, 24), rng.range(8, 24)]);
  const velocity = [0, 1].map(() => [rng.range(-2, 2), rng.range(-2, 2)]);
  const radius = [rng.range(4, 6), rng.range(4, 6)];
  const colours = [
    [0.9, 0.15, 0.1],
    [0.1, 0.2, 0.9],
  ];
  for (let t = 0; t < frames; t++) {
    const label = new Int8Array(SIZE * SIZE).fill(-1);
    for (let k = 0; k < 2; k++) {
      const cx = start[k][0] + velocity[k][0] * t;
      const cy = start[k][1] + velocity[k][1] * t;
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const dx = x + 0.5 - cx;
          const dy = y + 0.5 - cy;
          const inside =
            k === 0
              ? Math.abs(dx) <= radius[k] && Math.abs(dy) <= radius[k]
              : dx * dx + dy * dy <= radius[k] ** 2;
          if (inside) label[y * SIZE + x] = k; // the disc occludes the square
        }
      }
    }
    for (let k = 0; k < 2; k++) masks[k].push(Uint8Array.from(label, (v) => (v === k ? 1 : 0)));
    for (let p = 0; p < SIZE * SIZE; p++) {
      const colour = label[p] < 0 ? [0.5, 0.5, 0.5] : colours[label[p]];
      for (let c = 0; c < 3; c++) images[(t * SIZE * SIZE + p) * 3 + c] = colour[c] + 0.03 * rng.normal();
    }
  }
  return { images, masks };
}

function clipTarget(masks: Uint8Array[][]): ClipTarget {
  const frames = masks[0].length;
  const data = new Float32Array(masks.length * frames * SIZE * SIZE);
  masks.forEach((track, k) => track.forEach((mask, t) => data.set(mask, (k * frames + t) * SIZE * SIZE)));
  return { labels: [0, 1], masks: tf.tensor4d(data, [masks.length, frames, SIZE, SIZE]) };
}

function toFrames(images: Float32Array, frames: number): Frame[] {
  return Array.from({ length: frames }, (_, t) => ({
    index: t,
    timestampMs: t * 40,
    width: SIZE,
    height: SIZE,
    data: Uint8Array.from(images.subarray(t * SIZE * SIZE * 3, (t + 1) * SIZE * SIZE * 3), (v) =>
      Math.round(Math.min(1, Math.max(0, v)) * 255),
    ),
  }));
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

let dir: string;
beforeAll(async () => {
  await initRuntime();
  dir = mkdtempSync(join(tmpdir(), "vidseg-offline-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("offline head", () => {
  it("produces video-level predictions and per-frame video masks of the documented shapes", () => {
    const model = tinyModel();
    const rng = new Rng(3);
    const clips = [syntheticClip(rng), syntheticClip(rng)];
    const images = tf.tensor4d(Float32Array.from([...clips[0].images, ...clips[1].images]), [
      2 * FRAMES,
      SIZE,
      SIZE,
      3,
    ]);
    const output = model.forward(images, FRAMES, { aux: true });
    const nv = OFFLINE_HEAD_PRESETS.tiny.numVideoQueries;
    const n = tinyConfig().segmenter.numQueries;
    const e = OFFLINE_HEAD_PRESETS.tiny.embedDim;
    expect(output.video.predLogits.shape).toEqual([2, nv, NUM_CLASSES + 1]);
    expect(output.video.predMaskEmbed.shape).toEqual([2, nv, 32]);
    expect(output.video.videoQueries.shape).toEqual([2, nv, 32]);
    expect(output.video.videoEmbed.shape).toEqual([2, nv, e]);
    expect(output.video.frameEmbed.shape).toEqual([2, FRAMES, n, e]);
    expect(output.video.aux).toHaveLength(OFFLINE_HEAD_PRESETS.tiny.decoderLayers - 1);
    expect(output.videoMasks.map((m) => m.shape)).toEqual([
      [nv, FRAMES, 8, 8],
      [nv, FRAMES, 8, 8],
    ]);
    // Embeddings are unit vectors.
    const norms = tf.tidy(() => tf.norm(output.video.frameEmbed, "euclidean", -1).dataSync());
    for (const norm of norms) expect(norm).toBeCloseTo(1, 5);
    // Mask of video query 2 of clip 1 in frame 3 = its mask embedding · that frame's mask features.
    const expected = tf.tidy(() => {
      const embed = output.video.predMaskEmbed.slice([1, 2, 0], [1, 1, -1]).reshape([32, 1]);
      const features = output.frame.maskFeatures
        .slice([FRAMES + 3, 0, 0, 0], [1, -1, -1, -1])
        .reshape([64, 32]);
      return tf.matMul(features, embed).reshape([8, 8]);
    });
    const actual = tf.tidy(() => output.videoMasks[1].slice([2, 3, 0, 0], [1, 1, -1, -1]).reshape([8, 8]));
    expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-5);
    tf.dispose([images, expected, actual]);
    disposeOfflineOutput(output);
    model.dispose();
  });

  it("windows: full attention when the window covers the clip, exact per-window attention otherwise", () => {
    const base: OfflineHeadConfig = headConfigFor(tinyConfig().segmenter, {
      ...OFFLINE_HEAD_PRESETS.tiny,
      encoderLayers: 1,
    });
    seedParameters(7);
    const windowed = new OfflineHead({ ...base, windowSize: 4 });
    seedParameters(7);
    const full = new OfflineHead({ ...base, windowSize: 0 });
    const tokens = tf.randomNormal([2, 6, base.numFrameQueries, 32], 0, 1, "float32", 11) as tf.Tensor4D;

    // T = 4 ≤ W: the same computation as full attention.
    const first4 = tokens.slice([0, 0, 0, 0], [2, 4, -1, -1]) as tf.Tensor4D;
    expect(maxAbsDiff(windowed.encode(first4), full.encode(first4))).toBe(0);

    // T = 6, W = 4 (one unshifted layer): frames 0–3 form one window, frames 4–5 (+ 2 masked padding
    // frames) the other, so each equals full attention over that window alone.
    const encoded = windowed.encode(tokens);
    const last2 = tokens.slice([0, 4, 0, 0], [2, 2, -1, -1]) as tf.Tensor4D;
    expect(maxAbsDiff(encoded.slice([0, 0, 0, 0], [2, 4, -1, -1]), full.encode(first4))).toBeLessThan(1e-5);
    expect(maxAbsDiff(encoded.slice([0, 4, 0, 0], [2, 2, -1, -1]), full.encode(last2))).toBeLessThan(1e-5);
    tf.dispose([tokens, first4, last2, encoded]);
    windowed.dispose();
    full.dispose();
  });

  it("partitions shifted windows by ⌈W/2⌉ with linear cost in T", () => {
    expect(windowPartition(4, 6, true)).toEqual({ front: 0, windowFrames: 4, numWindows: 1 });
    expect(windowPartition(12, 6, false)).toEqual({ front: 0, windowFrames: 6, numWindows: 2 });
    expect(windowPartition(12, 6, true)).toEqual({ front: 3, windowFrames: 6, numWindows: 3 });
    expect(windowPartition(13, 5, true)).toEqual({ front: 3, windowFrames: 5, numWindows: 4 });
    expect(windowPartition(100, 0, true)).toEqual({ front: 0, windowFrames: 100, numWindows: 1 });
  });

  it("lets information cross window borders only through the shifted layer", () => {
    const config = headConfigFor(tinyConfig().segmenter, { ...OFFLINE_HEAD_PRESETS.tiny, windowSize: 2 });
    seedParameters(5);
    const twoLayers = new OfflineHead({ ...config, encoderLayers: 2 });
    const tokens = tf.randomNormal([1, 6, config.numFrameQueries, 32], 0, 1, "float32", 3) as tf.Tensor4D;
    // Change frame 5 only: with one unshifted layer frames 0–3 are untouched, with the shifted layer
    // (windows {0}, {1, 2}, {3, 4}, {5}) frame 4's change reaches frame 3.
    const changed = tf.concat(
      [tokens.slice([0, 0, 0, 0], [1, 4, -1, -1]), tf.add(tokens.slice([0, 4, 0, 0], [1, 2, -1, -1]), 1)],
      1,
    ) as tf.Tensor4D;
    const a = twoLayers.encode(tokens);
    const b = twoLayers.encode(changed);
    const diff = (from: number, count: number) =>
      maxAbsDiff(a.slice([0, from, 0, 0], [1, count, -1, -1]), b.slice([0, from, 0, 0], [1, count, -1, -1]));
    expect(diff(0, 3)).toBe(0);
    expect(diff(3, 1)).toBeGreaterThan(1e-3);
    tf.dispose([tokens, changed, a, b]);
    twoLayers.dispose();
  });
});

describe("video criterion", () => {
  it("matches video queries to tracks by class and clip-mask costs (hand-built case)", () => {
    // 3 video queries, 2 tracks over 2 frames of 4×4. Query 2 predicts track 0's masks in both frames,
    // query 0 predicts track 1's masks but only in frame 0; query 1 predicts nothing.
    const track0 = [
      [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    const track1 = [
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1],
      [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0],
    ];
    const logit = (mask: number[]) => mask.map((v) => (v ? 6 : -6));
    const predMasks = tf.tensor4d(
      [
        [logit(track1[0]), logit(track1[0])],
        [new Array(16).fill(-6), new Array(16).fill(-6)],
        [logit(track0[0]), logit(track0[1])],
      ].flat(2),
      [3, 2, 4, 4],
    );
    const predLogits = tf.tensor2d([
      [0.2, 0.3, 0],
      [0.1, 0.1, 0.5],
      [0.4, 0.1, 0],
    ]);
    const target: ClipTarget = {
      labels: [0, 1],
      masks: tf.tensor4d([...track0.flat(), ...track1.flat()], [2, 2, 4, 4]),
    };
    const coords = randomPointCoords(
      1,
      64,
      (() => {
        const rng = new Rng(9);
        return () => rng.uniform();
      })(),
    );
    const cost = clipMatchingCost(predLogits, predMasks, target, coords);

    // The same cost in plain arithmetic: class −softmax, BCE and dice over the 2·64 clip points.
    const probs = (predLogits.arraySync() as number[][]).map((row) => {
      const exp = row.map(Math.exp);
      const sum = exp.reduce((a, b) => a + b);
      return exp.map((v) => v / sum);
    });
    const sample = (frames: number[][]) =>
      frames.flatMap((frame) => Array.from(pointSampleArray(Float32Array.from(frame), 1, 4, 4, coords, 64)));
    const predFrames = predMasks.arraySync() as number[][][][];
    const gts = [sample(track0), sample(track1)];
    for (let q = 0; q < 3; q++) {
      const x = sample(predFrames[q].map((f) => f.flat()));
      for (let k = 0; k < 2; k++) {
        const t = gts[k];
        const softplus = (v: number) => Math.log1p(Math.exp(v));
        const bce = x.reduce((s, v, i) => s + softplus(-v) * t[i] + softplus(v) * (1 - t[i]), 0) / x.length;
        const sig = x.map((v) => 1 / (1 + Math.exp(-v)));
        const inter = sig.reduce((s, v, i) => s + v * t[i], 0);
        const dice = 1 - (2 * inter + 1) / (sig.reduce((a, b) => a + b) + t.reduce((a, b) => a + b) + 1);
        expect(cost[q][k]).toBeCloseTo(-2 * probs[q][target.labels[k]] + 5 * bce + 5 * dice, 4);
      }
    }
    const [match] = matchVideoQueries(
      { predLogits: predLogits.expandDims(0) as tf.Tensor3D, predMaskEmbed: tf.zeros([1, 3, 1]) },
      [predMasks],
      [target],
      { rng: Math.random, pointCoords: [coords] },
    );
    expect(match).toEqual({ queryIndices: [0, 2], targetIndices: [1, 0] });
    tf.dispose([predMasks, predLogits, target.masks]);
  });

  it("gives every head parameter a finite, non-zero gradient with one clip per batch", () => {
    const model = tinyModel(3);
    const clip = syntheticClip(new Rng(12));
    const images = tf.tensor4d(clip.images, [FRAMES, SIZE, SIZE, 3]);
    const target = clipTarget(clip.masks);
    const rng = new Rng(13);
    const params = model.head.namedParameters();
    let hooks: { videoQueries: number[]; frameTracks: number[][] } | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const output = model.forward(images, FRAMES, { aux: true });
      const result = offlineCriterion(output, [target], { rng: () => rng.uniform(), numPoints: 64 });
      hooks = {
        videoQueries: result.videoMatches[0].queryIndices,
        frameTracks: result.frameMatches[0].map((m) => m.targetIndices.slice().sort()),
      };
      return result.loss;
    }, [...params.values()]);
    // Distillation hooks: two video queries matched; per frame, the frame queries matched to exactly the
    // tracks visible in that frame, named by track index.
    expect(hooks!.videoQueries).toHaveLength(2);
    const visible = clip.masks[0].map((_, t) => [0, 1].filter((k) => clip.masks[k][t].some((v) => v > 0)));
    expect(hooks!.frameTracks).toEqual(visible);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    const names = new Map([...params].map(([name, v]) => [v.name, name]));
    const norms = Object.entries(grads).map(
      ([variable, grad]) => [names.get(variable), tf.tidy(() => tf.norm(grad).dataSync()[0])] as const,
    );
    expect(norms).toHaveLength(params.size);
    for (const [name, norm] of norms) {
      expect(Number.isFinite(norm), name).toBe(true);
      expect(norm, name).toBeGreaterThan(0);
    }
    tf.dispose([value, ...Object.values(grads), images, target.masks]);
    model.dispose();
  });

  it("a few training steps lower the video-level loss on tiny synthetic clips", () => {
    const model = tinyModel(2);
    model.train();
    const rng = new Rng(21);
    const clips = Array.from({ length: 4 }, () => syntheticClip(rng));
    const params = model.namedParameters();
    const optimizer = new AdamW(params, { lr: 2e-3, weightDecay: 0 });
    const variables = [...params.values()];
    const names = new Map([...params].map(([name, v]) => [v.name, name]));
    const videoLosses: number[] = [];
    const options = { rng: () => rng.uniform(), numPoints: 128 };
    for (let step = 0; step < 16; step++) {
      const batch = [clips[(2 * step) % 4], clips[(2 * step + 1) % 4]];
      const images = tf.tensor4d(Float32Array.from([...batch[0].images, ...batch[1].images]), [
        2 * FRAMES,
        SIZE,
        SIZE,
        3,
      ]);
      const targets = batch.map((clip) => clipTarget(clip.masks));
      let videoLoss = 0;
      const { value, grads } = tf.variableGrads(() => {
        const output = model.forward(images, FRAMES, { aux: true });
        const result = offlineCriterion(output, targets, options);
        expect(result.videoMatches.map((m) => m.targetIndices.slice().sort())).toEqual([
          [0, 1],
          [0, 1],
        ]);
        expect(result.frameMatches[0]).toHaveLength(FRAMES);
        const t = result.terms;
        videoLoss = tf
          .addN([tf.mul(t.video_loss_ce, 2), tf.mul(t.video_loss_mask, 5), tf.mul(t.video_loss_dice, 5)])
          .dataSync()[0];
        return result.loss;
      }, variables);
      optimizer.step(new Map(Object.entries(grads).map(([v, g]) => [names.get(v)!, g])));
      videoLosses.push(videoLoss);
      tf.dispose([value, ...Object.values(grads), images, ...targets.map((t) => t.masks)]);
    }
    const mean = (values: number[]) => values.reduce((a, b) => a + b) / values.length;
    expect(mean(videoLosses.slice(-4))).toBeLessThan(0.7 * mean(videoLosses.slice(0, 4)));
    optimizer.dispose();
    model.dispose();
  }, 120_000);
});

describe("OfflineSegmenter", () => {
  it("snaps a video query's mask to the frame query's that overlaps it most, above the IoU threshold", () => {
    // 4 cells per mask; two video queries, three frame queries.
    const video = Float32Array.from([1, 1, -1, -1, /* q1 */ -1, -1, -1, 1]);
    const frame = Float32Array.from([
      ...[2, -3, -1, -1], // IoU 1/2 with q0
      ...[5, 4, 3, -1], // IoU 2/3 with q0: the best
      ...[-1, -1, 1, 1], // IoU 1/2 with q1
    ]);
    const snapped = video.slice();
    snapToFrameMasks(snapped, frame, 4, 0.5);
    expect(Array.from(snapped)).toEqual([5, 4, 3, -1, -1, -1, 1, 1]);
    const strict = video.slice();
    snapToFrameMasks(strict, frame, 4, 0.6); // q1's best overlap (1/2) is below: kept
    expect(Array.from(strict)).toEqual([5, 4, 3, -1, -1, -1, -1, 1]);
    const model = tinyModel(1);
    expect(() => new OfflineSegmenter(model, { frameMaskIou: 1.5 })).toThrow(/frameMaskIou/);
    expect(() => new OfflineSegmenter(model, { softNmsIou: -0.1 })).toThrow(/softNmsIou/);
    model.dispose();
  });

  it("with a crop classifier, splits each video query's object probability over the classes by crops", async () => {
    const model = tinyModel(4, 32);
    const frames = toFrames(syntheticClip(new Rng(5), 6).images, 6);
    const nv = OFFLINE_HEAD_PRESETS.tiny.numVideoQueries;
    const video = await new OfflineSegmenter(model, { clipLength: 8, topK: nv * NUM_CLASSES }).segmentVideo(
      frames,
    );
    const objectness = tf.tidy(() => {
      const images = tf.div(
        tf.tensor4d(Float32Array.from(frames.flatMap((f) => [...f.data])), [6, SIZE, SIZE, 3]),
        255,
      );
      const logits = model.forward(images as tf.Tensor4D, 6).video.predLogits.squeeze([0]);
      return tf
        .sub(1, tf.softmax(logits).slice([0, NUM_CLASSES], [nv, 1]).squeeze([1]))
        .arraySync() as number[];
    });
    const sums = new Map<number, number>();
    for (const instance of video.instances)
      sums.set(instance.trackId, (sums.get(instance.trackId) ?? 0) + instance.score);
    expect(sums.size).toBe(nv);
    for (const [trackId, sum] of sums) expect(sum).toBeCloseTo(objectness[trackId - 1], 5);
    model.dispose();
  });

  it("segments a video into YouTube-VIS results that evaluate, equal to the model's own masks", async () => {
    const model = tinyModel(4);
    const rng = new Rng(5);
    const clip = syntheticClip(rng, 6);
    const frames = toFrames(clip.images, 6);
    const segmenter = new OfflineSegmenter(model, { clipLength: 8, topK: 5, maskUpsampling: "bilinear" });
    const video = await segmenter.segmentVideo(frames);
    expect(video.numFrames).toBe(6);
    expect(video.instances).toHaveLength(5);
    const scores = video.instances.map((i) => i.score);
    expect(scores).toEqual(scores.slice().sort((a, b) => b - a));

    // Whole video in one clip: the best instance's masks are the offline model's video masks > 0.
    const best = video.instances[0];
    const nv = OFFLINE_HEAD_PRESETS.tiny.numVideoQueries;
    const expected = tf.tidy(() => {
      const images = tf.div(
        tf.tensor4d(Float32Array.from(frames.flatMap((f) => [...f.data])), [6, SIZE, SIZE, 3]),
        255,
      );
      const output = model.forward(images as tf.Tensor4D, 6);
      const probs = tf.softmax(output.video.predLogits.squeeze([0])).slice([0, 0], [nv, NUM_CLASSES]);
      const masks = tf.image.resizeBilinear(
        output.videoMasks[0].reshape([nv * 6, 8, 8, 1]) as tf.Tensor4D,
        [SIZE, SIZE],
        false,
        true,
      );
      const logits = output.videoMasks[0].reshape([nv * 6 * 8 * 8]).dataSync() as Float32Array;
      const frameLogits = output.frame.predMasks.dataSync() as Float32Array; // [6, N, 8, 8]
      return { probs, masks: tf.greater(masks, 0).reshape([nv, 6, SIZE * SIZE]), logits, frameLogits };
    });
    const probs = expected.probs.arraySync() as number[][];
    expect(best.score).toBeCloseTo(probs[best.trackId - 1][best.classIndex], 5);
    const expectedMasks = expected.masks.arraySync() as unknown as number[][][];
    const maskOf = (rle: CocoRle | null) =>
      rle ? Array.from(decode(fromCoco(rle))) : new Array(SIZE * SIZE).fill(0);
    best.masks.forEach((rle, t) =>
      expect(maskOf(rle)).toEqual(expectedMasks[best.trackId - 1][t].map(Number)),
    );
    tf.dispose([expected.probs, expected.masks]);

    // The default, edge-aware upsampling: the same instances and scores; each mask is the guided upsampling
    // of the same video-mask logits, by that frame's colours.
    const guided = await new OfflineSegmenter(model, { clipLength: 8, topK: 5 }).segmentVideo(frames);
    expect(guided.instances.map((i) => [i.trackId, i.classIndex, i.score])).toEqual(
      video.instances.map((i) => [i.trackId, i.classIndex, i.score]),
    );
    const top = guided.instances[0];
    top.masks.forEach((rle, t) => {
      const base = ((top.trackId - 1) * 6 + t) * 64;
      const want = guidedUpsampleMask(expected.logits, base, 8, 8, frames[t], cellColours(frames[t], 8, 8));
      expect(maskOf(rle)).toEqual(Array.from(want));
    });

    // Mask scores: the same masks; each (track, class) score is the class probability times the mean
    // σ(logit) over the query's mask pixels (logit > 0) in all six frames (one clip).
    const all = { clipLength: 8, topK: 1000, maskUpsampling: "bilinear" as const };
    const plain = await new OfflineSegmenter(model, all).segmentVideo(frames);
    const scored = await new OfflineSegmenter(model, { ...all, maskScore: true }).segmentVideo(frames);
    expect(scored.instances).toHaveLength(plain.instances.length);
    const plainOf = new Map(plain.instances.map((i) => [`${i.trackId}/${i.classIndex}`, i]));
    let lowered = 0;
    for (const instance of scored.instances) {
      const before = plainOf.get(`${instance.trackId}/${instance.classIndex}`)!;
      expect(instance.masks).toEqual(before.masks);
      const q = instance.trackId - 1;
      const inside = expected.logits.subarray(q * 6 * 64, (q + 1) * 6 * 64).filter((v) => v > 0);
      const maskScore = inside.reduce((sum, v) => sum + 1 / (1 + Math.exp(-v)), 0) / inside.length;
      expect(instance.score).toBeCloseTo(before.score * (inside.length > 0 ? maskScore : 0), 6);
      if (instance.score < before.score) lowered++;
    }
    expect(lowered).toBeGreaterThan(0);

    // Frame-query masks: the same instances and scores; in every frame each mask is the video query's
    // logits snapped to the frame queries' (snapToFrameMasks), then upsampled.
    const snapped = await new OfflineSegmenter(model, {
      clipLength: 8,
      topK: 5,
      maskUpsampling: "bilinear",
      frameMaskIou: 0.01,
    }).segmentVideo(frames);
    expect(snapped.instances.map((i) => [i.trackId, i.classIndex, i.score])).toEqual(
      video.instances.map((i) => [i.trackId, i.classIndex, i.score]),
    );
    const frameQueries = expected.frameLogits.length / (6 * 64);
    let changed = 0;
    for (let t = 0; t < 6; t++) {
      const logits = Float32Array.from({ length: nv * 64 }, (_, i) => {
        const q = Math.floor(i / 64);
        return expected.logits[(q * 6 + t) * 64 + (i % 64)];
      });
      const original = logits.slice();
      snapToFrameMasks(
        logits,
        expected.frameLogits.subarray(t * frameQueries * 64, (t + 1) * frameQueries * 64),
        64,
        0.01,
      );
      if (logits.some((v, i) => v !== original[i])) changed++;
      for (const instance of snapped.instances) {
        const want = upsampleMask(logits, (instance.trackId - 1) * 64, 8, 8, SIZE, SIZE);
        expect(maskOf(instance.masks[t])).toEqual(Array.from(want));
      }
    }
    expect(changed).toBeGreaterThan(0);

    const gt: YtvisDataset = {
      videos: [{ id: 1, width: SIZE, height: SIZE, length: 6, file_names: frames.map((_, t) => `${t}.jpg`) }],
      categories: [
        { id: 1, name: "square" },
        { id: 2, name: "disc" },
      ],
      annotations: clip.masks.map((masks, k) =>
        annotationFromMasks({ id: k + 1, videoId: 1, categoryId: k + 1, masks, height: SIZE, width: SIZE }),
      ),
    };
    const results = validateResults(JSON.parse(JSON.stringify(toYtvisResults(video, 1))), "results.json", gt);
    const { stats } = evaluateYtvis(gt, results);
    expect(Object.keys(stats)).toEqual([...YTVIS_STAT_NAMES]);
    for (const value of Object.values(stats)) expect(value).toBeGreaterThanOrEqual(-1);
    model.dispose();
  });

  it("softSuppress: linear Soft-NMS within groups, best first, each pair asked once", () => {
    const table: Record<string, number> = { "0,1": 0.5, "0,2": 0.1, "1,2": 0.6 };
    const asked: string[] = [];
    const overlap = (i: number, j: number) => {
      const key = [Math.min(i, j), Math.max(i, j)].join();
      asked.push(key);
      return table[key] ?? 0.9;
    };
    // Group 0: 0 is kept; 1 overlaps it by 0.5 → 0.8·0.5; 2 by 0.1 (below 0.3) stays 0.7 and is next,
    // overlapping 1 by 0.6 → 0.4·0.4. Item 3 is alone in its group, however much it overlaps.
    const scores = softSuppress([0.9, 0.8, 0.7, 0.6], [0, 0, 0, 1], overlap, 0.3);
    expect(scores.map((v) => +v.toFixed(12))).toEqual([0.9, 0.16, 0.7, 0.6]);
    expect(asked.sort()).toEqual(["0,1", "0,2", "1,2"]);
    expect(softSuppress([0.9, 0.8], [0, 0], () => 1, 1)).toEqual([0.9, 0.8]);
  });

  it("Soft-NMS in segmentVideo: the same instances and masks, scores softSuppress'd over tube IoUs", async () => {
    const model = tinyModel(4);
    const frames = toFrames(syntheticClip(new Rng(5), 6).images, 6);
    const options = { clipLength: 8, topK: 1000, maskUpsampling: "bilinear" as const };
    const plain = await new OfflineSegmenter(model, { ...options, softNmsIou: 1 }).segmentVideo(frames);
    const soft = await new OfflineSegmenter(model, { ...options, softNmsIou: 0.3 }).segmentVideo(frames);
    const key = (i: { trackId: number; classIndex: number }) => `${i.trackId}/${i.classIndex}`;
    const byKey = new Map(soft.instances.map((i) => [key(i), i]));
    expect(soft.instances).toHaveLength(plain.instances.length);
    const tubes = plain.instances.map((i) => i.masks.map((m) => (m ? fromCoco(m) : null)));
    const want = softSuppress(
      plain.instances.map((i) => i.score),
      plain.instances.map((i) => i.classIndex),
      (a, b) => tubeIou(tubes[a], tubes[b]),
      0.3,
    );
    plain.instances.forEach((instance, i) => {
      const other = byKey.get(key(instance))!;
      expect(other.masks).toEqual(instance.masks);
      expect(other.score).toBeCloseTo(want[i], 12);
    });
    expect(want.filter((v, i) => v < plain.instances[i].score).length).toBeGreaterThan(0);
    const scores = soft.instances.map((i) => i.score);
    expect(scores).toEqual(scores.slice().sort((a, b) => b - a));
    model.dispose();
  });

  it("links clip windows by video-query similarity into the same tracks", async () => {
    const model = tinyModel(6);
    const rng = new Rng(8);
    const clip = toFrames(syntheticClip(rng, 3).images, 3);
    // The same 3 frames twice: with clips of 3 frames and no overlap, the second clip's video queries are
    // the first clip's, so every track continues and its masks repeat.
    const frames = [...clip, ...clip].map((frame, index) => ({ ...frame, index }));
    const nv = OFFLINE_HEAD_PRESETS.tiny.numVideoQueries;
    const windowed = new OfflineSegmenter(model, { clipLength: 3, clipOverlap: 0, topK: nv * NUM_CLASSES });
    const video = await windowed.segmentVideo(frames);
    expect(new Set(video.instances.map((i) => i.trackId)).size).toBe(nv); // no new tracks in clip 2
    for (const instance of video.instances) {
      expect(instance.masks).toHaveLength(6);
      expect(instance.masks.slice(3)).toEqual(instance.masks.slice(0, 3));
    }
    // Overlapping windows on a real sequence: masks for every frame, at the requested output size.
    const overlapping = new OfflineSegmenter(model, { clipLength: 3, clipOverlap: 1, topK: 4 });
    const result = await overlapping.segmentVideo(toFrames(syntheticClip(rng, 7).images, 7), {
      outputSize: { width: 48, height: 40 },
    });
    expect(result.numFrames).toBe(7);
    for (const instance of result.instances) {
      expect(instance.masks).toHaveLength(7);
      for (const rle of instance.masks) if (rle) expect(rle.size).toEqual([40, 48]);
    }
    model.dispose();
  });

  it("reloads a saved model to identical outputs", async () => {
    const model = tinyModel(9);
    const path = join(dir, "model.safetensors");
    await saveOfflineModelFile(path, model, [3, 7]);
    const frames = toFrames(syntheticClip(new Rng(4), 4).images, 4);
    // The file stores the inference settings of its config: the frame-query masks among them.
    const frameMaskIou = presetConfig("tiny").offline.inferenceFrameMaskIou;
    expect(frameMaskIou).toBeGreaterThan(0);
    const softNmsIou = presetConfig("tiny").offline.inferenceSoftNmsIou;
    const maskScore = presetConfig("tiny").inference.maskScore;
    expect([softNmsIou < 1, maskScore]).toEqual([true, true]);
    const options = {
      clipLength: 2,
      clipOverlap: 1,
      topK: 10,
      categoryIds: [3, 7],
      frameMaskIou,
      softNmsIou,
      maskScore,
    };
    const before = await new OfflineSegmenter(model, options).segmentVideo(frames);
    expect(new Set(before.instances.map((i) => i.categoryId))).toEqual(new Set([3, 7]));
    const loaded = await OfflineSegmenter.load(dir, { clipLength: 2, clipOverlap: 1, topK: 10 }); // the run folder
    expect([loaded.frameMaskIou, loaded.softNmsIou, loaded.maskScore]).toEqual([
      frameMaskIou,
      softNmsIou,
      maskScore,
    ]);
    expect(await loaded.segmentVideo(frames)).toEqual(before);
    for (const [name, tensor] of model.stateDict()) {
      expect(maxAbsDiff(tensor, loaded.model.stateDict().get(name)!)).toBe(0);
    }
    loaded.dispose();

    // Plain weights are not a model file: one clear error.
    const weightsOnly = join(dir, "weights.safetensors");
    await saveSafetensors(weightsOnly, model.stateDict(), { format: "pt" });
    await expect(OfflineSegmenter.load(weightsOnly)).rejects.toThrow(
      `${weightsOnly}: __metadata__.format: not a vidseg model file`,
    );
    await expect(OfflineSegmenter.load(join(dir, "missing.safetensors"))).rejects.toThrow(/file not found/);
    model.dispose();
  });
});
