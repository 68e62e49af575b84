/**
 * ONNX emitters for the nn blocks: each mirrors its module's `forward` (src/nn/) op for op, on NCHW
 * tensors (ONNX's layout) where the module works on NHWC, and reads the module's live weights. The
 * parity test (test/onnx.test.ts) holds every emitter to its module's output.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import type { MultiheadAttention } from "../nn/attention.js";
import type { Backbone } from "../nn/backbone.js";
import { CenternetBackbone } from "../nn/centernet-backbone.js";
import type {
  CrossAttentionLayer,
  FfnLayer,
  MaskedAttentionDecoderLayer,
  SelfAttentionLayer,
} from "../nn/decoder.js";
import {
  BatchNorm2d,
  Conv2d,
  FrozenBatchNorm2d,
  GroupNorm,
  LayerNorm,
  type Activation,
  type Linear,
  type Mlp,
} from "../nn/layers.js";
import type { FpnPixelDecoder } from "../nn/pixel-decoder.js";
import type { OnnxPreprocessing } from "../models/onnx-file.js";
import { BasicBlock, Bottleneck, ResNet } from "../nn/resnet.js";
import { centernetBackbone } from "./onnx-centernet.js";
import { DataType, type OnnxGraph } from "./onnx-graph.js";

/** A tensor's values (float32), read once at export time. */
function values(tensor: tf.Tensor): Float32Array {
  return tensor.dataSync() as Float32Array;
}

/** Conv weights HWIO [kh, kw, in, out] (tfjs) → OIHW [out, in, kh, kw] (ONNX). */
function oihw(weight: tf.Tensor): { data: Float32Array; dims: number[] } {
  const [kh, kw, inCh, outCh] = weight.shape;
  const data = tf.tidy(() => tf.transpose(weight, [3, 2, 0, 1]).dataSync() as Float32Array);
  return { data, dims: [outCh, inCh, kh, kw] };
}

/** A per-channel vector as [C, 1, 1], to broadcast over NCHW. */
function channelVector(g: OnnxGraph, hint: string, data: Float32Array): string {
  return g.floats(hint, data, [data.length, 1, 1]);
}

export function activation(g: OnnxGraph, x: string, kind: Activation): string {
  switch (kind) {
    case "relu":
      return g.op("Relu", [x]);
    case "gelu": {
      // x·0.5·(1 + erf(x/√2)), as layers.ts computes it.
      const half = g.op("Mul", [x, g.scalar(0.5)]);
      const erf = g.op("Erf", [g.op("Mul", [x, g.scalar(Math.SQRT1_2)])]);
      return g.op("Mul", [half, g.op("Add", [g.scalar(1), erf])]);
    }
    case "none":
      return x;
  }
}

/** Conv2d (+ norm + activation) on NCHW. */
export function conv2d(g: OnnxGraph, conv: Conv2d, x: string, hint: string): string {
  const { data, dims } = oihw(conv.weight);
  const p = conv.padding;
  const inputs = [x, g.floats(`${hint}.weight`, data, dims)];
  if (conv.bias) inputs.push(g.floats(`${hint}.bias`, values(conv.bias), [conv.outChannels]));
  let y = g.op(
    "Conv",
    inputs,
    {
      kernel_shape: [conv.kernelSize, conv.kernelSize],
      strides: [conv.stride, conv.stride],
      pads: [p, p, p, p],
      dilations: [conv.dilation, conv.dilation],
    },
    hint,
  );
  if (conv.norm) y = norm2d(g, conv.norm, y, `${hint}.norm`);
  return activation(g, y, conv.activation);
}

/** The 2-D norms on NCHW. */
export function norm2d(g: OnnxGraph, norm: Conv2d["norm"], x: string, hint: string): string {
  if (norm instanceof GroupNorm) return groupNorm(g, norm, x, hint);
  if (norm instanceof FrozenBatchNorm2d || norm instanceof BatchNorm2d) {
    // layers.ts's batchNormInference: scale = w·rsqrt(var + eps), shift = b − mean·scale.
    const [scale, shift] = tf.tidy(() => {
      const s = tf.mul(norm.weight, tf.rsqrt(tf.add(norm.runningVar, norm.eps)));
      return [values(s), values(tf.sub(norm.bias, tf.mul(norm.runningMean, s)))];
    });
    const scaled = g.op("Mul", [x, channelVector(g, `${hint}.scale`, scale)]);
    return g.op("Add", [scaled, channelVector(g, `${hint}.shift`, shift)]);
  }
  throw new VidsegError(
    `ONNX export: no emitter for a ${norm?.constructor.name ?? "missing"} norm after a conv`,
  );
}

