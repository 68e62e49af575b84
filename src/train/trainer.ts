/**
 * The training loop shared by every model: seeded data → forward + loss → gradients → clipping → AdamW
 * with a scheduled learning rate, with a progress bar, JSONL logs, periodic validation, atomic
 * checkpoints, exact resume and a guard against non-finite losses.
 *
 * Determinism: the loop owns one seeded {@link Rng}; the data source and the step closure draw all their
 * randomness from it (use `rng.seed()` for tf ops that take a seed). Its state, the data source's position,
 * the weights and the optimiser moments are all in each checkpoint, so a resumed run continues exactly as
 * an uninterrupted one (bit-identical weights on the same backend).
 *
 * The update itself runs here (`step`) or elsewhere (`updater`: data-parallel workers,
 * src/train/parallel/); the loop, the schedule, logs, validation and checkpoints stay here either way.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { VidsegError } from "../core/errors.js";
import { showValue } from "../core/json.js";
import { writeFileAtomic } from "../core/fs.js";
import { Progress, type ProgressOptions } from "../core/progress.js";
import { Rng } from "../core/rng.js";
import {
  checkpointPath,
  disposeCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  pruneCheckpoints,
  removeInterruptedWrites,
  saveCheckpoint,
  saveWeights,
  type CheckpointContent,
} from "./checkpoint.js";
import { AdamW, clipByGlobalNorm, globalNorm, type GradMap, type ParamMap } from "./optim.js";
import type { Schedule } from "./schedule.js";

/** Where batches come from. Draw randomness only from `rng`; expose a JSON position for exact resume. */
export interface DataSource<B> {
  next(rng: Rng): B | Promise<B>;
  /** The iterator's position (JSON-serialisable), saved in checkpoints. */
  getState?(): unknown;
  setState?(state: unknown): void;
  /** Frees a batch after its step (e.g. disposes its tensors). */
  release?(batch: B): void;
}

/**
 * A data source whose batches data-parallel workers share (src/train/parallel/): the main thread draws
 * each batch as a plan (JSON: which samples, every random choice of the data, and a seed per sample for
 * the step's own random draws), splits it into shares of whole units, and each worker loads its share.
 * `next(rng)` is `load(draw(rng))`, so a batch is the same whoever loads it.
 */
export interface SharedDataSource<B, Plan = unknown> extends DataSource<B> {
  /** Units (frames, pairs of frames, clips) per batch: the most shares a batch splits into. */
  readonly unitsPerBatch: number;
  /** The next batch's plan; advances the position. Draws randomness only from `rng`. */
  draw(rng: Rng): Plan;
  /** The plan as `count` consecutive shares of whole units, as even as they go. */
  share(plan: Plan, count: number): Plan[];
  load(plan: Plan): Promise<B>;
}

/**
 * Splits `items` into `count` consecutive runs of whole units of `unit` items, as even as they go (runs
 * are empty where there are fewer units than runs).
 */
export function shareUnits<T>(items: readonly T[], unit: number, count: number): T[][] {
  const units = Math.floor(items.length / unit);
  return Array.from({ length: count }, (_, i) =>
    items.slice(Math.floor((i * units) / count) * unit, Math.floor(((i + 1) * units) / count) * unit),
  );
}

/**
 * Assigns items to `loads.length` shares, costliest first (ties by index), each to the share with the
 * least estimated work so far (`loads`, updated) among those under their `capacity`; returns each
 * share's item indices in ascending order. Deterministic in its arguments.
 */
export function assignBalanced(
  costs: readonly number[],
  loads: number[],
  capacity: readonly number[] = loads.map(() => Infinity),
): number[][] {
  const shares: number[][] = loads.map(() => []);
  const order = costs.map((_, i) => i).sort((a, b) => costs[b] - costs[a] || a - b);
  for (const item of order) {
    let best = -1;
    loads.forEach((load, s) => {
      if (shares[s].length < capacity[s] && (best < 0 || load < loads[best])) best = s;
    });
    if (best < 0) throw new VidsegError(`no room for item ${item} in ${loads.length} shares`);
    shares[best].push(item);
    loads[best] += costs[item];
  }
  return shares.map((share) => share.sort((a, b) => a - b));
}

