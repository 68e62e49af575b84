/**
 * The online VIS model's per-frame network as one ONNX graph (what onnxruntime runs in Node and in the
 * browser; the tracker and post-processing stay in TypeScript, src/infer and src/processing):
 *
 *   frame    uint8 [1, H, W, 3] RGB, any size
 *     → /255, bilinear resize (half-pixel centres) to the model's input size   (processing/preprocess.ts)
 *     → FrameSegmenter.forward (models/segmenter.ts)
 *   pred_logits [1, N, K+1]   class_probs [1, N, K+1] (softmax)   pred_masks [1, N, h, w]   query_embed [1, N, E]
 *
 * plus, when the model has a crop classifier, the resized frame `image` [1, 3, h, w] for its own graph
 * (a second file, `model.crop.onnx` beside `model.onnx`: onnxruntime runs every node of a graph, and the
 * crops depend on the first graph's masks):
 *
 *   image, crop_boxes float [n, 4] (y0, x0, y1, x1 in 0..1 over size − 1: crop-classifier.ts's CropBox)
 *     → tf.image.cropAndResize's bilinear samples (GridSample, align_corners)
 *     → CropClassifier.classify → crop_logits [n, K], crop_probs [n, K] (softmax)
 *
 * The model info (kind, config, category ids and names, what it was trained on), the vidseg version and
 * the preprocessing are in the model's metadata under "vidseg" (see {@link OnnxModelMetadata}).
 */
import { VidsegError } from "../core/errors.js";
import { VIDSEG_VERSION } from "../core/version.js";
import { atInputSize, type ModelInfo } from "../models/model-file.js";
import { ONNX_FORMAT, ONNX_METADATA_KEY, ONNX_NAMES, type OnnxModelMetadata } from "../models/onnx-file.js";
import type { FrameSegmenter } from "../models/segmenter.js";
import type { CropClassifier } from "../models/crop-classifier.js";
import { sinePositionEncoding } from "../nn/position.js";
import { DataType, DEFAULT_OPSET, OnnxGraph } from "./onnx-graph.js";
import {
  backbone,
  decoderLayer,
  frameInput,
  imagenetNormalize,
  layerNorm,
  linear,
  mlp,
  pixelDecoder,
  preprocessingMetadata,
  resize,
  resnet,
} from "./onnx-modules.js";

export interface OnnxExportOptions {
  /** The model input [height, width] (multiples of 32); default the model's config.model.inputSize. */
  size?: [number, number];
  opset?: number;
}

/** The exported graphs: the segmenter's, and the crop classifier's when the model has one. */
export interface OnnxExport {
  opset: number;
  segmenter: Uint8Array;
  cropClassifier?: Uint8Array;
}

/** An export's input size [height, width], checked: positive multiples of 32 (the coarsest feature's stride). */
export function exportSize([height, width]: [number, number]): [number, number] {
  if (
    !(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0) ||
    height % 32 ||
    width % 32
  ) {
    throw new VidsegError(`ONNX export size must be positive multiples of 32, got ${height}×${width}`);
  }
  return [height, width];
}

