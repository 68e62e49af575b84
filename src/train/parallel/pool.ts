/**
 * Data-parallel training on the main thread's side: N worker threads (src/train/parallel/worker.ts),
 * each with its own TensorFlow.js runtime, build the task from the same TaskOptions; the trainer's loop
 * stays on the main thread and hands each step's plan, split into shares, to the pool. The pool is the
 * trainer's {@link Updater}: the workers sum their gradients and apply the AdamW step in shared memory
 * (src/train/parallel/shared.ts); `pull` copies the weights and optimiser state from there into the
 * main thread's model and optimiser (checkpoints, validation), `push` the other way (start, resume).
 *
 * A worker that throws or dies stops the run: the other workers are woken from their barriers, the
 * pending step rejects with one VidsegError naming the worker and its error, and `close` terminates
 * every thread.
 */
import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { VidsegError } from "../../core/errors.js";
import type { AdamW, ParamMap } from "../optim.js";
import type { TrainTaskName } from "../run.js";
import type { TaskOptions } from "../task.js";
import type { StepValues, Updater } from "../trainer.js";
import {
  abortWorkers,
  allocateShared,
  paramLayout,
  stepsDone,
  type ParamLayout,
  type SharedMemory,
  type UpdateMode,
} from "./shared.js";
import type { FromWorker, ToWorker, WorkerInit } from "./worker.js";

export interface PoolOptions {
  /** The task (TRAIN_TASKS) every worker builds, from the options the main thread's task was built from. */
  task: TrainTaskName;
  taskOptions: TaskOptions;
  workers: number;
  /** The main thread's parameters (layout order), buffers and optimiser: the copy checkpoints read. */
  params: ParamMap;
  buffers: Map<string, tf.Tensor>;
  optimizer: AdamW;
  clipNorm?: number;
  /** Default "sharded". */
  mode?: UpdateMode;
}

interface Pending {
  expect: FromWorker["type"];
  replies: FromWorker[];
  resolve: (replies: FromWorker[]) => void;
  reject: (error: Error) => void;
}

export class WorkerPool implements Updater<unknown[]> {
  private readonly threads: Worker[] = [];
  private readonly layout: ParamLayout;
  private readonly memory: SharedMemory;
  private pending: Pending | undefined;
  private failure: VidsegError | undefined;
  private closed = false;

  private constructor(private readonly options: PoolOptions) {
    this.layout = paramLayout(options.params);
    this.memory = allocateShared(options.workers, this.layout.total, this.layout.names.length);
  }

  /** Starts the workers and waits until each has built its task (same parameters as the main thread's). */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      await pool.spawn();
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  get workers(): number {
    return this.options.workers;
  }

  async update(shares: unknown[], lr: number, step: number): Promise<StepValues> {
    const replies = await this.request((rank) => ({ type: "step", step, lr, plan: shares[rank] }), "done");
    const done = replies as Extract<FromWorker, { type: "done" }>[];
    // Every worker computed the same loss and norm; the metrics are this worker's share, summed here in rank order.
    const metrics: Record<string, number> = {};
    for (const reply of done)
      for (const [name, value] of Object.entries(reply.metrics)) metrics[name] = (metrics[name] ?? 0) + value;
    // Phase times: the mean over the workers; `cpu`: the busiest worker thread's CPU time.
    const phases: Record<string, number> = {};
    for (const reply of done)
      for (const [name, ms] of Object.entries(reply.phases))
        phases[name] =
          name === "cpu" ? Math.max(phases[name] ?? 0, ms) : (phases[name] ?? 0) + ms / done.length;
    return { loss: done[0].loss, gradNorm: done[0].gradNorm, metrics, phases };
  }

