/**
 * The referring model's (YOFO, models/refer/) per-frame parts as four ONNX graphs; its memory and θ
 * solver stay the one TypeScript implementation (models/refer/meta-transfer.ts), run between the last
 * two graphs by src/infer/onnx-refer-network.ts. Everything is NCHW and a batch of one.
 *
 *   model.onnx         frame uint8 [1, H, W, 3] (any size) → preprocessing → backbone → res2..res5
 *                      (once per frame, shared by every expression that follows the stream)
 *   model.text.onnx    tokens int64 [1, L] → words [1, L, D], sentence [1, D]          (once per expression)
 *   model.target.onnx  res3..res5, words, sentence → feature mining → y = Y(t) [1, D, h, w]; with the
 *                      meta-transfer also x = X(t) [1, C, h, w] and the frame's memory sample
 *                      gram [1, q, q], cross [1, q, D] (memorySample of X's k×k patches, Y, W = σ(logits))
 *   model.decode.onnx  y, res2, sentence (, x, θ [1, q, D]: θ ∗ X as a convolution whose kernel is an
 *                      input) → mask decoder → mask_logits [1, 1, H/4, W/4]
 *
 * The metadata of model.onnx (models/onnx-file.ts, OnnxReferMetadata) holds the model info with its
 * vocabulary and config (memory, solver steps), λ and the preprocessing: nothing else is needed to run it.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { VIDSEG_VERSION } from "../core/version.js";
import { atInputSize, type ModelInfo } from "../models/model-file.js";
import {
  ONNX_METADATA_KEY,
  ONNX_REFER_FORMAT,
  ONNX_REFER_NAMES as NAMES,
  type OnnxReferMetadata,
  type ReferGraphPart,
} from "../models/onnx-file.js";
import {
  CONTEXT_LEVEL,
  coordinateMap,
  pixelPositions,
  TextFusion,
  type FeatureMining,
  type GlobalContext,
} from "../models/refer/feature-mining.js";
import type { MaskDecoder, ReferModel } from "../models/refer/model.js";
import { TransformerTextEncoder } from "../models/refer/text-encoder.js";
import { DataType, DEFAULT_OPSET, OnnxGraph } from "./onnx-graph.js";
import {
  backbone,
  conv2d,
  crossAttention,
  ffn,
  frameInput,
  linear,
  preprocessingMetadata,
  resize,
  selfAttention,
} from "./onnx-modules.js";
import { exportSize, type OnnxExportOptions } from "./onnx-segmenter.js";

/** The serialised graphs: `frame` is model.onnx (with the metadata), the others go beside it. */
export interface OnnxReferExport {
  opset: number;
  frame: Uint8Array;
  parts: Record<ReferGraphPart, Uint8Array>;
}

const FLOAT = DataType.FLOAT;

/** An NHWC constant tensor's values as NCHW [1, C, h, w]. */
function nchwValues(nhwc: tf.Tensor4D): Float32Array {
  return tf.tidy(() => tf.transpose(nhwc, [0, 3, 1, 2]).dataSync() as Float32Array);
}

/** [1, C, h, w] → [1, h·w, C] (a feature map's pixels as a sequence). */
function toSequence(g: OnnxGraph, x: string, channels: number, pixels: number): string {
  return g.op("Transpose", [g.op("Reshape", [x, g.int64s([1, channels, pixels])])], { perm: [0, 2, 1] });
}

/** [1, h·w, C] → [1, C, h, w]. */
function toMap(g: OnnxGraph, x: string, [c, h, w]: [number, number, number]): string {
  return g.op("Reshape", [g.op("Transpose", [x], { perm: [0, 2, 1] }), g.int64s([1, c, h, w])]);
}

