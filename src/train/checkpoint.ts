/**
 * Training checkpoints: one safetensors file per checkpoint, holding the weights (`model.<name>`), the
 * optimiser moments (`optim.exp_avg.<name>`, `optim.exp_avg_sq.<name>`) and, in the header's
 * `__metadata__`, the step, the RNG and data-iterator state, the optimiser step counts and the run config.
 *
 * Each file is written with writeFileAtomic (temp file + rename, via src/nn/safetensors.ts), so a
 * checkpoint is either complete or absent: a crash or a failed write mid-way leaves the previous
 * checkpoint as the latest one. Any safetensors reader can open the file (e.g. to take the `model.`
 * tensors).
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { VidsegError } from "../core/errors.js";
import { parseJson, showValue } from "../core/json.js";
import type { RngState } from "../core/rng.js";
import { loadSafetensors, saveSafetensors } from "../nn/safetensors.js";
import type { AdamWState } from "./optim.js";

/** What a checkpoint holds. A loaded checkpoint's tensors belong to the caller: see disposeCheckpoint. */
export interface CheckpointContent {
  /** Number of completed optimiser updates. */
  step: number;
  /** Parameters and buffers by name. */
  weights: Map<string, tf.Tensor>;
  /** Optimiser moments by key (`exp_avg.<name>`, `exp_avg_sq.<name>`) and per-parameter step counts. */
  optimizer?: AdamWState;
  rng?: RngState;
  /** The data iterator's position (JSON). */
  data?: unknown;
  /** The run's configuration (JSON), kept for reference and for resuming with the same settings. */
  config?: unknown;
  /** Seconds of training time so far, so that logged times continue across resumes. */
  elapsed?: number;
}

export const CHECKPOINT_FORMAT = "vidseg-checkpoint";
export const CHECKPOINT_VERSION = 1;
const CHECKPOINT_DIR = "checkpoints";
const CHECKPOINT_NAME = /^ckpt-(\d+)\.safetensors$/;

/** `<runDir>/checkpoints/ckpt-00000120.safetensors` */
export function checkpointPath(runDir: string, step: number): string {
  return join(runDir, CHECKPOINT_DIR, `ckpt-${String(step).padStart(8, "0")}.safetensors`);
}

/** The run's checkpoints, oldest first. Temporary files of unfinished writes are never listed. */
export async function listCheckpoints(runDir: string): Promise<{ step: number; path: string }[]> {
  const dir = join(runDir, CHECKPOINT_DIR);
  if (!existsSync(dir)) return [];
  const found: { step: number; path: string }[] = [];
  for (const name of await readdir(dir)) {
    const match = CHECKPOINT_NAME.exec(name);
    if (match) found.push({ step: Number(match[1]), path: join(dir, name) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The newest checkpoint of a run, if any. */
export async function latestCheckpoint(runDir: string): Promise<{ step: number; path: string } | undefined> {
  return (await listCheckpoints(runDir)).at(-1);
}

/** Deletes all but the newest `keep` checkpoints (at least one is always kept). */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<void> {
  const all = await listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep))))
    await rm(old.path, { force: true });
}

/** Writes a checkpoint atomically. */
export async function saveCheckpoint(path: string, content: CheckpointContent): Promise<void> {
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, tensor] of content.weights) tensors.set(`model.${name}`, tensor);
  for (const [key, tensor] of content.optimizer?.tensors ?? []) tensors.set(`optim.${key}`, tensor);
  const state = {
    step: content.step,
    optimizer_steps: content.optimizer?.steps,
    rng: content.rng,
    data: content.data,
    config: content.config,
    elapsed: content.elapsed,
  };
  const metadata = {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    step: String(content.step),
    state: JSON.stringify(state),
  };
  await saveSafetensors(path, tensors, metadata);
}

/** Reads a checkpoint written by {@link saveCheckpoint}; free its tensors with {@link disposeCheckpoint}. */
export async function loadCheckpoint(path: string): Promise<CheckpointContent> {
  if (!existsSync(path)) throw new VidsegError("checkpoint not found", path);
  const { tensors, metadata } = await loadSafetensors(path);
  try {
    return parseCheckpoint(tensors, metadata, path);
  } catch (error) {
    tf.dispose([...tensors.values()]);
    throw error;
  }
}

/** Frees the tensors of a loaded checkpoint. */
export function disposeCheckpoint(checkpoint: CheckpointContent): void {
  tf.dispose([...checkpoint.weights.values(), ...(checkpoint.optimizer?.tensors.values() ?? [])]);
}

function parseCheckpoint(
  tensors: Map<string, tf.Tensor>,
  metadata: Record<string, string>,
  path: string,
): CheckpointContent {
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new VidsegError(`not a ${CHECKPOINT_FORMAT} file`, path, "__metadata__.format");
  }
  if (Number(metadata.version) !== CHECKPOINT_VERSION) {
    throw new VidsegError(`unsupported checkpoint version ${metadata.version}`, path, "__metadata__.version");
  }
  const parsed = parseJson(metadata.state ?? "", path, "__metadata__.state");
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new VidsegError("checkpoint state must be a JSON object", path, "__metadata__.state");
  const state = parsed as {
    step?: unknown;
    optimizer_steps?: Record<string, number>;
    rng?: RngState;
    data?: unknown;
    config?: unknown;
    elapsed?: number;
  };
  const step = state.step;
  if (typeof step !== "number" || !Number.isInteger(step) || step < 0) {
    throw new VidsegError(`invalid step ${showValue(step)}`, path, "__metadata__.state.step");
  }
  const weights = new Map<string, tf.Tensor>();
  const optimizerTensors = new Map<string, tf.Tensor>();
  for (const [name, tensor] of tensors) {
    if (name.startsWith("model.")) weights.set(name.slice("model.".length), tensor);
    else if (name.startsWith("optim.")) optimizerTensors.set(name.slice("optim.".length), tensor);
    else throw new VidsegError("unexpected tensor (expected a model. or optim. prefix)", path, name);
  }
  if (!state.optimizer_steps) tf.dispose([...optimizerTensors.values()]);
  return {
    step,
    weights,
    optimizer: state.optimizer_steps
      ? { steps: state.optimizer_steps, tensors: optimizerTensors }
      : undefined,
    rng: state.rng,
    data: state.data,
    config: state.config,
    elapsed: state.elapsed,
  };
}

/** Writes plain weights (no prefix, no training state) as safetensors, e.g. the final model of a run. */
export async function saveWeights(path: string, weights: Map<string, tf.Tensor>): Promise<void> {
  await saveSafetensors(path, weights, { format: "pt" });
}
