/**
 * A training task: what one kind of model brings to the one training loop (src/train/trainer.ts).
 * The loop owns the optimiser, the schedule, checkpoints, resume, validation and the log; a task owns
 * its model, its data and its loss. Online and offline VIS and distillation are tasks
 * (src/train/tasks/), registered in {@link TRAIN_TASKS}; the referring model will be one too.
 *
 * A task is built from plain options (a config, data paths, a seed), so that data-parallel workers can
 * each build the same task from the same options.
 */
import type { Rng } from "../core/rng.js";
import type { VisConfig } from "../models/config.js";
import type { ModelInfo, TrainedOn } from "../models/model-file.js";
import type { Module } from "../nn/module.js";
import type { DataSource, StepOutput } from "./trainer.js";
import type { VisSplitPaths } from "./vis-data.js";

/** What every task is built from (JSON-serialisable). */
export interface TaskOptions {
  config: VisConfig;
  /** The training split. */
  data: VisSplitPaths;
  /** Seed of the weights, the data order and every random choice. */
  seed: number;
  /** torchvision ResNet weights (safetensors) for the backbone. */
  backboneWeights?: string;
  /** A model file the task starts from (an online model: the offline task's segmenter, the distilled student). */
  init?: string;
  /** A model file the task learns from (distillation: the offline teacher). */
  teacher?: string;
  /** What the data is, recorded in the model file. */
  trainedOn?: TrainedOn;
}

/** One training task, ready to run. */
export interface TrainTask<Batch, M extends Module = Module> {
  /** The model file's info (kind, config with the data's classes, categories, provenance). */
  info: ModelInfo;
  model: M;
  data: DataSource<Batch>;
  /** Parameters under this prefix form the backbone's optimiser groups (backboneLrScale). */
  backbonePrefix: string;
  /** Forward + loss of one batch (inside tf.variableGrads); metrics are logged. */
  step(batch: Batch, rng: Rng, step: number): StepOutput;
  /**
   * Parameters that train with the model but are not part of it (the distillation projection): they
   * are optimised and checkpointed under TRAINING_ONLY_PREFIX, and left out of the model file.
   */
  trainingOnly?: Module;
  /** Extra JSON kept in checkpoints' run config (e.g. the init model file). */
  runConfig?: Record<string, unknown>;
  /** Frees what the task holds besides the model (the caller owns the model). */
  dispose?(): void;
}
