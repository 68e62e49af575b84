/**
 * A training task: what one kind of model brings to the one training loop (src/train/trainer.ts).
 * The loop owns the optimiser, the schedule, checkpoints, resume, validation and the log; a task owns
 * its model, its data and its loss. Online and offline VIS, distillation and the referring model are
 * tasks (src/train/tasks/), registered in {@link TRAIN_TASKS}.
 *
 * A task is built from plain options (a config, data paths, a seed), so that data-parallel workers can
 * each build the same task from the same options (src/train/parallel/). Each worker then computes the
 * step on its share of the batch: the task draws its random numbers from the batch's per-sample seeds
 * (never from a stream shared by the batch) and takes every normaliser that spans the batch from
 * `shares` (src/models/batch-shares.ts), so that the workers' gradients add up to the whole batch's.
 */
import type { BatchShares } from "../models/batch-shares.js";
import type { VisConfig } from "../models/config.js";
import { VidsegError } from "../core/errors.js";
import {
  disposeModelFile,
  readModelFile,
  type ModelFile,
  type ModelInfo,
  type TrainedOn,
} from "../models/model-file.js";
import { buildModel, type ModelKindName, type ModelOf } from "../models/registry.js";
import { seedParameters } from "../nn/init.js";
import type { Module } from "../nn/module.js";
import type { SharedDataSource, StepOutput } from "./trainer.js";
import type { VisSplitPaths } from "./vis-data.js";

/** What every task is built from (JSON-serialisable). */
export interface TaskOptions {
  config: VisConfig;
  /** The training split. */
  data: VisSplitPaths;
  /** A second training split mixed into the batches (the referring task's pseudo-videos, refer.pseudoRatio). */
  pseudo?: VisSplitPaths;
  /** Seed of the weights, the data order and every random choice. */
  seed: number;
  /** torchvision ResNet weights (safetensors) for the backbone. */
  backboneWeights?: string;
  /** A model file the task starts from (an online model: the offline task's segmenter, the distilled student; an offline model: continued). */
  init?: string;
  /**
   * A vidseg model file whose backbone (its `backbone.*` weights) the model starts from, frozen: e.g.
   * the online VIS model's, trained on the same kind of frames (the referring task).
   */
  backboneFrom?: string;
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
  data: SharedDataSource<Batch>;
  /** Parameters under this prefix form the backbone's optimiser groups (backboneLrScale). */
  backbonePrefix: string;
  /**
   * Forward + loss of a batch, or of a share of one (inside tf.variableGrads); metrics are logged. The
   * loss and every metric must be sums over samples with batch-wide normalisers, so that the shares'
   * values add up to the batch's.
   */
  step(batch: Batch, shares: BatchShares, step: number): StepOutput;
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

/**
 * A task's model, built the same way by every task and in every worker: the parameters drawn from the
 * run's seed, then `start` loads what the model starts from (a model file, torchvision weights); the
 * model is disposed if that fails.
 */
export async function buildTaskModel<K extends ModelKindName>(
  info: ModelInfo & { kind: K },
  seed: number,
  start?: (model: ModelOf<K>) => unknown,
): Promise<ModelOf<K>> {
  seedParameters(seed);
  const model = buildModel(info);
  try {
    await start?.(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/**
 * The info of a task's model file: its kind, config and categories, and what it was trained on — with
 * an `--init` model, this run's data and then everything the init model was trained on.
 */
export function taskModelInfo<K extends ModelKindName>(
  kind: K,
  config: VisConfig,
  categories: Pick<ModelInfo, "categoryIds" | "categoryNames" | "vocabulary">,
  options: Pick<TaskOptions, "trainedOn">,
  init?: ModelFile,
): ModelInfo & { kind: K } {
  const trainedOn = continuedTrainedOn(options.trainedOn, init);
  return { kind, config, ...categories, ...(trainedOn ? { trainedOn } : {}) };
}

/** A continued model's data: the run's, then the init model's; synthetic only when both are. */
function continuedTrainedOn(run: TrainedOn | undefined, init: ModelFile | undefined): TrainedOn | undefined {
  if (!run || !init) return run;
  const before = init.info.trainedOn;
  // A start whose data is not recorded may have seen real footage.
  if (!before)
    return { data: `${run.data}, continuing a model whose data is not recorded`, synthetic: false };
  return {
    data: `${run.data}, continuing a model trained on ${before.data}`,
    synthetic: run.synthetic && before.synthetic,
  };
}

/** Refuses options that give the model more than one start: an init model, backbone weights, a backbone model file. */
export function checkOneStart(options: TaskOptions): void {
  const starts = [options.init, options.backboneWeights, options.backboneFrom].filter((s) => s !== undefined);
  if (starts.length > 1)
    throw new VidsegError(
      "give one of an init model, backbone weights and a backbone model file, not several",
      starts[0],
      "init",
    );
}

/** Builds a task with its `--init` model file read (if one is given), released once the task is built. */
export async function withInitModel<T>(
  options: TaskOptions,
  build: (init: ModelFile | undefined) => Promise<T>,
): Promise<T> {
  checkOneStart(options);
  const init = options.init ? await readModelFile(options.init) : undefined;
  try {
    return await build(init);
  } finally {
    if (init) disposeModelFile(init);
  }
}
