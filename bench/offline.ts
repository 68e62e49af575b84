/**
 * Offline (VITA-style) VIS model figures: parameter counts, training step time, inference speed and
 * peak memory against the clip window length.
 *
 *   npx tsx bench/offline.ts params
 *   npx tsx bench/offline.ts train [--preset cpu-small] [--frames 5] [--steps 4]
 *   npx tsx bench/offline.ts infer [--preset cpu-small] [--frames 128] [--clip 32] [--overlap 4]
 *
 * Run `infer` once per clip length (a fresh process each): the wasm heap never shrinks, so peak RSS
 * is only meaningful per process. Prints one JSON line. Weights are random (speed and memory do not
 * depend on them); frames are coloured discs moving over grey.
 */
import * as tf from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import { Rng } from "../src/core/rng.js";
import { OfflineSegmenter } from "../src/infer/offline-segmenter.js";
import type { Frame } from "../src/infer/sources.js";
import { PRESET_NAMES, presetConfig, type PresetName } from "../src/models/config.js";
import { OFFLINE_HEAD_PRESETS, OfflineVisModel } from "../src/models/vis/offline.js";
import { offlineCriterion, type ClipTarget } from "../src/models/vis/video-criterion.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { AdamW } from "../src/train/optim.js";

const args = process.argv.slice(2);
const mode = args[0] ?? "params";
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const presetArg = args.includes("--preset") ? args[args.indexOf("--preset") + 1] : "cpu-small";
if (!(PRESET_NAMES as readonly string[]).includes(presetArg)) throw new Error(`unknown preset ${presetArg}`);
const preset = presetArg as PresetName;

function buildModel(name: PresetName): OfflineVisModel {
  seedParameters(0);
  return new OfflineVisModel({ segmenter: presetConfig(name).model, head: OFFLINE_HEAD_PRESETS[name] });
}

/** Frames with two discs moving over grey, plus their masks. */
function syntheticVideo(
  frames: number,
  height: number,
  width: number,
): { frames: Frame[]; masks: Uint8Array[][] } {
  const rng = new Rng(1);
  const discs = [0, 1].map(() => ({
    x: rng.range(0.3, 0.7) * width,
    y: rng.range(0.3, 0.7) * height,
    vx: rng.range(-1, 1),
    vy: rng.range(-1, 1),
    r: rng.range(0.1, 0.2) * Math.min(width, height),
  }));
  const out: Frame[] = [];
  const masks: Uint8Array[][] = [[], []];
  for (let t = 0; t < frames; t++) {
    const data = new Uint8Array(width * height * 3).fill(128);
    discs.forEach((disc, k) => {
      const mask = new Uint8Array(width * height);
      const cx = disc.x + disc.vx * t;
      const cy = disc.y + disc.vy * t;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          if ((x - cx) ** 2 + (y - cy) ** 2 > disc.r ** 2) continue;
          mask[y * width + x] = 1;
          data.set(k === 0 ? [220, 40, 30] : [30, 60, 220], (y * width + x) * 3);
        }
      }
      masks[k].push(mask);
    });
    out.push({ index: t, timestampMs: t * 40, width, height, data });
  }
  return { frames: out, masks };
}

/** Peak resident set size of this process (VmHWM), MiB. */
function peakRssMiB(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) / 1024 : NaN;
}

const median = (values: number[]) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const backend = await initRuntime();
  if (mode === "params") {
    for (const name of PRESET_NAMES) {
      const model = buildModel(name);
      console.log(
        JSON.stringify({
          preset: name,
          segmenter: model.segmenter.parameterCount(),
          head: model.head.parameterCount(),
          total: model.parameterCount(),
        }),
      );
      model.dispose();
    }
    return;
  }
  const model = buildModel(preset);
  const [height, width] = model.config.segmenter.inputSize;
  if (mode === "train") {
    const frames = option("frames", 5);
    const steps = option("steps", 4);
    const video = syntheticVideo(frames, height, width);
    const images = tf.tidy(
      () =>
        tf.div(
          tf.tensor4d(Float32Array.from(video.frames.flatMap((f) => [...f.data])), [
            frames,
            height,
            width,
            3,
          ]),
          255,
        ) as tf.Tensor4D,
    );
    const data = new Float32Array(2 * frames * height * width);
    video.masks.forEach((track, k) =>
      track.forEach((m, t) => data.set(m, (k * frames + t) * height * width)),
    );
    const target: ClipTarget = { labels: [0, 1], masks: tf.tensor4d(data, [2, frames, height, width]) };
    const params = model.train().namedParameters();
    const names = new Map([...params].map(([name, v]) => [v.name, name]));
    const optimizer = new AdamW(params, { lr: 1e-4 });
    const rng = new Rng(2);
    const criterion = presetConfig(preset).criterion;
    const times: number[] = [];
    for (let step = 0; step < steps; step++) {
      const start = performance.now();
      const { value, grads } = tf.variableGrads(() => {
        const output = model.forward(images, frames, { aux: true });
        return offlineCriterion(output, [target], { ...criterion, rng: () => rng.uniform() }).loss;
      }, [...params.values()]);
      optimizer.step(new Map(Object.entries(grads).map(([v, g]) => [names.get(v)!, g])));
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
      times.push(performance.now() - start);
    }
    console.log(
      JSON.stringify({
        mode,
        backend,
        preset,
        input: [height, width],
        clipFrames: frames,
        stepMsMedian: Math.round(median(times.slice(1))),
        stepMs: times.map(Math.round),
        peakRssMiB: Math.round(peakRssMiB()),
      }),
    );
    return;
  }
  if (mode === "infer") {
    const frames = option("frames", 128);
    const clipLength = option("clip", 32);
    const clipOverlap = option("overlap", Math.min(4, clipLength - 1));
    const video = syntheticVideo(frames, height, width);
    const segmenter = new OfflineSegmenter(model, { clipLength, clipOverlap });
    await segmenter.segmentVideo(video.frames.slice(0, Math.min(frames, 4))); // warm-up
    const rssBefore = peakRssMiB();
    // Live tensor bytes sampled whenever the segmenter asks for the next frame (tf.profile would keep a
    // record of every kernel of the run).
    let tensorPeakBytes = 0;
    function* sampled(): Generator<Frame> {
      for (const frame of video.frames) {
        tensorPeakBytes = Math.max(tensorPeakBytes, tf.memory().numBytes);
        yield frame;
      }
      tensorPeakBytes = Math.max(tensorPeakBytes, tf.memory().numBytes);
    }
    const start = performance.now();
    const result = await segmenter.segmentVideo(sampled());
    const seconds = (performance.now() - start) / 1000;
    console.log(
      JSON.stringify({
        mode,
        backend,
        preset,
        input: [height, width],
        frames,
        clipLength,
        clipOverlap,
        fps: Number((frames / seconds).toFixed(2)),
        tensorPeakMiB: Number((tensorPeakBytes / 2 ** 20).toFixed(1)),
        peakRssMiB: Math.round(peakRssMiB()),
        peakRssBeforeRunMiB: Math.round(rssBefore),
        tracks: new Set(result.instances.map((i) => i.trackId)).size,
      }),
    );
    return;
  }
  throw new Error(`unknown mode ${mode} (params | train | infer)`);
}

await main();
