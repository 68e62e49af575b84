/**
 * The online VIS model end to end on a small synthetic YouTube-VIS-layout dataset (tiny preset, wasm):
 * the frame/pair data source (sizes, pairs from one video, exact resume), a short training run through
 * the trainer writing the model file, streaming inference whose results validate and evaluate with
 * evaluateYtvis, identical results from the checkpoint, and a constant tensor count across frames.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { evaluateYtvis, YTVIS_STAT_NAMES } from "../src/eval/ytvis.js";
import { annotationFromMasks, validateResults, writeYtvis, type YtvisDataset } from "../src/formats/ytvis.js";
import { OnlineSegmenter } from "../src/infer/online-segmenter.js";
import { rawFrames } from "../src/infer/sources.js";
import { presetConfig } from "../src/models/config.js";
import { initRuntime } from "../src/runtime/backend.js";
import { latestCheckpoint } from "../src/train/checkpoint.js";
import { resolveVisSplit } from "../src/formats/ytvis-layout.js";
import { maskScores } from "../src/processing/postprocess.js";
import { resizeMaskNearest } from "../src/processing/preprocess.js";
import { trainOnlineVis } from "../src/train/run.js";
import { frameRepeatFactors, VisFrameData } from "../src/train/vis-data.js";

const WIDTH = 96;
const HEIGHT = 80;
const FRAMES = 6;
const root = mkdtempSync(join(tmpdir(), "vidseg-online-"));
/** RGB frames of each video, kept for the inference tests. */
const videoFrames: Uint8Array[][] = [];
let dataset: YtvisDataset;

