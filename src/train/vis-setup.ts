/**
 * What the online and offline VIS trainers share: the AdamW parameter groups, the learning-rate
 * schedule, the model file's name and running validation in eval mode.
 */
import type { OptimConfig, VisConfig } from "../models/config.js";
import type { VisModelInfo } from "../models/online.js";
import type { Module } from "../nn/module.js";
import { AdamW, isNormOrBias, type ParamMap } from "./optim.js";
import { cosineLr, withWarmup, type Schedule } from "./schedule.js";
import type { StepLogEntry, TrainerOptions } from "./trainer.js";
import type { VisSplitPaths } from "./vis-data.js";

/** The model file a completed run writes into its folder (what the segmenters' `load` read). */
export const MODEL_FILE = "model.safetensors";

/** What the online and offline VIS trainers both take; `M` is the model `validate` receives. */
export interface VisTrainOptions<M> {
  config: VisConfig;
  /** The training split. */
  data: VisSplitPaths;
  runDir: string;
  resume?: boolean;
  /** Seed of the weights, the data order and every random choice. Default 0. */
  seed?: number;
  /** torchvision ResNet weights (safetensors) for the backbone. */
  backboneWeights?: string;
  /** Called every `validateEvery` steps and at the end with the model in eval mode. */
  validate?: (
    model: M,
    info: VisModelInfo,
    step: number,
  ) => Record<string, number> | Promise<Record<string, number>>;
  validateEvery?: number;
  checkpointEvery?: number;
  progress?: TrainerOptions<unknown>["progress"];
  signal?: AbortSignal;
  onStep?: (entry: StepLogEntry) => void;
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