/** What a step closure returns: the loss, or the loss and extra scalar metrics to log. */
export type StepOutput = tf.Scalar | { loss: tf.Scalar; metrics?: Record<string, tf.Scalar | number> };

export interface TrainerOptions<B> {
  /** Logs (`log.jsonl`), checkpoints (`checkpoints/`) and the final `weights.safetensors` go here. */
  runDir: string;
  /** The trainable parameters by name (e.g. `model.namedParameters()`). */
  params: ParamMap;
  /** Non-trainable state saved and restored with the weights (e.g. `model.namedBuffers()`). */
  buffers?: Map<string, tf.Tensor>;
  optimizer: AdamW;
  schedule: Schedule;
  totalSteps: number;
  data: DataSource<B>;
  /**
   * Forward + loss for one batch. Runs inside tf.variableGrads, so intermediate tensors are freed
   * automatically. `step` is the 0-based index of this update. Give this or `updater`.
   */
  step?: (batch: B, rng: Rng, step: number) => StepOutput;
  /** Computes and applies the updates elsewhere (e.g. data-parallel workers); `data` gives its batches. */
  updater?: Updater<B>;
  /** Seed of the run's RNG (default 0). */
  seed?: number;
  /** Clip gradients to this global L2 norm (off by default; the norm is logged either way). */
  clipNorm?: number;
  /** Write a checkpoint every N steps (always at the end). 0 = only at the end. Default 0. */
  checkpointEvery?: number;
  /** Checkpoints kept on disk, newest first (at least 1). Default 2. */
  keepCheckpoints?: number;
  /** Run `validate` every K steps (and at the end). */
  validateEvery?: number;
  /** Validation callback; its metrics go into the log as a `"type":"val"` line. */
  validate?: (step: number) => Record<string, number> | Promise<Record<string, number>>;
  /** Write a train line to the log every N steps (default 1). */
  logEvery?: number;
  /** Continue from the newest checkpoint in `runDir`, if there is one. */
  resume?: boolean;
  /** The run's configuration, stored in the log and in checkpoints. */
  config?: unknown;
  /** Progress display options, or false for none. */
  progress?: Partial<Omit<ProgressOptions, "total" | "start">> | false;
  /** Stop cleanly at the next step boundary (with a checkpoint), e.g. on Ctrl-C; resume later. */
  signal?: AbortSignal;
  /** Called after every step with the values that are logged (e.g. for tests or custom displays). */
  onStep?: (entry: StepLogEntry) => void;
  /** Told what the run worked around, e.g. resuming from an older checkpoint than the newest. */
  onWarning?: (message: string) => void;
}

/** What one update reports: the batch's loss, the gradient norm before clipping, metrics, phase times. */
export interface StepValues {
  loss: number;
  gradNorm: number;
  metrics: Record<string, number>;
  /** Milliseconds per phase of the step (e.g. load, compute, reduce, update), logged as `<phase>_ms`. */
  phases?: Record<string, number>;
}

/**
 * Updates computed outside the trainer's thread. The trainer's `params` and `optimizer` are then a copy
 * that `pull` makes current before checkpoints and validation, and that `push` sends out at the start.
 */
export interface Updater<B> {
  /**
   * The batch's gradients, clipped to `clipNorm`, and the AdamW step at learning rate `lr`, skipped when
   * the loss or the gradient norm is not finite (the trainer then stops with an error).
   */
  update(batch: B, lr: number, step: number): Promise<StepValues>;
  /** Copies the current weights and optimiser state into the trainer's `params` and `optimizer`. */
  pull(): Promise<void>;
  /** Sends the trainer's `params` and `optimizer` state to where the updates run. */
  push(): Promise<void>;
}

/** One train line of `log.jsonl`. */
export interface StepLogEntry {
  type: "train";
  /** Completed updates after this step (1 for the first). */
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  /** Seconds of training so far (continues across resumes). */
  time: number;
  step_ms: number;
  [metric: string]: number | string;
}

