/**
 * Basic layers on NHWC tensors (channels last, the TensorFlow.js layout).
 *
 * Parameter names follow PyTorch / detectron2 so that state dicts map one to one; layouts differ only
 * where tfjs needs them to: conv weights are HWIO ([kh, kw, in, out]) instead of OIHW. Linear weights
 * keep PyTorch's [out, in] layout.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { kaimingNormalFanOut, normal, torchDefaultWeight, xavierUniform } from "./init.js";
import { Module } from "./module.js";

export type Activation = "relu" | "gelu" | "none";

export function activate(x: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case "relu":
      return tf.relu(x);
    case "gelu":
      // Exact GELU (PyTorch's default): x·Φ(x).
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case "none":
      return x;
  }
}

/** y = x·Wᵀ + b over the last axis; weight [out, in] as in torch.nn.Linear. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    /** "zeros": a layer that outputs 0 until trained (a new branch added to a trained model). */
    options: { bias?: boolean; init?: "torch" | "xavier" | "zeros" } = {},
  ) {
    super();
    const weight =
      options.init === "xavier"
        ? xavierUniform([outFeatures, inFeatures], inFeatures, outFeatures)
        : options.init === "zeros"
          ? tf.zeros([outFeatures, inFeatures])
          : torchDefaultWeight([outFeatures, inFeatures], inFeatures);
    this.weight = this.addParameter("weight", weight);
    if (options.bias ?? true) {
      this.bias = this.addParameter(
        "bias",
        options.init === "xavier" || options.init === "zeros"
          ? tf.zeros([outFeatures])
          : torchDefaultWeight([outFeatures], inFeatures),
      );
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const shape = x.shape;
      const flat = x.reshape([-1, this.inFeatures]);
      let y: tf.Tensor = tf.matMul(flat, this.weight, false, true);
      if (this.bias) y = tf.add(y, this.bias);
      return y.reshape([...shape.slice(0, -1), this.outFeatures]);
    });
  }
}

/** Mask2Former's MLP: `numLayers` Linear layers (named layers.0, layers.1, ...) with ReLU in between. */
export class Mlp extends Module {
  readonly layers: Linear[] = [];

  constructor(inputDim: number, hiddenDim: number, outputDim: number, numLayers: number) {
    super();
    const list = this.addModule("layers", new LinearList());
    for (let i = 0; i < numLayers; i++) {
      const inDim = i === 0 ? inputDim : hiddenDim;
      const outDim = i === numLayers - 1 ? outputDim : hiddenDim;
      this.layers.push(list.push(new Linear(inDim, outDim)));
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let y = x;
      this.layers.forEach((layer, i) => {
        y = layer.forward(y);
        if (i < this.layers.length - 1) y = tf.relu(y);
      });
      return y;
    });
  }
}

class LinearList extends Module {
  private count = 0;
  push(layer: Linear): Linear {
    return this.addModule(String(this.count++), layer);
  }
}

/**
 * Dropout: identity in eval mode or with p = 0; in training, tf.dropout (inverted scaling). Give a
 * seed for a reproducible mask.
 */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new VidsegError(`dropout probability must be in [0, 1), got ${p}`);
  }

  forward(x: tf.Tensor, seed?: number): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.dropout(x, this.p, undefined, seed);
  }
}

/** LayerNorm over the last axis (torch.nn.LayerNorm(dim)). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.addParameter("weight", tf.ones([dim]));
    this.bias = this.addParameter("bias", tf.zeros([dim]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const normalized = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normalized, this.weight), this.bias);
    });
  }
}

/** GroupNorm on NHWC input (torch.nn.GroupNorm(numGroups, channels)). */
export class GroupNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly numGroups: number,
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    if (channels % numGroups !== 0) {
      throw new VidsegError(`GroupNorm: ${channels} channels are not divisible into ${numGroups} groups`);
    }
    this.weight = this.addParameter("weight", tf.ones([channels]));
    this.bias = this.addParameter("bias", tf.zeros([channels]));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      // Rank 4 keeps wasm on its fast paths: [N, H·W, G, C/G], statistics over axes 1 and 3.
      const grouped = x.reshape([n, h * w, this.numGroups, c / this.numGroups]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      const normalized = tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normalized.reshape([n, h, w, c]), this.weight), this.bias) as tf.Tensor4D;
    });
  }
}

/**
 * Batch normalisation with fixed statistics (detectron2 FrozenBatchNorm2d): weight, bias, running_mean
 * and running_var are all buffers, eps = 1e-5.
 */