/** TransformerTextEncoder.forward for one expression without padding: tokens [1, L] → words, sentence. */
function textEncoder(g: OnnxGraph, encoder: TransformerTextEncoder, tokens: string): [string, string] {
  const { dim, vocabularySize, maxWords } = encoder.options;
  const table = g.floats("text.embed", encoder.embed.weight.dataSync(), [vocabularySize, dim]);
  const positions = g.floats("text.pos", encoder.pos.weight.dataSync(), [maxWords, dim]);
  const length = g.op("Slice", [g.op("Shape", [tokens]), g.int64s([1]), g.int64s([2])]);
  const used = g.op("Slice", [positions, g.int64s([0]), length, g.int64s([0])]); // [L, D]
  let words = g.op("Add", [g.op("Gather", [table, tokens], { axis: 0 }), used]);
  encoder.layers.items.forEach((layer, i) => {
    words = selfAttention(g, layer.selfAttn, words, undefined, `text.layers.${i}.self_attn`);
    words = ffn(g, layer.ffn, words, `text.layers.${i}.ffn`);
  });
  // The mean over the words (all real: one expression has no padding).
  return [words, g.reduce("ReduceMean", words, [1], false)];
}

/** feature-mining.ts's pixelPositions as a constant [1, h·w, d]. */
function positions(g: OnnxGraph, [h, w]: [number, number], d: number, name: string): string {
  const pos = pixelPositions(h, w, d);
  const values = pos.dataSync() as Float32Array;
  pos.dispose();
  return g.floats(name, values, [1, h * w, d]);
}

/** TextFusion.forward on feature [1, D, h, w]. */
function textFusion(
  g: OnnxGraph,
  fusion: TextFusion,
  feature: string,
  [h, w]: [number, number],
  text: { words: string; sentence: string },
  hint: string,
): string {
  const d = fusion.dim;
  const attended = crossAttention(
    g,
    fusion.crossAttn,
    toSequence(g, feature, d, h * w),
    text.words,
    { queryPos: positions(g, [h, w], d, `${hint}.pos`) },
    `${hint}.cross_attn`,
  );
  const gate = g.op("Tanh", [linear(g, fusion.gate, text.sentence, `${hint}.gate`)]);
  const gated = g.op("Mul", [
    feature,
    g.op("Add", [g.scalar(1), g.op("Reshape", [gate, g.int64s([1, d, 1, 1])])]),
  ]);
  const coordinates = coordinateMap(h, w);
  const coords = g.floats(`${hint}.coords`, nchwValues(coordinates), [1, 2, h, w]);
  coordinates.dispose();
  const mixed = g.op("Concat", [toMap(g, attended, [d, h, w]), gated, coords], { axis: 1 });
  return conv2d(g, fusion.mix, mixed, `${hint}.mix`);
}

/** GlobalContext.forward on feature [1, D, h, w]. */
function globalContext(
  g: OnnxGraph,
  context: GlobalContext,
  feature: string,
  [h, w]: [number, number],
): string {
  const d = context.project.inFeatures;
  const attended = selfAttention(
    g,
    context.attention,
    toSequence(g, feature, d, h * w),
    positions(g, [h, w], d, "mining.context.pos"),
    "mining.context.attention",
  );
  const projected = linear(g, context.project, attended, "mining.context.project");
  return g.op("Add", [feature, toMap(g, projected, [d, h, w])]);
}

/** FeatureMining.forward: res3..res5 (NCHW, with their sizes) + text → Y(t) and W(t)'s logits. */
function featureMining(
  g: OnnxGraph,
  mining: FeatureMining,
  features: { map: string; size: [number, number] }[],
  text: { words: string; sentence: string },
): { y: string; weightLogits: string } {
  const d = mining.options.dim;
  let previous: string | undefined;
  features.forEach(({ map, size }, k) => {
    const level = 5 - k;
    let merged = conv2d(g, mining.laterals[k], map, `mining.lateral_${level}`);
    if (previous) merged = g.op("Add", [merged, resize(g, previous, [1, d, ...size], "bilinear")]);
    const module = mining.levels[k];
    previous =
      module instanceof TextFusion
        ? textFusion(g, module, merged, size, text, `mining.fuse_${level}`)
        : conv2d(g, module, merged, `mining.smooth_${level}`);
    if (k === CONTEXT_LEVEL && mining.context) previous = globalContext(g, mining.context, previous, size);
  });
  return { y: previous!, weightLogits: conv2d(g, mining.weight, previous!, "mining.weight") };
}

