/**
 * The memory data-parallel workers share (SharedArrayBuffers), and the one synchronous meeting point
 * they use: {@link Collective.gather}, a barrier that hands every worker the values of all, in rank
 * order. Sums built on it add in rank order, so they are the same bits in every worker and in every run,
 * whatever the thread scheduling.
 *
 * Layout:
 * - `control` (Int32): the barrier's generation and arrival count, the abort flag, a step counter;
 * - `exchange` (Float64): two alternating areas of one slot per worker for gathers (a gather writes
 *   area k mod 2; a worker can reuse an area only after the next barrier, which every worker reaches
 *   only after reading it, so one barrier per gather is enough);
 * - `grads` (Float32): one slot of all parameters per worker, for the all-reduce of the gradients;
 * - `weights`, `expAvg`, `expAvgSq` (Float32) and `stepCounts` (Int32 per parameter): the current
 *   weights and AdamW state, written by the parameters' owners, read by every worker and by the main
 *   thread for checkpoints.
 */
import { readFileSync } from "node:fs";
import { VidsegError } from "../../core/errors.js";
import type { BatchShares } from "../../models/batch-shares.js";

export interface SharedMemory {
  control: SharedArrayBuffer;
  exchange: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  expAvg: SharedArrayBuffer;
  expAvgSq: SharedArrayBuffer;
  stepCounts: SharedArrayBuffer;
}

/** Numbers one worker may contribute to one gather. */
export const GATHER_CAPACITY = 1 << 16;
const SLOT_HEADER = 2; // call number, length

const GENERATION = 0;
const ARRIVED = 1;
const ABORT = 2;
const STEPS_DONE = 3;

/** Shared memory for `workers` workers training `size` numbers in `params` parameter tensors. */
export function allocateShared(workers: number, size: number, params: number): SharedMemory {
  const floats = (count: number) => new SharedArrayBuffer(count * 4);
  return {
    control: new SharedArrayBuffer(4 * 4),
    exchange: new SharedArrayBuffer(2 * workers * (SLOT_HEADER + GATHER_CAPACITY) * 8),
    grads: floats(workers * size),
    weights: floats(size),
    expAvg: floats(size),
    expAvgSq: floats(size),
    stepCounts: new SharedArrayBuffer(params * 4),
  };
}

/** Tells every worker to stop: workers waiting at a barrier wake and throw {@link StoppedError}. */
export function abortWorkers(memory: SharedMemory): void {
  const control = new Int32Array(memory.control);
  Atomics.store(control, ABORT, 1);
  Atomics.notify(control, GENERATION);
}

/** A worker marks a finished step (its shared writes happen before); the main thread reads it first. */
export function markStepDone(memory: SharedMemory): void {
  Atomics.add(new Int32Array(memory.control), STEPS_DONE, 1);
}

export function stepsDone(memory: SharedMemory): number {
  return Atomics.load(new Int32Array(memory.control), STEPS_DONE);
}

/** Thrown in a worker woken by {@link abortWorkers}: another worker failed first. */
export class StoppedError extends Error {
  constructor() {
    super("stopped: another worker failed");
    this.name = "StoppedError";
  }
}

/** One worker's side of the barrier and the gathers; it is the {@link BatchShares} of the worker's share. */
export class Collective implements BatchShares {
  private readonly control: Int32Array;
  private readonly exchange: Float64Array;
  private calls = 0;
  /** Milliseconds spent waiting at barriers since the last {@link takeWaitMs}. */
  private waitMs = 0;

  constructor(
    memory: SharedMemory,
    readonly index: number,
    readonly count: number,
  ) {
    this.control = new Int32Array(memory.control);
    this.exchange = new Float64Array(memory.exchange);
  }