/** Two videos: a red square (category 1) and a blue disc (category 2) moving across grey. */
async function writeDataset(): Promise<void> {
  const rng = new Rng(7);
  const videos: YtvisDataset["videos"] = [];
  const annotations: YtvisDataset["annotations"] = [];
  for (let v = 0; v < 2; v++) {
    const name = `vid${v}`;
    mkdirSync(join(root, "train", "JPEGImages", name), { recursive: true });
    const objects = [1, 2].map((category) => ({
      category,
      x: rng.range(10, 60),
      y: rng.range(10, 50),
      dx: rng.range(-4, 4),
      dy: rng.range(-3, 3),
      r: rng.range(9, 14),
      masks: [] as Uint8Array[],
    }));
    const frames: Uint8Array[] = [];
    const files: string[] = [];
    for (let f = 0; f < FRAMES; f++) {
      const rgb = new Uint8Array(WIDTH * HEIGHT * 3).fill(128);
      for (const o of objects) {
        const cx = o.x + o.dx * f;
        const cy = o.y + o.dy * f;
        const mask = new Uint8Array(WIDTH * HEIGHT);
        for (let y = 0; y < HEIGHT; y++) {
          for (let x = 0; x < WIDTH; x++) {
            const inside =
              o.category === 1
                ? Math.abs(x + 0.5 - cx) <= o.r && Math.abs(y + 0.5 - cy) <= o.r
                : (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= o.r ** 2;
            if (!inside) continue;
            mask[y * WIDTH + x] = 1;
            // The disc is drawn last and occludes the square.
            if (o.category === 2)
              for (const other of objects) if (other !== o) other.masks[f][y * WIDTH + x] = 0;
            rgb.set(o.category === 1 ? [220, 40, 30] : [40, 50, 230], (y * WIDTH + x) * 3);
          }
        }
        o.masks.push(mask);
      }
      const file = `${name}/${String(f).padStart(5, "0")}.png`;
      await sharp(rgb, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
        .png()
        .toFile(join(root, "train", "JPEGImages", file));
      frames.push(rgb);
      files.push(file);
    }
    videoFrames.push(frames);
    videos.push({ id: v + 1, width: WIDTH, height: HEIGHT, length: FRAMES, file_names: files });
    for (const o of objects) {
      annotations.push(
        annotationFromMasks({
          id: annotations.length + 1,
          videoId: v + 1,
          categoryId: o.category,
          masks: o.masks,
          height: HEIGHT,
          width: WIDTH,
        }),
      );
    }
  }
  dataset = {
    videos,
    categories: [
      { id: 1, name: "square" },
      { id: 2, name: "disc" },
    ],
    annotations,
  };
  await writeYtvis(join(root, "train.json"), dataset);
}

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await writeDataset();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function tinyConfig() {
  const config = presetConfig("tiny");
  config.optim.totalSteps = 8;
  config.optim.warmupSteps = 2;
  config.inference.scoreThreshold = 0.05; // an 8-step model is unsure: still produce tracks
  return config;
}

describe("VisFrameData", () => {
  it("samples pairs of frames of one video at the model size, with resizable GT, resumably", async () => {
    const paths = resolveVisSplit(root, "train");
    expect(paths.annotationFile).toBe(join(root, "train.json"));
    const options = {
      ...paths,
      inputSize: [64, 64] as [number, number],
      batchSize: 4,
      pairs: true,
      pairMaxGap: 2,
      cropFrames: 3,
      cropSize: 32,
    };
    const data = await VisFrameData.open(options);
    expect(data.categoryIds).toEqual([1, 2]);
    const rng = new Rng(1);
    const batch = await data.next(rng);
    expect(batch.images.shape).toEqual([4, 64, 64, 3]);
    for (let p = 0; p < 4; p += 2) {
      expect(batch.frames[p].videoId).toBe(batch.frames[p + 1].videoId);
      const gap = Math.abs(batch.frames[p].frame - batch.frames[p + 1].frame);
      expect(gap).toBeGreaterThanOrEqual(1);
      expect(gap).toBeLessThanOrEqual(2);
    }
    for (const target of batch.targets) {
      expect(target.masks.shape.slice(1)).toEqual([64, 64]);
      expect(target.labels.length).toBe(target.masks.shape[0]);
      expect(target.ids?.length).toBe(target.labels.length);
      const values = new Set(target.masks.dataSync());
      for (const v of values) expect([0, 1]).toContain(v);
    }
    // Crop-classifier crops: one per instance of 3 more frames (every frame here shows both objects).
    expect(batch.crops!.images.shape).toEqual([6, 32, 32, 3]);
    expect(batch.crops!.labels.slice().sort()).toEqual([0, 0, 0, 1, 1, 1]);
    const pixels = batch.images.dataSync();
    expect(Math.min(...pixels)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...pixels)).toBeLessThanOrEqual(1);

    // Resume: restoring the sampler and RNG state reproduces the next batch exactly.
    const state = data.getState();
    const rngState = rng.getState();
    const next = await data.next(rng);
    const resumed = await VisFrameData.open(options);
    resumed.setState(state);
    const again = await resumed.next(Rng.fromState(rngState));
    expect(again.frames).toEqual(next.frames);
    expect(Array.from(again.images.dataSync())).toEqual(Array.from(next.images.dataSync()));
    expect(Array.from(again.crops!.images.dataSync())).toEqual(Array.from(next.crops!.images.dataSync()));
    for (const b of [batch, next, again]) data.release(b);
  });

  it("resizes masks by nearest pixel centres and mirrors them on flips", () => {
    const mask = Uint8Array.from([1, 0, 0, 0, 1, 1]); // 2×3
    expect(Array.from(resizeMaskNearest(mask, 2, 3, 4, 6))).toEqual([
      1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1,
    ]);
    expect(Array.from(resizeMaskNearest(mask, 2, 3, 2, 3, true))).toEqual([0, 0, 1, 1, 1, 0]);
  });

  it("gives frames showing rare classes LVIS repeat factors max(1, sqrt(t / f_c))", () => {
    // 10 frames: category 1 visible in all, category 2 in frames 0–1 (f = 0.2), nothing else.
    const video = { id: 4, width: 2, height: 2, length: 10, file_names: [] as string[] };
    const segs = (visible: (f: number) => boolean) =>
      Array.from({ length: 10 }, (_, f) => (visible(f) ? { size: [2, 2], counts: "04" } : null));
    const annotation = (id: number, category: number, visible: (f: number) => boolean) => ({
      id,
      video_id: 4,
      category_id: category,
      iscrowd: 0,
      segmentations: segs(visible),
      areas: [],
      bboxes: [],
    });
    const tiny = {
      videos: [video],
      categories: [],
      annotations: [annotation(1, 1, () => true), annotation(2, 2, (f) => f < 2)],
    } as unknown as YtvisDataset;
    const items = Array.from({ length: 10 }, (_, frame) => ({ video: 0, frame }));
    const factors = frameRepeatFactors(tiny, items, 0.8);
    expect(factors.slice(0, 2)).toEqual([2, 2]); // √(0.8 / 0.2)
    expect(factors.slice(2)).toEqual(Array(8).fill(1));
    expect(() => frameRepeatFactors(tiny, items, 0)).toThrow(/repeatThreshold/);
  });
});

describe("online model: train, stream, evaluate", () => {
  let modelFile: string;
  let runDir: string;

  it("trains through the trainer and writes the model file", async () => {
    runDir = join(root, "run");
    const result = await trainOnlineVis({
      config: tinyConfig(),
      data: resolveVisSplit(root, "train"),
      runDir,
      progress: false,
      seed: 3,
    });
    expect(result.step).toBe(8);
    expect(result.modelFile).toBe(join(runDir, "model.safetensors"));
    expect(result.info.config.model.numClasses).toBe(2);
    expect(result.info.categoryNames).toEqual(["square", "disc"]);
    expect(Number.isFinite(result.lastLoss)).toBe(true);
    modelFile = result.modelFile!;
    result.model.dispose();
  }, 120_000);

  it("streams a video into YouTube-VIS results that evaluate", async () => {
    const seg = await OnlineSegmenter.load(modelFile, { collectResults: true, topK: 5 });
    const results = [];
    for (let v = 0; v < 2; v++) {
      const source = rawFrames(videoFrames[v], { width: WIDTH, height: HEIGHT });
      results.push(...(await seg.segmentVideo(source, v + 1)));
    }
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      expect(r.segmentations).toHaveLength(FRAMES);
      expect([1, 2]).toContain(r.category_id);
    }
    validateResults(JSON.parse(JSON.stringify(results)), "results.json", dataset);
    const evaluation = evaluateYtvis(dataset, results);
    expect(Object.keys(evaluation.stats)).toEqual([...YTVIS_STAT_NAMES]);
    for (const value of Object.values(evaluation.stats)) {
      expect(value === -1 || (value >= 0 && value <= 1)).toBe(true);
    }

    // The newest checkpoint holds the same model: identical results.
    const checkpoint = (await latestCheckpoint(runDir))!.path;
    const fromCheckpoint = await OnlineSegmenter.load(checkpoint, { collectResults: true, topK: 5 });
    const again = await fromCheckpoint.segmentVideo(
      rawFrames(videoFrames[0], { width: WIDTH, height: HEIGHT }),
      1,
    );
    expect(again).toEqual(results.filter((r) => r.video_id === 1));
    seg.dispose();
    fromCheckpoint.dispose();
  }, 60_000);

  it("scores by class and mask (inference.maskScore): the same tracks, each score × its query's mask score", async () => {
    expect(presetConfig("tiny").inference.maskScore).toBe(true);
    const [plain, scored] = await Promise.all(
      [false, true].map((maskScore) => OnlineSegmenter.load(modelFile, { maskScore, scoreThreshold: 0.05 })),
    );
    let frame;
    for await (frame of rawFrames(videoFrames[0], { width: WIDTH, height: HEIGHT })) break;
    const a = plain.segmentForVideo(frame!, 0);
    const b = scored.segmentForVideo(frame!, 0);
    expect(a.instances.length).toBeGreaterThan(0);
    expect(b.instances.map((i) => [i.trackId, i.frameScore, [...i.mask]])).toEqual(
      a.instances.map((i) => [i.trackId, i.frameScore, [...i.mask]]),
    );
    const scores = maskScores(await plain.network.predict(frame!));
    for (const [k, instance] of b.instances.entries()) {
      const ratio = instance.score / a.instances[k].score;
      expect(Math.min(...Array.from(scores, (s) => Math.abs(s - ratio)))).toBeLessThan(1e-5);
      expect(ratio).toBeLessThan(1);
    }
    plain.dispose();
    scored.dispose();
  });

  it("keeps memory flat in streaming mode: constant tensor count, bounded tracks", async () => {
    const seg = await OnlineSegmenter.load(modelFile, { maxLiveTracks: 4 });
    const counts: number[] = [];
    for (let t = 0; t < 24; t++) {
      const frame = videoFrames[t % 2][t % FRAMES];
      const result = seg.segmentFrame({ width: WIDTH, height: HEIGHT, data: frame }, (t * 1000) / 30);
      expect(result.frameIndex).toBe(t);
      for (const instance of result.instances) {
        expect(instance.mask.length).toBe(WIDTH * HEIGHT);
        expect(["square", "disc"]).toContain(instance.label);
      }
      counts.push(tf.memory().numTensors);
      expect(seg.liveTrackCount).toBeLessThanOrEqual(4);
    }
    expect(new Set(counts).size).toBe(1);
    expect(() => seg.finish(1)).toThrow(/collectResults/);
    expect(() => seg.segmentFrame({ width: 10, height: 10, data: new Uint8Array(300) })).toThrow(
      /earlier frames were 96×80/,
    );
    seg.dispose();
  }, 60_000);
});
