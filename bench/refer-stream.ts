/**
 * The referring model's cost per frame on a long stream: YOFO's claim is one stage at a constant cost
 * per frame (the memory holds K samples, θ is warm-started, nothing grows with the video). Streams
 * `--frames` frames (default 2,000) of the synthetic `long` preset's scene, rendered one at a time at the
 * model's input size, through ReferringSegmenter with `--targets` expressions followed at once (default
 * 2), and reports per window of 100 frames the median wall and CPU milliseconds per frame, and at its
 * end the live tensors, their bytes and the process RSS; then whether frames 100 → end stay within 10 %.
 *
 *   npx tsx bench/refer-stream.ts [--checkpoint M] [--frames 2000] [--targets 2] [--size HxW] [--json]
 *
 * The model is --checkpoint, else the cpu-small preset with random weights (time and memory per frame
 * do not depend on the weights). With `--size HxW` (e.g. 320x320, multiples of 32) the same stream runs
 * a second time with the same model at that input size (its weights do not depend on the size: only
 * the config's inputSize changes), and the JSON holds both runs: frames/s and CPU ms per frame at the
 * model's own resolution and at the other. CPU time (user + system of this process) is the figure to read on a
 * shared machine: wall time also counts the other processes' turns.
 */
import * as tf from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import { ReferringSegmenter } from "../src/infer/referring-segmenter.js";
import { presetConfig } from "../src/models/config.js";
import { readModelFile, type ModelInfo } from "../src/models/model-file.js";
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
const sizeText = option("size");
const otherSize = sizeText === undefined ? undefined : parseInputSize(sizeText);

/** "HxW" → [height, width], multiples of 32 (the backbone's stride). */
function parseInputSize(text: string): [number, number] {
  const match = /^(\d+)[xX×](\d+)$/.exec(text.trim());
  const size = match ? ([Number(match[1]), Number(match[2])] as [number, number]) : undefined;
  if (!size || size.some((v) => v <= 0 || v % 32 !== 0)) {
    process.stderr.write(`refer-stream: --size: expected HxW with positive multiples of 32, got "${text}"\n`);
    process.exit(1);
  }
  return size;
}
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
const modelName = checkpoint ?? "cpu-small, random weights";

/** The model at input size `size` (default its own): the checkpoint's weights, or seeded ones. */
async function openSegmenter(size?: [number, number]): Promise<ReferringSegmenter> {
  if (checkpoint) {
    const file = await readModelFile(checkpoint);
    if (size) file.info.config.model.inputSize = size;
    return ReferringSegmenter.fromModelFile(file, { syntheticInput: true });
  }
  const info: ModelInfo & { kind: "refer" } = {
    kind: "refer",
    config: presetConfig("cpu-small"),
    categoryIds: [],
    vocabulary: ["blue", "circle", "left", "moving", "red", "square", "the"],
  };
  if (size) info.config.model.inputSize = size;
  seedParameters(1);
  return new ReferringSegmenter(MODEL_KINDS.refer.build(info), info, { syntheticInput: true });
}

/** Streams the scene through the segmenter at its input size; per-window medians and memory. */
function stream(segmenter: ReferringSegmenter) {
  const [height, width] = segmenter.info.config.model.inputSize;
  const texts = ["the red square moving left", "the blue circle", "the square", "the circle"].slice(
    0,
    targets,
  );
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
  for (const target of followed) target.close();
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
    if (values.length === 0) return null;
    const mid = median(values);
    return Number((Math.max(...values.map((v) => Math.abs(v - mid))) / mid).toFixed(3));
  };
  const after100 = memory.filter((m) => m.frame >= WINDOW);
  // Frames/s and ms per frame over the frames after the first window (warm-up), or all of them.
  const measured = frames > WINDOW ? WINDOW : 0;
  const sum = (values: number[]) => values.slice(measured).reduce((a, b) => a + b, 0);
  const counted = frames - measured;
  return {
    inputSize: [height, width],
    warmUpFrames: measured,
    memorySlots: segmenter.model.refer.memorySlots,
    /** Frames per second of wall time and of CPU time (process user + system), after warm-up. */
    framesPerSecond: Number(((1000 * counted) / sum(wallMs)).toFixed(2)),
    framesPerCpuSecond: Number(((1000 * counted) / sum(cpuMs)).toFixed(2)),
    medianWallMs: Number(median(wallMs.slice(measured)).toFixed(1)),
    medianCpuMs: Number(median(cpuMs.slice(measured)).toFixed(1)),
    windows,
    memory,
    // Largest deviation of a window's median from the median of the windows 100 → end (0.1 = 10 %).
    cpuSpread: spread("cpuMs"),
    wallSpread: spread("wallMs"),
    tensorsConstant: new Set(after100.map((m) => m.tensors)).size <= 1,
    bytesConstant: new Set(after100.map((m) => m.bytes)).size <= 1,
    rssGrowthMiB: after100.length > 0 ? after100.at(-1)!.rssMiB - after100[0].rssMiB : null,
  };
}

const runs = [];
for (const size of [undefined, otherSize].slice(0, otherSize ? 2 : 1)) {
  const segmenter = await openSegmenter(size);
  runs.push(stream(segmenter));
  segmenter.close();
  if (!checkpoint) segmenter.model.dispose(); // built here, not owned by the segmenter
}
const summary = { model: modelName, frames, targets, runs };
if (json) process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
else {
  const lines: string[] = [];
  for (const run of runs) {
    const [height, width] = run.inputSize;
    lines.push(
      `${modelName}, ${width}×${height}, ${targets} expression(s), K = ${run.memorySlots}, ${frames} frames: ` +
        `${run.framesPerSecond} frames/s (wall), ${run.framesPerCpuSecond} frames per CPU second, ` +
        `median ${run.medianWallMs} ms wall / ${run.medianCpuMs} ms CPU per frame (after frame ${run.warmUpFrames})`,
      "| frames | wall ms/frame (median) | CPU ms/frame (median) |",
      "|---|---|---|",
      ...run.windows.map((w) => `| ${w.frames} | ${w.wallMs} | ${w.cpuMs} |`),
      `memory: ${run.memory.map((m) => `frame ${m.frame}: ${m.tensors} tensors, ${(m.bytes / 2 ** 20).toFixed(2)} MiB, RSS ${m.rssMiB} MiB`).join("; ")}`,
      `from frame ${WINDOW}: largest window deviation CPU ${run.cpuSpread === null ? "–" : (run.cpuSpread * 100).toFixed(1)} %, ` +
        `wall ${run.wallSpread === null ? "–" : (run.wallSpread * 100).toFixed(1)} %; tensors constant ${run.tensorsConstant}, ` +
        `bytes constant ${run.bytesConstant}, RSS growth ${run.rssGrowthMiB ?? "–"} MiB`,
      "",
    );
  }
  process.stdout.write(lines.join("\n"));
}
