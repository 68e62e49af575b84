/**
 * What the streaming segmenter needs from a per-frame network, whatever runs it: one frame in, its
 * predictions in JavaScript out (crop re-classification included). The tracker and post-processing
 * stay one TypeScript implementation above it (online-segmenter.ts, src/processing).
 *
 * Two runtimes: TensorFlow.js (the model's own modules, synchronous) and onnxruntime (an exported
 * graph, onnx-network.ts; asynchronous, as onnxruntime's API is).
 */
import type { RgbImage } from "../core/image.js";
import type { ModelInfo } from "../models/model-file.js";
import { disposeSegmenterOutput, type FrameSegmenter } from "../models/segmenter.js";
import { classifyCrops, readFramePrediction, type FramePrediction } from "../processing/postprocess.js";
import { preprocessFrames } from "../processing/preprocess.js";

export interface FrameNetwork {
  /** The model file's info (config, categories, trainedOn). */
  readonly info: ModelInfo;
  /** "tfjs" or "onnxruntime". */
  readonly runtime: string;
  /** One frame's predictions, read back to JavaScript. */
  predict(frame: RgbImage): Promise<FramePrediction>;
  /** The same, synchronously, where the runtime allows it (TensorFlow.js). */
  predictSync?(frame: RgbImage): FramePrediction;
  /** Frees the network; it cannot be used afterwards. */
  close(): void;
}

/** A FrameSegmenter run by TensorFlow.js. */
export class TfjsFrameNetwork implements FrameNetwork {
  readonly runtime = "tfjs";

  constructor(
    readonly segmenter: FrameSegmenter,
    readonly info: ModelInfo,
  ) {
    segmenter.eval();
  }

  predict(frame: RgbImage): Promise<FramePrediction> {
    return Promise.resolve(this.predictSync(frame));
  }

  /** No tensor outlives the call. */
  predictSync(frame: RgbImage): FramePrediction {
    const input = preprocessFrames([frame], this.info.config.model.inputSize);
    const output = this.segmenter.forward(input);
    try {
      const prediction = readFramePrediction(output, 0);
      if (this.segmenter.cropClassifier) classifyCrops(prediction, input, this.segmenter.cropClassifier);
      return prediction;
    } finally {
      input.dispose();
      disposeSegmenterOutput(output);
    }
  }

  close(): void {
    this.segmenter.dispose();
  }
}
