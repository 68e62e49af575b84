/**
 * Training checkpoints: one safetensors file per checkpoint, holding the weights (`model.<name>`), the
 * optimiser moments (`optim.exp_avg.<name>`, `optim.exp_avg_sq.<name>`) and, in the header's
 * `__metadata__`, the step, the RNG and data-iterator state, the optimiser step counts and the run config.
 *
 * Each file is written with writeFileAtomic (temp file + rename), so a checkpoint is either complete or
 * absent: a crash or a failed write mid-way leaves the previous checkpoint as the latest one. Any
 * safetensors reader can open the file (e.g. to take the `model.` tensors).
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { VidsegError } from "../core/errors.js";
import { writeFileAtomic } from "../core/fs.js";
import type { RngState } from "../core/rng.js";
import type { AdamWState } from "./optim.js";

/** A tensor's values on the host, as stored in a checkpoint. */
export interface HostTensor {
  dtype: "float32" | "int32";
  shape: number[];
  data: Float32Array | Int32Array;
}

/** What a checkpoint holds. Tensors may be live tf tensors (when saving) or host arrays (when loaded). */
export interface CheckpointContent<T = tf.Tensor | HostTensor> {
  /** Number of completed optimiser updates. */
  step: number;
  /** Parameters and buffers by name. */
  weights: Map<string, T>;
  /** Optimiser moments by key (`exp_avg.<name>`, `exp_avg_sq.<name>`) and per-parameter step counts. */
  optimizer?: { steps: Record<string, number>; tensors: Map<string, T> };
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
  const tensors = new Map<string, HostTensor>();
  for (const [name, tensor] of content.weights) tensors.set(`model.${name}`, await toHost(tensor, name));
  for (const [key, tensor] of content.optimizer?.tensors ?? [])
    tensors.set(`optim.${key}`, await toHost(tensor, key));
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
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Reads a checkpoint written by {@link saveCheckpoint}; tensors come back as host arrays. */
export async function loadCheckpoint(path: string): Promise<CheckpointContent<HostTensor>> {
  if (!existsSync(path)) throw new VidsegError("checkpoint not found", path);
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(await readFile(path)), path);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new VidsegError(`not a ${CHECKPOINT_FORMAT} file`, path, "__metadata__.format");
  }
  if (Number(metadata.version) !== CHECKPOINT_VERSION) {
    throw new VidsegError(`unsupported checkpoint version ${metadata.version}`, path, "__metadata__.version");
  }
  let state: {
    step?: unknown;
    optimizer_steps?: Record<string, number>;
    rng?: RngState;
    data?: unknown;
    config?: unknown;
    elapsed?: number;
  };
  try {
    state = JSON.parse(metadata.state ?? "");
  } catch {
    throw new VidsegError("malformed checkpoint state JSON", path, "__metadata__.state");
  }
  const step = state.step;
  if (typeof step !== "number" || !Number.isInteger(step) || step < 0) {
    throw new VidsegError(`invalid step ${JSON.stringify(step)}`, path, "__metadata__.state.step");
  }
  const weights = new Map<string, HostTensor>();
  const optimizerTensors = new Map<string, HostTensor>();
  for (const [name, tensor] of tensors) {
    if (name.startsWith("model.")) weights.set(name.slice("model.".length), tensor);
    else if (name.startsWith("optim.")) optimizerTensors.set(name.slice("optim.".length), tensor);
    else throw new VidsegError("unexpected tensor (expected a model. or optim. prefix)", path, name);
  }
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
  const tensors = new Map<string, HostTensor>();
  for (const [name, tensor] of weights) tensors.set(name, await toHost(tensor, name));
  await writeFileAtomic(path, encodeSafetensors(tensors, { format: "pt" }));
}

/** Host arrays as tf tensors (the caller disposes them). */
export function toTensors(host: Map<string, HostTensor>): Map<string, tf.Tensor> {
  return new Map([...host].map(([name, t]) => [name, tf.tensor(t.data, t.shape, t.dtype)]));
}

/** An OptimizerState-shaped view of loaded optimiser data, with tf tensors the caller disposes. */
export function toOptimizerState(saved: NonNullable<CheckpointContent<HostTensor>["optimizer"]>): AdamWState {
  return { steps: saved.steps, tensors: toTensors(saved.tensors) };
}

async function toHost(tensor: tf.Tensor | HostTensor, name: string): Promise<HostTensor> {
  if (!(tensor instanceof tf.Tensor)) return tensor;
  if (tensor.dtype !== "float32" && tensor.dtype !== "int32") {
    throw new VidsegError(`cannot checkpoint dtype ${tensor.dtype}`, undefined, name);
  }
  const data = await tensor.data();
  return { dtype: tensor.dtype, shape: [...tensor.shape], data: data as Float32Array | Int32Array };
}

// --- safetensors -------------------------------------------------------------------------------------
// The format: an 8-byte little-endian header length N, N bytes of JSON header (name → dtype, shape,
// data_offsets into the data section; optional "__metadata__" of string → string), then raw
// little-endian data. Kept here, small, for checkpoints; tensor I/O for models lives in src/nn.

const SAFETENSORS_DTYPES = { float32: "F32", int32: "I32" } as const;
const MAX_HEADER_BYTES = 100_000_000;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new VidsegError("big-endian platforms are not supported (safetensors data is little-endian)");
}

export function encodeSafetensors(
  tensors: Map<string, HostTensor>,
  metadata: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    if (size !== tensor.data.length) {
      throw new VidsegError(
        `shape [${tensor.shape}] does not match ${tensor.data.length} values`,
        undefined,
        name,
      );
    }
    header[name] = {
      dtype: SAFETENSORS_DTYPES[tensor.dtype],
      shape: tensor.shape,
      data_offsets: [offset, offset + tensor.data.byteLength],
    };
    offset += tensor.data.byteLength;
  }
  let headerText = JSON.stringify(header);
  headerText += " ".repeat((8 - (Buffer.byteLength(headerText) % 8)) % 8); // keep data 8-byte aligned
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const tensor of tensors.values()) {
    out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), position);
    position += tensor.data.byteLength;
  }
  return out;
}

export function decodeSafetensors(
  bytes: Uint8Array,
  file?: string,
): { tensors: Map<string, HostTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new VidsegError("truncated safetensors file (no header length)", file);
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    throw new VidsegError(`truncated or corrupt safetensors file (header length ${headerLength})`, file);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new VidsegError("malformed safetensors header JSON", file);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const {
      dtype,
      shape,
      data_offsets: offsets,
    } = entry as { dtype: string; shape: number[]; data_offsets: number[] };
    const type = dtype === "F32" ? "float32" : dtype === "I32" ? "int32" : undefined;
    if (!type) throw new VidsegError(`unsupported dtype ${dtype}`, file, name);
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offsets ?? [];
    if (!(begin >= 0 && end <= dataLength && end - begin === count * 4)) {
      throw new VidsegError(
        `data_offsets [${offsets}] do not fit shape [${shape}] and the file size`,
        file,
        name,
      );
    }
    // Copy out, so the array is aligned and independent of the file buffer.
    const raw = bytes.slice(dataStart + begin, dataStart + end).buffer;
    tensors.set(name, {
      dtype: type,
      shape,
      data: type === "float32" ? new Float32Array(raw) : new Int32Array(raw),
    });
  }
  return { tensors, metadata };
}
