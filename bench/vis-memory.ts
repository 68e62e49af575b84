/**
 * VIS inference memory and speed: peak RSS of the online model's streaming inference on 100, 1,000 and
 * 5,000 frames, and frames per second; optionally the offline model's peak memory against its clip
 * window length (bench/offline.ts infer).
 *
 *   npm run bench:vis-memory [-- --frames 100,1000,5000] [--modes stream,results|none]
 *                            [--checkpoint <online model>] [--offline [--offline-frames 128]
 *                            [--clips 16,32,64,128]] [--json]
 *
 * Every (length, mode) runs in a fresh child process, because the wasm heap never shrinks: a process's
 * peak RSS (VmHWM) is only meaningful for one run. Frames come from the synthetic `long` preset's scene
 * (128×128, 3–5 moving objects), rendered in memory one at a time at the model's resolution, so no
 * frame is kept. Modes:
 *   stream   segmentFrame only (OnlineSegmenter's default): nothing per frame is kept;
 *   results  collectResults + finish(), what `vidseg infer vis` does: the top-k candidate tracks keep
 *            their per-frame RLE strings, so memory grows slowly with length.
 * The model is --checkpoint, else the shipped weights (weights/online-ytvis.safetensors), else the
 * cpu-small preset with random weights (memory and speed do not depend on the weights, the number of
 * tracks does a little).
 */
import * as tf from "@tensorflow/tfjs";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { OnlineSegmenter } from "../src/infer/online-segmenter.js";
import { presetConfig } from "../src/models/config.js";
import { saveModelFile } from "../src/train/checkpoint.js";
import { FrameSegmenter } from "../src/models/segmenter.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { SceneRenderer } from "../src/synth/render.js";
import { planScene } from "../src/synth/scene.js";
import { synthCategories } from "../src/synth/vis.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SHIPPED = join(ROOT, "weights", "online-ytvis.safetensors");
const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

/** VmHWM (peak) and VmRSS (now) of this process, MiB. */
function rssMiB(): { peak: number; now: number } {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { peak: field("VmHWM"), now: field("VmRSS") };
}

interface OnlineRun {
  frames: number;
  mode: "stream" | "results";
  peakRssMiB: number;
  /** RSS after the first 50 frames (the model, the wasm heap and the tracker warmed up). */
  rssAfter50MiB: number;
  rssEndMiB: number;
  /** Live JavaScript heap at the end after a full GC (garbage excluded: what is really kept). */
  heapAfterGcMiB: number;
  /** Live tensors after 50 frames and at the end (equal: nothing accumulates in TensorFlow.js). */
  tensorsAfter50: number;
  tensorsEnd: number;
  /** Frames per second of segmentFrame (model, masks, tracker; not the frame rendering). */
  fps: number;
  tracks: number;
}

/** Child: one streaming run, printed as one JSON line. */
async function child(): Promise<void> {
  const frames = Number(option("frames"));
  const mode = option("mode") === "results" ? "results" : "stream";
  await initRuntime({ backend: "wasm" });
  const seg = await OnlineSegmenter.load(option("checkpoint")!, { collectResults: mode === "results" });
  const [height, width] = seg.info.config.model.inputSize;
  const scene = planScene(resolveOptions("long", 0, { frames, width, height }), "valid", 0);
  const renderer = new SceneRenderer(scene);
  let seconds = 0;
  let rssAfter50 = NaN;
  let tensorsAfter50 = NaN;
  const trackIds = new Set<number>();
  for (let t = 0; t < frames; t++) {
    const rgb = renderer.render(t).rgb;
    const frame = { width, height, data: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length) };
    const start = performance.now();
    const { instances } = seg.segmentFrame(frame, (t * 1000) / 30);
    seconds += (performance.now() - start) / 1000;
    for (const instance of instances) trackIds.add(instance.trackId);
    if (t === 49) {
      rssAfter50 = rssMiB().now;
      tensorsAfter50 = tf.memory().numTensors;
    }
  }
  if (mode === "results") seg.finish(1);
  const rss = rssMiB();
  (globalThis as { gc?: () => void }).gc?.();
  const run: OnlineRun = {
    frames,
    mode,
    peakRssMiB: Math.round(rss.peak),
    rssAfter50MiB: Math.round(rssAfter50),
    rssEndMiB: Math.round(rss.now),
    heapAfterGcMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    tensorsAfter50,
    tensorsEnd: tf.memory().numTensors,
    fps: Number((frames / seconds).toFixed(2)),
    tracks: trackIds.size,
  };
  console.log(JSON.stringify(run));
}

