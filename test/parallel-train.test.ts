/**
 * Data-parallel training (src/train/parallel/) on a tiny synthetic YouTube-VIS-layout split: two
 * workers give the same bits run after run, agree with one worker up to float summation order, resume
 * exactly, and stop cleanly (one message, exit code 1, the last checkpoint intact, no thread left) when a
 * worker throws or dies.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { WHOLE_BATCH, type BatchShares } from "../src/models/batch-shares.js";
import { resolveReferSplit } from "../src/formats/refytvos.js";
import { resolveVisSplit } from "../src/formats/ytvis-layout.js";
import { presetConfig, type VisConfig } from "../src/models/config.js";
import { readModelFile, disposeModelFile } from "../src/models/model-file.js";
import { OfflineVisModel } from "../src/models/vis/offline.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateReferDataset } from "../src/synth/refer.js";
import { generateVisDataset, synthCategories } from "../src/synth/vis.js";
import { latestCheckpoint, loadCheckpoint, disposeCheckpoint } from "../src/train/checkpoint.js";
import { WorkerPool } from "../src/train/parallel/pool.js";
import {
  taskParameters,
  TRAIN_TASKS,
  trainModel,
  visOptimizer,
  type TrainTaskName,
} from "../src/train/run.js";
import type { TaskOptions } from "../src/train/task.js";
import { assignBalanced, computeGradients } from "../src/train/trainer.js";
import { VisFrameData } from "../src/train/vis-data.js";
import { createOnlineTask } from "../src/train/tasks/online.js";
import { saveOfflineModelFile } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-parallel-"));

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await generateVisDataset(resolveOptions("tiny", 5, { videos: 3 }), join(root, "data"), {
    splits: ["train"],
  });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** What each task is built from here: two units (pairs of frames or clips) per batch. */
const TASK_OPTIONS: Record<TrainTaskName, () => Promise<TaskOptions>> = {
  online: async () => ({ config: config(1), data: resolveVisSplit(join(root, "data"), "train"), seed: 2 }),
  offline: async () => {
    const c = config(1);
    c.offline.clipsPerBatch = 2;
    return { config: c, data: resolveVisSplit(join(root, "data"), "train"), seed: 2 };
  },
  distill: async () => {
    // The teacher's quality does not matter here: a random tiny offline model.
    const c = config(1);
    c.distill.clipsPerBatch = 2;
    const teacher = join(root, "teacher.safetensors");
    const categories = synthCategories();
    const teacherConfig = presetConfig("tiny");
    teacherConfig.model.numClasses = categories.length;
    seedParameters(11);
    const model = new OfflineVisModel({ segmenter: teacherConfig.model, head: teacherConfig.offline.head });
    await saveOfflineModelFile(
      teacher,
      model,
      categories.map((category) => category.id),
    );
    model.dispose();
    return { config: c, data: resolveVisSplit(join(root, "data"), "train"), seed: 2, teacher };
  },
  refer: async () => {
    const c = config(1);
    c.refer.clipsPerBatch = 2;
    await generateReferDataset(resolveOptions("tiny", 3), join(root, "refer"), { splits: ["train"] });
    const split = resolveReferSplit(join(root, "refer"), "train");
    return { config: c, data: { annotationFile: split.annotationFile, imagesDir: split.imagesDir }, seed: 2 };
  },
};

/** The tiny preset with two pairs of frames per batch (one pair per worker with two workers). */
function config(steps: number): VisConfig {
  const c = presetConfig("tiny");
  c.optim.batchSize = 4;
  c.optim.totalSteps = steps;
  c.optim.warmupSteps = 1;
  return c;
}

async function run(name: string, workers: number, options: Partial<Parameters<typeof trainModel>[1]> = {}) {
  const runDir = join(root, name);
  const result = await trainModel("online", {
    config: config(3),
    data: resolveVisSplit(join(root, "data"), "train"),
    runDir,
    seed: 4,
    workers,
    checkpointEvery: 1,
    progress: false,
    ...options,
  });
  result.model.dispose();
  return { ...result, runDir };
}

