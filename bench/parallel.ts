/**
 * Data-parallel training speed: the cpu-small online model on a synthetic YouTube-VIS split, trained
 * for a fixed number of steps with 1 worker (this thread) and with N worker threads, the same
 * effective batch (default 8 images: 4 pairs of frames, two pairs per worker at N = 2; at batch 4, one
 * pair per worker, a worker's fixed costs and the content imbalance weigh twice as much: BENCHMARKS.md).
 *
 *   npm run -s bench:parallel -- --json [--workers 1,2] [--batch 8] [--steps 12] [--warmup 2] [--repeats 2]
 *                                       [--mode sharded|one|every] [--data data/bench-parallel]
 *
 * Prints one JSON document: steps/s per worker count (over the steps after the warm-up ones; the fastest
 * of `repeats` interleaved runs, all of them listed too), the speedup of 2 workers over 1, the largest
 * |Δweight| between the 2-worker and the 1-worker run after the last step, whether every repeat of a
 * worker count gave bit-identical weights, the busiest training thread's CPU time per step (and the
 * speedup it implies with a free core per thread), and the mean time of each phase of a step (load,
 * compute, wait, reduce, update, assign; see src/train/parallel/worker.ts).
 * The data (`vidseg synth vis --preset ytvis`, 16 train videos) is generated once into --data.
 *
 * A control, measured before and after the runs: the same wasm workload (256×256 matrix products) in
 * one worker thread alone and in two at once. Its ratio is what the machine gives a second thread at
 * that moment (2.0 on two free cores); other sessions' load, shared caches and memory bandwidth lower it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { resolveVisSplit } from "../src/formats/ytvis-layout.js";
import { synthVis } from "../src/jobs/synth.js";
import { presetConfig } from "../src/models/config.js";
import { disposeModelFile, readModelFile } from "../src/models/model-file.js";
import { initRuntime } from "../src/runtime/backend.js";
import { threadCpuMs, UPDATE_MODES, type UpdateMode } from "../src/train/parallel/shared.js";
import { trainModel } from "../src/train/run.js";
import type { StepLogEntry } from "../src/train/trainer.js";

const args = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}
const workerCounts = option("workers", "1,2").split(",").map(Number);
const batchSize = Number(option("batch", "8"));
const measured = Number(option("steps", "12"));
const warmup = Number(option("warmup", "2"));
const mode = option("mode", "sharded") as UpdateMode;
const dataRoot = option("data", join("data", "bench-parallel"));
const repeats = Number(option("repeats", "2"));
const json = args.includes("--json");
if (!UPDATE_MODES.includes(mode)) throw new Error(`--mode: one of ${UPDATE_MODES.join(", ")}`);
if (!workerCounts.includes(1) || !workerCounts.includes(2)) throw new Error("--workers must include 1 and 2");

await initRuntime({ backend: "wasm" });
if (!existsSync(join(dataRoot, "train.json"))) {
  await synthVis({ preset: "ytvis", seed: 1, out: dataRoot, splits: ["train"], overrides: { videos: 16 } });
}
const runsDir = mkdtempSync(join(tmpdir(), "vidseg-bench-parallel-"));
const loadBefore = loadavg();

interface Run {
  workers: number;
  stepsPerSecond: number;
  stepMs: number;
  /** CPU time of the process (all threads) per measured step. */
  cpuMs: number;
  /** CPU time of the busiest training thread per measured step (this thread, or the busiest worker). */
  threadCpuMs: number;
  phases: Record<string, number>;
  modelFile: string;
}

async function train(workers: number, name: string): Promise<Run> {
  const config = presetConfig("cpu-small");
  config.optim.batchSize = batchSize;
  config.optim.totalSteps = warmup + measured;
  const entries: StepLogEntry[] = [];
  let cpuAtWarmup: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  const mainThreadCpu: number[] = [];
  const runDir = join(runsDir, name);
  const result = await trainModel("online", {
    config,
    data: resolveVisSplit(dataRoot, "train"),
    runDir,
    seed: 0,
    workers,
    workerUpdate: mode,
    checkpointEvery: 0,
    progress: false,
    onStep: (entry) => {
      entries.push(entry);
      if (entry.step === warmup) cpuAtWarmup = process.cpuUsage();
      if (entry.step === warmup || entry.step === warmup + measured) mainThreadCpu.push(threadCpuMs() ?? NaN);
      if (entry.step === warmup + measured) cpu = process.cpuUsage(cpuAtWarmup);
    },
  });
  result.model.dispose();
  const timed = entries.slice(warmup);
  const totalMs = timed.reduce((sum, entry) => sum + entry.step_ms, 0);
  const phases: Record<string, number> = {};
  for (const entry of timed)
    for (const [key, value] of Object.entries(entry))
      if (key.endsWith("_ms") && key !== "step_ms" && key !== "cpu_ms")
        phases[key.slice(0, -3)] = (phases[key.slice(0, -3)] ?? 0) + (value as number) / timed.length;
  return {
    workers,
    stepsPerSecond: timed.length / (totalMs / 1000),
    stepMs: totalMs / timed.length,
    cpuMs: (cpu!.user + cpu!.system) / 1000 / timed.length,
    threadCpuMs:
      workers === 1
        ? (mainThreadCpu[1] - mainThreadCpu[0]) / timed.length
        : timed.reduce((sum, entry) => sum + (entry.cpu_ms as number), 0) / timed.length,
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, round(v, 1)])),
    modelFile: result.modelFile!,
  };
}

async function weightsOf(file: string): Promise<Map<string, Float32Array>> {
  const model = await readModelFile(file);
  const weights = new Map([...model.weights].map(([name, t]) => [name, t.dataSync() as Float32Array]));
  disposeModelFile(model);
  return weights;
}