export interface TrainResult {
  /** Completed updates (equals totalSteps unless stopped by the signal). */
  step: number;
  /** The step this session started from (0, or the resumed checkpoint's step). */
  startStep: number;
  lastLoss: number;
  /** The newest checkpoint written. */
  checkpoint: string;
  /** The final weights (only written when the run completed). */
  weights?: string;
}

const LOG_FILE = "log.jsonl";
const WEIGHTS_FILE = "weights.safetensors";

/** Runs (or resumes) a training run; see {@link TrainerOptions}. */
export async function train<B>(options: TrainerOptions<B>): Promise<TrainResult> {
  const { runDir, params, optimizer, schedule, totalSteps, data } = options;
  validateOptions(options);
  await mkdir(runDir, { recursive: true });
  await removeInterruptedWrites(runDir);
  const logPath = join(runDir, LOG_FILE);
  const rng = new Rng(options.seed ?? 0);
  const weights = new Map<string, tf.Tensor>([...params, ...(options.buffers ?? [])]);
  const checkpointEvery = options.checkpointEvery ?? 0;
  const keep = options.keepCheckpoints ?? 2;
  const logEvery = options.logEvery ?? 1;

  let step = 0;
  let elapsedBefore = 0;
  let lastCheckpoint: string | undefined;
  let resumedFrom: number | undefined;
  const warnings: string[] = [];
  if (options.resume) {
    const latest = await newestReadableCheckpoint(runDir, (message) => warnings.push(message));
    if (latest) {
      const restored = restore(latest.path, latest.content, weights, optimizer, rng, data);
      step = restored.step;
      elapsedBefore = restored.elapsed;
      lastCheckpoint = latest.path;
      resumedFrom = step;
      if (step > totalSteps) {
        throw new VidsegError(`checkpoint is at step ${step}, beyond totalSteps ${totalSteps}`, latest.path);
      }
      await truncateLog(logPath, step);
    }
  }
  if (resumedFrom === undefined) await writeFileAtomic(logPath, ""); // a fresh run starts a fresh log
  await options.updater?.push();

  const appendLog = (entry: object) => appendFile(logPath, JSON.stringify(entry) + "\n");
  await appendLog({
    type: "start",
    step,
    total_steps: totalSteps,
    seed: options.seed ?? 0,
    resumed_from: resumedFrom ?? null,
    backend: tf.getBackend(),
    config: options.config ?? null,
  });
  for (const message of warnings) {
    options.onWarning?.(message);
    await appendLog({ type: "warning", step, message });
  }

  const progress =
    options.progress === false
      ? undefined
      : new Progress({ label: "train", ...options.progress, total: totalSteps, start: step });
  const sessionStart = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - sessionStart) / 1000;
  const writeCheckpoint = async () => {
    await options.updater?.pull();
    const path = checkpointPath(runDir, step);
    await saveCheckpoint(path, {
      step,
      weights,
      optimizer: optimizer.getState(),
      rng: rng.getState(),
      data: data.getState?.(),
      config: options.config,
      elapsed: elapsed(),
    });
    lastCheckpoint = path;
    await pruneCheckpoints(runDir, keep);
  };

  let lastLoss = Number.NaN;
  try {
    while (step < totalSteps && !options.signal?.aborted) {
      const stepStart = performance.now();
      const lr = schedule(step);
      const loadStart = performance.now();
      const batch = await data.next(rng);
      const loadMs = performance.now() - loadStart;
      const { loss, gradNorm, metrics, phases } = await (async () => {
        try {
          if (options.updater) return await options.updater.update(batch, lr, step);
          const values = computeAndApply(batch, lr);
          return { ...values, phases: { load: loadMs, ...values.phases } };
        } finally {
          data.release?.(batch);
        }
      })();
      const lastGood = lastCheckpoint
        ? `; last good checkpoint: ${lastCheckpoint}`
        : "; no checkpoint was written yet";
      if (!Number.isFinite(loss)) {
        throw new VidsegError(
          `non-finite loss (${loss}); the update was not applied${lastGood}`,
          runDir,
          `step ${step + 1}`,
        );
      }
      if (!Number.isFinite(gradNorm)) {
        throw new VidsegError(
          `non-finite gradient norm (${gradNorm}) with loss ${loss}; the update was not applied${lastGood}`,
          runDir,
          `step ${step + 1}`,
        );
      }
      step += 1;
      lastLoss = loss;
      const entry: StepLogEntry = {
        type: "train",
        step,
        loss,
        lr,
        grad_norm: gradNorm,
        time: round(elapsed(), 3),
        step_ms: round(performance.now() - stepStart, 2),
        ...Object.fromEntries(Object.entries(phases ?? {}).map(([name, ms]) => [`${name}_ms`, round(ms, 2)])),
        ...metrics,
      };
      if (step % logEvery === 0 || step === totalSteps) await appendLog(entry);
      options.onStep?.(entry);
      progress?.update(step, { loss, lr });

      if (
        options.validate &&
        (step === totalSteps || (options.validateEvery && step % options.validateEvery === 0))
      ) {
        await options.updater?.pull();
        const values = await options.validate(step);
        await appendLog({ type: "val", step, ...values });
        progress?.log(`val step ${step}: ${JSON.stringify(values)}`);
      }
      if (step === totalSteps || (checkpointEvery > 0 && step % checkpointEvery === 0))
        await writeCheckpoint();
    }
    // Stopped by the signal: save where we are, so the run resumes from here.
    if (step < totalSteps && lastCheckpointStep(lastCheckpoint) !== step) await writeCheckpoint();
  } catch (error) {
    await appendLog({ type: "error", step: step + 1, message: (error as Error).message }).catch(
      () => undefined,
    );
    throw error;
  } finally {
    progress?.stop();
  }

  let weightsPath: string | undefined;
  if (step === totalSteps) {
    weightsPath = join(runDir, WEIGHTS_FILE);
    await saveWeights(weightsPath, weights);
  }
  return { step, startStep: resumedFrom ?? 0, lastLoss, checkpoint: lastCheckpoint!, weights: weightsPath };

  /**
   * Forward + backward, clipping and the optimiser update for one batch (not applied when the loss or
   * the gradient norm is not finite), with the time of each phase.
   */
  function computeAndApply(batch: B, lr: number): StepValues {
    const computeStart = performance.now();
    const { loss, grads, metrics } = computeGradients(() => options.step!(batch, rng, step), params);
    const updateStart = performance.now();
    const clipped = options.clipNorm ? clipByGlobalNorm(grads, options.clipNorm) : undefined;
    const norm = clipped?.norm ?? globalNorm(grads.values());
    try {
      const gradNorm = norm.dataSync()[0];
      if (Number.isFinite(loss) && Number.isFinite(gradNorm)) optimizer.step(clipped?.grads ?? grads, lr);
      const phases = { compute: updateStart - computeStart, update: performance.now() - updateStart };
      return { loss, gradNorm, metrics, phases };
    } finally {
      tf.dispose([norm, ...grads.values(), ...(clipped ? clipped.grads.values() : [])]);
    }
  }
}

