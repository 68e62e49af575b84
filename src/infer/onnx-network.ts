/**
 * An exported online model (src/export, `vidseg export onnx`) run by onnxruntime: onnxruntime-node in
 * Node, onnxruntime-web in a browser (both implement onnxruntime-common's API, passed in as `ort`).
 * Preprocessing is inside the graph (models/onnx-file.ts), so a frame goes in as its RGB bytes; the
 * crop classifier, when the model has one, is a second session fed the first one's resized image.
 */
import type * as Ort from "onnxruntime-common";
import { VidsegError } from "../core/errors.js";
import type { RgbImage } from "../core/image.js";
import type { ModelInfo } from "../models/model-file.js";
import { ONNX_NAMES, readOnnxMetadata, type OnnxModelMetadata } from "../models/onnx-file.js";
import {
  applyCropProbs,
  cropCandidates,
  framePrediction,
  type FramePrediction,
} from "../processing/postprocess.js";
import type { FrameNetwork } from "./frame-network.js";

/** The part of onnxruntime-node's or onnxruntime-web's module used here. */
export type OnnxRuntime = Pick<typeof Ort, "InferenceSession" | "Tensor">;

export interface OnnxNetworkOptions {
  /** Intra-op threads (onnxruntime-node; default: onnxruntime's, one per core). */
  threads?: number;
  /** Execution providers in order of preference (default onnxruntime's: "cpu" in Node, "wasm" on the web). */
  executionProviders?: string[];
}

/** onnxruntime for Node, loaded by name only when an ONNX model is (so that browser bundles leave it out). */
const ONNXRUNTIME_NODE = "onnxruntime-node";

/** onnxruntime-node, for an `.onnx` model given no runtime. */
export async function loadOnnxRuntimeNode(): Promise<OnnxRuntime> {
  try {
    return (await import(/* @vite-ignore */ ONNXRUNTIME_NODE)) as OnnxRuntime;
  } catch (error) {
    throw new VidsegError(
      `an .onnx model needs onnxruntime (onnxruntime-node in Node, or options.onnx.runtime): ${(error as Error).message}`,
    );
  }
}

export class OnnxFrameNetwork implements FrameNetwork {
  readonly runtime = "onnxruntime";
  readonly info: ModelInfo;

  private constructor(
    private readonly ort: OnnxRuntime,
    readonly metadata: OnnxModelMetadata,
    private readonly segmenter: Ort.InferenceSession,
    private readonly cropClassifier: Ort.InferenceSession | undefined,
  ) {
    this.info = metadata.info;
  }

  /**
   * Sessions for an exported segmenter graph (`file` names it in errors) and, when its metadata says the
   * model has one, the crop classifier's graph (`cropBytes`, required then).
   */
  static async create(
    ort: OnnxRuntime,
    bytes: Uint8Array,
    file: string,
    cropBytes: () => Promise<Uint8Array>,
    options: OnnxNetworkOptions = {},
  ): Promise<OnnxFrameNetwork> {
    const metadata = readOnnxMetadata(bytes, file);
    if (metadata.info.kind !== "online") {
      throw new VidsegError(`an ONNX export of a "${metadata.info.kind}" model cannot stream`, file);
    }
    const sessionOptions = onnxSessionOptions(options);
    const segmenter = await ort.InferenceSession.create(bytes, sessionOptions);
    const crop = metadata.cropClassifier
      ? await ort.InferenceSession.create(await cropBytes(), sessionOptions)
      : undefined;
    return new OnnxFrameNetwork(ort, metadata, segmenter, crop);
  }

  async predict(frame: RgbImage): Promise<FramePrediction> {
    const outputs = await this.segmenter.run({ [ONNX_NAMES.frame]: frameTensor(this.ort, frame) });
    const { numQueries, numClasses, embeddingDim, maskStride } = this.metadata.outputs;
    const [inputHeight, inputWidth] = this.metadata.preprocessing.inputSize;
    const prediction = framePrediction({
      probs: floatOutput(outputs, ONNX_NAMES.classProbs),
      embeddings: floatOutput(outputs, ONNX_NAMES.queryEmbed),
      maskLogits: floatOutput(outputs, ONNX_NAMES.predMasks),
      numQueries,
      numClasses,
      embeddingDim,
      maskHeight: inputHeight / maskStride,
      maskWidth: inputWidth / maskStride,
    });
    if (this.cropClassifier) {
      const candidates = cropCandidates(prediction, inputHeight, inputWidth);
      if (candidates.boxes.length > 0) {
        const boxes = new this.ort.Tensor("float32", Float32Array.from(candidates.boxes.flat()), [
          candidates.boxes.length,
          4,
        ]);
        const crops = await this.cropClassifier.run({
          [ONNX_NAMES.image]: outputs[ONNX_NAMES.image],
          [ONNX_NAMES.cropBoxes]: boxes,
        });
        applyCropProbs(prediction, candidates, floatOutput(crops, ONNX_NAMES.cropProbs));
      }
    }
    return prediction;
  }

  close(): void {
    void this.segmenter.release();
    void this.cropClassifier?.release();
  }
}

/** onnxruntime's session options for vidseg's graphs: the threads and providers asked for, all graph optimisations. */
export function onnxSessionOptions(options: OnnxNetworkOptions): Ort.InferenceSession.SessionOptions {
  return {
    ...(options.threads !== undefined ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
    graphOptimizationLevel: "all",
  };
}

/** A frame's RGB bytes as the graphs' `frame` input, uint8 [1, H, W, 3] (no copy). */
export function frameTensor(ort: OnnxRuntime, frame: RgbImage): Ort.Tensor {
  const { width, height } = frame;
  const data =
    frame.data instanceof Uint8Array
      ? frame.data
      : new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length);
  return new ort.Tensor("uint8", data, [1, height, width, 3]);
}

/** A float32 output of a run, by name. */
export function floatOutput(outputs: Ort.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  const value = outputs[name] as Ort.Tensor | undefined;
  if (!value || !(value.data instanceof Float32Array))
    throw new VidsegError(`the ONNX graph has no float output "${name}"`);
  return value.data;
}