/** GroupNorm on NCHW: InstanceNormalization over [N, G, C/G·H·W] (the same statistics), then the affine. */
export function groupNorm(g: OnnxGraph, norm: GroupNorm, x: string, hint: string): string {
  const groups = norm.numGroups;
  const grouped = g.op("Reshape", [x, g.int64s([0, groups, -1])]);
  const normalised = g.op(
    "InstanceNormalization",
    [
      grouped,
      g.floats(`${hint}.ones`, new Float32Array(groups).fill(1), [groups]),
      g.floats(`${hint}.zeros`, new Float32Array(groups), [groups]),
    ],
    { epsilon: norm.eps },
  );
  const restored = g.op("Reshape", [normalised, g.op("Shape", [x])]);
  const scaled = g.op("Mul", [restored, channelVector(g, `${hint}.weight`, values(norm.weight))]);
  return g.op("Add", [scaled, channelVector(g, `${hint}.bias`, values(norm.bias))]);
}

/** LayerNorm over the last axis. */
export function layerNorm(g: OnnxGraph, norm: LayerNorm, x: string, hint: string): string {
  const weight = g.floats(`${hint}.weight`, values(norm.weight), [norm.dim]);
  const bias = g.floats(`${hint}.bias`, values(norm.bias), [norm.dim]);
  return g.op("LayerNormalization", [x, weight, bias], { axis: -1, epsilon: norm.eps }, hint);
}

/** y = x·Wᵀ + b over the last axis. */
export function linear(g: OnnxGraph, layer: Linear, x: string, hint: string): string {
  const transposed = tf.tidy(() => values(tf.transpose(layer.weight)));
  let y = g.op(
    "MatMul",
    [x, g.floats(`${hint}.weight_t`, transposed, [layer.inFeatures, layer.outFeatures])],
    {},
    hint,
  );
  if (layer.bias) y = g.op("Add", [y, g.floats(`${hint}.bias`, values(layer.bias), [layer.outFeatures])]);
  return y;
}

export function mlp(g: OnnxGraph, module: Mlp, x: string, hint: string): string {
  let y = x;
  module.layers.forEach((layer, i) => {
    y = linear(g, layer, y, `${hint}.layers.${i}`);
    if (i < module.layers.length - 1) y = g.op("Relu", [y]);
  });
  return y;
}

export interface AttentionShapes {
  /** Query length. */
  lq: number;
  /** Key length. */
  lk: number;
}

/**
 * Multi-head attention, batch 1: query [1, Lq, E], key and value [1, Lk, E]; `additiveMask` broadcasts to
 * [1, heads, Lq, Lk] (added to the scores).
 */
export function multiheadAttention(
  g: OnnxGraph,
  attention: MultiheadAttention,
  query: string,
  key: string,
  value: string,
  additiveMask: string | undefined,
  hint: string,
): string {
  const e = attention.embedDim;
  const h = attention.numHeads;
  const d = attention.headDim;
  const [wq, wk, wv, bq, bk, bv] = tf.tidy(() => [
    ...tf.split(attention.inProjWeight, 3, 0).map((w) => values(tf.transpose(w))),
    ...tf.split(attention.inProjBias, 3, 0).map(values),
  ]);
  const project = (x: string, w: Float32Array, b: Float32Array, name: string) => {
    const y = g.op("MatMul", [x, g.floats(`${hint}.${name}_weight_t`, w, [e, e])]);
    const biased = g.op("Add", [y, g.floats(`${hint}.${name}_bias`, b, [e])]);
    return g.op("Reshape", [biased, g.int64s([0, 0, h, d])]); // [1, L, H, D]
  };
  const q = g.op("Transpose", [g.op("Mul", [project(query, wq, bq, "q"), g.scalar(1 / Math.sqrt(d))])], {
    perm: [0, 2, 1, 3],
  });
  const k = g.op("Transpose", [project(key, wk, bk, "k")], { perm: [0, 2, 3, 1] }); // [1, H, D, Lk]
  const v = g.op("Transpose", [project(value, wv, bv, "v")], { perm: [0, 2, 1, 3] });
  let scores = g.op("MatMul", [q, k]); // [1, H, Lq, Lk]
  if (additiveMask) scores = g.op("Add", [scores, additiveMask]);
  const weights = g.op("Softmax", [scores], { axis: -1 });
  const context = g.op("Transpose", [g.op("MatMul", [weights, v])], { perm: [0, 2, 1, 3] });
  const merged = g.op("Reshape", [context, g.int64s([0, 0, e])]);
  return linear(g, attention.outProj, merged, `${hint}.out_proj`);
}

