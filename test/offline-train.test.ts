/**
 * Training the offline (VITA-style) model end to end on a synthetic YouTube-VIS root (synth tiny preset,
 * tiny model, wasm): clip sampling (one video, frames in order within the stride, GT masks per track
 * and frame, exact resume), `vidseg train vis --model offline` through the CLI function (loss goes down,
 * log / checkpoints / plot / model file), exact resume of an interrupted run, the model file loaded by
 * OfflineSegmenter scoring exactly the validation AP the run logged (and equal to its newest checkpoint), and initialisation from an online
 * model with a frozen segmenter.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trainVis, type TrainVisOptions } from "../src/jobs/train-vis.js";
import { Rng } from "../src/core/rng.js";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import { readYtvis, validateResults, type YtvisDataset } from "../src/formats/ytvis.js";
import { OfflineSegmenter, toYtvisResults } from "../src/infer/offline-segmenter.js";
import { openYtvisSplit } from "../src/infer/sources.js";
import { decode, fromSegmentation } from "../src/mask/rle.js";
import { presetConfig, resolveVisConfig } from "../src/models/config.js";
import { loadVisConfig } from "../src/models/config-file.js";
import { disposeModelFile, readModelFile } from "../src/models/model-file.js";
import { OFFLINE_HEAD_PRESETS } from "../src/models/vis/offline.js";
import { loadSafetensors } from "../src/nn/safetensors.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { listCheckpoints } from "../src/train/checkpoint.js";
import { resolveVisSplit } from "../src/formats/ytvis-layout.js";
import { resizeMaskNearest } from "../src/processing/preprocess.js";
import { trainOfflineVis, trainOnlineVis } from "../src/train/run.js";
import { sampleClipFrames, VisClipData, type VisClipDataOptions } from "../src/train/vis-data.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-offline-train-"));
let train: YtvisDataset;

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  // 3 videos of 8 frames at 64×64 per split, 2–3 objects each.
  await generateVisDataset(resolveOptions("tiny", 5, { videos: 3 }), root, { splits: ["train", "valid"] });
  train = await readYtvis(join(root, "train.json"));
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A config file: the tiny preset, `steps` steps, clips of 3 frames up to 2 apart. */
function configFile(name: string, steps: number, offline: Record<string, unknown> = {}): string {
  const file = join(root, `${name}.json`);
  const config = {
    preset: "tiny",
    optim: { totalSteps: steps, warmupSteps: 1, lr: 2e-3 },
    inference: { topK: 5 },
    offline: { clipLength: 3, clipMaxStride: 2, ...offline },
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function cliOptions(out: string, config: string, extra: Partial<TrainVisOptions> = {}): TrainVisOptions {
  return {
    model: "offline",
    data: root,
    config,
    out,
    seed: 1,
    valSplit: "valid",
    checkpointEvery: 4,
    progress: false,
    ...extra,
  };
}

/** The two model files hold the same tensor names with equal values. */
async function expectSameWeights(actualFile: string, expectedFile: string): Promise<void> {
  const actual = (await loadSafetensors(actualFile)).tensors;
  const expected = (await loadSafetensors(expectedFile)).tensors;
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, tensor] of expected)
    expect(Array.from(actual.get(name)!.dataSync()), name).toEqual(Array.from(tensor.dataSync()));
  tf.dispose([...actual.values(), ...expected.values()]);
}

