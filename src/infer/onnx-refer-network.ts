/**
 * An exported referring model (src/export/onnx-refer.ts, `vidseg export onnx`) run by onnxruntime
 * (onnxruntime-node, or onnxruntime-web passed in as `ort`): four sessions, the frame graph's once per
 * frame, the text graph's once per expression, and per frame and target the target graph, then the
 * memory and θ solver (models/refer/meta-transfer.ts on TensorFlow.js, as for the TensorFlow.js
 * runtime), then the decode graph with θ as an input.
 */
import * as tf from "@tensorflow/tfjs";
import type * as Ort from "onnxruntime-common";
import { VidsegError } from "../core/errors.js";
import type { RgbImage } from "../core/image.js";
import type { ModelInfo } from "../models/model-file.js";
import {
  ONNX_REFER_NAMES as NAMES,
  readOnnxReferMetadata,
  type OnnxReferMetadata,
  type ReferGraphPart,
} from "../models/onnx-file.js";
import { memoryOptions, solverSteps } from "../models/refer/model.js";
import { refitTheta, TransferMemory } from "../models/refer/meta-transfer.js";
import { initRuntime, type RuntimeOptions } from "../runtime/backend.js";
import {
  floatOutput,
  frameTensor,
  onnxSessionOptions,
  type OnnxNetworkOptions,
  type OnnxRuntime,
} from "./onnx-network.js";
import type { MaskLogits, NetworkFeatures, ReferNetwork, TransferState } from "./refer-network.js";

type Outputs = Ort.InferenceSession.OnnxValueMapType;

/** Graph outputs kept as onnxruntime tensors, fed straight to the next graph. */
class OrtFeatures implements NetworkFeatures {
  constructor(readonly values: Record<string, Ort.Tensor>) {}
  dispose(): void {
    for (const value of Object.values(this.values)) value.dispose();
  }
}

function pick(outputs: Outputs, names: readonly string[]): Record<string, Ort.Tensor> {
  const picked: Record<string, Ort.Tensor> = {};
  for (const name of names) {
    const value = outputs[name] as Ort.Tensor | undefined;
    if (!value) throw new VidsegError(`the ONNX graph has no output "${name}"`);
    picked[name] = value;
  }
  return picked;
}

export class OnnxReferNetwork implements ReferNetwork {
  readonly runtime = "onnxruntime";
  readonly info: ModelInfo;
  /** λ as the TensorFlow.js solver takes it. */
  private readonly lambda: tf.Scalar | undefined;

  private constructor(
    private readonly ort: OnnxRuntime,
    readonly metadata: OnnxReferMetadata,
    private readonly sessions: Record<"frame" | ReferGraphPart, Ort.InferenceSession>,
  ) {
    this.info = metadata.info;
    this.lambda = metadata.lambda === null ? undefined : tf.keep(tf.scalar(metadata.lambda));
  }

  /**
   * Sessions for an exported referring model: the frame graph's `bytes` (`file` names it in errors)
   * and the graphs beside it (`partBytes`). TensorFlow.js is initialised too (`runtime`): the memory
   * and the θ solver run on it.
   */
  static async create(
    ort: OnnxRuntime,
    bytes: Uint8Array,
    file: string,
    partBytes: (part: ReferGraphPart) => Promise<Uint8Array>,
    options: OnnxNetworkOptions & { runtime?: RuntimeOptions } = {},
  ): Promise<OnnxReferNetwork> {
    const metadata = readOnnxReferMetadata(bytes, file);
    await initRuntime(options.runtime);
    const sessions: Partial<Record<"frame" | ReferGraphPart, Ort.InferenceSession>> = {};
    try {
      for (const part of ["frame", "text", "target", "decode"] as const) {
        const source = part === "frame" ? bytes : await partBytes(part);
        sessions[part] = await ort.InferenceSession.create(source, onnxSessionOptions(options));
      }
    } catch (error) {
      for (const session of Object.values(sessions)) void session.release();
      throw error;
    }
    return new OnnxReferNetwork(
      ort,
      metadata,
      sessions as Record<"frame" | ReferGraphPart, Ort.InferenceSession>,
    );
  }

  async encodeText(ids: readonly number[]): Promise<NetworkFeatures> {
    const tokens = BigInt64Array.from(ids, (id) => BigInt(id));
    const outputs = await this.sessions.text.run({
      [NAMES.tokens]: new this.ort.Tensor("int64", tokens, [1, ids.length]),
    });
    return new OrtFeatures(pick(outputs, [NAMES.words, NAMES.sentence]));
  }

  async encodeFrame(frame: RgbImage): Promise<NetworkFeatures> {
    const outputs = await this.sessions.frame.run({ [NAMES.frame]: frameTensor(this.ort, frame) });
    return new OrtFeatures(pick(outputs, NAMES.features));
  }

  async segment(frame: NetworkFeatures, text: NetworkFeatures, state: TransferState): Promise<MaskLogits> {
    const image = (frame as OrtFeatures).values;
    const words = (text as OrtFeatures).values;
    const mined = await this.sessions.target.run({
      res3: image.res3,
      res4: image.res4,
      res5: image.res5,
      [NAMES.words]: words[NAMES.words],
      [NAMES.sentence]: words[NAMES.sentence],
    });
    const feeds: Record<string, Ort.Tensor> = {
      [NAMES.y]: mined[NAMES.y],
      res2: image.res2,
      [NAMES.sentence]: words[NAMES.sentence],
    };
    if (this.lambda) {
      const refer = this.info.config.refer;
      const [q, d] = (mined[NAMES.cross] as Ort.Tensor).dims.slice(1) as number[];
      const sample = {
        gram: tf.tensor3d(floatOutput(mined, NAMES.gram), [1, q, q]),
        cross: tf.tensor3d(floatOutput(mined, NAMES.cross), [1, q, d]),
      };
      state.memory ??= new TransferMemory(memoryOptions(refer), true);
      state.setTheta(refitTheta(state.memory, sample, state.theta, this.lambda, solverSteps(refer)));
      feeds[NAMES.transferInput] = mined[NAMES.transferInput] as Ort.Tensor;
      feeds[NAMES.theta] = new this.ort.Tensor("float32", state.theta!.dataSync() as Float32Array, [1, q, d]);
    }
    const decoded = await this.sessions.decode.run(feeds);
    const [height, width] = this.metadata.maskSize;
    return { logits: floatOutput(decoded, NAMES.maskLogits), height, width };
  }

  close(): void {
    for (const session of Object.values(this.sessions)) void session.release();
    this.lambda?.dispose();
  }
}
