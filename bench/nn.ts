/**
 * Neural-network runtime benchmark: the reference network of shared/notes/runtime.md on the wasm
 * backend (forward, full training step, heap high-water mark), against the same network in PyTorch
 * (scripts/bench_nn_reference.py, run with /usr/bin/python3 when torch is installed there).
 *
 *   npm run bench:nn                  human-readable report
 *   npm run bench:nn -- --json        one JSON document
 *   npm run bench:nn -- --profile     also: per-kernel self time of one training step
 *   options: --forward-iters N (default 20), --train-iters N (default 15), --no-pytorch
 *
 * The network is built from plain tfjs ops on purpose: it measures the runtime, not src/nn.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

import * as tf from "@tensorflow/tfjs";

import { initRuntime } from "../src/runtime/backend.js";
import { AdamW } from "../src/train/optim.js";

const QUERIES = 16;
const DIM = 128;
const HEADS = 4;
const FFN_DIM = 704;
const INPUT_SIZE = 256;
/** [in, out, stride] of the 3×3 conv stack; layer 4 (64×64) feeds the mask features, layer 6 (32×32) the decoder. */
const CONV_LAYERS: Array<[number, number, number]> = [
  [3, 32, 2],
  [32, 32, 1],
  [32, 64, 2],
  [64, 64, 1],
  [64, 128, 2],
  [128, 128, 1],
];
const MASK_FEATURE_LAYER = 3;

interface Args {
  json: boolean;
  profile: boolean;
  pytorch: boolean;
  forwardIters: number;
  trainIters: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, profile: false, pytorch: true, forwardIters: 20, trainIters: 15 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") args.json = true;
    else if (arg === "--profile") args.profile = true;
    else if (arg === "--no-pytorch") args.pytorch = false;
    else if (arg === "--forward-iters" || arg === "--train-iters") {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error(`${arg} needs a positive integer`);
      if (arg === "--forward-iters") args.forwardIters = value;
      else args.trainIters = value;
    } else throw new Error(`unknown option ${arg}`);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// The reference network.

type Params = Record<string, tf.Variable>;

function makeParams(): Params {
  let seed = 1;
  const params: Params = {};
  const weight = (name: string, shape: number[], fanIn: number): void => {
    params[name] = tf.variable(
      tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), "float32", seed++),
      true,
      name,
    );
  };
  const constant = (name: string, shape: number[], value: number): void => {
    params[name] = tf.variable(tf.fill(shape, value), true, name);
  };
  CONV_LAYERS.forEach(([cin, cout], i) => {
    weight(`conv${i}.w`, [3, 3, cin, cout], 9 * cin);
    constant(`conv${i}.b`, [cout], 0);
  });
  const maskIn = CONV_LAYERS[MASK_FEATURE_LAYER][1];
  weight("mask_proj.w", [1, 1, maskIn, DIM], maskIn);
  constant("mask_proj.b", [DIM], 0);
  weight("query_feat", [QUERIES, DIM], DIM);
  weight("query_pos", [QUERIES, DIM], DIM);
  for (const attn of ["cross", "self"]) {
    for (const proj of ["q", "k", "v", "o"]) {
      weight(`${attn}.${proj}.w`, [DIM, DIM], DIM);
      constant(`${attn}.${proj}.b`, [DIM], 0);
    }
  }
  weight("ffn.1.w", [DIM, FFN_DIM], DIM);
  constant("ffn.1.b", [FFN_DIM], 0);
  weight("ffn.2.w", [FFN_DIM, DIM], FFN_DIM);
  constant("ffn.2.b", [DIM], 0);
  for (const norm of ["norm_cross", "norm_self", "norm_ffn"]) {
    constant(`${norm}.g`, [DIM], 1);
    constant(`${norm}.b`, [DIM], 0);
  }
  for (const layer of ["mask_mlp.1", "mask_mlp.2"]) {
    weight(`${layer}.w`, [DIM, DIM], DIM);
    constant(`${layer}.b`, [DIM], 0);
  }
  return params;
}

const linear = (p: Params, name: string, x: tf.Tensor2D): tf.Tensor2D =>
  tf.add(tf.matMul(x, p[`${name}.w`] as tf.Tensor2D), p[`${name}.b`]);

function layerNorm(p: Params, name: string, x: tf.Tensor2D): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
  return tf.add(tf.mul(normed, p[`${name}.g`]), p[`${name}.b`]);
}

/** Multi-head attention: queries [Lq, D] attend to keys/values [Lk, D]. */
function attention(
  p: Params,
  name: string,
  query: tf.Tensor2D,
  key: tf.Tensor2D,
  value: tf.Tensor2D,
): tf.Tensor2D {
  const headDim = DIM / HEADS;
  const heads = (x: tf.Tensor2D): tf.Tensor3D =>
    tf.transpose(tf.reshape(x, [x.shape[0], HEADS, headDim]), [1, 0, 2]);
  const q = heads(linear(p, `${name}.q`, query));
  const k = heads(linear(p, `${name}.k`, key));
  const v = heads(linear(p, `${name}.v`, value));
  const weights = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headDim)));
  const mixed = tf.reshape(tf.transpose(tf.matMul(weights, v), [1, 0, 2]), [
    query.shape[0],
    DIM,
  ]) as tf.Tensor2D;
  return linear(p, `${name}.o`, mixed);
}

