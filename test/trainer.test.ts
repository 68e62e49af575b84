import * as tf from "@tensorflow/tfjs";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { formatDuration, Progress } from "../src/core/progress.js";
import { Rng } from "../src/core/rng.js";
import { listCheckpoints, loadCheckpoint } from "../src/train/checkpoint.js";
import { AdamW } from "../src/train/optim.js";
import { cosineLr, withWarmup } from "../src/train/schedule.js";
import {
  EpochSampler,
  train,
  type DataSource,
  type StepLogEntry,
  type TrainerOptions,
} from "../src/train/trainer.js";

// Lets a test make the next atomic write of a matching file fail half-way (a full disk, a crash).
const faults = vi.hoisted(() => ({ failWriteMatching: undefined as RegExp | undefined }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  // The atomic writer writes through a file handle: the handle of a matching path writes half its bytes.
  const open: typeof actual.open = async (path, flags, mode) => {
    const handle = await actual.open(path, flags, mode);
    if (faults.failWriteMatching && typeof path === "string" && faults.failWriteMatching.test(path)) {
      faults.failWriteMatching = undefined;
      handle.writeFile = async (data) => {
        const bytes = data as Uint8Array;
        await actual.writeFile(path, bytes.subarray(0, bytes.length >> 1));
        throw new Error("ENOSPC: no space left on device (simulated)");
      };
    }
    return handle;
  };
  return { ...actual, open, default: { ...actual, open } };
});

const INPUTS = 4;
const HIDDEN = 8;
const EXAMPLES = 24;

/** A fixed regression data set; batches are drawn by a resumable sampler plus rng-drawn input noise. */
function makeData(): DataSource<{ x: tf.Tensor2D; y: tf.Tensor2D }> & { sampler: EpochSampler } {
  const rng = new Rng(99);
  const xs = rng.normalArray(EXAMPLES * INPUTS);
  const ys = new Float32Array(EXAMPLES).map((_, i) => Math.sin(xs[i * INPUTS]) + 0.5 * xs[i * INPUTS + 1]);
  const sampler = new EpochSampler(EXAMPLES, 6, 3);
  return {
    sampler,
    next(stepRng) {
      const indices = sampler.nextIndices();
      const x = new Float32Array(indices.length * INPUTS);
      indices.forEach((index, row) => {
        for (let j = 0; j < INPUTS; j++)
          x[row * INPUTS + j] = xs[index * INPUTS + j] + 0.01 * stepRng.normal();
      });
      return {
        x: tf.tensor2d(x, [indices.length, INPUTS]),
        y: tf.tensor2d(
          indices.map((i) => ys[i]),
          [indices.length, 1],
        ),
      };
    },
    getState: () => sampler.getState(),
    setState: (state) => sampler.setState(state),
    release: (batch) => tf.dispose([batch.x, batch.y]),
  };
}

function makeParams(seed: number): Map<string, tf.Variable> {
  const rng = new Rng(seed);
  const make = (shape: number[], std: number) =>
    tf.variable(
      tf.tensor(
        rng.normalArray(
          shape.reduce((a, b) => a * b),
          0,
          std,
        ),
        shape,
      ),
      true,
    );
  return new Map([
    ["fc1.weight", make([INPUTS, HIDDEN], 0.5)],
    ["fc1.bias", make([HIDDEN], 0.1)],
    ["fc2.weight", make([HIDDEN, 1], 0.5)],
  ]);
}

function options(
  runDir: string,
  params: Map<string, tf.Variable>,
  extra: Partial<TrainerOptions<{ x: tf.Tensor2D; y: tf.Tensor2D }>> = {},
): TrainerOptions<{ x: tf.Tensor2D; y: tf.Tensor2D }> {
  return {
    runDir,
    params,
    optimizer: new AdamW(params, { weightDecay: 0.01 }),
    schedule: withWarmup(cosineLr({ lr: 0.05, totalSteps: 10 }), { steps: 2, startFactor: 0.1 }),
    totalSteps: 10,
    data: makeData(),
    seed: 1234,
    clipNorm: 1,
    checkpointEvery: 5,
    progress: false,
    step: ({ x, y }, rng) => {
      const hidden = tf.dropout(
        x.matMul(params.get("fc1.weight")!).add(params.get("fc1.bias")!).relu(),
        0.2,
        undefined,
        rng.seed(),
      );
      const prediction = hidden.matMul(params.get("fc2.weight")!);
      const loss = tf.losses.meanSquaredError(y, prediction) as tf.Scalar;
      return { loss, metrics: { abs_error: prediction.sub(y).abs().mean() as tf.Scalar } };
    },
    ...extra,
  };
}

