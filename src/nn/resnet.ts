/**
 * ResNet-18/34/50 (and small variants for CPU configs) with torchvision's parameter names
 * (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...) and architecture (v1.5: the stride of a
 * Bottleneck sits on its 3×3 conv). Input NHWC [N, H, W, 3]; returns C2–C5 (res2–res5) at strides
 * 4, 8, 16, 32. Conv weights are HWIO; see safetensors.ts for loading torchvision state dicts.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { BatchNorm2d, Conv2d, FrozenBatchNorm2d, GroupNorm, Linear } from "./layers.js";
import { Module, ModuleList } from "./module.js";

/**
 * "FrozenBN": detectron2's frozen batch norm (pretrained weights); "BN": BatchNorm2d with fixed running
 * statistics and a trainable affine (batch statistics are never computed, so from scratch it is only an
 * affine: no normalisation at all); "GN": GroupNorm (see {@link backboneGroups}), which really normalises
 * every sample and is what makes a backbone trained from scratch at batch 1–2 learn quickly.
 */
export type ResnetNorm = "FrozenBN" | "BN" | "GN";

export interface ResnetConfig {
  block: "basic" | "bottleneck";
  /** Blocks per stage (layer1..layer4). */
  layers: [number, number, number, number];
  /** Base widths ("planes") of the four stages; Bottleneck outputs 4× these. */
  widths: [number, number, number, number];
  /** Channels of the 7×7 stem conv (64 in torchvision). */
  stemWidth: number;
  /** Frozen BN (detectron2 style, all buffers), BN with trainable affine (running stats) or GroupNorm. */
  norm?: ResnetNorm;
  /** Adds torchvision's classifier `fc` (global average pool + Linear) when set. */
  numClasses?: number;
}

const TORCHVISION_WIDTHS: [number, number, number, number] = [64, 128, 256, 512];

export const RESNET_CONFIGS = {
  resnet18: { block: "basic", layers: [2, 2, 2, 2], widths: TORCHVISION_WIDTHS, stemWidth: 64 },
  resnet34: { block: "basic", layers: [3, 4, 6, 3], widths: TORCHVISION_WIDTHS, stemWidth: 64 },
  resnet50: { block: "bottleneck", layers: [3, 4, 6, 3], widths: TORCHVISION_WIDTHS, stemWidth: 64 },
  /** ResNet-18 layout at a quarter of the width (≈0.7 M parameters) for CPU training. */
  resnetSmall: { block: "basic", layers: [2, 2, 2, 2], widths: [16, 32, 64, 128], stemWidth: 16 },
} satisfies Record<string, ResnetConfig>;

export type ResnetName = keyof typeof RESNET_CONFIGS;

export interface ResnetFeatures {
  res2: tf.Tensor4D;
  res3: tf.Tensor4D;
  res4: tf.Tensor4D;
  res5: tf.Tensor4D;
}

type Norm = FrozenBatchNorm2d | BatchNorm2d | GroupNorm;

/**
 * GroupNorm groups for a backbone layer: 32 (detectron2's GN) where there are at least 128 channels,
 * else channels / 4, so the narrow layers of the small CPU backbones keep 4 channels per group.
 */
export function backboneGroups(channels: number): number {
  return Math.min(32, Math.max(1, Math.floor(channels / 4)));
}

function makeNorm(kind: ResnetNorm, channels: number): Norm {
  switch (kind) {
    case "BN":
      return new BatchNorm2d(channels);
    case "GN":
      return new GroupNorm(backboneGroups(channels), channels);
    case "FrozenBN":
      return new FrozenBatchNorm2d(channels);
  }
}

function conv(inCh: number, outCh: number, kernel: number, stride = 1): Conv2d {
  return new Conv2d(inCh, outCh, kernel, {
    stride,
    padding: (kernel - 1) >> 1,
    bias: false,
    init: "kaiming",
  });
}

/** downsample.0 (1×1 conv, stride) and downsample.1 (norm). */
class Downsample extends Module {
  readonly conv: Conv2d;
  readonly norm: Norm;
  constructor(inCh: number, outCh: number, stride: number, norm: ResnetNorm) {
    super();
    this.conv = this.addModule("0", conv(inCh, outCh, 1, stride));
    this.norm = this.addModule("1", makeNorm(norm, outCh));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.norm.forward(this.conv.forward(x)) as tf.Tensor4D;
  }
}

interface Block extends Module {
  forward(x: tf.Tensor4D): tf.Tensor4D;
}

export class BasicBlock extends Module implements Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: Norm;
  readonly conv2: Conv2d;
  readonly bn2: Norm;
  readonly downsample?: Downsample;

  constructor(inCh: number, planes: number, stride: number, norm: ResnetNorm) {
    super();
    this.conv1 = this.addModule("conv1", conv(inCh, planes, 3, stride));
    this.bn1 = this.addModule("bn1", makeNorm(norm, planes));
    this.conv2 = this.addModule("conv2", conv(planes, planes, 3));
    this.bn2 = this.addModule("bn2", makeNorm(norm, planes));
    if (stride !== 1 || inCh !== planes) {
      this.downsample = this.addModule("downsample", new Downsample(inCh, planes, stride, norm));
    }
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let out = tf.relu(this.bn1.forward(this.conv1.forward(x))) as tf.Tensor4D;
      out = this.bn2.forward(this.conv2.forward(out)) as tf.Tensor4D;
      const identity = this.downsample ? this.downsample.forward(x) : x;
      return tf.relu(tf.add(out, identity)) as tf.Tensor4D;
    });
  }
}