function readLog(
  runDir: string,
): { type: string; step: number; loss?: number; AP?: number; AR10?: number }[] {
  return readFileSync(join(runDir, "log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

describe("sampleClipFrames", () => {
  it("draws frames in order, 1..stride apart, inside the video, around the anchor", () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 500; trial++) {
      const clipLength = 2 + rng.int(5);
      const length = clipLength + rng.int(20);
      const maxStride = 1 + rng.int(4);
      const anchor = rng.int(length);
      const frames = sampleClipFrames(length, clipLength, maxStride, anchor, rng);
      expect(frames).toHaveLength(clipLength);
      const stride = Math.min(maxStride, Math.floor((length - 1) / (clipLength - 1)));
      for (let i = 1; i < clipLength; i++) {
        expect(frames[i] - frames[i - 1]).toBeGreaterThanOrEqual(1);
        expect(frames[i] - frames[i - 1]).toBeLessThanOrEqual(stride);
      }
      expect(frames[0]).toBeGreaterThanOrEqual(0);
      expect(frames[clipLength - 1]).toBeLessThan(length);
      expect(frames[0]).toBeLessThanOrEqual(anchor);
      expect(frames[clipLength - 1]).toBeGreaterThanOrEqual(anchor);
    }
    // Stride 1: consecutive frames. Short videos: every frame, repeated to fill the clip.
    const consecutive = sampleClipFrames(10, 4, 1, 6, rng);
    expect(consecutive).toEqual([0, 1, 2, 3].map((i) => consecutive[0] + i));
    expect(sampleClipFrames(3, 5, 2, 1, rng)).toEqual([0, 0, 1, 1, 2]);
    expect(sampleClipFrames(1, 3, 2, 0, rng)).toEqual([0, 0, 0]);
    expect(sampleClipFrames(9, 1, 2, 7, rng)).toEqual([7]);
    // The stride shrinks so that the clip fits: 3 frames of a 5-frame video are at most 2 apart.
    const fitted = sampleClipFrames(5, 3, 5, 2, rng);
    expect(fitted[2] - fitted[0]).toBeLessThanOrEqual(4);
  });
});

describe("VisClipData", () => {
  const options = (): VisClipDataOptions => ({
    ...resolveVisSplit(root, "train"),
    inputSize: [64, 64],
    clipLength: 4,
    clipsPerBatch: 2,
    maxStride: 2,
    seed: 9,
  });

  it("samples clips of one video with per-track masks equal to the resized GT, resumably", async () => {
    const data = await VisClipData.open(options());
    const rng = new Rng(2);
    const batch = await data.next(rng);
    expect(batch.images.shape).toEqual([8, 64, 64, 3]);
    expect(batch.numFrames).toBe(4);
    expect(batch.clips).toHaveLength(2);
    const masksOf = await Promise.all(batch.targets.map((t) => t.masks.data()));
    batch.clips.forEach((clip, b) => {
      const video = train.videos.find((v) => v.id === clip.videoId)!;
      for (let i = 1; i < 4; i++) {
        expect(clip.frames[i] - clip.frames[i - 1]).toBeGreaterThanOrEqual(1);
        expect(clip.frames[i] - clip.frames[i - 1]).toBeLessThanOrEqual(2);
      }
      const target = batch.targets[b];
      expect(target.masks.shape).toEqual([clip.trackIds.length, 4, 64, 64]);
      expect(clip.trackIds.length).toBeGreaterThan(0);
      // Every track is an annotation of this video with its class index; its mask in frame t is the
      // annotation's mask resized (and flipped with the clip), empty where the annotation is null.
      clip.trackIds.forEach((id, k) => {
        const annotation = train.annotations.find((a) => a.id === id)!;
        expect(annotation.video_id).toBe(clip.videoId);
        expect(target.labels[k]).toBe(data.reader.classOfCategory.get(annotation.category_id));
        clip.frames.forEach((frame, t) => {
          const segmentation = annotation.segmentations[frame];
          const expected = segmentation
            ? resizeMaskNearest(
                decode(fromSegmentation(segmentation, video.height, video.width, "test")),
                video.height,
                video.width,
                64,
                64,
                clip.flip,
              )
            : new Uint8Array(64 * 64);
          const offset = (k * 4 + t) * 64 * 64;
          expect(Array.from(masksOf[b].subarray(offset, offset + 64 * 64))).toEqual(Array.from(expected));
        });
      });
    });

    // Resume: the saved sampler position and RNG state reproduce the next batch exactly.
    const state = JSON.parse(JSON.stringify(data.getState()));
    const rngState = rng.getState();
    const next = await data.next(rng);
    const resumed = await VisClipData.open(options());
    resumed.setState(state);
    const again = await resumed.next(Rng.fromState(rngState));
    expect(again.clips).toEqual(next.clips);
    expect(Array.from(again.images.dataSync())).toEqual(Array.from(next.images.dataSync()));
    expect(Array.from(again.targets[0].masks.dataSync())).toEqual(
      Array.from(next.targets[0].masks.dataSync()),
    );
    for (const b of [batch, next, again]) data.release(b);
  });

  it("rejects a bad clip length", async () => {
    await expect(VisClipData.open({ ...options(), clipLength: 0 })).rejects.toThrow(/clipLength/);
  });
});

describe("vidseg train vis --model offline", () => {
  const runDir = join(root, "run");

  it("trains: the loss goes down; log, checkpoints, plot and model file are written", async () => {
    const summary = await trainVis(cliOptions(runDir, configFile("run", 12), { valEvery: 6 }));
    expect(summary).toMatchObject({
      model_kind: "offline",
      step: 12,
      model: join(runDir, "model.safetensors"),
    });
    const log = readLog(runDir);
    const losses = log.filter((e) => e.type === "train").map((e) => e.loss!);
    expect(losses).toHaveLength(12);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(losses.slice(-3))).toBeLessThan(0.8 * mean(losses.slice(0, 3)));
    const trainLine = log.find((e) => e.type === "train") as unknown as Record<string, number>;
    for (const term of ["frame_loss_ce", "video_loss_mask", "video_loss_dice", "loss_sim"])
      expect(Number.isFinite(trainLine[term])).toBe(true);
    expect(log.filter((e) => e.type === "val").map((e) => e.step)).toEqual([6, 12]);
    expect((await listCheckpoints(runDir)).map((c) => c.step)).toEqual([8, 12]);
    const plot = readFileSync(join(runDir, "plot.html"), "utf8");
    expect(plot).toContain("validation AP");
    expect(plot.match(/<polyline/g)).toHaveLength(2);
  }, 180_000);

  it("OfflineSegmenter.load(run) reproduces the logged validation AP; results validate", async () => {
    const lastVal = readLog(runDir)
      .filter((e) => e.type === "val")
      .at(-1)!;
    const segmenter = await OfflineSegmenter.load(runDir, { clipLength: 8, clipOverlap: 2, topK: 5 });
    const { dataset, videos } = await openYtvisSplit(
      join(root, "valid.json"),
      join(root, "valid", "JPEGImages"),
    );
    const resultsOf = async (seg: OfflineSegmenter) => {
      const results = [];
      for (const { video, frames } of videos)
        results.push(...toYtvisResults(await seg.segmentVideo(await frames()), video.id));
      seg.dispose();
      return results;
    };
    const results = await resultsOf(segmenter);
    // The newest checkpoint holds the same model: identical results.
    const checkpoint = (await listCheckpoints(runDir)).at(-1)!.path;
    expect(
      await resultsOf(await OfflineSegmenter.load(checkpoint, { clipLength: 8, clipOverlap: 2, topK: 5 })),
    ).toEqual(results);
    expect(results.length).toBeGreaterThan(0);
    validateResults(JSON.parse(JSON.stringify(results)), "results.json", dataset);
    const { stats } = evaluateYtvis(dataset, results);
    // An untrained-looking 12-step model: the point is the same number, whatever it is.
    expect([stats.AP, stats.AR10]).toEqual([lastVal.AP, lastVal.AR10]);
  }, 60_000);

  it("resumes an interrupted run exactly (same losses, same model file)", async () => {
    const resumedDir = join(root, "resumed");
    const config = configFile("resume", 6);
    const controller = new AbortController();
    const first = await trainOfflineVis({
      config: await loadVisConfig(config),
      data: resolveVisSplit(root, "train"),
      runDir: resumedDir,
      seed: 1,
      progress: false,
      onStep: (entry) => entry.step === 3 && controller.abort(),
      signal: controller.signal,
    });
    expect(first.step).toBe(3);
    first.model.dispose();
    await trainVis(cliOptions(resumedDir, config, { resume: true, valSplit: "none" }));
    const straightDir = join(root, "straight");
    await trainVis(cliOptions(straightDir, config, { valSplit: "none" }));
    const losses = (dir: string) =>
      readLog(dir)
        .filter((e) => e.type === "train")
        .map((e) => e.loss);
    expect(losses(resumedDir)).toEqual(losses(straightDir));
    const modelFile = (dir: string) => readFileSync(join(dir, "model.safetensors"));
    expect(modelFile(resumedDir).equals(modelFile(straightDir))).toBe(true);
  }, 180_000);
});