/** The serialised ONNX models of an online model's per-frame network; see the module comment. */
export function exportOnlineSegmenter(
  segmenter: FrameSegmenter,
  info: ModelInfo,
  options: OnnxExportOptions = {},
): OnnxExport {
  const config = segmenter.config;
  const [height, width] = exportSize(options.size ?? config.inputSize);
  const g = new OnnxGraph(options.opset ?? DEFAULT_OPSET);
  const n = config.numQueries;
  const d = config.hiddenDim;
  const numClasses = config.numClasses;

  // Preprocessing: RGB bytes → 0..1 → the model's input size (NCHW inside the graph).
  const image = frameInput(g, ONNX_NAMES.frame, [height, width]);

  const features = backbone(g, segmenter.backbone, image);
  const sizes = [4, 8, 16, 32].map((s) => [height / s, width / s] as [number, number]);
  const { maskFeatures, levels } = pixelDecoder(g, segmenter.pixelDecoder, features, sizes);
  const [maskH, maskW] = sizes[0];
  const flatMaskFeatures = g.op("Reshape", [maskFeatures, g.int64s([1, config.maskDim, maskH * maskW])]);

  // The transformer decoder: memory levels at 1/32, 1/16, 1/8, as FrameSegmenter.decode.
  const levelEmbed = segmenter.levelEmbed.weight.dataSync() as Float32Array;
  const memory = levels.map((level, i) => {
    const [h, w] = sizes[3 - i];
    const flat = g.op("Transpose", [g.op("Reshape", [level, g.int64s([1, d, h * w])])], { perm: [0, 2, 1] });
    const embed = g.floats(`level_embed.${i}`, levelEmbed.subarray(i * d, (i + 1) * d), [d]);
    const pos = sinePositionEncoding(1, h, w, { numPosFeats: d / 2 });
    const posData = pos.dataSync();
    pos.dispose();
    return {
      height: h,
      width: w,
      features: g.op("Add", [flat, embed]),
      pos: g.floats(`level_pos.${i}`, posData, [1, h * w, d]),
    };
  });
  const queryPos = g.floats("query_embed", segmenter.queryEmbedTable.weight.dataSync(), [1, n, d]);
  let output = g.floats("query_feat", segmenter.queryFeat.weight.dataSync(), [1, n, d]);

  const masksOf = (queries: string) => {
    const normed = layerNorm(g, segmenter.decoderNorm, queries, "decoder_norm");
    const embeds = mlp(g, segmenter.maskEmbed, normed, "mask_embed");
    const masks = g.op("MatMul", [embeds, flatMaskFeatures]);
    return { normed, masks: g.op("Reshape", [masks, g.int64s([1, n, maskH, maskW])]) };
  };
  let heads = masksOf(output);
  segmenter.layers.items.forEach((layer, i) => {
    const level = memory[i % memory.length];
    const mask = attentionMask(g, heads.masks, [n, maskH, maskW], level.height, level.width);
    output = decoderLayer(
      g,
      layer,
      output,
      level.features,
      { mask, memoryPos: level.pos, queryPos },
      `layers.${i}`,
    );
    heads = masksOf(output);
  });
  const predLogits = linear(g, segmenter.classEmbed, heads.normed, "class_embed");
  const embedding = segmenter.trackEmbed
    ? mlp(g, segmenter.trackEmbed, heads.normed, "track_embed")
    : heads.normed;
  const norm = g.op("Max", [g.reduce("ReduceL2", embedding, [-1]), g.scalar(1e-12)]);
  const queryEmbed = g.op("Div", [embedding, norm]);
  const embeddingDim = segmenter.embeddingDim;

  const float = DataType.FLOAT;
  g.output(predLogits, { name: ONNX_NAMES.predLogits, type: float, dims: [1, n, numClasses + 1] });
  g.output(g.op("Softmax", [predLogits], { axis: -1 }), {
    name: ONNX_NAMES.classProbs,
    type: float,
    dims: [1, n, numClasses + 1],
  });
  g.output(heads.masks, { name: ONNX_NAMES.predMasks, type: float, dims: [1, n, maskH, maskW] });
  g.output(queryEmbed, { name: ONNX_NAMES.queryEmbed, type: float, dims: [1, n, embeddingDim] });

  const classifier = segmenter.cropClassifier;
  if (classifier) g.output(image, { name: ONNX_NAMES.image, type: float, dims: [1, 3, height, width] });

  // The tracker and the crop boxes work at the exported input size.
  const exportedInfo = atInputSize(info, [height, width]);
  const metadata: OnnxModelMetadata = {
    format: ONNX_FORMAT,
    vidsegVersion: VIDSEG_VERSION,
    info: exportedInfo,
    preprocessing: preprocessingMetadata(config.backbone, segmenter.backbone, [height, width]),
    outputs: { maskStride: 4, numQueries: n, numClasses, embeddingDim },
    ...(classifier ? { cropClassifier: { cropSize: classifier.cropSize } } : {}),
  };
  return {
    opset: g.opset,
    segmenter: g.toBytes(
      "vidseg_online_segmenter",
      { [ONNX_METADATA_KEY]: JSON.stringify(metadata) },
      VIDSEG_VERSION,
    ),
    ...(classifier ? { cropClassifier: exportCropClassifier(classifier, [height, width], g.opset) } : {}),
  };
}

/**
 * decoder.ts's maskedAttentionMask as an additive mask: mask logits [1, N, h, w] resized (bilinear,
 * half-pixel) to the level, masked where sigmoid < 0.5, a fully masked row attends everywhere; → −1e9
 * where masked, 0 elsewhere, [1, 1, N, H·W] (broadcast over the heads, as attention.ts adds it).
 */
