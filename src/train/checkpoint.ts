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
import type * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { readBytes } from "../core/bytes.js";
import { VidsegError } from "../core/errors.js";
import { removeTempFiles, writeFileAtomic } from "../core/fs.js";
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  decodeCheckpoint,
  disposeCheckpoint,
  encodeCheckpoint,
  encodeModelFile,
  type CheckpointContent,
  type ModelInfo,
} from "../models/model-file.js";
import { saveSafetensors } from "../nn/safetensors-file.js";

export type { CheckpointContent };
export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, disposeCheckpoint };

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

/**
 * Deletes the temporary files that writes killed mid-way left in a run folder and its checkpoints (the
 * run's own files; call it when the run starts, before anything writes there).
 */
export async function removeInterruptedWrites(runDir: string): Promise<void> {
  await removeTempFiles(runDir);
  await removeTempFiles(join(runDir, CHECKPOINT_DIR));
}

/** Deletes all but the newest `keep` checkpoints (at least one is always kept). */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<void> {
  const all = await listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep))))
    await rm(old.path, { force: true });
}

/** Writes a checkpoint atomically. */
export async function saveCheckpoint(path: string, content: CheckpointContent): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(content));
}

/** Reads a checkpoint written by {@link saveCheckpoint}; free its tensors with disposeCheckpoint. */
export async function loadCheckpoint(path: string): Promise<CheckpointContent> {
  if (!existsSync(path)) throw new VidsegError("checkpoint not found", path);
  return decodeCheckpoint(await readBytes(path), path);
}

/** Writes plain weights (no prefix, no training state) as safetensors, e.g. the final model of a run. */
export async function saveWeights(path: string, weights: Map<string, tf.Tensor>): Promise<void> {
  await saveSafetensors(path, weights, { format: "pt" });
}

/** Writes a model file (src/models/model-file.ts) atomically. */
export async function saveModelFile(
  path: string,
  weights: ReadonlyMap<string, tf.Tensor>,
  info: ModelInfo,
): Promise<void> {
  await writeFileAtomic(path, encodeModelFile(weights, info));
}
