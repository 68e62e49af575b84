import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { adamWUpdate } from "../runtime/optimizer-kernels.js";

/** Named trainable parameters, e.g. `Module.namedParameters()`. */
export type ParamMap = Map<string, tf.Variable>;
/** Gradients keyed by parameter name; a missing name means "no gradient this step". */
export type GradMap = Map<string, tf.Tensor>;

/** A parameter group: parameters whose name (and variable) match get their own lr multiplier / decay. */
export interface ParamGroup {
  name: string;
  /** Membership test; the first matching group wins, unmatched parameters go to the "default" group. */
  match: (paramName: string, param: tf.Variable) => boolean;
  /** Multiplier on the scheduled learning rate (e.g. 0.1 for a pretrained backbone). Default 1. */
  lrScale?: number;
  /** Decoupled weight decay for this group; defaults to the optimiser's. */
  weightDecay?: number;
}

export interface AdamWOptions {
  /** Learning rate used when `step` is called without one. Default 1e-3. */
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay (torch's default 0.01). */
  weightDecay?: number;
  groups?: ParamGroup[];
}

/** The optimiser state in checkpointable form: per-parameter step counts and moment tensors. */
export interface AdamWState {
  /** Number of updates each parameter has received (torch keeps this per parameter). */
  steps: Record<string, number>;
  /** `exp_avg.<param>` and `exp_avg_sq.<param>` for every parameter that has been updated. */
  tensors: Map<string, tf.Tensor>;
}

/** No decay for biases and normalisation weights: every parameter of rank ≤ 1 (the usual rule). */
export function isNormOrBias(name: string, param: tf.Variable): boolean {
  return param.rank <= 1 || name.endsWith(".bias");
}

interface ResolvedGroup {
  name: string;
  lrScale: number;
  weightDecay: number;
}

interface Moments {
  step: number;
  expAvg: tf.Variable;
  expAvgSq: tf.Variable;
}

/**
 * AdamW with torch.optim.AdamW semantics: decoupled weight decay `p ← p·(1 − lr·wd)` applied before the
 * Adam step, bias-corrected moments, and `eps` added to `sqrt(v̂)` (not inside the root). Parameters are
 * addressed by name so that groups, checkpoints and logs all speak the same language.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly lr: number;
  private readonly groupOfParam = new Map<string, ResolvedGroup>();
  private readonly moments = new Map<string, Moments>();

  constructor(
    readonly params: ParamMap,
    options: AdamWOptions = {},
  ) {
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    const weightDecay = options.weightDecay ?? 0.01;
    const valid = (x: number, low: number, high: number) => Number.isFinite(x) && x >= low && x < high;
    if (!valid(this.beta1, 0, 1) || !valid(this.beta2, 0, 1)) {
      throw new VidsegError(`AdamW betas must be in [0, 1), got [${this.beta1}, ${this.beta2}]`);
    }
    if (!valid(this.eps, 0, Infinity) || !valid(weightDecay, 0, Infinity) || !valid(this.lr, 0, Infinity)) {
      throw new VidsegError("AdamW lr, eps and weightDecay must be finite and non-negative");
    }
    const groups = options.groups ?? [];
    for (const [name, param] of params) {
      const group = groups.find((g) => g.match(name, param));
      this.groupOfParam.set(name, {
        name: group?.name ?? "default",
        lrScale: group?.lrScale ?? 1,
        weightDecay: group?.weightDecay ?? weightDecay,
      });
    }
  }

  /** The group a parameter belongs to, with its resolved lr multiplier and weight decay. */
  groupOf(paramName: string): Readonly<ResolvedGroup> {
    const group = this.groupOfParam.get(paramName);
    if (!group) throw new VidsegError(`unknown parameter "${paramName}"`);
    return group;
  }

  /**
   * Applies one update with learning rate `lr` (scaled per group). Parameters without a gradient are
   * skipped and keep their step count, as in torch. Does not dispose the gradients.
   */
  step(grads: GradMap, lr = this.lr): void {
    for (const name of grads.keys()) {
      if (!this.params.has(name)) throw new VidsegError(`gradient for unknown parameter "${name}"`);
    }
    for (const [name, param] of this.params) {
      const grad = grads.get(name);
      if (!grad) continue;
      const group = this.groupOfParam.get(name)!;
      const moments = this.momentsOf(name, param);
      moments.step += 1;
      const groupLr = lr * group.lrScale;
      const biasCorrection1 = 1 - this.beta1 ** moments.step;
      const biasCorrection2Sqrt = Math.sqrt(1 - this.beta2 ** moments.step);
      // cpu and wasm: one kernel per parameter instead of ~13 ops (src/runtime/optimizer-kernels.ts).
      const fused = adamWUpdate(param, grad, moments.expAvg, moments.expAvgSq, {
        lr: groupLr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: group.weightDecay,
        biasCorrection1,
        biasCorrection2Sqrt,
      });
      if (fused) {
        moments.expAvg.assign(fused.expAvg);
        moments.expAvgSq.assign(fused.expAvgSq);
        param.assign(fused.param);
        tf.dispose([fused.param, fused.expAvg, fused.expAvgSq]);
        continue;
      }
      tf.tidy(() => {
        const decayed = group.weightDecay !== 0 ? param.mul(1 - groupLr * group.weightDecay) : param;
        const expAvg = moments.expAvg.mul(this.beta1).add(grad.mul(1 - this.beta1));
        const expAvgSq = moments.expAvgSq.mul(this.beta2).add(grad.mul(1 - this.beta2).mul(grad));
        const denom = expAvgSq.sqrt().div(biasCorrection2Sqrt).add(this.eps);
        const updated = decayed.sub(expAvg.div(denom).mul(groupLr / biasCorrection1));
        moments.expAvg.assign(expAvg);
        moments.expAvgSq.assign(expAvgSq);
        param.assign(updated);
      });
    }
  }