/**
 * The loss, its gradients (by parameter name; parameters the loss does not reach have none) and the
 * metrics of one step closure: one backend read for the loss and the metrics.
 */
export function computeGradients(
  step: () => StepOutput,
  params: ParamMap,
): { loss: number; grads: GradMap; metrics: Record<string, number> } {
  const variableNames = new Map([...params].map(([name, variable]) => [variable.name, name]));
  const metricTensors: Record<string, tf.Scalar> = {};
  const metrics: Record<string, number> = {};
  try {
    const { value, grads } = tf.variableGrads(() => {
      const output = step();
      if (output instanceof tf.Tensor) return output;
      for (const [name, metric] of Object.entries(output.metrics ?? {})) {
        if (typeof metric === "number") metrics[name] = metric;
        else metricTensors[name] = tf.keep(metric);
      }
      return output.loss;
    }, [...params.values()]);
    const names = Object.keys(metricTensors);
    const values = tf.tidy(() => tf.stack([value, ...names.map((name) => metricTensors[name])]).dataSync());
    value.dispose();
    names.forEach((name, i) => (metrics[name] = values[1 + i]));
    return {
      loss: values[0],
      grads: new Map(Object.entries(grads).map(([v, g]) => [variableNames.get(v)!, g])),
      metrics,
    };
  } finally {
    tf.dispose(Object.values(metricTensors));
  }
}