/** Mask logits [QUERIES, 64·64] for one image [1, 256, 256, 3]. */
function forward(p: Params, image: tf.Tensor4D): tf.Tensor2D {
  let x = image;
  let maskSource: tf.Tensor4D | undefined;
  CONV_LAYERS.forEach(([, , stride], i) => {
    x = tf.fused.conv2d({
      x,
      filter: p[`conv${i}.w`] as tf.Tensor4D,
      strides: stride,
      pad: [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      bias: p[`conv${i}.b`],
      activation: "relu",
    });
    if (i === MASK_FEATURE_LAYER) maskSource = x;
  });
  const maskFeatures = tf.fused.conv2d({
    x: maskSource!,
    filter: p["mask_proj.w"] as tf.Tensor4D,
    strides: 1,
    pad: "valid",
    bias: p["mask_proj.b"],
  });
  const memory = tf.reshape(x, [-1, DIM]) as tf.Tensor2D; // [32·32, D]
  const pos = p["query_pos"] as tf.Tensor2D;
  let queries = p["query_feat"] as tf.Tensor2D;
  queries = layerNorm(
    p,
    "norm_cross",
    tf.add(queries, attention(p, "cross", tf.add(queries, pos), memory, memory)),
  );
  const withPos = tf.add(queries, pos) as tf.Tensor2D;
  queries = layerNorm(p, "norm_self", tf.add(queries, attention(p, "self", withPos, withPos, queries)));
  const ffn = linear(p, "ffn.2", tf.relu(linear(p, "ffn.1", queries)));
  queries = layerNorm(p, "norm_ffn", tf.add(queries, ffn));
  const maskEmbed = linear(p, "mask_mlp.2", tf.relu(linear(p, "mask_mlp.1", queries)));
  return tf.matMul(maskEmbed, tf.reshape(maskFeatures, [-1, DIM]) as tf.Tensor2D, false, true);
}

// ---------------------------------------------------------------------------------------------
// Measurement.

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

interface Timing {
  /** Median wall-clock time. */
  wallMs: number;
  /** Median CPU time of this process (all its threads): much less sensitive to other processes' load. */
  cpuMs: number;
}

async function timeIt(iterations: number, warmup: number, run: () => Promise<void>): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    await run();
    const used = process.cpuUsage(cpuStart);
    wall.push(performance.now() - start);
    cpu.push((used.user + used.system) / 1000);
  }
  return { wallMs: median(wall), cpuMs: median(cpu) };
}

/** The wasm memory never shrinks, so its current size is the high-water mark. */
function wasmHeapMb(): number | null {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return backend.wasm ? backend.wasm.HEAPU8.length / 2 ** 20 : null;
}

interface KernelTiming {
  name: string;
  selfMs: number;
  calls: number;
}

/**
 * Self time per kernel (time inside a kernel minus time in kernels it runs itself, since the
 * project's wasm kernels are built from other kernels), by wrapping the registered kernel functions.
 * Each kernel's figure is its minimum over `steps` training steps, which filters out most noise from
 * other processes on a shared machine.
 */
async function profileTrainingStep(
  step: () => Promise<void>,
  backendName: string,
  steps = 5,
): Promise<KernelTiming[]> {
  const best = new Map<string, KernelTiming>();
  let bestTotal = Infinity;
  let current = new Map<string, KernelTiming>();
  const childTime: number[] = [];
  const originals = tf.getKernelsForBackend(backendName);
  for (const config of originals) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        childTime.push(0);
        const start = performance.now();
        const out = inner(args);
        const elapsed = performance.now() - start;
        const children = childTime.pop()!;
        if (childTime.length > 0) childTime[childTime.length - 1] += elapsed;
        const entry = current.get(config.kernelName) ?? { name: config.kernelName, selfMs: 0, calls: 0 };
        entry.selfMs += elapsed - children;
        entry.calls += 1;
        current.set(config.kernelName, entry);
        return out;
      },
    });
  }
  for (let i = 0; i < steps; i++) {
    current = new Map();
    const start = performance.now();
    await step();
    bestTotal = Math.min(bestTotal, performance.now() - start);
    for (const [name, t] of current) {
      const previous = best.get(name);
      if (!previous || t.selfMs < previous.selfMs) best.set(name, t);
    }
  }
  for (const config of originals) {
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(config);
  }
  const timings = [...best.values()].sort((a, b) => b.selfMs - a.selfMs);
  const kernelMs = timings.reduce((sum, t) => sum + t.selfMs, 0);
  timings.push({
    name: `(fastest step total: ${bestTotal.toFixed(1)} ms; outside kernels)`,
    selfMs: bestTotal - kernelMs,
    calls: 0,
  });
  return timings;
}

interface PytorchResult {
  forward_ms: number;
  train_step_ms: number;
  forward_cpu_ms: number;
  train_step_cpu_ms: number;
  params: number;
}