/** CrossAttentionLayer.forward: norm(tgt + attn(tgt + queryPos, memory + pos, memory, mask)). */
export function crossAttention(
  g: OnnxGraph,
  layer: CrossAttentionLayer,
  tgt: string,
  memory: string,
  options: { mask?: string; pos?: string; queryPos?: string },
  hint: string,
): string {
  const withPosition = (x: string, pos?: string) => (pos ? g.op("Add", [x, pos]) : x);
  const attended = multiheadAttention(
    g,
    layer.multiheadAttn,
    withPosition(tgt, options.queryPos),
    withPosition(memory, options.pos),
    memory,
    options.mask,
    `${hint}.multihead_attn`,
  );
  return layerNorm(g, layer.norm, g.op("Add", [tgt, attended]), `${hint}.norm`);
}

/** SelfAttentionLayer.forward: norm(tgt + attn(q = k = tgt + queryPos, v = tgt)), no masks. */
export function selfAttention(
  g: OnnxGraph,
  layer: SelfAttentionLayer,
  tgt: string,
  queryPos: string | undefined,
  hint: string,
): string {
  const q = queryPos ? g.op("Add", [tgt, queryPos]) : tgt;
  const attended = multiheadAttention(g, layer.selfAttn, q, q, tgt, undefined, `${hint}.self_attn`);
  return layerNorm(g, layer.norm, g.op("Add", [tgt, attended]), `${hint}.norm`);
}

/** FfnLayer.forward: norm(tgt + linear2(relu(linear1(tgt)))). */
export function ffn(g: OnnxGraph, layer: FfnLayer, tgt: string, hint: string): string {
  const hidden = g.op("Relu", [linear(g, layer.linear1, tgt, `${hint}.linear1`)]);
  const out = linear(g, layer.linear2, hidden, `${hint}.linear2`);
  return layerNorm(g, layer.norm, g.op("Add", [tgt, out]), `${hint}.norm`);
}

/** One masked-attention decoder layer: cross-attention, self-attention, FFN. */
export function decoderLayer(
  g: OnnxGraph,
  layer: MaskedAttentionDecoderLayer,
  queries: string,
  memory: string,
  options: { mask: string; memoryPos: string; queryPos: string },
  hint: string,
): string {
  let out = crossAttention(
    g,
    layer.crossAttn,
    queries,
    memory,
    { mask: options.mask, pos: options.memoryPos, queryPos: options.queryPos },
    `${hint}.cross_attn`,
  );
  out = selfAttention(g, layer.selfAttn, out, options.queryPos, `${hint}.self_attn`);
  return ffn(g, layer.ffn, out, `${hint}.ffn`);
}

/**
 * The graph's `frame` input, RGB bytes [1, H, W, 3] of any size, as processing/preprocess.ts prepares a
 * frame: → 0..1 → bilinear resize (half-pixel centres) to height × width, NCHW.
 */
export function frameInput(g: OnnxGraph, name: string, [height, width]: [number, number]): string {
  const frame = g.input({ name, type: DataType.UINT8, dims: [1, "height", "width", 3] });
  const scaled = g.op("Div", [g.op("Cast", [frame], { to: DataType.FLOAT }), g.scalar(255)]);
  return resize(g, g.op("Transpose", [scaled], { perm: [0, 3, 1, 2] }), [1, 3, height, width], "bilinear");
}

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** The metadata's account of {@link frameInput} and the backbone's own normalisation. */
export function preprocessingMetadata(
  backboneName: string,
  net: Backbone,
  inputSize: [number, number],
): OnnxPreprocessing {
  return {
    input: "RGB uint8 [1, H, W, 3]",
    scale: 1 / 255,
    resize: "bilinear, half-pixel centres",
    inputSize,
    backbone: backboneName,
    ...(net instanceof ResNet ? { mean: IMAGENET_MEAN, std: IMAGENET_STD } : {}),
  };
}

/** RGB in 0..1 (NCHW) → ImageNet-normalised, as resnet.ts's imagenetNormalize. */
export function imagenetNormalize(g: OnnxGraph, x: string): string {
  const mean = g.floats("imagenet_mean", IMAGENET_MEAN, [1, 3, 1, 1]);
  const std = g.floats("imagenet_std", IMAGENET_STD, [1, 3, 1, 1]);
  return g.op("Div", [g.op("Sub", [x, mean]), std]);
}