/**
 * The newest checkpoint that loads, and its content. A newer one that does not (cut short by a power
 * loss, damaged on disk) is renamed to `<name>.unreadable`, so that it is no longer listed, and `warn`
 * says so; if none loads, the newest one's error is thrown.
 */
async function newestReadableCheckpoint(
  runDir: string,
  warn: (message: string) => void,
): Promise<{ path: string; content: CheckpointContent } | undefined> {
  const unreadable: { path: string; error: VidsegError }[] = [];
  for (const { path } of (await listCheckpoints(runDir)).reverse()) {
    let content: CheckpointContent;
    try {
      content = await loadCheckpoint(path);
    } catch (error) {
      if (!(error instanceof VidsegError)) throw error;
      unreadable.push({ path, error });
      continue;
    }
    for (const bad of unreadable) {
      await rename(bad.path, `${bad.path}.unreadable`);
      warn(
        `${bad.error.message}: moved to ${bad.path}.unreadable; resuming from the previous complete ` +
          `checkpoint ${path}`,
      );
    }
    return { path, content };
  }
  if (unreadable.length > 0) throw unreadable[0].error;
  return undefined;
}

/** Restores weights, optimiser, RNG and data position from a loaded checkpoint (then freed). */
function restore<B>(
  path: string,
  checkpoint: CheckpointContent,
  weights: Map<string, tf.Tensor>,
  optimizer: AdamW,
  rng: Rng,
  data: DataSource<B>,
): { step: number; elapsed: number } {
  try {
    const missing = [...weights.keys()].filter((name) => !checkpoint.weights.has(name));
    const unexpected = [...checkpoint.weights.keys()].filter((name) => !weights.has(name));
    if (missing.length > 0 || unexpected.length > 0) {
      const list = (names: string[]) => names.slice(0, 5).join(", ") + (names.length > 5 ? ", ..." : "");
      throw new VidsegError(
        `checkpoint does not match the model (missing: ${list(missing) || "none"}; unexpected: ${list(unexpected) || "none"})`,
        path,
      );
    }
    for (const [name, saved] of checkpoint.weights) {
      const target = weights.get(name)!;
      if (!tf.util.arraysEqual(saved.shape, target.shape)) {
        throw new VidsegError(
          `shape [${saved.shape}] does not match the model's [${target.shape}]`,
          path,
          `model.${name}`,
        );
      }
      if (!(target instanceof tf.Variable))
        throw new VidsegError("weights must be tf.Variables to be restored", path, name);
    }
    // Everything checked: now assign (optimiser state validates itself before it assigns anything).
    if (checkpoint.optimizer) optimizer.setState(checkpoint.optimizer, path);
    for (const [name, tensor] of checkpoint.weights) {
      const target = weights.get(name) as tf.Variable;
      tf.tidy(() => target.assign(tensor.dtype === target.dtype ? tensor : tensor.asType(target.dtype)));
    }
  } finally {
    disposeCheckpoint(checkpoint);
  }
  if (checkpoint.rng) rng.setState(checkpoint.rng);
  if (checkpoint.data !== undefined && data.setState) data.setState(checkpoint.data);
  return { step: checkpoint.step, elapsed: checkpoint.elapsed ?? 0 };
}

/** Drops log lines past the resumed step (written after the checkpoint by the interrupted session). */
async function truncateLog(logPath: string, step: number): Promise<void> {
  if (!existsSync(logPath)) return;
  const lines = (await readFile(logPath, "utf8")).split("\n").filter((line) => line.trim() !== "");
  const kept = lines.filter((line) => {
    try {
      const entry = JSON.parse(line) as { step?: number; type?: string };
      return entry.type === "start" ? entry.step! <= step : (entry.step ?? 0) <= step;
    } catch {
      return false; // a torn last line from a crash
    }
  });
  await writeFileAtomic(logPath, kept.map((line) => line + "\n").join(""));
}

