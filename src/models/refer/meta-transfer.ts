/**
 * YOFO's meta-transfer: a convolution kernel θ fitted online so that θ ∗ X reconstructs the bi-modal
 * features Y over a memory of past frames,
 *
 *   minimise over θ   Σ_m γ_m ‖W_m ⊙ (θ ∗ X_m − Y_m)‖² + λ‖θ‖²
 *
 * (W_m a per-position weight map, γ_m the memory's sample weights). The convolution is written as a
 * matrix product on im2col patches (θ ∗ X = P θ, θ an HWIO kernel flattened to [k²·C, D]), so the
 * problem is ridge regression. Each memory sample is kept as its normal equations (PᵀW²P, PᵀW²Y), so
 * a solver step costs the same whatever the frame size and the memory's length. The solver — steepest
 * descent with the exact line search of a quadratic, as in LWL's few-shot learner — is made of matrix
 * products only: it is differentiable to any order, and training backpropagates through it into X, Y,
 * W and λ.
 *
 * The memory holds at most K samples: each new sample gets weight `learningRate`, older ones decay by
 * (1 − learningRate), the weakest (never the first frame, never the newest) is evicted when full, and
 * the first frame's weight is kept at or above a minimum. Memory and time per frame are constant.
 *
 * Every tensor here is batched over B independent problems (B targets or training clips): patches
 * [B, n, q], targets [B, n, D], θ [B, q, D], normal equations [B, q, q] and [B, q, D].
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";

/**
 * The k×k patches of x [B, h, w, C] with zero padding ("same" convolution, stride 1), as rows
 * [B, h·w, k·k·C] in the order (dy, dx, c) of an HWIO kernel's flattening: matMul(patches,
 * kernel.reshape([k·k·C, D])) equals conv2d(x, kernel, 1, "same").
 */
export function im2col(x: tf.Tensor4D, kernel: number): tf.Tensor3D {
  if (kernel % 2 !== 1) throw new VidsegError(`im2col: kernel size must be odd, got ${kernel}`);
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    if (kernel === 1) return x.reshape([b, h * w, c]);
    const r = kernel >> 1;
    const padded = tf.pad(x, [
      [0, 0],
      [r, r],
      [r, r],
      [0, 0],
    ]);
    const taps: tf.Tensor4D[] = [];
    for (let dy = 0; dy < kernel; dy++) {
      for (let dx = 0; dx < kernel; dx++) taps.push(tf.slice(padded, [0, dy, dx, 0], [b, h, w, c]));
    }
    return tf.concat(taps, 3).reshape([b, h * w, kernel * kernel * c]);
  });
}

/**
 * One batch of ridge problems in normal-equation form, L(θ) = ½ θᵀAθ − θᵀC + ½ λ‖θ‖² (+ const), with
 * A = Σ_rows w² p pᵀ and C = Σ_rows w² p yᵀ: the solver's cost per step is then O(q²·D) whatever the
 * number of rows (frames × positions) the memory holds.
 */
export type RidgeProblem = {
  /** [B, q, q] A = Pᵀ diag(w²) P. */
  gram: tf.Tensor3D;
  /** [B, q, D] C = Pᵀ diag(w²) Y. */
  cross: tf.Tensor3D;
  /** λ > 0 (a scalar tensor, learnable in the model). */
  lambda: tf.Scalar;
};

/**
 * The normal equations of rows `patches` [B, n, q] → `targets` [B, n, D] weighted by `rowWeights`
 * [B, n, 1]: A = Pᵀ diag(w²) P and C = Pᵀ diag(w²) Y.
 */
export function normalEquations(
  patches: tf.Tensor3D,
  targets: tf.Tensor3D,
  rowWeights: tf.Tensor3D,
): { gram: tf.Tensor3D; cross: tf.Tensor3D } {
  return tf.tidy(() => {
    const weighted = tf.mul(tf.square(rowWeights), patches) as tf.Tensor3D;
    return {
      gram: tf.matMul(weighted, patches, true, false),
      cross: tf.matMul(weighted, targets, true, false),
    };
  });
}

/** Keeps α finite when the gradient vanishes (α = 0 then). */
const LINE_SEARCH_EPS = 1e-12;

/**
 * `steps` steps of steepest descent from θ0 [B, q, D] on
 * L(θ) = ½ Σ_rows ‖w · (P θ − Y)‖² + ½ λ ‖θ‖², each with the exact line search of a quadratic:
 * g = ∇L(θ) = Aθ − C + λθ, α = ‖g‖² / ‖J g‖² = ‖g‖² / (⟨g, A g⟩ + λ‖g‖²), θ ← θ − α g.
 * Differentiable in every input (matrix products, sums and one division per step).
 */
export function steepestDescent(problem: RidgeProblem, theta0: tf.Tensor3D, steps: number): tf.Tensor3D {
  const { gram, cross, lambda } = problem;
  return tf.tidy(() => {
    let theta = theta0;
    for (let s = 0; s < steps; s++) {
      const g = tf.add(tf.sub(tf.matMul(gram, theta), cross), tf.mul(lambda, theta)) as tf.Tensor3D;
      const gg = tf.sum(tf.square(g), [1, 2], true);
      const curvature = tf.add(tf.sum(tf.mul(g, tf.matMul(gram, g)), [1, 2], true), tf.mul(lambda, gg));
      const alpha = tf.div(gg, tf.add(curvature, LINE_SEARCH_EPS));
      theta = tf.sub(theta, tf.mul(alpha, g));
    }
    return theta === theta0 ? tf.clone(theta) : theta;
  });
}