describe("training from an online model (--init)", () => {
  it("starts the segmenter from the online model and, frozen, keeps it exactly", async () => {
    const onlineDir = join(root, "online");
    const onlineConfig = presetConfig("tiny");
    onlineConfig.optim.totalSteps = 2;
    const online = await trainOnlineVis({
      config: onlineConfig,
      data: resolveVisSplit(root, "train"),
      runDir: onlineDir,
      progress: false,
    });
    online.model.dispose();
    const out = join(root, "from-online");
    const summary = await trainVis(
      cliOptions(out, configFile("init", 3, { freezeSegmenter: true }), {
        init: online.modelFile,
        valSplit: "none",
      }),
    );
    const onlineWeights = (await loadSafetensors(online.modelFile!)).tensors;
    const offlineWeights = (await loadSafetensors(summary.model!)).tensors;
    for (const [name, tensor] of onlineWeights) {
      const copy = offlineWeights.get(`segmenter.${name}`)!;
      expect(Array.from(copy.dataSync()), name).toEqual(Array.from(tensor.dataSync()));
    }
    tf.dispose([...onlineWeights.values(), ...offlineWeights.values()]);

    // The online trainer fine-tunes an online model: at a zero learning rate it is that model, tensor for
    // tensor, whatever the run's own config says about the architecture.
    const zeroLr = join(root, "zero-lr.json");
    writeFileSync(
      zeroLr,
      JSON.stringify({ preset: "cpu-small", optim: { totalSteps: 1, warmupSteps: 0, lr: 0 } }),
    );
    const tuned = await trainVis(
      cliOptions(join(root, "online-tuned"), zeroLr, {
        model: "online",
        init: online.modelFile,
        valSplit: "none",
      }),
    );
    await expectSameWeights(tuned.model!, online.modelFile!);

    // An offline model as init is continued, head and segmenter: at a zero learning rate the run's
    // model is that model, tensor for tensor, whatever the run's own head settings say.
    const zeroLrClips = join(root, "zero-lr-clips.json");
    writeFileSync(
      zeroLrClips,
      JSON.stringify({
        preset: "tiny",
        optim: { totalSteps: 1, warmupSteps: 0, lr: 0 },
        offline: { head: { numVideoQueries: 3 }, clipLength: 4, clipMaxStride: 1 },
      }),
    );
    const continued = await trainVis(
      cliOptions(join(root, "offline-continued"), zeroLrClips, { init: summary.model!, valSplit: "none" }),
    );
    await expectSameWeights(continued.model!, summary.model!);

    // A continued model's file names all its data, newest first: the first model (trained through the
    // library, without a description) is unrecorded, so nothing after it claims to be synthetic only.
    const trainedOn = async (file: string) => {
      const model = await readModelFile(file);
      disposeModelFile(model);
      return model.info.trainedOn;
    };
    const data = "synthetic tiny preset (vidseg synth vis), seed 5";
    expect(await trainedOn(online.modelFile!)).toBeUndefined();
    const fromUnrecorded = {
      data: `${data}, continuing a model whose data is not recorded`,
      synthetic: false,
    };
    expect(await trainedOn(tuned.model!)).toEqual(fromUnrecorded);
    expect(await trainedOn(summary.model!)).toEqual(fromUnrecorded);
    expect(await trainedOn(continued.model!)).toEqual({
      data: `${data}, continuing a model trained on ${fromUnrecorded.data}`,
      synthetic: false,
    });

    // The online task takes an online model only.
    await expect(
      trainVis(
        cliOptions(join(root, "bad2"), configFile("bad2", 1), { model: "online", init: summary.model! }),
      ),
    ).rejects.toThrow("__metadata__.info.kind: holds an offline model; --init takes an online model file");
  }, 120_000);

  it("checks the offline config section, naming the file and field", async () => {
    const config = resolveVisConfig({ preset: "tiny", offline: { head: { windowSize: 0 } } });
    expect(config.offline.head).toEqual({ ...OFFLINE_HEAD_PRESETS.tiny, windowSize: 0 });
    const file = configFile("misspelt", 1, { head: { width: 3 } });
    await expect(trainVis(cliOptions(join(root, "misspelt"), file))).rejects.toThrow(
      `${file}: offline.head.width: unknown field "width"`,
    );
    expect(() =>
      resolveVisConfig({ preset: "tiny", offline: { inferenceClipOverlap: 8 } }, "c.json"),
    ).toThrow("c.json: offline.inferenceClipOverlap: must be smaller than offline.inferenceClipLength");
    expect(() => resolveVisConfig({ offline: { clipLength: 0 } }, "c.json")).toThrow(
      "c.json: offline.clipLength: must be an integer ≥ 1",
    );
    expect(() => resolveVisConfig({ offline: { headPreset: "huge" } }, "c.json")).toThrow(
      /c\.json: offline\.headPreset: must be one of/,
    );
  });
});