export class FrozenBatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.addBuffer("weight", tf.ones([channels]));
    this.bias = this.addBuffer("bias", tf.zeros([channels]));
    this.runningMean = this.addBuffer("running_mean", tf.zeros([channels]));
    this.runningVar = this.addBuffer("running_var", tf.ones([channels]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return batchNormInference(x, this.weight, this.bias, this.runningMean, this.runningVar, this.eps);
  }
}

/**
 * torch.nn.BatchNorm2d as used at inference: normalises with the running statistics (buffers) in
 * both modes, with a trainable affine weight and bias. Batch statistics are not computed: the models
 * here train at batch 1–2, where they would be noise (the same reason detectron2 freezes them).
 */
export class BatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.addParameter("weight", tf.ones([channels]));
    this.bias = this.addParameter("bias", tf.zeros([channels]));
    this.runningMean = this.addBuffer("running_mean", tf.zeros([channels]));
    this.runningVar = this.addBuffer("running_var", tf.ones([channels]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return batchNormInference(x, this.weight, this.bias, this.runningMean, this.runningVar, this.eps);
  }
}

function batchNormInference(
  x: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  eps: number,
): tf.Tensor {
  return tf.tidy(() => {
    const scale = tf.mul(weight, tf.rsqrt(tf.add(variance, eps)));
    const shift = tf.sub(bias, tf.mul(mean, scale));
    return tf.add(tf.mul(x, scale), shift);
  });
}

export type NormKind = "GN" | "FrozenBN" | "BN" | "LN" | "none";

export type NormLayer = GroupNorm | FrozenBatchNorm2d | BatchNorm2d | LayerNorm;

export function makeNorm(kind: NormKind, channels: number, groups = 32): NormLayer | undefined {
  switch (kind) {
    case "GN":
      return new GroupNorm(groups, channels);
    case "FrozenBN":
      return new FrozenBatchNorm2d(channels);
    case "BN":
      return new BatchNorm2d(channels);
    case "LN":
      return new LayerNorm(channels);
    case "none":
      return undefined;
  }
}

export interface Conv2dOptions {
  stride?: number;
  /** Symmetric zero padding in pixels, as in torch (default 0). */
  padding?: number;
  dilation?: number;
  /** Default: true without a norm, false with one (detectron2's convention). */
  bias?: boolean;
  /** Normalisation after the conv, as a child named "norm" (detectron2 Conv2d). */
  norm?: NormKind;
  /** Groups for GroupNorm (default 32). */
  normGroups?: number;
  activation?: Activation;
  /** Weight initialisation: PyTorch's default, or kaiming normal fan-out (torchvision ResNet). */
  init?: "torch" | "kaiming";
}

/**
 * 2-D convolution on NHWC input, optionally followed by a norm and an activation (detectron2's
 * Conv2d wrapper). weight: HWIO [kh, kw, in, out]; bias [out]; norm.*.
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;
  readonly norm?: NormLayer;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly activation: Activation;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: Conv2dOptions = {},
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.activation = options.activation ?? "none";
    const normKind = options.norm ?? "none";
    const shape = [kernelSize, kernelSize, inChannels, outChannels];
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = this.addParameter(
      "weight",
      options.init === "kaiming"
        ? kaimingNormalFanOut(shape, outChannels * kernelSize * kernelSize)
        : torchDefaultWeight(shape, fanIn),
    );
    if (options.bias ?? normKind === "none") {
      this.bias = this.addParameter("bias", torchDefaultWeight([outChannels], fanIn));
    }
    const norm = makeNorm(normKind, outChannels, options.normGroups);
    if (norm) this.norm = this.addModule("norm", norm);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let y: tf.Tensor4D = tf.conv2d(
        x,
        this.weight as tf.Tensor4D,
        this.stride,
        this.padding,
        "NHWC",
        this.dilation,
      );
      if (this.bias) y = tf.add(y, this.bias);
      if (this.norm) y = this.norm.forward(y) as tf.Tensor4D;
      return activate(y, this.activation) as tf.Tensor4D;
    });
  }
}

/** A learned table (torch.nn.Embedding): query features, query positions, level embeddings. */
export class Embedding extends Module {
  readonly weight: tf.Variable;

  constructor(
    readonly count: number,
    readonly dim: number,
  ) {
    super();
    this.weight = this.addParameter("weight", normal([count, dim], 1));
  }

  /** The rows at `indices` (all rows, [count, dim], without indices; a new tensor either way). */
  forward(indices?: tf.Tensor | number[]): tf.Tensor {
    if (indices === undefined) return tf.clone(this.weight);
    return tf.gather(this.weight, indices);
  }
}
