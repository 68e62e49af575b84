/**
 * One-kernel AdamW update for the cpu and wasm backends.
 *
 * Written with tfjs ops, an AdamW step is ~13 kernels per parameter tensor (≈600 per training step for
 * a 46-tensor network), each with 10–20 µs of JavaScript overhead on wasm, plus a pass over memory
 * per op. This kernel reads the parameter, gradient and both moments once, straight from the
 * backend's memory (the wasm heap or the cpu backend's arrays), and writes the three new tensors in
 * one loop. Other backends (webgl, webgpu, tensorflow) keep the op formulation.
 */
import * as tf from "@tensorflow/tfjs";

export interface AdamWHyper {
  /** Step size before bias correction (already scaled by the group's lr multiplier). */
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 − β1^t and √(1 − β2^t) for this parameter's step count t. */
  biasCorrection1: number;
  biasCorrection2Sqrt: number;
}

export interface AdamWResult {
  param: tf.Tensor;
  expAvg: tf.Tensor;
  expAvgSq: tf.Tensor;
}

const KERNEL_NAME = "VidsegAdamWUpdate";
const BACKENDS = ["cpu", "wasm"];

/** Memory access the kernel needs, as the cpu and wasm backends provide it. */
interface CpuBackend {
  readSync(dataId: tf.DataId): tf.TypedArray;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.TypedArray): tf.TensorInfo;
}
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

/**
 * torch.optim.AdamW's arithmetic, element by element (float64 inside, rounded to float32 on store):
 * decoupled decay, moment updates, then p ← p·(1 − lr·wd) − (lr / bc1) · m / (√v / √bc2 + eps).
 * (No Math.fround on intermediates and a reciprocal instead of a division: 25% faster, and the
 * results stay within float32 rounding of torch's.) The outputs may be the inputs (in place); the
 * data-parallel workers (src/train/parallel/) run it on shared memory.
 */
export function adamWUpdateArrays(
  h: AdamWHyper,
  p: tf.TypedArray,
  g: tf.TypedArray,
  m: tf.TypedArray,
  v: tf.TypedArray,
  pOut: tf.TypedArray,
  mOut: tf.TypedArray,
  vOut: tf.TypedArray,
): void {
  const decay = 1 - h.lr * h.weightDecay;
  const stepSize = h.lr / h.biasCorrection1;
  const inverseBiasCorrection2Sqrt = 1 / h.biasCorrection2Sqrt;
  const { beta1, beta2, eps } = h;
  const oneMinusBeta1 = 1 - beta1;
  const oneMinusBeta2 = 1 - beta2;
  const length = p.length;
  for (let i = 0; i < length; i++) {
    const grad = g[i];
    const expAvg = m[i] * beta1 + grad * oneMinusBeta1;
    const expAvgSq = v[i] * beta2 + grad * grad * oneMinusBeta2;
    mOut[i] = expAvg;
    vOut[i] = expAvgSq;
    pOut[i] = p[i] * decay - (stepSize * expAvg) / (Math.sqrt(expAvgSq) * inverseBiasCorrection2Sqrt + eps);
  }
}

type Inputs = { param: tf.TensorInfo; grad: tf.TensorInfo; expAvg: tf.TensorInfo; expAvgSq: tf.TensorInfo };

function cpuKernel(inputs: Inputs, h: AdamWHyper, backend: CpuBackend): tf.TensorInfo[] {
  const [p, g, m, v] = [inputs.param, inputs.grad, inputs.expAvg, inputs.expAvgSq].map((t) =>
    backend.readSync(t.dataId),
  );
  const outs = [p, m, v].map(() => new Float32Array(p.length));
  adamWUpdateArrays(h, p, g, m, v, outs[0], outs[1], outs[2]);
  return outs.map((values) => backend.makeTensorInfo(inputs.param.shape, "float32", values));
}

function wasmKernel(inputs: Inputs, h: AdamWHyper, backend: WasmBackend): tf.TensorInfo[] {
  // Allocate first: a heap allocation may grow (and so replace) the heap buffer under older views.
  const outs = [0, 1, 2].map(() => backend.makeOutput(inputs.param.shape, "float32"));
  const [p, g, m, v] = [inputs.param, inputs.grad, inputs.expAvg, inputs.expAvgSq].map((t) =>
    backend.typedArrayFromHeap(t),
  );
  const [pOut, mOut, vOut] = outs.map((t) => backend.typedArrayFromHeap(t));
  adamWUpdateArrays(h, p, g, m, v, pOut, mOut, vOut);
  return outs;
}

let registered = false;

function registerKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of BACKENDS) {
    if (tf.getKernel(KERNEL_NAME, backendName) !== undefined) continue;
    tf.registerKernel({
      kernelName: KERNEL_NAME,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const hyper = attrs as unknown as AdamWHyper;
        const tensors = inputs as unknown as Inputs;
        return backendName === "wasm"
          ? wasmKernel(tensors, hyper, backend as unknown as WasmBackend)
          : cpuKernel(tensors, hyper, backend as unknown as CpuBackend);
      },
    });
  }
}

/**
 * One AdamW step for one float32 parameter tensor as a single kernel, or null where this backend
 * has no such kernel (the caller then uses tfjs ops). The inputs are not disposed.
 */
export function adamWUpdate(
  param: tf.Tensor,
  grad: tf.Tensor,
  expAvg: tf.Tensor,
  expAvgSq: tf.Tensor,
  hyper: AdamWHyper,
): AdamWResult | null {
  registerKernels();
  const tensors = [param, grad, expAvg, expAvgSq];
  if (!BACKENDS.includes(tf.getBackend()) || tensors.some((t) => t.dtype !== "float32")) return null;
  if (!tensors.every((t) => tf.util.arraysEqual(t.shape, param.shape))) return null;
  const [p, m, v] = tf.engine().runKernel(KERNEL_NAME, { param, grad, expAvg, expAvgSq }, {
    ...hyper,
  } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { param: p, expAvg: m, expAvgSq: v };
}