/**
 * One frame of the meta-transfer for the memory's B problems, whatever computed the frame's sample
 * (the model's modules, or an exported graph): the sample joins the memory and θ is refitted over it,
 * from zero with `initSteps` steps when `theta` is undefined (the first frame), else warm-started from
 * `theta` with `steps` steps. Returns the new θ [B, q, D].
 */
export function refitTheta(
  memory: TransferMemory,
  sample: MemorySample,
  theta: tf.Tensor3D | undefined,
  lambda: tf.Scalar,
  solver: { initSteps: number; steps: number },
): tf.Tensor3D {
  memory.add(sample);
  return tf.tidy(() => {
    const [b, q, d] = sample.cross.shape;
    return steepestDescent(
      memory.problem(lambda),
      theta ?? tf.zeros([b, q, d]),
      theta === undefined ? solver.initSteps : solver.steps,
    );
  });
}

export interface MemoryOptions {
  /** K: samples kept (at least 2). */
  slots: number;
  /** Weight of a new sample; the others decay by (1 − learningRate). */
  learningRate: number;
  /** The first sample's weight is raised to this when it falls below. */
  firstFrameMinWeight: number;
}

/**
 * The memory's sample weights after a new sample arrives (`current` in arrival order, first sample at
 * 0; the new one is appended): old weights decay, the new one is `learningRate`, the weakest sample
 * other than the first and the new one is evicted when more than `slots` remain (the oldest on ties),
 * the weights are normalised to sum 1 and the first is lifted to `firstFrameMinWeight` (the others
 * scaled to keep the sum).
 */
export function updateMemoryWeights(
  current: readonly number[],
  options: MemoryOptions,
): { weights: number[]; evicted: number | undefined } {
  if (current.length === 0) return { weights: [1], evicted: undefined };
  const weights = current.map((w) => w * (1 - options.learningRate));
  weights.push(options.learningRate);
  let evicted: number | undefined;
  if (weights.length > options.slots) {
    evicted = 1;
    for (let k = 2; k < weights.length - 1; k++) if (weights[k] < weights[evicted]) evicted = k;
    weights.splice(evicted, 1);
  }
  let sum = weights.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) {
    // Nothing left with weight (learningRate 0 after a first frame): keep them all equal.
    weights.fill(1);
    sum = weights.length;
  }
  for (let k = 0; k < weights.length; k++) weights[k] /= sum;
  const min = options.firstFrameMinWeight;
  if (weights[0] < min) {
    const rest = 1 - weights[0];
    for (let k = 1; k < weights.length; k++) weights[k] = rest > 0 ? (weights[k] * (1 - min)) / rest : 0;
    weights[0] = min;
  }
  return { weights, evicted };
}

/** One frame's contribution to the memory (batched over B): its normal equations, unweighted by γ. */
export type MemorySample = { gram: tf.Tensor3D; cross: tf.Tensor3D };

/** A frame's memory sample: rows of its patches → Y, weighted by the weight map W [B, n, 1]. */
export function memorySample(
  patches: tf.Tensor3D,
  targets: tf.Tensor3D,
  weightMap: tf.Tensor3D,
): MemorySample {
  return normalEquations(patches, targets, weightMap);
}

/**
 * The bounded memory bank of {@link updateMemoryWeights}. With `ownsTensors` (streaming inference) it
 * keeps the samples it is given across tf.tidy scopes and frees the evicted ones; without (training,
 * inside tf.variableGrads) it only holds references and the gradient tape owns the tensors.
 */
export class TransferMemory {
  private samples: MemorySample[] = [];
  private sampleWeights: number[] = [];
  /** Frame index of each sample (arrival order since the first). */
  private arrivals: number[] = [];
  private arrived = 0;

  constructor(
    readonly options: MemoryOptions,
    readonly ownsTensors = false,
  ) {
    if (!Number.isInteger(options.slots) || options.slots < 2) {
      throw new VidsegError(`memory needs at least 2 slots, got ${options.slots}`);
    }
  }

  get size(): number {
    return this.samples.length;
  }

  /** The samples' weights γ (sum 1), in arrival order. */
  get weights(): readonly number[] {
    return this.sampleWeights;
  }

  /** The arrival index (0 = first frame) of each sample held, in order. */
  get frames(): readonly number[] {
    return this.arrivals;
  }

  add(sample: MemorySample): void {
    const { weights, evicted } = updateMemoryWeights(this.sampleWeights, this.options);
    if (this.ownsTensors) for (const t of [sample.gram, sample.cross]) tf.keep(t);
    this.samples.push(sample);
    this.arrivals.push(this.arrived++);
    if (evicted !== undefined) {
      const [gone] = this.samples.splice(evicted, 1);
      this.arrivals.splice(evicted, 1);
      if (this.ownsTensors) tf.dispose([gone.gram, gone.cross]);
    }
    this.sampleWeights = weights;
  }

  /** The ridge problem over the memory: Σ_m γ_m A_m and Σ_m γ_m C_m. */
  problem(lambda: tf.Scalar): RidgeProblem {
    if (this.samples.length === 0) throw new VidsegError("the memory is empty");
    return tf.tidy(() => {
      const weighted = (pick: (s: MemorySample) => tf.Tensor3D) =>
        tf.addN(this.samples.map((s, m) => tf.mul(pick(s), this.sampleWeights[m]))) as tf.Tensor3D;
      return { gram: weighted((s) => s.gram), cross: weighted((s) => s.cross), lambda };
    });
  }

  /** Frees the samples when the memory owns them. */
  dispose(): void {
    if (this.ownsTensors) {
      for (const s of this.samples) tf.dispose([s.gram, s.cross]);
    }
    this.samples = [];
    this.sampleWeights = [];
    this.arrivals = [];
  }
}