/** The log without its clock readings (times differ from run to run; everything else may not). */
function logWithoutTimes(runDir: string): Record<string, unknown>[] {
  return readFileSync(join(runDir, "log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .map((entry) =>
      Object.fromEntries(Object.entries(entry).filter(([key]) => key !== "time" && !key.endsWith("_ms"))),
    );
}

const modelBytes = (runDir: string) => readFileSync(join(runDir, "model.safetensors"));

async function weights(runDir: string): Promise<Map<string, Float32Array>> {
  const file = await readModelFile(join(runDir, "model.safetensors"));
  const values = new Map([...file.weights].map(([name, t]) => [name, t.dataSync() as Float32Array]));
  disposeModelFile(file);
  return values;
}

describe("sharing a batch", () => {
  it("assigns the costliest items first to the least busy share with room", () => {
    const loads = [0, 0];
    expect(assignBalanced([5, 1, 4, 2], loads, [2, 2])).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(loads).toEqual([6, 6]);
    expect(assignBalanced([3, 3, 1], [1, 0])).toEqual([[1], [0, 2]]);
  });

  it("splits a plan into whole pairs, as many per share, every frame once", async () => {
    const data = await VisFrameData.open({
      ...resolveVisSplit(join(root, "data"), "train"),
      inputSize: [64, 64],
      batchSize: 8,
      pairs: true,
      cropFrames: 5,
      cropSize: 32,
    });
    const plan = data.draw(new Rng(5));
    const shares = data.share(plan, 2);
    expect(shares.map((share) => share.frames.length)).toEqual([4, 4]);
    const key = (pick: { video: number; frame: number; seed: number }) =>
      `${pick.video}/${pick.frame}/${pick.seed}`;
    for (const share of shares) {
      for (let p = 0; p < share.frames.length; p += 2) {
        const at = plan.frames.findIndex((pick) => key(pick) === key(share.frames[p]));
        expect(at % 2).toBe(0);
        expect(key(share.frames[p + 1])).toBe(key(plan.frames[at + 1]));
      }
    }
    const all = (list: (typeof plan)["frames"][]) => list.flat().map(key).sort();
    expect(all(shares.map((share) => share.frames))).toEqual(all([plan.frames]));
    expect(all(shares.map((share) => share.cropFrames))).toEqual(all([plan.cropFrames]));
    expect(() => data.share(plan, 5)).toThrow(/a batch of 4 units cannot be shared by 5 workers/);
  });
});

describe("a task's step on shares of a batch", () => {
  /**
   * Two shares computed one after the other: a first pass records what each contributes to each gather
   * (which does not depend on what the gathers return), a second pass replays every share's values.
   */
  function replayedShares(): (index: number, replay: boolean) => BatchShares {
    const contributed: number[][][] = [[], []];
    return (index, replay) => {
      let call = 0;
      return {
        index,
        count: 2,
        gather: (values) => {
          const k = call++;
          if (replay) return [contributed[0][k], contributed[1][k]];
          contributed[index][k] = Array.from(values);
          return [Array.from(values), Array.from(values)];
        },
      };
    };
  }

  for (const name of Object.keys(TRAIN_TASKS) as TrainTaskName[]) {
    it(`${name}: the shares' losses, metrics and gradients add up to the whole batch's`, async () => {
      const task = await TRAIN_TASKS[name](await TASK_OPTIONS[name]());
      const params = taskParameters(task);
      const plan = task.data.draw(new Rng(3));
      const batches = [plan, ...task.data.share(plan, 2)].map((p) => task.data.load(p));
      const [whole, ...parts] = await Promise.all(batches);
      const expected = computeGradients(() => task.step(whole, WHOLE_BATCH, 0), params);
      const shares = replayedShares();
      for (const replay of [false, true]) {
        const results = parts.map((part, i) =>
          computeGradients(() => task.step(part, shares(i, replay), 0), params),
        );
        if (!replay) {
          results.forEach((r) => tf.dispose([...r.grads.values()]));
          continue;
        }
        expect(results[0].loss + results[1].loss).toBeCloseTo(expected.loss, 4);
        for (const [name, value] of Object.entries(expected.metrics))
          expect((results[0].metrics[name] ?? 0) + (results[1].metrics[name] ?? 0), name).toBeCloseTo(
            value,
            5,
          );
        let maxDiff = 0;
        for (const [name, grad] of expected.grads) {
          const sum = tf.addN(results.flatMap((r) => (r.grads.has(name) ? [r.grads.get(name)!] : [])));
          maxDiff = Math.max(maxDiff, tf.max(tf.abs(tf.sub(sum, grad))).dataSync()[0]);
          sum.dispose();
        }
        expect(maxDiff).toBeLessThan(2e-5); // float summation order; the largest gradients are ~3
        results.forEach((r) => tf.dispose([...r.grads.values()]));
      }
      tf.dispose([...expected.grads.values()]);
      [whole, ...parts].forEach((batch) => task.data.release?.(batch as never));
      task.model.dispose();
      task.trainingOnly?.dispose();
      task.dispose?.();
    }, 120_000);
  }
});

describe("data-parallel training, 2 workers", () => {
  let first: Awaited<ReturnType<typeof run>>;

  it("gives bit-identical weights and logs run after run", async () => {
    first = await run("two-a", 2);
    const second = await run("two-b", 2);
    expect(first.step).toBe(3);
    expect(modelBytes(second.runDir).equals(modelBytes(first.runDir))).toBe(true);
    const log = logWithoutTimes(first.runDir);
    expect(log.find((entry) => entry.type === "start")).toMatchObject({ config: { workers: 2 } });
    expect(log.filter((entry) => entry.type === "train")).toHaveLength(3);
    expect(logWithoutTimes(second.runDir)).toEqual(log);
  }, 180_000);

  it("agrees with one worker up to float summation order", async () => {
    const single = await run("one", 1);
    const [a, b] = [await weights(first.runDir), await weights(single.runDir)];
    let maxDiff = 0;
    for (const [name, values] of a) {
      const other = b.get(name)!;
      for (let i = 0; i < values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(values[i] - other[i]));
    }
    // Measured: 6.1e-6 after 3 steps (AdamW moves a weight by up to lr = 1e-3 per step, whatever the
    // size of its gradient, so tiny gradients' summation differences show at this scale).
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(5e-5);
    const losses = (dir: string) =>
      logWithoutTimes(dir)
        .filter((e) => e.type === "train")
        .map((e) => e.loss as number);
    losses(single.runDir).forEach((loss, i) => expect(losses(first.runDir)[i]).toBeCloseTo(loss, 3));
  }, 120_000);

  it("resumes exactly: stopped at step 2 and resumed gives the uninterrupted run's bits", async () => {
    const controller = new AbortController();
    const stopped = await run("two-resumed", 2, {
      signal: controller.signal,
      onStep: (entry) => entry.step === 2 && controller.abort(),
    });
    expect(stopped.step).toBe(2);
    const resumed = await run("two-resumed", 2, { resume: true });
    expect(resumed.startStep).toBe(2);
    expect(modelBytes(resumed.runDir).equals(modelBytes(first.runDir))).toBe(true);
    const trainLines = (dir: string) => logWithoutTimes(dir).filter((e) => e.type === "train");
    expect(trainLines(resumed.runDir)).toEqual(trainLines(first.runDir));
  }, 180_000);

  it("refuses more workers than a batch has units", async () => {
    await expect(run("too-many", 3)).rejects.toThrow(/workers: 3 workers cannot share a batch of 2 units/);
  });
});

describe("a failing worker", () => {
  it("ends the command with one clear line and exit code 1, and the last checkpoint loads", async () => {
    const data = join(root, "broken-data");
    cpSync(join(root, "data"), data, { recursive: true });
    const configFile = join(root, "broken.json");
    writeFileSync(configFile, JSON.stringify({ preset: "tiny", optim: { batchSize: 4, warmupSteps: 1 } }));
    const out = join(root, "broken-run");
    const vidseg = (steps: number, extra: string[] = []) =>
      spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "src/cli/main.ts",
          "train",
          "vis",
          "--data",
          data,
          "--config",
          configFile,
          "--out",
          out,
          "--steps",
          String(steps),
          "--workers",
          "2",
          "--checkpoint-every",
          "1",
          "--val-split",
          "none",
          "--quiet",
          ...extra,
        ],
        { encoding: "utf8", timeout: 150_000 },
      );
    expect(vidseg(2).status).toBe(0);
    // Every frame unreadable from now on: the resumed run's workers fail loading step 3.
    const images = join(data, "train", "JPEGImages");
    for (const video of readdirSync(images))
      for (const frame of readdirSync(join(images, video)))
        writeFileSync(join(images, video, frame), "not a JPEG");
    const failed = vidseg(4, ["--resume"]);
    expect(failed.signal).toBeNull(); // it exited by itself: no hung thread
    expect(failed.status).toBe(1);
    const lines = failed.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^vidseg: error: data-parallel worker [12] of 2 failed: .*cannot read frame/);
    const latest = (await latestCheckpoint(out))!;
    expect(latest.step).toBe(2);
    const checkpoint = await loadCheckpoint(latest.path);
    expect(checkpoint.step).toBe(2);
    disposeCheckpoint(checkpoint);
    const model = await readModelFile(latest.path);
    expect(model.info.kind).toBe("online");
    disposeModelFile(model);
  }, 300_000);

  it("that dies mid-step stops the pool with one error; no thread is left", async () => {
    const taskOptions = { config: config(3), data: resolveVisSplit(join(root, "data"), "train"), seed: 1 };
    const task = await createOnlineTask(taskOptions);
    const params = task.model.namedParameters();
    const optimizer = visOptimizer(params, task.info.config.optim, task.backbonePrefix);
    const pool = await WorkerPool.start({
      task: "online",
      taskOptions,
      workers: 2,
      params,
      buffers: new Map([...task.model.stateDict()].filter(([name]) => !params.has(name))),
      optimizer,
      clipNorm: 1,
    });
    try {
      await pool.push();
      const rng = new Rng(1);
      const values = await pool.update(task.data.share(task.data.draw(rng), 2), 1e-3, 0);
      expect(Number.isFinite(values.loss)).toBe(true);
      // Worker 2 dies while worker 1 computes its share and then waits for it at the gradient barrier.
      const pending = pool.update(task.data.share(task.data.draw(rng), 2), 1e-3, 1);
      const threads = (pool as unknown as { threads: { terminate(): Promise<number> }[] }).threads;
      await threads[1].terminate();
      await expect(pending).rejects.toThrow(/^data-parallel worker 2 of 2 failed: exited unexpectedly/);
      await expect(pool.update([], 1e-3, 2)).rejects.toThrow(/worker 2 of 2 failed/);
    } finally {
      await pool.close();
      optimizer.dispose();
      task.model.dispose();
    }
  }, 120_000);
});
