/**
 * The exported ONNX model files (written by src/export, run by src/infer/onnx-network.ts): the graph
 * input and output names, the metadata a graph carries, and reading it back with validation.
 *
 * An online model exports as `model.onnx` (the per-frame segmenter) and, when it has a crop
 * classifier, `model.crop.onnx` beside it (onnxruntime runs every node of a graph, and the crops depend
 * on the first graph's masks). A referring model exports as `model.onnx` (frame → image features, once
 * per frame), `model.text.onnx` (token ids → text features, once per expression), `model.target.onnx`
 * (image + text features → Y(t), X(t) and the frame's memory sample) and `model.decode.onnx` (Y, X, θ
 * → mask logits); the memory and the θ solver between the last two run in TypeScript.
 */
import onnxProto from "onnx-proto";
import { VidsegError } from "../core/errors.js";
import { parseJson } from "../core/json.js";
import { parseModelInfo, type ModelInfo } from "./model-file.js";

const { onnx } = onnxProto;

/** The metadata key under which an exported graph's {@link OnnxModelMetadata} is stored (JSON). */
export const ONNX_METADATA_KEY = "vidseg";
export const ONNX_FORMAT = "vidseg-onnx-vis";

/** The graph input and output names. */
export const ONNX_NAMES = {
  frame: "frame",
  predLogits: "pred_logits",
  classProbs: "class_probs",
  predMasks: "pred_masks",
  queryEmbed: "query_embed",
  image: "image",
  cropBoxes: "crop_boxes",
  cropLogits: "crop_logits",
  cropProbs: "crop_probs",
} as const;