function attentionMask(
  g: OnnxGraph,
  maskLogits: string,
  [n, h, w]: [number, number, number],
  height: number,
  width: number,
): string {
  const resized =
    h === height && w === width ? maskLogits : resize(g, maskLogits, [1, n, height, width], "bilinear");
  const flat = g.op("Reshape", [resized, g.int64s([1, n, height * width])]);
  const masked = g.op("Less", [g.op("Sigmoid", [flat]), g.scalar(0.5)]);
  const open = g.op("Cast", [g.op("Not", [masked])], { to: DataType.FLOAT });
  const anyOpen = g.op("Greater", [g.reduce("ReduceMax", open, [-1]), g.scalar(0)]);
  const effective = g.op("And", [masked, anyOpen]);
  const additive = g.op("Where", [effective, g.scalar(-1e9), g.scalar(0)]);
  return g.op("Unsqueeze", [additive, g.int64s([1])]);
}

/**
 * The crop classifier's graph: boxes of the segmenter's resized frame (its `image` output, NCHW
 * [1, 3, H, W]) → class logits. cropAndResize's samples y = y0·(H−1) + i·(y1−y0)·(H−1)/(S−1) are
 * GridSample's align_corners coordinates 2·(y0 + t_i·(y1−y0)) − 1.
 */
function exportCropClassifier(
  classifier: CropClassifier,
  [height, width]: [number, number],
  opset: number,
): Uint8Array {
  const g = new OnnxGraph(opset);
  const s = classifier.cropSize;
  const image = g.input({ name: ONNX_NAMES.image, type: DataType.FLOAT, dims: [1, 3, height, width] });
  const boxes = g.input({ name: ONNX_NAMES.cropBoxes, type: DataType.FLOAT, dims: ["crops", 4] });
  const steps = g.floats(
    "crop_steps",
    Array.from({ length: s }, (_, i) => i / (s - 1)),
    [1, s],
  );
  const [y0, x0, y1, x1] = g.opN("Split", [boxes, g.int64s([1, 1, 1, 1])], 4, { axis: 1 }, "box");
  const coordinates = (start: string, end: string) => {
    const along = g.op("Add", [start, g.op("Mul", [steps, g.op("Sub", [end, start])])]); // [n, S]
    return g.op("Sub", [g.op("Mul", [along, g.scalar(2)]), g.scalar(1)]);
  };
  const zeros = g.floats("crop_grid_zeros", new Float32Array(s * s), [1, s, s, 1]);
  const gy = g.op("Add", [g.op("Reshape", [coordinates(y0, y1), g.int64s([-1, s, 1, 1])]), zeros]);
  const gx = g.op("Add", [g.op("Reshape", [coordinates(x0, x1), g.int64s([-1, 1, s, 1])]), zeros]);
  // All crops from the one image: the grid [n, S, S, 2] as [1, n·S, S, 2], the samples back to [n, 3, S, S].
  const grid = g.op("Reshape", [g.op("Concat", [gx, gy], { axis: -1 }), g.int64s([1, -1, s, 2])]);
  const sampled = g.op("GridSample", [image, grid], {
    mode: g.opset >= 20 ? "linear" : "bilinear",
    padding_mode: "zeros",
    align_corners: 1,
  });
  const crops = g.op("Transpose", [g.op("Reshape", [sampled, g.int64s([3, -1, s, s])])], {
    perm: [1, 0, 2, 3],
  });
  const net = classifier.net;
  const [, , , res5] = resnet(g, net, imagenetNormalize(g, crops), "crop_classifier.net");
  const pooled = g.reduce("ReduceMean", res5, [2, 3], false);
  if (!net.fc) throw new VidsegError("ONNX export: the crop classifier has no classifier layer");
  const logits = linear(g, net.fc, pooled, "crop_classifier.net.fc");
  const dims = ["crops", classifier.numClasses];
  g.output(logits, { name: ONNX_NAMES.cropLogits, type: DataType.FLOAT, dims });
  g.output(g.op("Softmax", [logits], { axis: -1 }), {
    name: ONNX_NAMES.cropProbs,
    type: DataType.FLOAT,
    dims,
  });
  return g.toBytes("vidseg_crop_classifier", {}, VIDSEG_VERSION);
}