/** Seconds for `threads` worker threads to run the same wasm workload each, at once. */
async function control(threads: number): Promise<number> {
  const require = createRequire(import.meta.url);
  const modules = ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"].map(
    (name) => pathToFileURL(require.resolve(name)).href,
  );
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    (async () => {
      const tf = await import(workerData.modules[0]);
      await import(workerData.modules[1]);
      await tf.setBackend("wasm");
      await tf.ready();
      const a = tf.randomNormal([256, 256], 0, 1, "float32", 1);
      const run = (n) => { for (let i = 0; i < n; i++) tf.tidy(() => tf.matMul(a, a).dataSync()); };
      run(20);
      parentPort.postMessage("ready");
      parentPort.once("message", () => {
        const start = performance.now();
        run(400);
        parentPort.postMessage(performance.now() - start);
      });
    })();`;
  const workers = Array.from(
    { length: threads },
    () => new Worker(code, { eval: true, workerData: { modules } }),
  );
  const reply = (worker: Worker) =>
    new Promise<unknown>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  try {
    await Promise.all(workers.map(reply));
    const times = workers.map(reply);
    const start = performance.now();
    workers.forEach((worker) => worker.postMessage("go"));
    await Promise.all(times);
    return (performance.now() - start) / 1000;
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/** What the machine gives a second thread now: 2 × (one thread's time) / (two threads' time). */
async function parallelCapacity(): Promise<number> {
  const one = await control(1);
  const two = await control(2);
  return round((2 * one) / two, 3);
}

function round(value: number, digits: number): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

try {
  const capacityBefore = await parallelCapacity();
  // Interleaved repeats: other sessions' load changes by the minute, so each worker count gets runs
  // at several moments; the fastest of each is the figure (the spread is reported).
  const runs: Run[][] = workerCounts.map(() => []);
  for (let r = 0; r < repeats; r++)
    for (const [i, workers] of workerCounts.entries())
      runs[i].push(await train(workers, `workers-${workers}-${r}`));
  const capacityAfter = await parallelCapacity();
  const fastest = runs.map((list) => list.reduce((a, b) => (b.stepsPerSecond > a.stepsPerSecond ? b : a)));
  const one = fastest[workerCounts.indexOf(1)];
  const two = fastest[workerCounts.indexOf(2)];
  const reference = await weightsOf(runs[workerCounts.indexOf(1)][0].modelFile);
  const maxDiff = async (file: string) => {
    let max = 0;
    for (const [name, values] of await weightsOf(file)) {
      const other = reference.get(name)!;
      for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i] - other[i]));
    }
    return max;
  };
  const sameBytes = (list: Run[]) =>
    list.every((run) => readFileSync(run.modelFile).equals(readFileSync(list[0].modelFile)));
  const result = {
    workers: workerCounts,
    steps_per_s: fastest.map((run) => round(run.stepsPerSecond, 4)),
    speedup: round(two.stepsPerSecond / one.stepsPerSecond, 3),
    max_abs_weight_diff_vs_1_worker: await maxDiff(runs[workerCounts.indexOf(2)][0].modelFile),
    // Every repeat of a worker count wrote the same model file.
    bit_identical_reruns: runs.every(sameBytes),
    steps_per_s_all_runs: runs.map((list) => list.map((run) => round(run.stepsPerSecond, 4))),
    images_per_s: fastest.map((run) => round(run.stepsPerSecond * batchSize, 3)),
    step_ms: fastest.map((run) => round(run.stepMs, 1)),
    cpu_ms_per_step: fastest.map((run) => round(run.cpuMs, 1)),
    busiest_thread_cpu_ms_per_step: fastest.map((run) => round(run.threadCpuMs, 1)),
    // What the speedup would be with a core per thread and no one else's load: CPU time of the busiest
    // training thread (N = 1: this thread), image decoding (libuv threads) left out.
    speedup_cpu_estimate: round(one.threadCpuMs / two.threadCpuMs, 3),
    phases_ms: fastest.map((run) => run.phases),
    // The control: two threads' throughput over one thread's on the same wasm work, before and after.
    machine_two_thread_capacity: [capacityBefore, capacityAfter],
    repeats,
    batch_size: batchSize,
    steps: measured,
    warmup_steps: warmup,
    update_mode: mode,
    model: "online cpu-small, 128×128",
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      load_average_before: loadBefore.map((v) => round(v, 2)),
      load_average_after: loadavg().map((v) => round(v, 2)),
    },
  };
  if (json) process.stdout.write(JSON.stringify(result) + "\n");
  else {
    for (const run of fastest) {
      process.stdout.write(
        `${run.workers} worker(s): ${run.stepsPerSecond.toFixed(3)} steps/s, ${(run.stepsPerSecond * batchSize).toFixed(2)} images/s, ` +
          `${run.stepMs.toFixed(0)} ms/step, ${run.cpuMs.toFixed(0)} ms CPU/step (busiest thread ${run.threadCpuMs.toFixed(0)}) ${JSON.stringify(run.phases)}\n`,
      );
    }
    process.stdout.write(
      `speedup ×${result.speedup} (CPU-time estimate ×${result.speedup_cpu_estimate}; the machine gave two threads ×${capacityBefore}/×${capacityAfter}); max |Δw| vs 1 worker ${result.max_abs_weight_diff_vs_1_worker}; ` +
        `bit-identical reruns: ${result.bit_identical_reruns}; all runs (steps/s): ${JSON.stringify(result.steps_per_s_all_runs)}\n`,
    );
  }
} finally {
  rmSync(runsDir, { recursive: true, force: true });
}
