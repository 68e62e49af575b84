/**
 * Runs a training task (src/train/task.ts) through the one training loop (src/train/trainer.ts):
 * AdamW with Mask2Former's parameter groups, linear warmup + cosine schedule, gradient clipping,
 * checkpoints with exact resume, validation with the model in eval mode, and at the end
 * `<runDir>/model.safetensors` (src/models/model-file.ts) and `<runDir>/plot.html`.
 *
 * With several workers (the default on a multi-core machine when a batch holds several units), each
 * step's batch is shared by data-parallel worker threads (src/train/parallel/), which build the same
 * task from the same TaskOptions; logs, validation and checkpoints stay on this thread.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { VidsegError } from "../core/errors.js";
import { WHOLE_BATCH } from "../models/batch-shares.js";
import { MODEL_FILE_NAME, TRAINING_ONLY_PREFIX, type ModelInfo } from "../models/model-file.js";
import type { ModelKindName, ModelOf } from "../models/registry.js";
import type { OptimConfig } from "../models/config.js";
import type { Module } from "../nn/module.js";
import { saveModelFile } from "./checkpoint.js";
import { AdamW, isNormOrBias, type ParamGroup, type ParamMap } from "./optim.js";
import { WorkerPool } from "./parallel/pool.js";
import type { UpdateMode } from "./parallel/shared.js";
import { writePlot } from "./plot.js";
import { cosineLr, withWarmup, type Schedule } from "./schedule.js";
import type { TaskOptions, TrainTask } from "./task.js";
import { createDistillTask } from "./tasks/distill.js";
import { createOfflineTask } from "./tasks/offline.js";
import { createOnlineTask } from "./tasks/online.js";
import { createReferTask } from "./tasks/refer.js";
import {
  train,
  type DataSource,
  type StepLogEntry,
  type TrainerOptions,
  type TrainResult,
} from "./trainer.js";

type TaskFactory<M extends Module> = (options: TaskOptions) => Promise<TrainTask<unknown, M>>;

/** The training tasks: each model kind's own, and distillation (its student is an online model). */
export const TRAIN_TASKS = {
  online: createOnlineTask as TaskFactory<ModelOf<"online">>,
  offline: createOfflineTask as TaskFactory<ModelOf<"offline">>,
  refer: createReferTask as TaskFactory<ModelOf<"refer">>,
  distill: createDistillTask as TaskFactory<ModelOf<"online">>,
} satisfies { [K in ModelKindName]: TaskFactory<ModelOf<K>> } & Record<string, TaskFactory<Module>>;

export type TrainTaskName = keyof typeof TRAIN_TASKS;
/** The model a task trains. */
export type TaskModel<K extends TrainTaskName> = Awaited<ReturnType<(typeof TRAIN_TASKS)[K]>>["model"];

/** How to run a task: the run folder, resume, validation, checkpoints and progress. */
export interface RunOptions<M> {
  runDir: string;
  resume?: boolean;
  /** Called every `validateEvery` steps and at the end with the model in eval mode. */
  validate?: (
    model: M,
    info: ModelInfo,
    step: number,
  ) => Record<string, number> | Promise<Record<string, number>>;
  validateEvery?: number;
  /** Default 500. */
  checkpointEvery?: number;
  progress?: TrainerOptions<unknown>["progress"];
  signal?: AbortSignal;
  onStep?: (entry: StepLogEntry) => void;
  onWarning?: (message: string) => void;
  /**
   * Data-parallel worker threads, each computing the gradients of its share of every batch. Default:
   * the machine's cores, capped by the units of a batch (frames, pairs of frames, clips); 1 trains on
   * this thread. The same seed and the same number of workers give the same bits.
   */
  workers?: number;
  /** How the workers apply the update (src/train/parallel/shared.ts); default "sharded". */
  workerUpdate?: UpdateMode;
}

export type TrainModelOptions<M> = Omit<TaskOptions, "seed"> & RunOptions<M> & { seed?: number };

export interface TrainModelResult<M> extends TrainResult {
  /** The model file (written when the run completed). */
  modelFile?: string;
  info: ModelInfo;
  /** The trained model; it belongs to the caller (dispose it). */
  model: M;
}