  /** Returns when every worker has arrived; throws {@link StoppedError} when the run is aborted. */
  barrier(): void {
    const start = performance.now();
    const { control } = this;
    const generation = Atomics.load(control, GENERATION);
    if (Atomics.add(control, ARRIVED, 1) === this.count - 1) {
      Atomics.store(control, ARRIVED, 0);
      Atomics.add(control, GENERATION, 1);
      Atomics.notify(control, GENERATION);
    } else {
      while (Atomics.load(control, GENERATION) === generation) {
        if (Atomics.load(control, ABORT) !== 0) break;
        Atomics.wait(control, GENERATION, generation, 1000);
      }
    }
    this.waitMs += performance.now() - start;
    if (Atomics.load(control, ABORT) !== 0) throw new StoppedError();
  }

  gather(values: readonly number[]): number[][] {
    if (values.length > GATHER_CAPACITY) {
      throw new VidsegError(`a gather of ${values.length} numbers exceeds ${GATHER_CAPACITY}`);
    }
    const call = this.calls++;
    const slotSize = SLOT_HEADER + GATHER_CAPACITY;
    const area = (call % 2) * this.count * slotSize;
    const own = area + this.index * slotSize;
    this.exchange[own] = call;
    this.exchange[own + 1] = values.length;
    this.exchange.set(values, own + SLOT_HEADER);
    this.barrier();
    return Array.from({ length: this.count }, (_, rank) => {
      const slot = area + rank * slotSize;
      // Every worker makes the same calls in the same order; a mismatch is a bug in a task's step.
      if (this.exchange[slot] !== call) {
        throw new Error(`workers out of step: gather ${call} met worker ${rank}'s ${this.exchange[slot]}`);
      }
      const length = this.exchange[slot + 1];
      return Array.from(this.exchange.subarray(slot + SLOT_HEADER, slot + SLOT_HEADER + length));
    });
  }

  takeWaitMs(): number {
    const ms = this.waitMs;
    this.waitMs = 0;
    return ms;
  }
}

/** Where each parameter lives in the flat shared arrays (in the model's parameter order). */
export interface ParamLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  sizes: number[];
  /** Numbers in all parameters. */
  total: number;
}

export function paramLayout(
  params: ReadonlyMap<string, { shape: readonly number[]; size: number }>,
): ParamLayout {
  const layout: ParamLayout = { names: [], shapes: [], offsets: [], sizes: [], total: 0 };
  for (const [name, param] of params) {
    layout.names.push(name);
    layout.shapes.push([...param.shape]);
    layout.offsets.push(layout.total);
    layout.sizes.push(param.size);
    layout.total += param.size;
  }
  return layout;
}

/**
 * Who applies the AdamW update of which parameters:
 * - `sharded`: each worker its share of the parameters (consecutive tensors, balanced by size), then
 *   every worker copies the new weights from shared memory;
 * - `one`: worker 0 all of them, the others copy;
 * - `every`: every worker all of them, each into its own copy (worker 0's is the shared one).
 */
export type UpdateMode = "sharded" | "one" | "every";
export const UPDATE_MODES: readonly UpdateMode[] = ["sharded", "one", "every"];

/** The indices of the parameters worker `rank` updates. */
export function ownedParams(layout: ParamLayout, workers: number, rank: number, mode: UpdateMode): number[] {
  const all = layout.names.map((_, i) => i);
  if (mode === "every") return all;
  if (mode === "one") return rank === 0 ? all : [];
  // A tensor belongs to the worker whose equal share of the numbers holds the tensor's middle.
  return all.filter(
    (i) =>
      Math.min(
        workers - 1,
        Math.floor(((layout.offsets[i] + layout.sizes[i] / 2) * workers) / layout.total),
      ) === rank,
  );
}

/**
 * CPU time of the calling thread in milliseconds (Linux: /proc/thread-self/schedstat), or undefined.
 * Unlike wall-clock time it barely moves when other processes compete for the cores.
 */
export function threadCpuMs(): number | undefined {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
  } catch {
    return undefined;
  }
}