/** How a graph's `frame` input becomes the network's input (all inside the graph). */
export interface OnnxPreprocessing {
  /** What the graph's `frame` input holds. */
  input: "RGB uint8 [1, H, W, 3]";
  /** Applied inside the graph, in this order: scale, then resize to inputSize, then the backbone's normalisation. */
  scale: number;
  resize: "bilinear, half-pixel centres";
  inputSize: [number, number];
  /** The backbone (config.model.backbone), which normalises its input its own way: */
  backbone: string;
  /** the ResNets by ImageNet's mean and std (of 0..1 RGB); centernet-mbv3 takes raw 0..255 RGB (neither). */
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** What an exported segmenter graph says about itself (JSON under the metadata key "vidseg"). */
export interface OnnxModelMetadata {
  format: typeof ONNX_FORMAT;
  vidsegVersion: string;
  /** The model file's info (kind, config with the tracker's inference settings, categories, trainedOn), at the exported input size. */
  info: ModelInfo;
  preprocessing: OnnxPreprocessing;
  outputs: { maskStride: number; numQueries: number; numClasses: number; embeddingDim: number };
  /** Present when the model has a crop classifier (its graph is the `.crop.onnx` file beside this one). */
  cropClassifier?: { cropSize: number };
}

export const ONNX_REFER_FORMAT = "vidseg-onnx-refer";

/** The referring model's graph inputs and outputs (NCHW where spatial; a batch of one). */
export const ONNX_REFER_NAMES = {
  frame: "frame",
  features: ["res2", "res3", "res4", "res5"],
  tokens: "tokens",
  words: "words",
  sentence: "sentence",
  /** Y(t) [1, D, h, w] at 1/8. */
  y: "y",
  /** The transfer input X(t) [1, C, h, w]. */
  transferInput: "x",
  /** The frame's memory sample: A = Pᵀ diag(W²) P [1, q, q] and C = Pᵀ diag(W²) Y [1, q, D]. */
  gram: "gram",
  cross: "cross",
  /** θ [1, q, D] (an HWIO kernel flattened to k²·C rows, as meta-transfer.ts keeps it). */
  theta: "theta",
  maskLogits: "mask_logits",
} as const;

/** The referring model's graphs beside `model.onnx` (the frame graph). */
export type ReferGraphPart = "text" | "target" | "decode";

/** What an exported referring model's frame graph says about itself (metadata key "vidseg"). */
export interface OnnxReferMetadata {
  format: typeof ONNX_REFER_FORMAT;
  vidsegVersion: string;
  /** The model file's info (config, vocabulary, trainedOn), at the exported input size. */
  info: ModelInfo;
  preprocessing: OnnxPreprocessing;
  /** λ of the ridge problem (exp(log_lambda), float32), or null for a model without meta-transfer. */
  lambda: number | null;
  /** [h, w] of Y(t) (1/8 of the input) and of the mask logits (1/4). */
  featureSize: [number, number];
  maskSize: [number, number];
}

/** A referring model's graph beside its frame graph: `model.onnx` → `model.text.onnx`, … */
export function referGraphFile(frameFile: string, part: ReferGraphPart): string {
  return frameFile.replace(/(\.onnx)?$/i, `.${part}.onnx`);
}

/** The crop classifier's graph beside the segmenter's: `model.onnx` → `model.crop.onnx`. */
export function cropClassifierFile(segmenterFile: string): string {
  return segmenterFile.replace(/(\.onnx)?$/i, ".crop.onnx");
}

/** True for a path (or URL) that names an ONNX file. */
export function isOnnxPath(path: string): boolean {
  return /\.onnx$/i.test(path.replace(/[?#].*$/, ""));
}

/** What an export of the other kind is, for the error of a reader given it. */
const FORMAT_HINTS: Record<string, string> = {
  [ONNX_FORMAT]: "an online VIS model (OnlineSegmenter, `vidseg infer vis`)",
  [ONNX_REFER_FORMAT]: "a referring model (ReferringSegmenter, `vidseg infer refer`)",
};

/** The metadata's common part: the format, the model info and the input size; one VidsegError naming `file`. */
function readVidsegMetadata<T extends { format: string; info: ModelInfo; preprocessing: OnnxPreprocessing }>(
  bytes: Uint8Array,
  file: string,
  format: T["format"],
): { value: Partial<T>; info: ModelInfo; size: [number, number]; where: string } {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new VidsegError(`not an ONNX model (${(error as Error).message})`, file);
  }
  const entry = model.metadataProps.find((prop) => prop.key === ONNX_METADATA_KEY);
  if (!entry?.value)
    throw new VidsegError("not exported by vidseg (no vidseg metadata)", file, "metadata_props");
  const where = `metadata_props.${ONNX_METADATA_KEY}`;
  const value = parseJson(entry.value, file, where) as Partial<T> | null;
  if (typeof value !== "object" || value === null || value.format !== format) {
    const found = (value as { format?: unknown } | null)?.format;
    const other = typeof found === "string" ? FORMAT_HINTS[found] : undefined;
    throw new VidsegError(
      `format must be "${format}"${other ? `, got ${other}` : ""}`,
      file,
      `${where}.format`,
    );
  }
  const info = parseModelInfo(value.info, file, `${where}.info`);
  const size = value.preprocessing?.inputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) {
    throw new VidsegError("must be [height, width]", file, `${where}.preprocessing.inputSize`);
  }
  return { value, info, size: size as [number, number], where };
}

/** The vidseg metadata of an exported segmenter graph (its bytes); bad files are one VidsegError naming `file`. */
export function readOnnxMetadata(bytes: Uint8Array, file: string): OnnxModelMetadata {
  const { value, info, size, where } = readVidsegMetadata<OnnxModelMetadata>(bytes, file, ONNX_FORMAT);
  const outputs = value.outputs as Record<string, unknown> | undefined;
  for (const field of ["maskStride", "numQueries", "numClasses", "embeddingDim"]) {
    const n = outputs?.[field];
    if (!(Number.isInteger(n) && (n as number) > 0 && (n as number) <= 1 << 20)) {
      throw new VidsegError("must be a positive integer", file, `${where}.outputs.${field}`);
    }
  }
  if (outputs!.numClasses !== info.categoryIds.length) {
    throw new VidsegError(
      `must equal the ${info.categoryIds.length} category ids`,
      file,
      `${where}.outputs.numClasses`,
    );
  }
  if (size[0] % (outputs!.maskStride as number) || size[1] % (outputs!.maskStride as number)) {
    throw new VidsegError("must divide the input size", file, `${where}.outputs.maskStride`);
  }
  const crop = value.cropClassifier;
  if (crop !== undefined && !(Number.isInteger(crop?.cropSize) && crop.cropSize > 1)) {
    throw new VidsegError("must be {cropSize: integer > 1}", file, `${where}.cropClassifier`);
  }
  return { ...(value as OnnxModelMetadata), info };
}

/** The vidseg metadata of an exported referring model's frame graph; bad files are one VidsegError naming `file`. */
export function readOnnxReferMetadata(bytes: Uint8Array, file: string): OnnxReferMetadata {
  const { value, info, size, where } = readVidsegMetadata<OnnxReferMetadata>(bytes, file, ONNX_REFER_FORMAT);
  if (info.kind !== "refer" || !info.vocabulary) {
    throw new VidsegError("must be a referring model with a vocabulary", file, `${where}.info`);
  }
  const lambda = value.lambda;
  if (lambda !== null && !(typeof lambda === "number" && lambda > 0 && Number.isFinite(lambda))) {
    throw new VidsegError("must be a positive number or null", file, `${where}.lambda`);
  }
  for (const [field, stride] of [
    ["featureSize", 8],
    ["maskSize", 4],
  ] as const) {
    const got = value[field];
    if (!Array.isArray(got) || got[0] !== size[0] / stride || got[1] !== size[1] / stride) {
      throw new VidsegError(`must be the input size / ${stride}`, file, `${where}.${field}`);
    }
  }
  return { ...(value as OnnxReferMetadata), info };
}