/**
 * Runs a TypeScript file in a fresh Node process (tsx as a loader; --expose-gc for the live-heap figure)
 * and returns its last JSON line.
 */
function runChild(script: string, childArgs: string[]): Record<string, unknown> {
  const args = ["--expose-gc", "--import", "tsx", script, ...childArgs];
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 24 });
  const line = result.stdout
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"));
  if (result.status !== 0 || !line) {
    throw new Error(
      `${script} ${childArgs.join(" ")} failed (exit ${result.status}): ${result.stderr.slice(-2000)}`,
    );
  }
  return JSON.parse(line) as Record<string, unknown>;
}

/** The online model to measure: --checkpoint, the shipped weights, or random cpu-small weights. */
async function onlineModel(tmp: string): Promise<{ file: string; what: string }> {
  const given = option("checkpoint");
  if (given) return { file: given, what: given };
  if (existsSync(SHIPPED)) return { file: SHIPPED, what: "weights/online-ytvis.safetensors" };
  await initRuntime({ backend: "wasm" });
  const config = presetConfig("cpu-small");
  const categories = synthCategories();
  config.model.numClasses = categories.length;
  seedParameters(0);
  const segmenter = new FrameSegmenter(config.model);
  const file = join(tmp, "random-cpu-small.safetensors");
  await saveModelFile(file, segmenter.stateDict(), {
    kind: "online",
    config,
    categoryIds: categories.map((c) => c.id),
  });
  segmenter.dispose();
  return { file, what: "cpu-small preset, random weights" };
}

async function parent(): Promise<void> {
  const lengths = (option("frames") ?? "100,1000,5000").split(",").map(Number);
  // --modes none skips the online runs (e.g. to measure only the offline model).
  const modes = (option("modes") ?? "stream,results")
    .split(",")
    .filter((m) => m === "stream" || m === "results");
  const json = args.includes("--json");
  const log = (line: string) => (json ? process.stderr : process.stdout).write(line + "\n");
  const tmp = mkdtempSync(join(tmpdir(), "vidseg-vis-memory-"));
  try {
    const model = modes.length > 0 ? await onlineModel(tmp) : undefined;
    const self = fileURLToPath(import.meta.url);
    const online: OnlineRun[] = [];
    log(`${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
    if (model) {
      log(`online model: ${model.what}`);
      log(
        "| frames | mode | peak RSS (MiB) | RSS after 50 frames | RSS at end | live JS heap at end | tensors | frames/s | tracks |",
      );
      log("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    }
    for (const mode of model ? modes : []) {
      for (const frames of lengths) {
        const run = runChild(self, [
          "child",
          "--frames",
          String(frames),
          "--mode",
          mode,
          "--checkpoint",
          model!.file,
        ]);
        online.push(run as unknown as OnlineRun);
        log(
          `| ${frames} | ${mode} | ${run.peakRssMiB} | ${run.rssAfter50MiB} | ${run.rssEndMiB} | ` +
            `${run.heapAfterGcMiB} | ${run.tensorsAfter50} → ${run.tensorsEnd} | ${run.fps} | ${run.tracks} |`,
        );
      }
    }
    const offline: Record<string, unknown>[] = [];
    if (args.includes("--offline")) {
      // The offline model holds one clip window of per-frame features: memory follows the window, not
      // the video. Same video length, growing windows (the last one = the whole video at once).
      const frames = Number(option("offline-frames") ?? 128);
      const clips = (option("clips") ?? `16,32,64,${frames}`).split(",").map(Number);
      log("");
      log(`offline model (cpu-small, random weights), ${frames}-frame video:`);
      log("| clip window | peak RSS (MiB) | peak tensor MiB | frames/s |");
      log("|---:|---:|---:|---:|");
      for (const clip of clips) {
        const run = runChild(join(ROOT, "bench", "offline.ts"), [
          "infer",
          "--frames",
          String(frames),
          "--clip",
          String(clip),
        ]);
        offline.push(run);
        log(`| ${clip} | ${run.peakRssMiB} | ${run.tensorPeakMiB} | ${run.fps} |`);
      }
    }
    if (json) console.log(JSON.stringify({ model: model?.what, online, offline }, null, 2));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await (args[0] === "child" ? child() : parent());
