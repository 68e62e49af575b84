/**
 * What streaming referring segmentation (referring-segmenter.ts) needs from the referring model,
 * whatever runs its network: an expression's text features, a frame's image features (shared by the
 * expressions that follow the stream), and one frame of one target — feature mining, the frame's
 * sample into the target's memory, θ refitted, the mask decoded — as mask logits in JavaScript.
 *
 * The memory and the θ solver are models/refer/meta-transfer.ts's, on TensorFlow.js, for both
 * runtimes: TensorFlow.js (the model's own modules, this file, synchronous) and onnxruntime (the
 * exported graphs, onnx-refer-network.ts, asynchronous as onnxruntime's API is).
 */
import * as tf from "@tensorflow/tfjs";
import type { RgbImage } from "../core/image.js";
import type { ModelInfo } from "../models/model-file.js";
import type { FrameFeatures, ReferModel } from "../models/refer/model.js";
import type { TransferMemory } from "../models/refer/meta-transfer.js";
import type { TextFeatures } from "../models/refer/text-encoder.js";
import { preprocessFrames } from "../processing/preprocess.js";

/** Features held by the runtime that computed them, freed by their owner. */
export interface NetworkFeatures {
  dispose(): void;
}

/** One target's mask logits at 1/4 of the model input, row-major. */
export interface MaskLogits {
  logits: Float32Array;
  height: number;
  width: number;
}

/** A target's meta-transfer across frames: its memory (which owns its samples) and the last θ. */
export class TransferState {
  memory: TransferMemory | undefined;
  private current: tf.Tensor3D | undefined;

  /** θ after the last frame (undefined before the first). */
  get theta(): tf.Tensor3D | undefined {
    return this.current;
  }

  /** Keeps `theta` (frees the previous one). */
  setTheta(theta: tf.Tensor3D | undefined): void {
    this.current?.dispose();
    this.current = theta;
  }

  /** Forgets the memory and θ (a new video). */
  reset(): void {
    this.memory?.dispose();
    this.memory = undefined;
    this.setTheta(undefined);
  }
}

export interface ReferNetwork {
  /** The model's info (config, vocabulary, trainedOn). */
  readonly info: ModelInfo;
  /** "tfjs" or "onnxruntime". */
  readonly runtime: string;
  /** Text features of one expression's token ids (at most the model's maxWords). */
  encodeText(ids: readonly number[]): Promise<NetworkFeatures>;
  /** Image features of one frame (any size; resized to the model's input). */
  encodeFrame(frame: RgbImage): Promise<NetworkFeatures>;
  /** One frame for one target: `state` advances (its memory and θ); the mask logits come back. */
  segment(frame: NetworkFeatures, text: NetworkFeatures, state: TransferState): Promise<MaskLogits>;
  /** The same three, synchronously, where the runtime allows it (TensorFlow.js). */
  readonly sync?: {
    encodeText(ids: readonly number[]): NetworkFeatures;
    encodeFrame(frame: RgbImage): NetworkFeatures;
    segment(frame: NetworkFeatures, text: NetworkFeatures, state: TransferState): MaskLogits;
  };
  /** Frees the network (a model the caller passed in stays theirs); it cannot be used afterwards. */
  close(): void;
}

class TfjsText implements NetworkFeatures {
  constructor(readonly features: TextFeatures) {}
  dispose(): void {
    tf.dispose([this.features.words, this.features.padding, this.features.sentence]);
  }
}

class TfjsFrame implements NetworkFeatures {
  constructor(readonly features: FrameFeatures) {}
  dispose(): void {
    const { res2, res3, res4, res5 } = this.features;
    tf.dispose([res2, res3, res4, res5]);
  }
}

/** A ReferModel run by TensorFlow.js. */
export class TfjsReferNetwork implements ReferNetwork {
  readonly runtime = "tfjs";
  readonly sync = {
    encodeText: (ids: readonly number[]) => new TfjsText(this.model.encodeText([[...ids]])),
    encodeFrame: (frame: RgbImage) => {
      const input = preprocessFrames([frame], this.info.config.model.inputSize);
      try {
        return new TfjsFrame(this.model.encodeFrames(input));
      } finally {
        input.dispose();
      }
    },
    segment: (frame: NetworkFeatures, text: NetworkFeatures, state: TransferState): MaskLogits => {
      const model = this.model;
      const features = (frame as TfjsFrame).features;
      const textFeatures = (text as TfjsText).features;
      if (model.transfer) state.memory ??= model.newMemory(true);
      const { logits, theta } = tf.tidy(() => {
        const step = model.mine(features, textFeatures);
        if (!model.transfer) {
          return { logits: model.decode(step.y, undefined, features.res2, textFeatures), theta: undefined };
        }
        const transfer = model.transferFrame(state.memory!, step, state.theta);
        return {
          logits: model.decode(step.y, transfer.transferred, features.res2, textFeatures),
          theta: transfer.theta,
        };
      });
      state.setTheta(theta);
      const [, height, width] = logits.shape;
      const values = logits.dataSync() as Float32Array;
      logits.dispose();
      return { logits: values, height, width };
    },
  };

  /** `ownsModel`: close() frees the model (it does when the segmenter loaded it). */
  constructor(
    readonly model: ReferModel,
    readonly info: ModelInfo,
    private readonly ownsModel: boolean,
  ) {
    model.eval();
  }

  encodeText(ids: readonly number[]): Promise<NetworkFeatures> {
    return Promise.resolve(this.sync.encodeText(ids));
  }

  encodeFrame(frame: RgbImage): Promise<NetworkFeatures> {
    return Promise.resolve(this.sync.encodeFrame(frame));
  }

  segment(frame: NetworkFeatures, text: NetworkFeatures, state: TransferState): Promise<MaskLogits> {
    return Promise.resolve(this.sync.segment(frame, text, state));
  }

  close(): void {
    if (this.ownsModel) this.model.dispose();
  }
}