  async pull(): Promise<void> {
    this.throwIfFailed();
    stepsDone(this.memory); // an atomic read: the workers' writes before their last step's end are visible
    const { names, shapes, offsets, sizes } = this.layout;
    const { params, optimizer } = this.options;
    const [weights, expAvg, expAvgSq] = [this.memory.weights, this.memory.expAvg, this.memory.expAvgSq].map(
      (buffer) => new Float32Array(buffer),
    );
    const stepCounts = new Int32Array(this.memory.stepCounts);
    const slice = (array: Float32Array, i: number) =>
      tf.tensor(array.slice(offsets[i], offsets[i] + sizes[i]), shapes[i]);
    const steps: Record<string, number> = {};
    const tensors = new Map<string, tf.Tensor>();
    names.forEach((name, i) => {
      tf.tidy(() => params.get(name)!.assign(slice(weights, i)));
      if (stepCounts[i] === 0) return;
      steps[name] = stepCounts[i];
      tensors.set(`exp_avg.${name}`, slice(expAvg, i));
      tensors.set(`exp_avg_sq.${name}`, slice(expAvgSq, i));
    });
    try {
      optimizer.setState({ steps, tensors });
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }

  async push(): Promise<void> {
    const { names, offsets } = this.layout;
    const { params, optimizer, buffers } = this.options;
    const [weights, expAvg, expAvgSq] = [this.memory.weights, this.memory.expAvg, this.memory.expAvgSq].map(
      (buffer) => new Float32Array(buffer),
    );
    const stepCounts = new Int32Array(this.memory.stepCounts);
    const state = optimizer.getState();
    names.forEach((name, i) => {
      weights.set(params.get(name)!.dataSync() as Float32Array, offsets[i]);
      const size = this.layout.sizes[i];
      const moments = [state.tensors.get(`exp_avg.${name}`), state.tensors.get(`exp_avg_sq.${name}`)];
      [expAvg, expAvgSq].forEach((array, k) =>
        array.set(moments[k] ? (moments[k]!.dataSync() as Float32Array) : new Float32Array(size), offsets[i]),
      );
      stepCounts[i] = state.steps[name] ?? 0;
    });
    const bufferValues: [string, Float32Array][] = [...buffers].map(([name, tensor]) => [
      name,
      Float32Array.from(tensor.dataSync()),
    ]);
    await this.request(() => ({ type: "load", buffers: bufferValues }), "loaded");
  }

  /** Stops and terminates every worker (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    abortWorkers(this.memory);
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }

  private async spawn(): Promise<void> {
    const { options, layout } = this;
    const groups = layout.names.map((name) => {
      const { lrScale, weightDecay } = options.optimizer.groupOf(name);
      return { lrScale, weightDecay };
    });
    const ready = this.replies("ready");
    for (let rank = 0; rank < options.workers; rank++) {
      const init: WorkerInit = {
        rank,
        workers: options.workers,
        task: options.task,
        taskOptions: options.taskOptions,
        backend: tf.getBackend(),
        memory: this.memory,
        mode: options.mode ?? "sharded",
        groups,
        beta1: options.optimizer.beta1,
        beta2: options.optimizer.beta2,
        eps: options.optimizer.eps,
        clipNorm: options.clipNorm,
      };
      const thread = startWorker(init);
      this.threads.push(thread);
      thread.on("message", (message: FromWorker) => this.receive(rank, message));
      thread.on("error", (error) => this.fail(rank, error.message));
      thread.on("exit", (code) => {
        if (!this.closed) this.fail(rank, `exited unexpectedly (exit code ${code})`);
      });
    }
    const replies = (await ready) as Extract<FromWorker, { type: "ready" }>[];
    replies.forEach((reply, rank) => {
      if (reply.names.join() !== layout.names.join() || reply.sizes.join() !== layout.sizes.join()) {
        throw new VidsegError(
          `worker ${rank + 1} built a model with other parameters than the main thread's`,
        );
      }
    });
  }

  /** Sends each worker its message and waits for every reply of type `expect`. */
  private request(message: (rank: number) => ToWorker, expect: FromWorker["type"]): Promise<FromWorker[]> {
    const replies = this.replies(expect);
    this.threads.forEach((thread, rank) => thread.postMessage(message(rank)));
    return replies;
  }

  /** Every worker's next reply of type `expect`, by rank (rejects on the first failure). */
  private replies(expect: FromWorker["type"]): Promise<FromWorker[]> {
    this.throwIfFailed();
    if (this.pending) throw new Error("a request to the workers is already pending");
    return new Promise<FromWorker[]>((resolve, reject) => {
      this.pending = { expect, replies: [], resolve, reject };
    });
  }

  private receive(rank: number, message: FromWorker): void {
    if (message.type === "error") {
      // A worker woken because another failed says so; the first failure is the one reported.
      if (!message.stopped) this.fail(rank, message.message);
      return;
    }
    const pending = this.pending;
    if (!pending || pending.expect !== message.type) return;
    pending.replies[rank] = message;
    if (pending.replies.filter(Boolean).length === this.options.workers) {
      this.pending = undefined;
      pending.resolve(pending.replies);
    }
  }

  private fail(rank: number, what: string): void {
    if (this.failure || this.closed) return;
    this.failure = new VidsegError(
      `data-parallel worker ${rank + 1} of ${this.options.workers} failed: ${what}`,
    );
    abortWorkers(this.memory);
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(this.failure);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error("the worker pool is closed");
  }
}

/**
 * A worker thread running worker.ts. From the TypeScript sources (tests, `tsx`), the worker first
 * registers tsx's loader: Node does not pass the parent's loader hooks to workers.
 */
function startWorker(init: WorkerInit): Worker {
  const here = fileURLToPath(import.meta.url);
  const entry = new URL(`./worker${extname(here)}`, import.meta.url);
  if (extname(here) !== ".ts") return new Worker(entry, { workerData: init });
  const tsx = pathToFileURL(tsxEsmApi()).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

/** The file of tsx's ESM API (its package `exports`, "./esm/api" for import). */
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve("tsx/package.json");
  const { exports } = require(manifest) as { exports: Record<string, { import: { default: string } }> };
  return join(dirname(manifest), exports["./esm/api"].import.default);
}