  /** The state for a checkpoint. The tensors are the live moments: read them, don't dispose them. */
  getState(): AdamWState {
    const steps: Record<string, number> = {};
    const tensors = new Map<string, tf.Tensor>();
    for (const [name, moments] of this.moments) {
      steps[name] = moments.step;
      tensors.set(`exp_avg.${name}`, moments.expAvg);
      tensors.set(`exp_avg_sq.${name}`, moments.expAvgSq);
    }
    return { steps, tensors };
  }

  /**
   * Restores a state saved with {@link getState} (values are copied; the caller keeps its tensors).
   * Everything is checked before anything is assigned; parameters absent from the state start fresh.
   */
  setState(state: AdamWState, file?: string): void {
    const restored: { name: string; step: number; expAvg: tf.Tensor; expAvgSq: tf.Tensor }[] = [];
    for (const [name, step] of Object.entries(state.steps)) {
      const param = this.params.get(name);
      if (!param) throw new VidsegError(`optimiser state for unknown parameter "${name}"`, file);
      if (!Number.isInteger(step) || step < 0) {
        throw new VidsegError(`invalid step count ${step}`, file, `optimizer.steps.${name}`);
      }
      const [expAvg, expAvgSq] = [`exp_avg.${name}`, `exp_avg_sq.${name}`].map((key) => {
        const saved = state.tensors.get(key);
        if (!saved) throw new VidsegError("missing optimiser tensor", file, key);
        if (!tf.util.arraysEqual(saved.shape, param.shape)) {
          throw new VidsegError(
            `shape [${saved.shape}] does not match parameter [${param.shape}]`,
            file,
            key,
          );
        }
        return saved;
      });
      restored.push({ name, step, expAvg, expAvgSq });
    }
    this.dispose();
    for (const { name, step, expAvg, expAvgSq } of restored) {
      const moments = this.momentsOf(name, this.params.get(name)!);
      tf.tidy(() => {
        moments.expAvg.assign(expAvg.asType("float32"));
        moments.expAvgSq.assign(expAvgSq.asType("float32"));
      });
      moments.step = step;
    }
  }

  /** Frees the moment tensors. */
  dispose(): void {
    for (const moments of this.moments.values()) {
      moments.expAvg.dispose();
      moments.expAvgSq.dispose();
    }
    this.moments.clear();
  }

  private momentsOf(name: string, param: tf.Variable): Moments {
    let moments = this.moments.get(name);
    if (!moments) {
      moments = {
        step: 0,
        // tidy frees the zeros; variables survive it.
        expAvg: tf.tidy(() => tf.variable(tf.zeros(param.shape), false)),
        expAvgSq: tf.tidy(() => tf.variable(tf.zeros(param.shape), false)),
      };
      this.moments.set(name, moments);
    }
    return moments;
  }
}

/** The global L2 norm of all gradients, as one scalar tensor (torch's clip_grad_norm_ total norm). */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const squares = [...grads].map((g) => g.square().sum());
    return squares.length === 0 ? tf.scalar(0) : (tf.addN(squares).sqrt() as tf.Scalar);
  });
}

/**
 * Gradient clipping by global norm with torch's formula: every gradient is scaled by
 * `min(1, maxNorm / (norm + 1e-6))`. Returns new gradient tensors (the caller disposes both sets) and the
 * norm before clipping as a scalar tensor (so no GPU/wasm sync is forced here).
 */
export function clipByGlobalNorm(grads: GradMap, maxNorm: number): { grads: GradMap; norm: tf.Scalar } {
  if (!(maxNorm > 0)) throw new VidsegError(`clip norm must be positive, got ${maxNorm}`);
  const norm = globalNorm(grads.values());
  const clipped = tf.tidy(() => {
    const coefficient = tf.minimum(tf.scalar(maxNorm).div(norm.add(1e-6)), 1);
    return [...grads].map(([name, g]) => [name, g.mul(coefficient)] as const);
  });
  return { grads: new Map(clipped), norm };
}