function lastCheckpointStep(path: string | undefined): number | undefined {
  const match = path ? /ckpt-(\d+)\.safetensors$/.exec(path) : null;
  return match ? Number(match[1]) : undefined;
}

function validateOptions<B>(options: TrainerOptions<B>): void {
  const positiveInteger = (value: number | undefined, name: string, allowZero = false) => {
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
      throw new VidsegError(
        `${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got ${value}`,
      );
    }
  };
  positiveInteger(options.totalSteps, "totalSteps");
  positiveInteger(options.checkpointEvery, "checkpointEvery", true);
  positiveInteger(options.keepCheckpoints, "keepCheckpoints");
  positiveInteger(options.validateEvery, "validateEvery");
  positiveInteger(options.logEvery, "logEvery");
  if (options.params.size === 0) throw new VidsegError("no parameters to train");
  if ((options.step === undefined) === (options.updater === undefined))
    throw new VidsegError("give the trainer either a step function or an updater");
  for (const name of options.params.keys()) {
    if (options.buffers?.has(name)) throw new VidsegError(`"${name}" is both a parameter and a buffer`);
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * A resumable sampler over `size` items: a fresh seeded permutation each epoch, handed out in batches
 * of indices. Its position is part of the checkpoint, and the permutation of epoch e depends only on
 * (seed, e), so a resumed run sees exactly the same batches.
 *
 * With `repeatFactors` (LVIS repeat-factor sampling), item i appears ⌊rᵢ⌋ times in an epoch, plus once
 * more with probability rᵢ − ⌊rᵢ⌋ (drawn from the epoch's seed), so rare classes are seen more often.
 */
export class EpochSampler {
  private epoch = 0;
  private cursor = 0;
  private order: number[];

  constructor(
    readonly size: number,
    readonly batchSize: number,
    readonly seed = 0,
    private readonly repeatFactors?: readonly number[],
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new VidsegError(`sampler size must be a positive integer, got ${size}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new VidsegError(`batch size must be a positive integer, got ${batchSize}`);
    }
    if (repeatFactors && (repeatFactors.length !== size || !repeatFactors.every((r) => r >= 1))) {
      throw new VidsegError(`repeat factors must be ${size} numbers ≥ 1`);
    }
    this.order = this.permutation(0);
  }

  /** The next batch of indices; wraps into a new epoch (batches may span two epochs). */
  nextIndices(): number[] {
    const out: number[] = [];
    while (out.length < this.batchSize) {
      if (this.cursor === this.order.length) {
        this.epoch += 1;
        this.cursor = 0;
        this.order = this.permutation(this.epoch);
      }
      out.push(this.order[this.cursor++]);
    }
    return out;
  }

  getState(): { epoch: number; cursor: number } {
    return { epoch: this.epoch, cursor: this.cursor };
  }

  setState(state: unknown): void {
    const { epoch, cursor } = (state ?? {}) as { epoch?: unknown; cursor?: unknown };
    const order = Number.isInteger(epoch) && (epoch as number) >= 0 ? this.permutation(epoch as number) : [];
    if (!Number.isInteger(cursor) || (cursor as number) < 0 || (cursor as number) > order.length) {
      throw new VidsegError(`invalid sampler state ${showValue(state)}`);
    }
    this.epoch = epoch as number;
    this.cursor = cursor as number;
    this.order = order;
  }

  private permutation(epoch: number): number[] {
    const rng = new Rng(this.seed * 1_000_003 + epoch);
    if (!this.repeatFactors) return rng.permutation(this.size);
    const items: number[] = [];
    this.repeatFactors.forEach((r, i) => {
      const copies = Math.floor(r) + (rng.uniform() < r - Math.floor(r) ? 1 : 0);
      for (let c = 0; c < copies; c++) items.push(i);
    });
    return rng.permutation(items.length).map((k) => items[k]);
  }
}
