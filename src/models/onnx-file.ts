/**
 * The exported ONNX model files (written by src/export, run by src/infer/onnx-network.ts): the graph
 * input and output names, the metadata a graph carries, and reading it back with validation.
 *
 * An online model exports as `model.onnx` (the per-frame segmenter) and, when it has a crop
 * classifier, `model.crop.onnx` beside it (onnxruntime runs every node of a graph, and the crops depend
 * on the first graph's masks).
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

/** What an exported segmenter graph says about itself (JSON under the metadata key "vidseg"). */
export interface OnnxModelMetadata {
  format: typeof ONNX_FORMAT;
  vidsegVersion: string;
  /** The model file's info (kind, config with the tracker's inference settings, categories, trainedOn), at the exported input size. */
  info: ModelInfo;
  preprocessing: {
    /** What the graph's `frame` input holds. */
    input: "RGB uint8 [1, H, W, 3]";
    /** Applied inside the graph, in this order: scale, then resize to inputSize, then mean/std. */
    scale: number;
    resize: "bilinear, half-pixel centres";
    inputSize: [number, number];
    mean: [number, number, number];
    std: [number, number, number];
  };
  outputs: { maskStride: number; numQueries: number; numClasses: number; embeddingDim: number };
  /** Present when the model has a crop classifier (its graph is the `.crop.onnx` file beside this one). */
  cropClassifier?: { cropSize: number };
}

/** The crop classifier's graph beside the segmenter's: `model.onnx` → `model.crop.onnx`. */
export function cropClassifierFile(segmenterFile: string): string {
  return segmenterFile.replace(/(\.onnx)?$/i, ".crop.onnx");
}

/** True for a path (or URL) that names an ONNX file. */
export function isOnnxPath(path: string): boolean {
  return /\.onnx$/i.test(path.replace(/[?#].*$/, ""));
}

/** The vidseg metadata of an exported segmenter graph (its bytes); bad files are one VidsegError naming `file`. */
export function readOnnxMetadata(bytes: Uint8Array, file: string): OnnxModelMetadata {
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
  const value = parseJson(entry.value, file, where) as Partial<OnnxModelMetadata> | null;
  if (typeof value !== "object" || value === null || value.format !== ONNX_FORMAT) {
    throw new VidsegError(`format must be "${ONNX_FORMAT}"`, file, `${where}.format`);
  }
  const info = parseModelInfo(value.info, file, `${where}.info`);
  const size = value.preprocessing?.inputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) {
    throw new VidsegError("must be [height, width]", file, `${where}.preprocessing.inputSize`);
  }
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
