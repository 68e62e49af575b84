/**
 * The referring model's cost per frame on a long stream: YOFO's claim is one stage at a constant cost
 * per frame (the memory holds K samples, θ is warm-started, nothing grows with the video). Streams
 * `--frames` frames (default 2,000) of the synthetic `long` preset's scene, rendered one at a time at the
 * model's input size, through ReferringSegmenter with `--targets` expressions followed at once (default
 * 2), and reports per window of 100 frames the median wall and CPU milliseconds per frame, and at its
 * end the live tensors, their bytes and the process RSS; then whether frames 100 → end stay within 10 %.
 *
 *   npx tsx bench/refer-stream.ts [--checkpoint M] [--frames 2000] [--targets 2] [--json]
 *
 * The model is --checkpoint, else the cpu-small preset with random weights (time and memory per frame
 * do not depend on the weights). CPU time (user + system of this process) is the figure to read on a
 * shared machine: wall time also counts the other processes' turns.
 */
import * as tf from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import { ReferringSegmenter } from "../src/infer/referring-segmenter.js";
import { presetConfig } from "../src/models/config.js";
import { readModelFile } from "../src/models/model-file.js";
import { MODEL_KINDS } from "../src/models/registry.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { SceneRenderer } from "../src/synth/render.js";
import { planScene } from "../src/synth/scene.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const frames = Number(option("frames") ?? 2000);
const targets = Number(option("targets") ?? 2);
const json = args.includes("--json");
const WINDOW = 100;

function rssMiB(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

await initRuntime({ backend: "wasm" });
const checkpoint = option("checkpoint");
let segmenter: ReferringSegmenter;
if (checkpoint) {
  segmenter = ReferringSegmenter.fromModelFile(await readModelFile(checkpoint), { syntheticInput: true });
} else {
  const info = {
    kind: "refer" as const,
    config: presetConfig("cpu-small"),
    categoryIds: [],
    vocabulary: ["blue", "circle", "left", "moving", "red", "square", "the"],
  };
  seedParameters(1);
  segmenter = new ReferringSegmenter(MODEL_KINDS.refer.build(info), info, { syntheticInput: true });
}
const [height, width] = segmenter.info.config.model.inputSize;
const texts = ["the red square moving left", "the blue circle", "the square", "the circle"].slice(0, targets);
const followed = texts.map((text) => segmenter.track(text));
const scene = planScene(resolveOptions("long", 0, { frames, width, height }), "valid", 0);
const renderer = new SceneRenderer(scene);

const wallMs: number[] = [];
const cpuMs: number[] = [];
const memory: { frame: number; tensors: number; bytes: number; rssMiB: number }[] = [];
for (let t = 0; t < frames; t++) {
  const rgb = renderer.render(t).rgb;
  const frame = { width, height, data: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length) };
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (const target of followed) target.segmentForVideo(frame, (t * 1000) / 30);
  wallMs.push(performance.now() - start);
  const used = process.cpuUsage(cpu);
  cpuMs.push((used.user + used.system) / 1000);
  if (t + 1 === WINDOW || (t + 1) % 500 === 0 || t + 1 === frames) {
    const { numTensors, numBytes } = tf.memory();
    memory.push({ frame: t + 1, tensors: numTensors, bytes: numBytes, rssMiB: Math.round(rssMiB()) });
  }
}
const windows = [];
for (let start = 0; start + WINDOW <= frames; start += WINDOW) {
  windows.push({
    frames: `${start}-${start + WINDOW - 1}`,
    wallMs: Number(median(wallMs.slice(start, start + WINDOW)).toFixed(1)),
    cpuMs: Number(median(cpuMs.slice(start, start + WINDOW)).toFixed(1)),
  });
}
// From frame 100 on: the spread of the window medians around their median, and the memory's growth.
const steady = windows.slice(1);
const spread = (key: "wallMs" | "cpuMs") => {
  const values = steady.map((w) => w[key]);
  const mid = median(values);
  return Number((Math.max(...values.map((v) => Math.abs(v - mid))) / mid).toFixed(3));
};
const after100 = memory.filter((m) => m.frame >= WINDOW);
const summary = {
  model: checkpoint ?? "cpu-small, random weights",
  inputSize: [height, width],
  frames,
  targets,
  memorySlots: segmenter.model.refer.memorySlots,
  windows,
  memory,
  // Largest deviation of a window's median from the median of the windows 100 → end (0.1 = 10 %).
  cpuSpread: spread("cpuMs"),
  wallSpread: spread("wallMs"),
  tensorsConstant: new Set(after100.map((m) => m.tensors)).size === 1,
  bytesConstant: new Set(after100.map((m) => m.bytes)).size === 1,
  rssGrowthMiB: after100.at(-1)!.rssMiB - after100[0].rssMiB,
};
for (const target of followed) target.close();
segmenter.close();
if (json) process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
else {
  const lines = [
    `${summary.model}, ${width}×${height}, ${targets} expression(s), K = ${summary.memorySlots}, ${frames} frames`,
    "| frames | wall ms/frame (median) | CPU ms/frame (median) |",
    "|---|---|---|",
    ...windows.map((w) => `| ${w.frames} | ${w.wallMs} | ${w.cpuMs} |`),
    `memory: ${memory.map((m) => `frame ${m.frame}: ${m.tensors} tensors, ${(m.bytes / 2 ** 20).toFixed(2)} MiB, RSS ${m.rssMiB} MiB`).join("; ")}`,
    `from frame ${WINDOW}: largest window deviation CPU ${(summary.cpuSpread * 100).toFixed(1)} %, wall ${(summary.wallSpread * 100).toFixed(1)} %; tensors constant ${summary.tensorsConstant}, bytes constant ${summary.bytesConstant}, RSS growth ${summary.rssGrowthMiB} MiB`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}