/** ResNet.forward on NCHW input: res2..res5. */
export function resnet(g: OnnxGraph, net: ResNet, x: string, hint: string): [string, string, string, string] {
  let y = g.op("Relu", [norm2d(g, net.bn1, conv2d(g, net.conv1, x, `${hint}.conv1`), `${hint}.bn1`)]);
  y = g.op("MaxPool", [y], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  const features: string[] = [];
  net.stages.forEach((stage, s) => {
    stage.items.forEach((block, i) => {
      y = residualBlock(g, block, y, `${hint}.layer${s + 1}.${i}`);
    });
    features.push(y);
  });
  return features as [string, string, string, string];
}

/** Backbone.features on NCHW images in 0..1 → res2..res5, each backbone with its own input normalisation. */
export function backbone(g: OnnxGraph, net: Backbone, images: string): [string, string, string, string] {
  if (net instanceof ResNet) return resnet(g, net, imagenetNormalize(g, images), "backbone");
  if (net instanceof CenternetBackbone) return centernetBackbone(g, net, images);
  throw new VidsegError(`ONNX export: no emitter for a ${net.constructor.name} backbone`);
}

function residualBlock(g: OnnxGraph, block: unknown, x: string, hint: string): string {
  const convNorm = (conv: Conv2d, norm: Conv2d["norm"], input: string, name: string, bn: string) =>
    norm2d(g, norm, conv2d(g, conv, input, `${hint}.${name}`), `${hint}.${bn}`);
  let out: string;
  let downsample: BasicBlock["downsample"];
  if (block instanceof BasicBlock) {
    out = g.op("Relu", [convNorm(block.conv1, block.bn1, x, "conv1", "bn1")]);
    out = convNorm(block.conv2, block.bn2, out, "conv2", "bn2");
    downsample = block.downsample;
  } else if (block instanceof Bottleneck) {
    out = g.op("Relu", [convNorm(block.conv1, block.bn1, x, "conv1", "bn1")]);
    out = g.op("Relu", [convNorm(block.conv2, block.bn2, out, "conv2", "bn2")]);
    out = convNorm(block.conv3, block.bn3, out, "conv3", "bn3");
    downsample = block.downsample;
  } else {
    throw new VidsegError("ONNX export: unknown ResNet block");
  }
  const identity = downsample
    ? norm2d(
        g,
        downsample.norm,
        conv2d(g, downsample.conv, x, `${hint}.downsample.0`),
        `${hint}.downsample.1`,
      )
    : x;
  return g.op("Relu", [g.op("Add", [out, identity])]);
}

/** Resize of an NCHW tensor to height × width (nearest: PyTorch's legacy floor; bilinear: half-pixel). */
export function resize(
  g: OnnxGraph,
  x: string,
  shape: [number, number, number, number],
  mode: "nearest" | "bilinear",
): string {
  const attributes: Record<string, string> =
    mode === "nearest"
      ? { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" }
      : { mode: "linear", coordinate_transformation_mode: "half_pixel" };
  return g.op("Resize", [x, "", "", g.int64s(shape)], attributes);
}

/** FpnPixelDecoder.forward on NCHW features with their sizes: mask features and the three memory levels. */
export function pixelDecoder(
  g: OnnxGraph,
  decoder: FpnPixelDecoder,
  features: string[],
  sizes: [number, number][],
): { maskFeatures: string; levels: string[] } {
  const convDim = decoder.options.convDim;
  let y = conv2d(g, decoder.outputConvs[3], features[3], "pixel_decoder.layer_4");
  const levels = [y];
  for (let idx = 2; idx >= 0; idx--) {
    const lateral = conv2d(g, decoder.lateralConvs[idx], features[idx], `pixel_decoder.adapter_${idx + 1}`);
    const [h, w] = sizes[idx];
    const [ph, pw] = sizes[idx + 1];
    const mode = decoder.options.upsample === "bilinear" ? "bilinear" : "nearest";
    const up = ph === h && pw === w ? y : resize(g, y, [1, convDim, h, w], mode);
    y = conv2d(g, decoder.outputConvs[idx], g.op("Add", [lateral, up]), `pixel_decoder.layer_${idx + 1}`);
    if (levels.length < 3) levels.push(y);
  }
  return { maskFeatures: conv2d(g, decoder.maskFeatures, y, "pixel_decoder.mask_features"), levels };
}