/**
 * meta-transfer.ts's im2col on NCHW: x [1, C, h, w] → the k×k zero-padded patches [1, h·w, k²·C] in
 * the order (dy, dx, c) of an HWIO kernel's flattening.
 */
function im2col(g: OnnxGraph, x: string, [c, h, w]: [number, number, number], k: number): string {
  if (k === 1) return toSequence(g, x, c, h * w);
  const r = k >> 1;
  const padded = g.op("Pad", [x, g.int64s([0, 0, r, r, 0, 0, r, r])], { mode: "constant" });
  const taps: string[] = [];
  for (let dy = 0; dy < k; dy++) {
    for (let dx = 0; dx < k; dx++) {
      taps.push(g.op("Slice", [padded, g.int64s([dy, dx]), g.int64s([dy + h, dx + w]), g.int64s([2, 3])]));
    }
  }
  return toSequence(g, g.op("Concat", taps, { axis: 1 }), k * k * c, h * w);
}

/** MaskDecoder.forward on NCHW: features at 1/8 [1, Cin, h, w], res2 [1, C2, 2h, 2w], sentence [1, D]. */
function maskDecoder(
  g: OnnxGraph,
  decoder: MaskDecoder,
  features: string,
  res2: string,
  sentence: string,
  [h, w]: [number, number],
): string {
  const d = decoder.dim;
  const fused = conv2d(g, decoder.fuse, features, "decoder.fuse");
  const merged = g.op("Add", [
    resize(g, fused, [1, d, h, w], "bilinear"),
    conv2d(g, decoder.lateral, res2, "decoder.lateral"),
  ]);
  const refined = conv2d(g, decoder.refine, merged, "decoder.refine");
  if (!decoder.textKernel) return conv2d(g, decoder.predict!, refined, "decoder.predict");
  const kernel = linear(g, decoder.textKernel, sentence, "decoder.text_kernel"); // [1, D + 1]
  const slice = (from: number, to: number, dims: number[]) =>
    g.op("Reshape", [
      g.op("Slice", [kernel, g.int64s([from]), g.int64s([to]), g.int64s([1])]),
      g.int64s(dims),
    ]);
  const dot = g.reduce("ReduceSum", g.op("Mul", [refined, slice(0, d, [1, d, 1, 1])]), [1]);
  return g.op("Add", [g.op("Mul", [dot, g.scalar(1 / Math.sqrt(d))]), slice(d, d + 1, [1, 1, 1, 1])]);
}

