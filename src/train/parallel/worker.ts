/**
 * One data-parallel training worker (a worker_thread with its own TensorFlow.js runtime). It builds the
 * task from the same TaskOptions as the main thread (TRAIN_TASKS), then, for each step the main thread
 * sends (the step, the learning rate and this worker's share of the batch's plan):
 *
 * 1. loads its share and computes the loss and gradients of it (the task's step, with this worker's
 *    {@link Collective} as the batch's shares: batch-wide normalisers meet there);
 * 2. writes its gradients into its slot of shared memory and gathers every worker's loss and which
 *    parameters got a gradient (a barrier);
 * 3. sums the gradients of the parameters it owns over the workers, in rank order, and their squared
 *    norm; gathers the norms (a barrier) into the global norm;
 * 4. unless the loss or the norm is not finite: clips and applies AdamW to its parameters in shared
 *    memory (the same arithmetic as the single-thread optimiser's kernel);
 * 5. waits for every owner (a barrier), copies the new weights into its model, and reports.
 *
 * Messages are handled one at a time. An error is reported once, after which the worker only waits to
 * be terminated; a worker woken at a barrier because another failed reports `stopped`.
 */
import * as tf from "@tensorflow/tfjs";
import { parentPort, workerData } from "node:worker_threads";
import { batchSum } from "../../models/batch-shares.js";
import { initRuntime, type BackendName } from "../../runtime/backend.js";
import { adamWUpdateArrays } from "../../runtime/optimizer-kernels.js";
import { taskParameters, TRAIN_TASKS, type TrainTaskName } from "../run.js";
import type { ParamMap } from "../optim.js";
import type { TaskOptions, TrainTask } from "../task.js";
import { computeGradients } from "../trainer.js";
import {
  Collective,
  markStepDone,
  ownedParams,
  paramLayout,
  StoppedError,
  threadCpuMs,
  type ParamLayout,
  type SharedMemory,
  type UpdateMode,
} from "./shared.js";

/** What a worker is started with (workerData). */
export interface WorkerInit {
  rank: number;
  workers: number;
  task: TrainTaskName;
  taskOptions: TaskOptions;
  backend: string;
  memory: SharedMemory;
  mode: UpdateMode;
  /** Per parameter (layout order): its group's lr multiplier and weight decay. */
  groups: { lrScale: number; weightDecay: number }[];
  beta1: number;
  beta2: number;
  eps: number;
  clipNorm?: number;
}

/** Main thread → worker. */
export type ToWorker =
  | { type: "load"; buffers: [string, Float32Array][] }
  | { type: "step"; step: number; lr: number; plan: unknown };

/** Worker → main thread. */
export type FromWorker =
  | { type: "ready"; names: string[]; sizes: number[] }
  | { type: "loaded" }
  | {
      type: "done";
      step: number;
      loss: number;
      gradNorm: number;
      metrics: Record<string, number>;
      phases: Record<string, number>;
    }
  | { type: "error"; message: string; name: string; stack?: string; stopped: boolean };

/** The AdamW state a worker updates: the shared one, or (mode `every`, ranks > 0) its own copy. */
interface State {
  weights: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  stepCounts: Int32Array;
}

class WorkerTrainer {
  readonly layout: ParamLayout;
  private readonly params: ParamMap;
  private readonly variables: tf.Variable[];
  private readonly collective: Collective;
  private readonly shared: State;
  private readonly state: State;
  private readonly slots: Float32Array[];
  private readonly owned: number[];
  private readonly summed: Float32Array;

  constructor(
    private readonly task: TrainTask<unknown>,
    private readonly init: WorkerInit,
  ) {
    this.params = taskParameters(task);
    this.layout = paramLayout(this.params);
    this.variables = [...this.params.values()];
    const { memory, workers, rank, mode } = init;
    this.collective = new Collective(memory, rank, workers);
    this.shared = {
      weights: new Float32Array(memory.weights),
      expAvg: new Float32Array(memory.expAvg),
      expAvgSq: new Float32Array(memory.expAvgSq),
      stepCounts: new Int32Array(memory.stepCounts),
    };
    this.state =
      mode === "every" && rank > 0
        ? {
            weights: new Float32Array(this.layout.total),
            expAvg: new Float32Array(this.layout.total),
            expAvgSq: new Float32Array(this.layout.total),
            stepCounts: new Int32Array(this.layout.names.length),
          }
        : this.shared;
    const total = this.layout.total;
    this.slots = Array.from(
      { length: workers },
      (_, w) => new Float32Array(memory.grads, w * total * 4, total),
    );
    this.owned = ownedParams(this.layout, workers, rank, mode);
    this.summed = new Float32Array(total);
  }

  async handle(message: ToWorker): Promise<FromWorker> {
    if (message.type === "load") return this.load(message.buffers);
    return this.step(message.step, message.lr, message.plan);
  }

  /** Takes the weights from shared memory and the buffers from the message (start, resume). */
  private load(buffers: [string, Float32Array][]): FromWorker {
    if (this.state !== this.shared) {
      this.state.weights.set(this.shared.weights);
      this.state.expAvg.set(this.shared.expAvg);
      this.state.expAvgSq.set(this.shared.expAvgSq);
      this.state.stepCounts.set(this.shared.stepCounts);
    }
    this.layout.names.forEach((_, i) => this.assignWeights(i));
    const stateDict = this.task.model.stateDict();
    for (const [name, values] of buffers) {
      const target = stateDict.get(name) as tf.Variable | undefined;
      if (!target) throw new Error(`the worker's model has no buffer "${name}"`);
      tf.tidy(() => target.assign(tf.tensor(values, target.shape, target.dtype)));
    }
    return { type: "loaded" };
  }

