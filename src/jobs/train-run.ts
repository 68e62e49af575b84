/**
 * What every training job shares: the run options of a `vidseg train …` command (run folder, resume,
 * seed, steps, validation cadence, checkpoints, workers, progress, callbacks), the config they start
 * from, and their translation into the trainer's run options. The jobs add their data and validation.
 */
import { join } from "node:path";
import type { VisConfig } from "../models/config.js";
import { loadVisConfig } from "../models/config-file.js";
import type { RunOptions, TrainModelResult } from "../train/run.js";
import type { StepLogEntry } from "../train/trainer.js";

export interface TrainRunOptions {
  /** A preset name, a config file, or a config. Default "cpu-small". */
  config?: string | VisConfig;
  /** Run folder. */
  out: string;
  resume?: boolean;
  /** Default 0. */
  seed?: number;
  /** Overrides the config's total steps. */
  steps?: number;
  /** torchvision ResNet weights (safetensors) for the backbone. */
  backboneWeights?: string;
  /** Split evaluated during training, when the root has it. Default "valid"; false: none. */
  valSplit?: string | false;
  /** Validate every n steps (and at the end). */
  valEvery?: number;
  /** Evaluate only the first n validation videos. */
  valVideos?: number;
  /** Default 500. */
  checkpointEvery?: number;
  /** Data-parallel worker threads; default: the cores, capped by a batch's units (src/train/run.ts). */
  workers?: number;
  /** Progress bar options for the trainer, or false for none. */
  progress?: false | { silent?: boolean };
  signal?: AbortSignal;
  onStep?: (entry: StepLogEntry) => void;
  /** Told what the run worked around (e.g. an unreadable newest checkpoint on --resume). */
  onWarning?: (message: string) => void;
}

/** What a training job returns (and `vidseg train … --json` prints). */
export interface TrainRunSummary {
  step: number;
  last_loss: number;
  model: string | null;
  checkpoint: string;
  plot: string;
}

/** The run's config: the given one (copied), or the preset or file it names, with `steps` applied. */
export async function runConfig(options: TrainRunOptions): Promise<VisConfig> {
  const config =
    typeof options.config === "object"
      ? structuredClone(options.config)
      : await loadVisConfig(options.config ?? "cpu-small");
  if (options.steps !== undefined) config.optim.totalSteps = options.steps;
  return config;
}

/** The trainer's run options (and the seed and backbone weights) for a job's options. */
export function runSettings(options: TrainRunOptions) {
  return {
    runDir: options.out,
    resume: options.resume,
    seed: options.seed,
    backboneWeights: options.backboneWeights,
    validateEvery: options.valEvery,
    checkpointEvery: options.checkpointEvery,
    workers: options.workers,
    progress: options.progress,
    signal: options.signal,
    onStep: options.onStep,
    onWarning: options.onWarning,
  } satisfies Omit<RunOptions<unknown>, "validate"> & { seed?: number; backboneWeights?: string };
}

/** The job's summary of a finished (or stopped) run; the model is disposed. */
export function runSummary(result: TrainModelResult<{ dispose(): void }>, options: TrainRunOptions) {
  result.model.dispose();
  return {
    step: result.step,
    last_loss: result.lastLoss,
    model: result.modelFile ?? null,
    checkpoint: result.checkpoint,
    plot: join(options.out, "plot.html"),
  } satisfies TrainRunSummary;
}
