/** Messages between the demo page (main.ts) and its inference Worker (worker.ts). */

export interface LoadRequest {
  type: "load";
  /** The exported segmenter graph and, when the model has one, the crop classifier's (URLs). */
  model: string;
  cropClassifier: string;
}

/** The referring model's frame graph (its .text, .target and .decode graphs are beside it). */
export interface LoadReferRequest {
  type: "loadRefer";
  model: string;
}

export interface FrameRequest {
  type: "frame";
  /**
   * Expressions to follow with the referring model (one mask each, "track" k + 1 for expression k);
   * none: the instance segmentation model. A changed list starts new targets (new memories).
   */
  texts: string[];
  width: number;
  height: number;
  /** RGB bytes (transferred). */
  data: Uint8Array;
  timestampMs: number;
}

export interface ResetRequest {
  type: "reset";
}

export type Request = LoadRequest | LoadReferRequest | FrameRequest | ResetRequest;

export interface LoadedReply {
  type: "loaded";
  /** onnxruntime-web's execution provider in use. */
  backend: string;
  /** True when the model came from the Cache API rather than the network. */
  cached: boolean;
  categoryNames: string[];
}

export interface ReferLoadedReply {
  type: "referLoaded";
  cached: boolean;
  /** Words the model knows (others are read as unknown). */
  vocabulary: string[];
}

export interface DemoInstance {
  trackId: number;
  label: string;
  score: number;
  /** Row-major 0/1 at the frame's size (transferred). */
  mask: Uint8Array;
}

export interface ResultReply {
  type: "result";
  instances: DemoInstance[];
  /** Milliseconds the worker spent on the frame. */
  ms: number;
}

export interface ErrorReply {
  type: "error";
  message: string;
}

export type Reply = LoadedReply | ReferLoadedReply | ResultReply | ErrorReply;
