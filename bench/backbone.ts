/**
 * Backbone benchmark on the wasm backend: the frozen pretrained CenterNet MobileNetV3 against the
 * from-scratch ResNet of the cpu-small preset (resnetSmall, GroupNorm).
 *
 *   npm run bench:backbone                 human-readable report
 *   npm run bench:backbone -- --json       one JSON document
 *   options: --iters N (default 10)
 *
 * 1. The backbone's forward alone (RGB 0..1 in, four maps out) at 128² and 256², batch 1 and 2.
 * 2. A segmenter training step of the cpu-small model at 128², batch 2 (forward, Mask2Former losses
 *    with the contrastive term, backward, AdamW) with each backbone, crop classifier off, so the step
 *    differs only by the backbone. `vidseg train vis` adds the data loading and the crop classifier.
 * 3. What a per-frame feature cache would hold: bytes of the four maps per frame, and for the synthetic
 *    easy preset's training split (600 videos × 36 frames).
 *
 * Medians of wall time and of this process's CPU time (user + system; robust to other processes
 * sharing the cores, which wall time is not).
 */
import * as tf from "@tensorflow/tfjs";

import { presetConfig } from "../src/models/config.js";
import type { CriterionTarget } from "../src/models/criterion.js";
import { onlineLoss } from "../src/models/vis/online.js";
import { FrameSegmenter } from "../src/models/segmenter.js";
import { createBackbone, type BackboneName } from "../src/nn/backbone.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { AdamW } from "../src/train/optim.js";

const BACKBONES: BackboneName[] = ["centernet-mbv3", "resnetSmall"];
const EASY_PRESET_FRAMES = 600 * 36;

interface Timing {
  wall_ms: number;
  cpu_ms: number;
}

function parseArgs(argv: string[]): { json: boolean; iters: number } {
  const args = { json: false, iters: 10 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--json") args.json = true;
    else if (argv[i] === "--iters") {
      args.iters = Number(argv[++i]);
      if (!Number.isInteger(args.iters) || args.iters < 1)
        throw new Error("--iters needs a positive integer");
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  return args;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** Runs `fn` once to warm up, then `iters` times; `fn` must wait for its results (dataSync). */
function time(iters: number, fn: () => void): Timing {
  fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < iters; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const used = process.cpuUsage(cpu0);
    cpu.push((used.user + used.system) / 1000);
  }
  return { wall_ms: median(wall), cpu_ms: median(cpu) };
}

function backboneForward(name: BackboneName, size: number, batch: number, iters: number): Timing {
  const backbone = createBackbone(name, { norm: "GN" });
  const images = tf.randomUniform([batch, size, size, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const timing = time(iters, () => {
    const f = backbone.features(images);
    f.res5.dataSync();
    tf.dispose([f.res2, f.res3, f.res4, f.res5]);
  });
  images.dispose();
  backbone.dispose();
  return timing;
}

/** Two frames with one box each (a pair of frames of one video, as the contrastive loss wants). */
function boxTargets(size: number): CriterionTarget[] {
  return [0, 1].map((i) => {
    const mask = new Float32Array(size * size);
    for (let y = 20 + 4 * i; y < 70 + 4 * i; y++) for (let x = 30; x < 90; x++) mask[y * size + x] = 1;
    return { labels: [i], ids: [1], masks: tf.tensor3d(mask, [1, size, size]) };
  });
}

function trainStep(name: BackboneName, iters: number): Timing & { trainable_parameters: number } {
  const config = presetConfig("cpu-small");
  config.model.backbone = name;
  config.model.cropSize = 0;
  const size = config.model.inputSize[0];
  seedParameters(1);
  const model = new FrameSegmenter(config.model);
  const params = model.namedParameters();
  const optimizer = new AdamW(params, { lr: 1e-4, weightDecay: 0.05 });
  const images = tf.randomUniform([2, size, size, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const targets = boxTargets(size);
  const timing = time(iters, () => {
    const { value, grads } = tf.variableGrads(
      () => onlineLoss(model, images, targets, config.criterion, () => 0.5).loss,
      [...params.values()],
    );
    optimizer.step(new Map([...params].map(([key, v]) => [key, grads[v.name]] as const)));
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  });
  let trainable = 0;
  for (const v of params.values()) trainable += v.size;
  tf.dispose([images, ...targets.map((t) => t.masks)]);
  optimizer.dispose();
  model.dispose();
  return { ...timing, trainable_parameters: trainable };
}

/** Float32 bytes of the four CenterNet maps of one frame (strides 4..32). */
function featureBytesPerFrame(size: number): number {
  const backbone = createBackbone("centernet-mbv3");
  const values = backbone.outChannels.reduce(
    (sum, channels, level) => sum + (size / 2 ** (level + 2)) ** 2 * channels,
    0,
  );
  return 4 * values;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await initRuntime({ backend: "wasm" });
  const forward: Record<string, Record<string, Timing>> = {};
  for (const name of BACKBONES) {
    forward[name] = {};
    for (const size of [128, 256]) {
      for (const batch of [1, 2])
        forward[name][`${size}x${size}_batch${batch}`] = backboneForward(name, size, batch, args.iters);
    }
  }
  const step: Record<string, Timing & { trainable_parameters: number }> = {};
  for (const name of BACKBONES) step[name] = trainStep(name, args.iters);
  const cache = Object.fromEntries(
    [128, 256].map((size) => {
      const bytes = featureBytesPerFrame(size);
      return [
        `${size}x${size}`,
        { bytes_per_frame: bytes, easy_preset_train_GB: (bytes * EASY_PRESET_FRAMES) / 1e9 },
      ];
    }),
  );
  const report = {
    backend,
    iters: args.iters,
    forward,
    train_step_cpu_small_128_batch2: step,
    feature_cache: cache,
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  console.log(`backend ${backend}; medians of ${args.iters} runs (wall ms / process CPU ms)`);
  for (const name of BACKBONES) {
    for (const [key, t] of Object.entries(forward[name])) {
      console.log(
        `forward ${name.padEnd(15)} ${key.padEnd(17)} ${t.wall_ms.toFixed(1)} / ${t.cpu_ms.toFixed(1)}`,
      );
    }
  }
  for (const name of BACKBONES) {
    const t = step[name];
    console.log(
      `train step cpu-small 128² batch 2, ${name.padEnd(15)} ${t.wall_ms.toFixed(0)} / ${t.cpu_ms.toFixed(0)}` +
        ` (${t.trainable_parameters} trainable parameters)`,
    );
  }
  for (const [key, c] of Object.entries(cache)) {
    console.log(
      `feature cache ${key}: ${(c.bytes_per_frame / 1024).toFixed(0)} KiB per frame, ` +
        `${c.easy_preset_train_GB.toFixed(2)} GB for the easy preset's ${EASY_PRESET_FRAMES} training frames`,
    );
  }
}

await main();