export class Bottleneck extends Module implements Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: Norm;
  readonly conv2: Conv2d;
  readonly bn2: Norm;
  readonly conv3: Conv2d;
  readonly bn3: Norm;
  readonly downsample?: Downsample;

  constructor(inCh: number, planes: number, stride: number, norm: ResnetNorm) {
    super();
    const outCh = planes * Bottleneck.expansion;
    this.conv1 = this.addModule("conv1", conv(inCh, planes, 1));
    this.bn1 = this.addModule("bn1", makeNorm(norm, planes));
    this.conv2 = this.addModule("conv2", conv(planes, planes, 3, stride));
    this.bn2 = this.addModule("bn2", makeNorm(norm, planes));
    this.conv3 = this.addModule("conv3", conv(planes, outCh, 1));
    this.bn3 = this.addModule("bn3", makeNorm(norm, outCh));
    if (stride !== 1 || inCh !== outCh) {
      this.downsample = this.addModule("downsample", new Downsample(inCh, outCh, stride, norm));
    }
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let out = tf.relu(this.bn1.forward(this.conv1.forward(x))) as tf.Tensor4D;
      out = tf.relu(this.bn2.forward(this.conv2.forward(out))) as tf.Tensor4D;
      out = this.bn3.forward(this.conv3.forward(out)) as tf.Tensor4D;
      const identity = this.downsample ? this.downsample.forward(x) : x;
      return tf.relu(tf.add(out, identity)) as tf.Tensor4D;
    });
  }
}

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Norm;
  readonly stages: ModuleList<Block>[] = [];
  readonly fc?: Linear;
  /** Channels of res2..res5. */
  readonly outChannels: [number, number, number, number];

  constructor(readonly config: ResnetConfig) {
    super();
    const norm = config.norm ?? "FrozenBN";
    const expansion = config.block === "bottleneck" ? Bottleneck.expansion : BasicBlock.expansion;
    this.conv1 = this.addModule("conv1", conv(3, config.stemWidth, 7, 2));
    this.bn1 = this.addModule("bn1", makeNorm(norm, config.stemWidth));
    let inCh = config.stemWidth;
    for (let stage = 0; stage < 4; stage++) {
      const planes = config.widths[stage];
      const list = this.addModule(`layer${stage + 1}`, new ModuleList<Block>());
      for (let i = 0; i < config.layers[stage]; i++) {
        const stride = i === 0 && stage > 0 ? 2 : 1;
        list.push(
          config.block === "bottleneck"
            ? new Bottleneck(inCh, planes, stride, norm)
            : new BasicBlock(inCh, planes, stride, norm),
        );
        inCh = planes * expansion;
      }
      this.stages.push(list);
    }
    this.outChannels = config.widths.map((w) => w * expansion) as [number, number, number, number];
    if (config.numClasses !== undefined) {
      this.fc = this.addModule("fc", new Linear(inCh, config.numClasses));
    }
  }

  /** x: [N, H, W, 3] → C2–C5. */
  forward(x: tf.Tensor4D): ResnetFeatures {
    if (x.rank !== 4 || x.shape[3] !== 3) {
      throw new VidsegError(`ResNet input must be [N, H, W, 3], got [${x.shape}]`);
    }
    return tf.tidy(() => {
      let y = tf.relu(this.bn1.forward(this.conv1.forward(x))) as tf.Tensor4D;
      y = tf.maxPool(y, 3, 2, 1);
      const features: tf.Tensor4D[] = [];
      for (const stage of this.stages) {
        for (const block of stage.items) y = block.forward(y);
        features.push(y);
      }
      const [res2, res3, res4, res5] = features;
      return { res2, res3, res4, res5 };
    });
  }

  /** RGB images in 0..1 → C2–C5: ImageNet-normalised first, as torchvision's ResNets are trained. */
  features(images: tf.Tensor4D): ResnetFeatures {
    const normalised = imagenetNormalize(images);
    try {
      return this.forward(normalised);
    } finally {
      normalised.dispose();
    }
  }

  /** Classifier logits (requires numClasses): global average pool of res5, then fc. */
  classify(res5: tf.Tensor4D): tf.Tensor2D {
    if (!this.fc) throw new VidsegError("this ResNet has no classifier (numClasses not set)");
    return tf.tidy(() => this.fc!.forward(tf.mean(res5, [1, 2])) as tf.Tensor2D);
  }
}

/** RGB in 0..1 → the ImageNet-normalised input torchvision's ResNets are trained on. */
export function imagenetNormalize(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(images, [0.485, 0.456, 0.406]), [0.229, 0.224, 0.225]) as tf.Tensor4D);
}

/** Builds a named ResNet (torchvision layout), optionally overriding norm / classifier. */
export function createResnet(
  name: ResnetName,
  options: Pick<ResnetConfig, "norm" | "numClasses"> = {},
): ResNet {
  return new ResNet({ ...RESNET_CONFIGS[name], ...options } as ResnetConfig);
}
