/**
 * Runs a training task (src/train/task.ts) through the one training loop (src/train/trainer.ts):
 * AdamW with Mask2Former's parameter groups, linear warmup + cosine schedule, gradient clipping,
 * checkpoints with exact resume, validation with the model in eval mode, and at the end
 * `<runDir>/model.safetensors` (src/models/model-file.ts) and `<runDir>/plot.html`.
 */
import { join } from "node:path";
import { MODEL_FILE_NAME, TRAINING_ONLY_PREFIX, type ModelInfo } from "../models/model-file.js";
import type { ModelKindName, ModelOf } from "../models/registry.js";
import type { OptimConfig } from "../models/config.js";
import type { Module } from "../nn/module.js";
import { saveModelFile } from "./checkpoint.js";
import { AdamW, isNormOrBias, type ParamMap } from "./optim.js";
import { writePlot } from "./plot.js";
import { cosineLr, withWarmup, type Schedule } from "./schedule.js";
import type { TaskOptions, TrainTask } from "./task.js";
import { createDistillTask } from "./tasks/distill.js";
import { createOfflineTask } from "./tasks/offline.js";
import { createOnlineTask } from "./tasks/online.js";
import { createReferTask } from "./tasks/refer.js";
import { train, type StepLogEntry, type TrainerOptions, type TrainResult } from "./trainer.js";

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
  const task = (await TRAIN_TASKS[name]({ ...options, seed })) as TrainTask<unknown, TaskModel<K>>;
  const { model, info } = task;
  const optim = info.config.optim;
  let optimizer: AdamW | undefined;
  try {
    const params = model.namedParameters();
    for (const [param, variable] of task.trainingOnly?.namedParameters() ?? [])
      params.set(`${TRAINING_ONLY_PREFIX}${param}`, variable);
    // Frozen parameters travel with the buffers, so checkpoints hold the whole model.
    const buffers = new Map([...model.stateDict()].filter(([name]) => !params.has(name)));
    optimizer = visOptimizer(params, optim, task.backbonePrefix);
    const validate = options.validate;
    const result = await train({
      runDir: options.runDir,
      params,
      buffers,
      optimizer,
      schedule: visSchedule(optim),
      totalSteps: optim.totalSteps,
      data: task.data,
      seed,
      clipNorm: optim.clipNorm > 0 ? optim.clipNorm : undefined,
      checkpointEvery: options.checkpointEvery ?? 500,
      validateEvery: options.validateEvery,
      validate: validate ? (step) => inEvalMode(model, () => validate(model, info, step)) : undefined,
      resume: options.resume,
      // modelInfo makes every checkpoint loadable as a model file.
      config: { modelInfo: info, seed, ...task.runConfig },
      progress: options.progress,
      signal: options.signal,
      onStep: options.onStep,
      onWarning: options.onWarning,
      step: (batch, rng, step) => task.step(batch, rng, step),
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
    optimizer?.dispose();
    task.trainingOnly?.dispose();
    task.dispose?.();
  }
}

/**
 * AdamW over `params` with Mask2Former's groups: the backbone (parameters under `backbonePrefix`) at
 * `backboneLrScale` × the learning rate, and no weight decay on norms, biases and the learned embedding
 * tables (query_feat, query_embed, level_embed, and the offline head's fq_pos).
 */
export function visOptimizer(params: ParamMap, optim: OptimConfig, backbonePrefix: string): AdamW {
  const isBackbone = (name: string) => name.startsWith(backbonePrefix);
  const noDecay = (name: string, param: Parameters<typeof isNormOrBias>[1]) =>
    isNormOrBias(name, param) || /(^|\.)(query_feat|query_embed|level_embed|fq_pos)\./.test(name);
  return new AdamW(params, {
    lr: optim.lr,
    weightDecay: optim.weightDecay,
    groups: [
      {
        name: "backbone_no_decay",
        match: (n, p) => isBackbone(n) && noDecay(n, p),
        lrScale: optim.backboneLrScale,
        weightDecay: 0,
      },
      { name: "backbone", match: isBackbone, lrScale: optim.backboneLrScale },
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