/** The serialised graphs of a referring model; see the module comment. */
export function exportReferModel(
  model: ReferModel,
  info: ModelInfo,
  options: OnnxExportOptions = {},
): OnnxReferExport {
  const config = info.config;
  const [height, width] = exportSize(options.size ?? config.model.inputSize);
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!(model.text instanceof TransformerTextEncoder)) {
    throw new VidsegError(`ONNX export: no emitter for a ${model.text.constructor.name} text encoder`);
  }
  const d = config.model.hiddenDim;
  const refer = model.refer;
  const channels = model.backbone.outChannels;
  const sizes = [4, 8, 16, 32].map((s) => [height / s, width / s] as [number, number]);
  const float = (name: string, dims: (number | string)[]) => ({ name, type: FLOAT, dims });
  const featureSpecs = NAMES.features.map((name, i) => float(name, [1, channels[i], ...sizes[i]]));
  const textSpecs = [float(NAMES.words, [1, "words", d]), float(NAMES.sentence, [1, d])];
  const [h, w] = sizes[1];
  const transferDim = refer.transferDim;
  const q = refer.transferKernel ** 2 * transferDim;

  // model.onnx: frame → res2..res5.
  const frameGraph = new OnnxGraph(opset);
  backbone(frameGraph, model.backbone, frameInput(frameGraph, NAMES.frame, [height, width])).forEach(
    (map, i) => frameGraph.output(map, featureSpecs[i]),
  );

  // model.text.onnx: tokens → words, sentence.
  const textGraph = new OnnxGraph(opset);
  const tokens = textGraph.input({ name: NAMES.tokens, type: DataType.INT64, dims: [1, "words"] });
  textEncoder(textGraph, model.text, tokens).forEach((value, i) => textGraph.output(value, textSpecs[i]));

  // model.target.onnx: res3..res5 + text → Y(t) (and X(t), the memory sample).
  const targetGraph = new OnnxGraph(opset);
  const [res3, res4, res5] = featureSpecs.slice(1).map((spec) => targetGraph.input(spec));
  const [words, sentence] = textSpecs.map((spec) => targetGraph.input(spec));
  const { y, weightLogits } = featureMining(
    targetGraph,
    model.mining,
    [res5, res4, res3].map((map, k) => ({ map, size: sizes[3 - k] })),
    { words, sentence },
  );
  targetGraph.output(y, float(NAMES.y, [1, d, h, w]));
  if (model.transfer) {
    const g = targetGraph;
    const x = conv2d(g, model.transfer.input, res3, "transfer.input");
    const patches = im2col(g, x, [transferDim, h, w], refer.transferKernel);
    const weight = g.op("Reshape", [g.op("Sigmoid", [weightLogits]), g.int64s([1, h * w, 1])]);
    // memorySample: A = Pᵀ diag(W²) P, C = Pᵀ diag(W²) Y.
    const weighted = g.op("Transpose", [g.op("Mul", [g.op("Mul", [weight, weight]), patches])], {
      perm: [0, 2, 1],
    });
    g.output(x, float(NAMES.transferInput, [1, transferDim, h, w]));
    g.output(g.op("MatMul", [weighted, patches]), float(NAMES.gram, [1, q, q]));
    g.output(g.op("MatMul", [weighted, toSequence(g, y, d, h * w)]), float(NAMES.cross, [1, q, d]));
  }

  // model.decode.onnx: Y(t) (+ θ ∗ X(t)), res2, sentence → mask logits at 1/4.
  const decodeGraph = new OnnxGraph(opset);
  const g = decodeGraph;
  let decoderInput = g.input(float(NAMES.y, [1, d, h, w]));
  const res2 = g.input(featureSpecs[0]);
  const decodeSentence = g.input(textSpecs[1]);
  if (model.transfer) {
    const x = g.input(float(NAMES.transferInput, [1, transferDim, h, w]));
    const theta = g.input(float(NAMES.theta, [1, q, d]));
    const k = refer.transferKernel;
    // θ [1, k²·C, D] is the HWIO kernel [k, k, C, D] flattened: → OIHW for Conv ("same", stride 1).
    const kernel = g.op("Transpose", [g.op("Reshape", [theta, g.int64s([k, k, transferDim, d])])], {
      perm: [3, 2, 0, 1],
    });
    const r = k >> 1;
    const transferred = g.op("Conv", [x, kernel], { kernel_shape: [k, k], pads: [r, r, r, r] });
    decoderInput = g.op("Concat", [decoderInput, transferred], { axis: 1 });
  }
  const logits = maskDecoder(g, model.decoder, decoderInput, res2, decodeSentence, sizes[0]);
  g.output(logits, float(NAMES.maskLogits, [1, 1, ...sizes[0]]));

  const lambda = model.transfer ? model.transfer.lambda() : undefined;
  const metadata: OnnxReferMetadata = {
    format: ONNX_REFER_FORMAT,
    vidsegVersion: VIDSEG_VERSION,
    info: atInputSize(info, [height, width]),
    preprocessing: preprocessingMetadata(config.model.backbone, model.backbone, [height, width]),
    lambda: lambda ? lambda.dataSync()[0] : null,
    featureSize: [h, w],
    maskSize: sizes[0],
  };
  lambda?.dispose();
  return {
    opset,
    frame: frameGraph.toBytes(
      "vidseg_refer_frame",
      { [ONNX_METADATA_KEY]: JSON.stringify(metadata) },
      VIDSEG_VERSION,
    ),
    parts: {
      text: textGraph.toBytes("vidseg_refer_text", {}, VIDSEG_VERSION),
      target: targetGraph.toBytes("vidseg_refer_target", {}, VIDSEG_VERSION),
      decode: decodeGraph.toBytes("vidseg_refer_decode", {}, VIDSEG_VERSION),
    },
  };
}