const weightsOf = (params: Map<string, tf.Variable>) =>
  Object.fromEntries([...params].map(([name, v]) => [name, Array.from(v.dataSync())]));

const readLog = (runDir: string) =>
  readFileSync(join(runDir, "log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const trainLosses = (runDir: string) =>
  readLog(runDir)
    .filter((entry) => entry.type === "train")
    .map((entry) => [entry.step, entry.loss, entry.lr, entry.grad_norm, entry.abs_error]);

describe("trainer", () => {
  const dirs: string[] = [];
  const newRunDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-trainer-"));
    dirs.push(dir);
    return dir;
  };
  let reference: { dir: string; weights: Record<string, number[]> };

  beforeAll(async () => {
    await tf.setBackend("cpu");
    const dir = newRunDir();
    const params = makeParams(7);
    const opts = options(dir, params, { validateEvery: 5, validate: (step) => ({ val_score: step / 10 }) });
    const result = await train(opts);
    expect(result.step).toBe(10);
    reference = { dir, weights: weightsOf(params) };
    opts.optimizer.dispose();
    tf.dispose([...params.values()]);
  });
  afterEach(() => {
    faults.failWriteMatching = undefined;
  });

  it("logs train and validation lines and lowers the loss", () => {
    const log = readLog(reference.dir);
    expect(log[0]).toMatchObject({ type: "start", step: 0, total_steps: 10, seed: 1234, resumed_from: null });
    const trainLines = log.filter((entry) => entry.type === "train");
    expect(trainLines.map((entry) => entry.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(trainLines[0].lr).toBeCloseTo(0.005, 12); // warmup start factor 0.1 × 0.05
    for (const key of ["loss", "lr", "grad_norm", "time", "step_ms", "abs_error"]) {
      expect(typeof trainLines[3][key]).toBe("number");
    }
    expect(log.filter((entry) => entry.type === "val")).toEqual([
      { type: "val", step: 5, val_score: 0.5 },
      { type: "val", step: 10, val_score: 1 },
    ]);
    expect(Number(trainLines[9].loss)).toBeLessThan(Number(trainLines[0].loss));
    expect(readdirSync(reference.dir).sort()).toEqual(["checkpoints", "log.jsonl", "weights.safetensors"]);
  });

  it("resumes exactly: 5 steps + resume + 5 steps gives bit-identical weights and log", async () => {
    const dir = newRunDir();
    const first = makeParams(7);
    const controller = new AbortController();
    const opts1 = options(dir, first, {
      checkpointEvery: 3, // the interruption at 5 falls between checkpoints: a checkpoint is written on stop
      signal: controller.signal,
      onStep: (entry) => entry.step === 5 && controller.abort(),
      validateEvery: 5,
      validate: (step) => ({ val_score: step / 10 }),
    });
    const stopped = await train(opts1);
    expect(stopped).toMatchObject({ step: 5, startStep: 0, weights: undefined });
    expect((await listCheckpoints(dir)).map((c) => c.step)).toEqual([3, 5]);

    // A new process: differently initialised parameters and a fresh optimiser, restored from disk.
    const second = makeParams(8);
    const opts2 = options(dir, second, {
      resume: true,
      validateEvery: 5,
      validate: (step) => ({ val_score: step / 10 }),
    });
    const resumed = await train(opts2);
    expect(resumed).toMatchObject({ step: 10, startStep: 5 });
    expect(weightsOf(second)).toEqual(reference.weights);
    expect(trainLosses(dir)).toEqual(trainLosses(reference.dir));
    expect(
      readLog(dir)
        .filter((e) => e.type === "start")
        .map((e) => e.resumed_from),
    ).toEqual([null, 5]);
    tf.dispose([...first.values(), ...second.values()]);
    opts1.optimizer.dispose();
    opts2.optimizer.dispose();
  });

  it("keeps the tensor count constant across steps (no leaks)", async () => {
    const params = makeParams(7);
    const counts: number[] = [];
    const opts = options(newRunDir(), params, {
      checkpointEvery: 2,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    const before = tf.memory().numTensors;
    await train(opts);
    // Step 1 creates the optimiser moments (two per parameter); from then on the count must not move,
    // and once the optimiser is disposed nothing of the run is left.
    expect(counts).toEqual(new Array(10).fill(before + 2 * params.size));
    opts.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...params.values()]);
  });

  it("stops on a NaN loss with a clear error and keeps the last good checkpoint intact", async () => {
    const dir = newRunDir();
    const params = makeParams(7);
    const base = options(dir, params);
    const opts = {
      ...base,
      step: (batch: { x: tf.Tensor2D; y: tf.Tensor2D }, rng: Rng, step: number) => {
        const output = base.step!(batch, rng, step) as { loss: tf.Scalar };
        return step === 6 ? (output.loss.mul(Number.NaN) as tf.Scalar) : output.loss; // 0-based 6 = step 7
      },
    };
    await expect(train(opts)).rejects.toThrow(
      /: step 7: non-finite loss \(NaN\); the update was not applied; last good checkpoint: .*ckpt-00000005\.safetensors/,
    );
    expect((await listCheckpoints(dir)).map((c) => c.step)).toEqual([5]);
    const checkpoint = await loadCheckpoint((await listCheckpoints(dir))[0].path);
    const referenceAt5 = await loadCheckpoint((await listCheckpoints(reference.dir))[0].path);
    expect(checkpoint.step).toBe(5);
    for (const [name, tensor] of referenceAt5.weights) {
      expect(Array.from(checkpoint.weights.get(name)!.dataSync())).toEqual(Array.from(tensor.dataSync()));
    }
    expect(checkpoint.rng).toEqual(referenceAt5.rng);
    expect(checkpoint.data).toEqual({ epoch: 1, cursor: 6 }); // 5 batches of 6 from 24 examples
    const last = readLog(dir).at(-1)!;
    expect(last).toMatchObject({ type: "error", step: 7 });
    opts.optimizer.dispose();
    tf.dispose([...params.values()]);
  });

  it("writes checkpoints atomically: a write failing half-way leaves the previous one, and resume works", async () => {
    const dir = newRunDir();
    const params = makeParams(7);
    faults.failWriteMatching = /ckpt-00000010\.safetensors/;
    const opts = options(dir, params);
    await expect(train(opts)).rejects.toThrow(/no space left on device/);
    // Only the complete step-5 checkpoint is visible; the half-written temporary file is gone.
    expect(readdirSync(join(dir, "checkpoints"))).toEqual(["ckpt-00000005.safetensors"]);
    expect((await loadCheckpoint(join(dir, "checkpoints", "ckpt-00000005.safetensors"))).step).toBe(5);

    const again = makeParams(1);
    const opts2 = options(dir, again, { resume: true });
    await train(opts2);
    expect(weightsOf(again)).toEqual(reference.weights);
    opts.optimizer.dispose();
    opts2.optimizer.dispose();
    tf.dispose([...params.values(), ...again.values()]);
  });

  it("resumes from the previous complete checkpoint when the newest is unreadable, and says so", async () => {
    const dir = newRunDir();
    const params = makeParams(7);
    const first = options(dir, params, { totalSteps: 10, checkpointEvery: 5, keepCheckpoints: 3 });
    // Stop after step 7: checkpoints at 5 and (on abort) 7.
    const controller = new AbortController();
    first.onStep = (entry) => entry.step === 7 && controller.abort();
    first.signal = controller.signal;
    await train(first);
    const newest = join(dir, "checkpoints", "ckpt-00000007.safetensors");
    // What a power loss can leave without fsync: the file renamed in place but its bytes cut short.
    const bytes = readFileSync(newest);
    writeFileSync(newest, bytes.subarray(0, bytes.length >> 1));
    // And what a kill between write and rename leaves: a temporary file.
    writeFileSync(join(dir, "checkpoints", ".ckpt-00000010.safetensors.0123456789ab.tmp"), "half");

    const again = makeParams(1);
    const warnings: string[] = [];
    const second = options(dir, again, { resume: true, onWarning: (message) => warnings.push(message) });
    const result = await train(second);
    expect(result.startStep).toBe(5);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /ckpt-00000007\.safetensors: .*: moved to .*ckpt-00000007\.safetensors\.unreadable; resuming from the previous complete checkpoint .*ckpt-00000005\.safetensors$/,
    );
    expect(readLog(dir).filter((entry) => entry.type === "warning")).toHaveLength(1);
    expect(weightsOf(again)).toEqual(reference.weights);
    expect(readdirSync(join(dir, "checkpoints")).sort()).toEqual([
      "ckpt-00000005.safetensors",
      "ckpt-00000007.safetensors.unreadable",
      "ckpt-00000010.safetensors",
    ]);
    // With no readable checkpoint at all, resume is the newest one's clear error.
    const broken = newRunDir();
    mkdirSync(join(broken, "checkpoints"));
    writeFileSync(join(broken, "checkpoints", "ckpt-00000003.safetensors"), "");
    const third = options(broken, makeParams(1), { resume: true });
    await expect(train(third)).rejects.toThrow(/ckpt-00000003\.safetensors: not a vidseg model file/);
    for (const o of [first, second, third]) o.optimizer.dispose();
    tf.dispose([...params.values(), ...again.values(), ...third.params.values()]);
  });

  it("rejects a checkpoint that does not fit the model", async () => {
    const params = makeParams(7);
    const wrong = new Map([["fc1.weight", params.get("fc1.weight")!]]);
    const opts = options(reference.dir, wrong, { resume: true });
    await expect(train(opts)).rejects.toThrow(
      /checkpoint does not match the model \(missing: none; unexpected: fc1\.bias, fc2\.weight\)/,
    );
    opts.optimizer.dispose();
    tf.dispose([...params.values()]);
  });

  it("samples epochs as seeded permutations and resumes mid-epoch", () => {
    const a = new EpochSampler(5, 2, 11);
    const first = [a.nextIndices(), a.nextIndices(), a.nextIndices()];
    expect(first.flat().slice(0, 5).sort()).toEqual([0, 1, 2, 3, 4]);
    const b = new EpochSampler(5, 2, 11);
    b.setState(a.getState());
    expect(b.nextIndices()).toEqual(a.nextIndices());
    expect(() => b.setState({ epoch: 0 })).toThrow(/invalid sampler state/);
  });

  it("repeats items by their repeat factors (stochastic rounding per epoch) and resumes exactly", () => {
    const factors = [1, 1, 3, 1.5];
    const sampler = new EpochSampler(4, 1, 7, factors);
    const counts = [0, 0, 0, 0];
    const epochs = 400;
    // Epoch lengths vary (item 3 appears once or twice); draw until `epochs` epochs are complete.
    while ((sampler.getState() as { epoch: number }).epoch < epochs) counts[sampler.nextIndices()[0]]++;
    // The last draw opened epoch `epochs`: its first item is counted once too many.
    const expected = factors.map((r) => r * epochs);
    expect(counts[0] + counts[1]).toBeGreaterThanOrEqual(2 * epochs);
    expect(counts[2]).toBeGreaterThanOrEqual(3 * epochs);
    expect(counts[2]).toBeLessThanOrEqual(3 * epochs + 1);
    expect(Math.abs(counts[3] - expected[3])).toBeLessThan(0.1 * expected[3]);
    const resumed = new EpochSampler(4, 1, 7, factors);
    resumed.setState(sampler.getState());
    expect([resumed.nextIndices(), resumed.nextIndices()]).toEqual([
      sampler.nextIndices(),
      sampler.nextIndices(),
    ]);
    expect(() => new EpochSampler(2, 1, 0, [1, 0.5])).toThrow(/repeat factors/);
  });
});

export type { StepLogEntry };

describe("progress display without a TTY", () => {
  it("prints at most one plain line per interval, with fields, rate and ETA, and a final line", () => {
    let now = 0;
    const lines: string[] = [];
    const stream = {
      write: (text: string) => lines.push(text) > 0,
      isTTY: false,
    } as unknown as NodeJS.WritableStream;
    const progress = new Progress({ total: 100, label: "train", stream, intervalMs: 10_000, now: () => now });
    for (let step = 1; step <= 40; step++) {
      now += 500; // 2 steps per second
      progress.update(step, { loss: 0.123456, lr: 0.0001 });
    }
    progress.stop();
    // Printed at t = 0.5 s, 10.5 s and at stop (t = 20 s): never once per step.
    expect(lines).toEqual([
      "train   1/100   1% loss=0.1235 lr=1.00e-4 2.00 it/s eta 50s\n",
      "train  21/100  21% loss=0.1235 lr=1.00e-4 2.00 it/s eta 40s\n",
      "train  40/100  40% loss=0.1235 lr=1.00e-4 2.00 it/s eta 30s\n",
    ]);
    expect(formatDuration(3725)).toBe("1h02m");
    expect(formatDuration(245)).toBe("4m05s");
  });
});
