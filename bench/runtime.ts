/**
 * Runtimes side by side on the same online model (the shipped weights unless --checkpoint), at its
 * input size and at 320×320:
 *
 *   network  the per-frame segmenter alone (frame at the model size → logits, masks, embeddings read
 *            back): TensorFlow.js wasm (1 thread: tfjs has no wasm threads in Node), onnxruntime-node
 *            with 1 thread and with one per core, and PyTorch CPU with the same threads as the reference
 *            (scripts/bench_runtime_reference.py, the same network from the same file; its logits are
 *            checked against onnxruntime's)
 *   stream   OnlineSegmenter end to end (network, crop classifier, masks at the frame size, tracker)
 *            on a synthetic clip: TensorFlow.js against onnxruntime-node
 *   refer    the referring model streamed end to end through ReferringSegmenter, one expression
 *            (network, memory and θ solver, mask at the frame size): TensorFlow.js wasm against
 *            onnxruntime-node with 1 thread, at 128×128 and 320×320. The model is
 *            weights/refer-yofo.safetensors when it exists (or --refer-checkpoint), else a seeded random
 *            model of the same architecture (cpu-small on centernet-mbv3): speed does not depend on
 *            the weights.
 *
 *   npm run -s bench:runtime -- [--json] [--frames 20] [--sizes 128,320] [--checkpoint <online model>]
 *                               [--refer-checkpoint <referring model>] [--only vis|refer]
 *
 * Frames/s are medians over the frames (after 3 warm-up frames); CPU time is the process's (user +
 * system) per frame, what the figures mean on a machine shared with other work. The top level has
 * `ort_over_tfjs` (stream, 1 thread each) and `ort_over_pytorch` (network, same threads) per size, as
 * ratios of frames/s, and the same ratios of CPU time per frame (`*_cpu`); `refer_ort_over_tfjs` and
 * `refer_ort_over_tfjs_cpu` the same for the referring model.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { exportReferModel } from "../src/export/onnx-refer.js";
import { exportOnlineSegmenter } from "../src/export/onnx-segmenter.js";
import { OnlineSegmenter } from "../src/infer/online-segmenter.js";
import { ReferringSegmenter } from "../src/infer/referring-segmenter.js";
import { TfjsFrameNetwork } from "../src/infer/frame-network.js";
import { presetConfig } from "../src/models/config.js";
import { atInputSize, readModelFile, disposeModelFile, type ModelInfo } from "../src/models/model-file.js";
import { cropClassifierFile, ONNX_NAMES, referGraphFile } from "../src/models/onnx-file.js";
import type { ReferModel } from "../src/models/refer/model.js";
import { instantiateModel, MODEL_KINDS } from "../src/models/registry.js";
import { seedParameters } from "../src/nn/init.js";
import { disposeSegmenterOutput } from "../src/models/segmenter.js";
import { preprocessFrames } from "../src/processing/preprocess.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { SceneRenderer } from "../src/synth/render.js";
import { planScene } from "../src/synth/scene.js";

const args = process.argv.slice(2);
const option = (name: string, fallback?: string) =>
  args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback;
const json = args.includes("--json");
const checkpoint = option("checkpoint", "weights/online-ytvis.safetensors")!;
const referCheckpoint = option(
  "refer-checkpoint",
  existsSync("weights/refer-yofo.safetensors") ? "weights/refer-yofo.safetensors" : undefined,
);
const only = option("only");
const frameCount = Number(option("frames", "20"));
const WARMUP = 3;
const cores = cpus().length;

interface Timing {
  fps: number;
  ms: number;
  cpu_ms: number;
  threads: number;
}

/** Median wall-clock and process CPU time per call of `step` over the frames, after the warm-up. */
async function time(threads: number, step: (t: number) => unknown): Promise<Timing> {
  for (let t = 0; t < WARMUP; t++) await step(t);
  const walls: number[] = [];
  const cpuTimes: number[] = [];
  for (let t = 0; t < frameCount; t++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    await step(WARMUP + t);
    walls.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    cpuTimes.push((used.user + used.system) / 1000);
  }
  const ms = median(walls);
  return { fps: round(1000 / ms, 2), ms: round(ms), cpu_ms: round(median(cpuTimes)), threads };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

function pytorchReference(size: number, threads: number, check?: { frame: string; out: string }) {
  const python = "/usr/bin/python3";
  if (!existsSync(python)) return null;
  const script = fileURLToPath(new URL("../scripts/bench_runtime_reference.py", import.meta.url));
  const extra = check ? ["--check", check.frame, "--check-out", check.out] : [];
  const result = spawnSync(
    python,
    [
      script,
      "--weights",
      checkpoint,
      "--size",
      String(size),
      "--threads",
      String(threads),
      "--frames",
      String(frameCount),
      ...extra,
    ],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  if (result.status !== 0) {
    if (/No module named '(torch|numpy)'/.test(result.stderr)) return null;
    throw new Error(`PyTorch reference failed: ${result.stderr.trim()}`);
  }
  return JSON.parse(result.stdout) as Timing & { torch: string };
}

await initRuntime({ backend: "wasm" });
const tmp = mkdtempSync(join(tmpdir(), "vidseg-bench-runtime-"));
const modelFile = await readModelFile(checkpoint);
const info = modelFile.info;
const segmenter = instantiateModel(modelFile, "online");
disposeModelFile(modelFile);
const sizes = option("sizes", `${info.config.model.inputSize[0]},320`)!.split(",").map(Number);
const load = [loadavg()[0]];
const results: Record<string, unknown> = {};
const ortOverTfjs: Record<string, number> = {};
/** The same ratios of CPU time per frame (what a loaded, shared machine distorts least). */
const ortOverTfjsCpu: Record<string, number> = {};
const ortOverPytorchCpu: Record<string, Record<string, number>> = {};
const ortOverPytorch: Record<string, Record<string, number>> = {};

/** `count` frames of a synthetic clip at size × size. */
function syntheticFrames(size: number, count: number) {
  const scene = planScene(
    resolveOptions("ytvis", 1, { frames: count, width: size, height: size }),
    "valid",
    0,
  );
  const renderer = new SceneRenderer(scene);
  return Array.from({ length: count }, (_, t) => {
    const rgb = renderer.render(t).rgb;
    return { width: size, height: size, data: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length) };
  });
}

/** The referring model to time: a model file, or seeded random weights (cpu-small on centernet-mbv3). */
async function referModel(): Promise<{ model: ReferModel; info: ModelInfo; name: string }> {
  if (referCheckpoint) {
    const file = await readModelFile(referCheckpoint);
    const model = instantiateModel(file, "refer");
    disposeModelFile(file);
    return { model, info: file.info, name: referCheckpoint };
  }
  const config = presetConfig("cpu-small");
  config.model.backbone = "centernet-mbv3";
  const info: ModelInfo = {
    kind: "refer",
    config,
    categoryIds: [],
    vocabulary: ["blue", "circle", "left", "moving", "red", "square", "the"],
  };
  seedParameters(1);
  return { model: MODEL_KINDS.refer.build(info), info, name: "cpu-small on centernet-mbv3, random weights" };
}

const referResults: Record<string, unknown> = {};
const referOrtOverTfjs: Record<string, number> = {};
const referOrtOverTfjsCpu: Record<string, number> = {};
let referName: string | undefined;

try {
  if (only !== "refer") await timeVis();
  if (only !== "vis") await timeRefer();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/** The referring model streamed through ReferringSegmenter, TensorFlow.js against onnxruntime (1 thread). */
async function timeRefer(): Promise<void> {
  const { model, info, name } = await referModel();
  referName = name;
  try {
    for (const size of [128, 320]) {
      const key = `${size}x${size}`;
      const sized = atInputSize(info, [size, size]);
      const graphs = exportReferModel(model, info, { size: [size, size] });
      const onnxFile = join(tmp, `refer-${size}.onnx`);
      writeFileSync(onnxFile, graphs.frame);
      for (const [part, bytes] of Object.entries(graphs.parts))
        writeFileSync(referGraphFile(onnxFile, part as "text"), bytes);
      const frames = syntheticFrames(size, WARMUP + frameCount);
      const text = "the red square moving left";
      const stream: Record<string, Timing> = {};
      const tfjs = new ReferringSegmenter(model, sized, { syntheticInput: true });
      const tfjsTarget = tfjs.track(text);
      stream.tfjs = await time(1, (t) => tfjsTarget.segmentForVideo(frames[t], t * 40));
      tfjs.close();
      const onnx = await ReferringSegmenter.createFromPath(onnxFile, {
        syntheticInput: true,
        onnx: { threads: 1 },
      });
      const onnxTarget = onnx.track(text);
      stream.ort_1 = await time(1, (t) => onnxTarget.segmentForVideoAsync(frames[t], t * 40));
      onnx.close();
      referOrtOverTfjs[key] = round(stream.ort_1.fps / stream.tfjs.fps, 2);
      referOrtOverTfjsCpu[key] = round(stream.tfjs.cpu_ms / stream.ort_1.cpu_ms, 2);
      referResults[key] = stream;
      load.push(loadavg()[0]);
    }
  } finally {
    model.dispose();
  }
}

/** The online model: network alone and streamed, TensorFlow.js, onnxruntime and PyTorch. */
async function timeVis(): Promise<void> {
  for (const size of sizes) {
    const key = `${size}x${size}`;
    const sized = atInputSize(info, [size, size]);
    const graphs = exportOnlineSegmenter(segmenter, info, { size: [size, size] });
    const onnxFile = join(tmp, `model-${size}.onnx`);
    writeFileSync(onnxFile, graphs.segmenter);
    if (graphs.cropClassifier) writeFileSync(cropClassifierFile(onnxFile), graphs.cropClassifier);
    const frames = syntheticFrames(size, WARMUP + frameCount);

    // The network alone.
    const network: Record<string, Timing | null> = {};
    network.tfjs = await time(1, (t) => {
      const input = preprocessFrames([frames[t]], [size, size]);
      const output = segmenter.forward(input);
      output.predLogits.dataSync();
      output.predMasks.dataSync();
      output.queryEmbed.dataSync();
      input.dispose();
      disposeSegmenterOutput(output);
    });
    const logitsOf: Record<string, Float32Array> = {};
    for (const threads of [1, cores]) {
      const session = await ort.InferenceSession.create(graphs.segmenter, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
      const feed = (t: number) => ({
        [ONNX_NAMES.frame]: new ort.Tensor("uint8", frames[t].data, [1, size, size, 3]),
      });
      network[`ort_${threads}`] = await time(threads, (t) => session.run(feed(t)));
      const out = await session.run(feed(0));
      logitsOf.ort = Float32Array.from(
        [ONNX_NAMES.predLogits, ONNX_NAMES.predMasks, ONNX_NAMES.queryEmbed].flatMap((name) => [
          ...(out[name].data as Float32Array),
        ]),
      );
      await session.release();
    }
    const frameFile = join(tmp, "frame.bin");
    writeFileSync(frameFile, frames[0].data);
    let pytorchMaxAbsDiff: number | null = null;
    for (const threads of [1, cores]) {
      const check = threads === 1 ? { frame: frameFile, out: join(tmp, "pytorch.bin") } : undefined;
      network[`pytorch_${threads}`] = pytorchReference(size, threads, check);
      if (check && network[`pytorch_${threads}`]) {
        const theirs = new Float32Array(readFileSync(check.out).buffer.slice(0));
        pytorchMaxAbsDiff = theirs.reduce((m, v, i) => Math.max(m, Math.abs(v - logitsOf.ort[i])), 0);
      }
    }

    // End to end through OnlineSegmenter.
    const stream: Record<string, Timing> = {};
    const tfjs = new OnlineSegmenter(new TfjsFrameNetwork(segmenter, sized), sized, { syntheticInput: true });
    stream.tfjs = await time(1, (t) => tfjs.segmentForVideo(frames[t], t * 40));
    for (const threads of [1, cores]) {
      const seg = await OnlineSegmenter.createFromPath(onnxFile, { syntheticInput: true, onnx: { threads } });
      stream[`ort_${threads}`] = await time(threads, (t) => seg.segmentForVideoAsync(frames[t], t * 40));
      seg.close();
    }

    ortOverTfjs[key] = round(stream.ort_1.fps / stream.tfjs.fps, 2);
    ortOverTfjsCpu[key] = round(stream.tfjs.cpu_ms / stream.ort_1.cpu_ms, 2);
    ortOverPytorch[key] = {};
    ortOverPytorchCpu[key] = {};
    for (const threads of [1, cores]) {
      const reference = network[`pytorch_${threads}`];
      if (!reference) continue;
      const ours = network[`ort_${threads}`]!;
      ortOverPytorch[key][`threads_${threads}`] = round(ours.fps / reference.fps, 2);
      ortOverPytorchCpu[key][`threads_${threads}`] = round(reference.cpu_ms / ours.cpu_ms, 2);
    }
    results[key] = {
      network,
      stream,
      network_ort_over_tfjs: round(network.ort_1!.fps / network.tfjs!.fps, 2),
      pytorch_vs_ort_max_abs_diff: pytorchMaxAbsDiff,
    };
    load.push(loadavg()[0]);
  }
}

const report = {
  model: checkpoint,
  frames: frameCount,
  cores,
  load_1min: { start: round(load[0], 2), end: round(load.at(-1)!, 2) },
  ort_over_tfjs: ortOverTfjs,
  ort_over_pytorch: ortOverPytorch,
  ort_over_tfjs_cpu: ortOverTfjsCpu,
  ort_over_pytorch_cpu: ortOverPytorchCpu,
  sizes: results,
  ...(referName
    ? {
        refer_model: referName,
        refer_ort_over_tfjs: referOrtOverTfjs,
        refer_ort_over_tfjs_cpu: referOrtOverTfjsCpu,
        refer: referResults,
      }
    : {}),
};
if (json) console.log(JSON.stringify(report, null, 2));
else {
  console.log(
    `${checkpoint}, ${frameCount} frames, ${cores} cores, load ${report.load_1min.start}–${report.load_1min.end}`,
  );
  for (const [key, value] of Object.entries(results)) {
    const { network, stream } = value as {
      network: Record<string, Timing | null>;
      stream: Record<string, Timing>;
    };
    for (const [part, timings] of [
      ["network", network],
      ["stream", stream],
    ] as const) {
      for (const [name, t] of Object.entries(timings)) {
        console.log(
          `${key}  ${part.padEnd(7)} ${name.padEnd(10)} ${t ? `${t.fps.toFixed(1).padStart(7)} frames/s  ${t.ms.toFixed(1).padStart(7)} ms  cpu ${t.cpu_ms.toFixed(1).padStart(7)} ms` : "not available"}`,
        );
      }
    }
  }
  for (const [key, value] of Object.entries(results)) {
    const diff = (value as { pytorch_vs_ort_max_abs_diff: number | null }).pytorch_vs_ort_max_abs_diff;
    if (diff !== null)
      console.log(`${key}  PyTorch against onnxruntime outputs: max abs diff ${diff.toExponential(2)}`);
  }
  if (only !== "refer") {
    console.log(
      `ort_over_tfjs ${JSON.stringify(ortOverTfjs)}  ort_over_pytorch ${JSON.stringify(ortOverPytorch)}`,
    );
    console.log(
      `CPU time: ort_over_tfjs ${JSON.stringify(ortOverTfjsCpu)}  ort_over_pytorch ${JSON.stringify(ortOverPytorchCpu)}`,
    );
  }
  for (const [key, stream] of Object.entries(referResults as Record<string, Record<string, Timing>>)) {
    for (const [name, t] of Object.entries(stream)) {
      console.log(
        `${key}  refer   ${name.padEnd(10)} ${t.fps.toFixed(1).padStart(7)} frames/s  ${t.ms.toFixed(1).padStart(7)} ms  cpu ${t.cpu_ms.toFixed(1).padStart(7)} ms`,
      );
    }
  }
  if (referName)
    console.log(
      `refer (${referName}): ort_over_tfjs ${JSON.stringify(referOrtOverTfjs)}  CPU time ${JSON.stringify(referOrtOverTfjsCpu)}`,
    );
}