function runPytorchReference(args: Args): PytorchResult | null {
  const python = "/usr/bin/python3";
  if (!existsSync(python)) return null;
  const script = fileURLToPath(new URL("../scripts/bench_nn_reference.py", import.meta.url));
  const result = spawnSync(
    python,
    [script, "--forward-iters", String(args.forwardIters), "--train-iters", String(args.trainIters)],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  if (result.status !== 0) {
    if (/No module named 'torch'/.test(result.stderr)) return null;
    throw new Error(`PyTorch reference failed: ${result.stderr.trim()}`);
  }
  return JSON.parse(result.stdout) as PytorchResult;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backendName = await initRuntime({ backend: "wasm" });

  const params = makeParams();
  const paramCount = Object.values(params).reduce((sum, v) => sum + v.size, 0);
  const image = tf.randomUniform([1, INPUT_SIZE, INPUT_SIZE, 3], 0, 1, "float32", 7) as tf.Tensor4D;
  const target = tf.cast(
    tf.greater(tf.randomUniform([QUERIES, (INPUT_SIZE / 4) ** 2], 0, 1, "float32", 8), 0.7),
    "float32",
  );
  // The project's optimiser (src/train/optim.ts), as its trainer uses it; torch.optim.AdamW in the reference.
  const optimizer = new AdamW(new Map(Object.entries(params)), { lr: 1e-4, weightDecay: 0.01 });
  const lossFn = (): tf.Scalar => tf.losses.sigmoidCrossEntropy(target, forward(params, image));

  const forwardTiming = await timeIt(args.forwardIters, 3, async () => {
    const logits = tf.tidy(() => forward(params, image));
    await logits.data();
    logits.dispose();
  });
  const trainStep = async (): Promise<void> => {
    const { value: loss, grads } = tf.variableGrads(lossFn, Object.values(params));
    optimizer.step(new Map(Object.entries(grads))); // keyed by variable name = parameter name
    await loss.data();
    tf.dispose([loss, ...Object.values(grads)]);
  };
  for (let i = 0; i < 3; i++) await trainStep(); // warm-up; also creates AdamW's moment variables
  const tensorsBefore = tf.memory().numTensors;
  const trainTiming = await timeIt(args.trainIters, 0, trainStep);
  const leaked = tf.memory().numTensors - tensorsBefore;
  const heapMb = wasmHeapMb();
  const profile = args.profile ? await profileTrainingStep(trainStep, backendName) : null;

  const pytorch = args.pytorch ? runPytorchReference(args) : null;
  const trainRatio = pytorch ? round(trainTiming.wallMs / pytorch.train_step_ms, 2) : null;
  const report = {
    wasm: {
      forward_ms: round(forwardTiming.wallMs),
      train_step_ms: round(trainTiming.wallMs),
      heap_mb: heapMb === null ? null : round(heapMb),
      forward_cpu_ms: round(forwardTiming.cpuMs),
      train_step_cpu_ms: round(trainTiming.cpuMs),
    },
    pytorch: pytorch
      ? {
          forward_ms: round(pytorch.forward_ms),
          train_step_ms: round(pytorch.train_step_ms),
          forward_cpu_ms: round(pytorch.forward_cpu_ms),
          train_step_cpu_ms: round(pytorch.train_step_cpu_ms),
        }
      : null,
    train_ratio: trainRatio,
    /** The same ratio in CPU time: on a loaded machine, closer to what an idle machine gives. */
    train_ratio_cpu: pytorch ? round(trainTiming.cpuMs / pytorch.train_step_cpu_ms, 2) : null,
  };

  if (args.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  console.log(`reference network: ${paramCount} parameters (PyTorch: ${pytorch?.params ?? "n/a"})`);
  console.log(
    `backend ${backendName}, 1 thread (2 threads: not supported, tfjs runs wasm single-threaded in Node)`,
  );
  console.log(
    `wasm     forward ${report.wasm.forward_ms} ms, training step ${report.wasm.train_step_ms} ms (median; CPU time ${report.wasm.forward_cpu_ms} / ${report.wasm.train_step_cpu_ms} ms)`,
  );
  console.log(
    `wasm     heap high-water mark ${report.wasm.heap_mb} MB; tensors leaked over ${args.trainIters} steps: ${leaked}`,
  );
  if (pytorch) {
    console.log(
      `pytorch  forward ${report.pytorch!.forward_ms} ms, training step ${report.pytorch!.train_step_ms} ms (1 thread; CPU time ${report.pytorch!.forward_cpu_ms} / ${report.pytorch!.train_step_cpu_ms} ms)`,
    );
    console.log(
      `ratio    training step wasm / pytorch = ${trainRatio}× (CPU time: ${report.train_ratio_cpu}×)`,
    );
  } else console.log("pytorch  not available (/usr/bin/python3 with torch)");
  if (profile) {
    console.log("\none training step, self time per kernel:");
    for (const t of [...profile.slice(0, 20), profile[profile.length - 1]]) {
      console.log(
        `  ${t.name.padEnd(40)} ${t.selfMs.toFixed(1).padStart(8)} ms  ${t.calls ? `${t.calls} calls` : ""}`,
      );
    }
  }
}

await main();