/** Trains (or resumes) a model with the task `name` (a model kind, or "distill"). */
export async function trainModel<K extends TrainTaskName>(
  name: K,
  options: TrainModelOptions<TaskModel<K>>,
): Promise<TrainModelResult<TaskModel<K>>> {
  const seed = options.seed ?? 0;
  // Only what a task is built from (JSON), so that workers build the same task.
  const taskOptions: TaskOptions = {
    config: options.config,
    data: options.data,
    pseudo: options.pseudo,
    seed,
    backboneWeights: options.backboneWeights,
    init: options.init,
    backboneFrom: options.backboneFrom,
    teacher: options.teacher,
    trainedOn: options.trainedOn,
  };
  const task = (await TRAIN_TASKS[name](taskOptions)) as TrainTask<unknown, TaskModel<K>>;
  const { model, info } = task;
  const optim = info.config.optim;
  let optimizer: AdamW | undefined;
  let pool: WorkerPool | undefined;
  try {
    const workers = workerCount(options.workers, task.data.unitsPerBatch);
    const params = taskParameters(task);
    // Frozen parameters travel with the buffers, so checkpoints hold the whole model.
    const buffers = new Map([...model.stateDict()].filter(([name]) => !params.has(name)));
    optimizer = visOptimizer(params, optim, task.backbonePrefix);
    const clipNorm = optim.clipNorm > 0 ? optim.clipNorm : undefined;
    if (workers > 1) {
      pool = await WorkerPool.start({
        task: name,
        taskOptions,
        workers,
        params,
        buffers,
        optimizer,
        clipNorm,
        mode: options.workerUpdate,
      });
    }
    const shared = task.data;
    // With workers, the trainer's batches are the plans' shares; the workers load them.
    const shares: DataSource<unknown[]> = {
      next: (rng) => shared.share(shared.draw(rng), workers),
      getState: () => shared.getState?.(),
      setState: (state) => shared.setState?.(state),
    };
    const validate = options.validate;
    const result = await train<unknown>({
      runDir: options.runDir,
      params,
      buffers,
      optimizer,
      schedule: visSchedule(optim),
      totalSteps: optim.totalSteps,
      data: pool ? shares : shared,
      seed,
      clipNorm,
      checkpointEvery: options.checkpointEvery ?? 500,
      validateEvery: options.validateEvery,
      validate: validate ? (step) => inEvalMode(model, () => validate(model, info, step)) : undefined,
      resume: options.resume,
      // modelInfo makes every checkpoint loadable as a model file.
      config: { modelInfo: info, seed, workers, ...task.runConfig },
      progress: options.progress,
      signal: options.signal,
      onStep: options.onStep,
      onWarning: options.onWarning,
      ...(pool
        ? { updater: pool as TrainerOptions<unknown>["updater"] }
        : { step: (batch: unknown, _rng: unknown, step: number) => task.step(batch, WHOLE_BATCH, step) }),
    });
    let modelFile: string | undefined;
    if (result.step === optim.totalSteps) {
      modelFile = join(options.runDir, MODEL_FILE_NAME);
      await saveModelFile(modelFile, model.stateDict(), info);
    }
    await writePlot(options.runDir);
    return { ...result, modelFile, info, model };
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    await pool?.close();
    optimizer?.dispose();
    task.trainingOnly?.dispose();
    task.dispose?.();
  }
}

/**
 * What a task trains: its model's parameters, then those that train with it but stay out of the model
 * file (under TRAINING_ONLY_PREFIX), in that order (the data-parallel workers' shared layout).
 */
export function taskParameters(task: TrainTask<unknown>): ParamMap {
  const params = task.model.namedParameters();
  for (const [param, variable] of task.trainingOnly?.namedParameters() ?? [])
    params.set(`${TRAINING_ONLY_PREFIX}${param}`, variable);
  return params;
}

/** The number of workers: `requested`, or the cores capped by the units of a batch. */
export function workerCount(requested: number | undefined, unitsPerBatch: number): number {
  if (requested === undefined) return Math.max(1, Math.min(availableParallelism(), unitsPerBatch));
  if (!Number.isInteger(requested) || requested < 1)
    throw new VidsegError(`must be a positive integer, got ${requested}`, undefined, "workers");
  if (requested > unitsPerBatch) {
    throw new VidsegError(
      `${requested} workers cannot share a batch of ${unitsPerBatch} unit${unitsPerBatch === 1 ? "" : "s"} (frames, pairs of frames or clips): raise the batch size or lower the workers`,
      undefined,
      "workers",
    );
  }
  return requested;
}

/**
 * AdamW over `params` with Mask2Former's groups: the backbone (parameters under `backbonePrefix`) at
 * `backboneLrScale` × the learning rate, then the config's `lrScales` prefixes at theirs, and no weight
 * decay on norms, biases and the learned embedding tables (query_feat, query_embed, level_embed, and the
 * offline head's fq_pos).
 */
export function visOptimizer(params: ParamMap, optim: OptimConfig, backbonePrefix: string): AdamW {
  const noDecay = (name: string, param: Parameters<typeof isNormOrBias>[1]) =>
    isNormOrBias(name, param) || /(^|\.)(query_feat|query_embed|level_embed|fq_pos)\./.test(name);
  const scaled = [
    { name: "backbone", prefix: backbonePrefix, scale: optim.backboneLrScale },
    ...optim.lrScales.map(({ prefix, scale }) => ({ name: prefix, prefix, scale })),
  ];
  return new AdamW(params, {
    lr: optim.lr,
    weightDecay: optim.weightDecay,
    groups: [
      ...scaled.flatMap(({ name, prefix, scale }): ParamGroup[] => [
        {
          name: `${name}_no_decay`,
          match: (n, p) => n.startsWith(prefix) && noDecay(n, p),
          lrScale: scale,
          weightDecay: 0,
        },
        { name, match: (n) => n.startsWith(prefix), lrScale: scale },
      ]),
      { name: "no_decay", match: noDecay, weightDecay: 0 },
    ],
  });
}

/** Linear warmup, then cosine decay to 1% of the learning rate at the last step. */
export function visSchedule(optim: OptimConfig): Schedule {
  return withWarmup(cosineLr({ lr: optim.lr, totalSteps: optim.totalSteps, minLr: optim.lr * 0.01 }), {
    steps: optim.warmupSteps,
  });
}

/** Runs `fn` with `module` in eval mode (dropout off) and puts it back in training mode afterwards. */
export async function inEvalMode<T>(module: Module, fn: () => T | Promise<T>): Promise<T> {
  module.eval();
  try {
    return await fn();
  } finally {
    module.train();
  }
}

/** Trains (or resumes) the online VIS model (MinVIS-style). */
export function trainOnlineVis(options: TrainModelOptions<ModelOf<"online">>) {
  return trainModel("online", options);
}

/**
 * Trains (or resumes) the referring model (YOFO); `data` is a Ref-YouTube-VOS split: its
 * meta_expressions.json and JPEGImages folder.
 */
export function trainReferModel(options: TrainModelOptions<ModelOf<"refer">>) {
  return trainModel("refer", options);
}

/** Trains (or resumes) the offline VIS model (VITA-style). */
export function trainOfflineVis(options: TrainModelOptions<ModelOf<"offline">>) {
  return trainModel("offline", options);
}