  private async step(step: number, lr: number, plan: unknown): Promise<FromWorker> {
    const { layout, collective, slots } = this;
    const rank = this.init.rank;
    const cpuStart = threadCpuMs();
    const times = [performance.now()];
    const lap = () => times.push(performance.now());

    const batch = await this.task.data.load(plan);
    lap(); // load
    let local;
    try {
      local = computeGradients(() => this.task.step(batch, collective, step), this.params);
    } finally {
      this.task.data.release?.(batch);
    }
    lap(); // compute (with the waits of the loss's gathers)
    const waits = [0, collective.takeWaitMs()];

    const hasLocal = layout.names.map((name, i) => {
      const grad = local.grads.get(name);
      if (!grad) return 0;
      slots[rank].set(grad.dataSync(), layout.offsets[i]);
      return 1;
    });
    tf.dispose([...local.grads.values()]);
    const gathered = collective.gather([local.loss, ...hasLocal]);
    const loss = gathered.reduce((sum, worker) => sum + worker[0], 0);
    const contributors = layout.names.map((_, i) =>
      gathered.flatMap((worker, w) => (worker[1 + i] !== 0 ? [w] : [])),
    );

    // Σ over the workers in rank order (float32, one worker's slot at a time), then the squared norm.
    let squares = 0;
    const summed = this.summed;
    for (const i of this.owned) {
      const [first, ...others] = contributors[i].map((w) => slots[w]);
      if (!first) continue;
      const from = layout.offsets[i];
      const to = from + layout.sizes[i];
      summed.set(first.subarray(from, to), from);
      for (const source of others) for (let k = from; k < to; k++) summed[k] += source[k];
      for (let k = from; k < to; k++) squares += summed[k] * summed[k];
    }
    const gradNorm = Math.sqrt(batchSum(collective, [squares])[0]);
    lap(); // reduce
    waits.push(collective.takeWaitMs());

    const apply = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (apply) this.applyAdamW(lr, gradNorm, contributors);
    lap(); // update
    waits.push(0);
    if (this.init.mode !== "every") collective.barrier(); // every owner has written its weights
    if (apply) layout.names.forEach((_, i) => contributors[i].length > 0 && this.assignWeights(i));
    lap(); // assign
    waits.push(collective.takeWaitMs());
    markStepDone(this.init.memory);

    // Each phase's time without its waits at barriers (the imbalance between workers), counted apart.
    const span = (i: number) => times[i + 1] - times[i] - waits[i];
    const cpuEnd = threadCpuMs();
    return {
      type: "done",
      step,
      loss,
      gradNorm,
      metrics: local.metrics,
      phases: {
        load: span(0),
        compute: span(1),
        wait: waits.reduce((a, b) => a + b),
        reduce: span(2),
        update: span(3),
        assign: span(4),
        ...(cpuStart !== undefined && cpuEnd !== undefined ? { cpu: cpuEnd - cpuStart } : {}),
      },
    };
  }

  /** Clipping to the global norm and AdamW (torch semantics) on the owned parameters that got a gradient. */
  private applyAdamW(lr: number, gradNorm: number, contributors: number[][]): void {
    const { layout, state, init } = this;
    const clip = init.clipNorm ? Math.min(1, init.clipNorm / (gradNorm + 1e-6)) : 1;
    for (const i of this.owned) {
      if (contributors[i].length === 0) continue;
      const from = layout.offsets[i];
      const to = from + layout.sizes[i];
      const grad = this.summed.subarray(from, to);
      if (clip < 1) for (let k = 0; k < grad.length; k++) grad[k] *= clip;
      const step = (state.stepCounts[i] += 1);
      const group = init.groups[i];
      const [p, m, v] = [state.weights, state.expAvg, state.expAvgSq].map((array) =>
        array.subarray(from, to),
      );
      adamWUpdateArrays(
        {
          lr: lr * group.lrScale,
          beta1: init.beta1,
          beta2: init.beta2,
          eps: init.eps,
          weightDecay: group.weightDecay,
          biasCorrection1: 1 - init.beta1 ** step,
          biasCorrection2Sqrt: Math.sqrt(1 - init.beta2 ** step),
        },
        p,
        grad,
        m,
        v,
        p,
        m,
        v,
      );
    }
  }

  private assignWeights(i: number): void {
    const { offsets, sizes, shapes } = this.layout;
    const values = this.state.weights.slice(offsets[i], offsets[i] + sizes[i]);
    tf.tidy(() => this.variables[i].assign(tf.tensor(values, shapes[i])));
  }
}

const init = workerData as WorkerInit;
const port = parentPort!;
let failed = false;

function report(error: unknown): void {
  if (failed) return;
  failed = true;
  const e = error instanceof Error ? error : new Error(String(error));
  const message: FromWorker = {
    type: "error",
    message: e.message,
    name: e.name,
    stack: e.stack,
    stopped: e instanceof StoppedError,
  };
  port.postMessage(message);
}

const ready = (async () => {
  await initRuntime({ backend: init.backend as BackendName });
  const task = await TRAIN_TASKS[init.task](init.taskOptions);
  return new WorkerTrainer(task as TrainTask<unknown>, init);
})();
ready.then((trainer) => {
  const sizes = trainer.layout.sizes;
  port.postMessage({ type: "ready", names: trainer.layout.names, sizes } satisfies FromWorker);
}, report);

let queue = Promise.resolve();
port.on("message", (message: ToWorker) => {
  queue = queue
    .then(async () => {
      if (failed) return;
      const reply = await (await ready).handle(message);
      port.postMessage(reply);
    })
    .catch(report);
});
