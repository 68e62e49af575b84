/**
 * Offline video instance segmentation with the VITA-style model: `OfflineSegmenter.segmentVideo(frames)`
 * returns the video's top-k instances, each with a class, a score and a mask in every frame.
 *
 * The video is processed in clip windows of `clipLength` frames that overlap by `clipOverlap` frames.
 * Within a clip the model is exactly the offline model: the video queries attend to the object tokens
 * of every frame of the clip. Only the clip's per-frame segmenter outputs are held (frame queries and
 * mask features, O(clipLength·h·w·C) memory), so memory is bounded whatever the video length; a video
 * no longer than `clipLength` is one clip (the whole-video model). Clips are linked into tracks by
 * Hungarian matching of their video queries: the score of a pair is the cosine similarity of the
 * video-query embeddings (trained by the similarity loss), averaged with the mask IoU over the
 * overlapping frames when clips overlap; a pair scoring below `minLinkScore` starts a new track.
 *
 * A track's class distribution is the frame-weighted mean of its clips' class probabilities (times the
 * clip's mask score with `maskScore`, as Mask2Former scores instances); as in VITA, (track, class)
 * pairs are ranked by that probability (lowered by a video-level Soft-NMS among a class's tracks,
 * `softNmsIou`: two video queries on one object are common) and the top-k become results. Masks are
 * the mask logits (in each frame those of the frame query that overlaps it, see `frameMaskIou`)
 * upsampled (edge-aware by default, see `maskUpsampling`) to the output size and thresholded at 0, as
 * compressed COCO RLE; frames where a mask is empty are null.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError, check } from "../core/errors.js";
import type { YtvisResult } from "../formats/ytvis.js";
import { linearSumAssignment } from "../math/hungarian.js";
import { encode, fromCoco, toCoco, tubeIou, type CocoRle } from "../mask/rle.js";
import type { Frame } from "../core/image.js";
import { likelyObjects, maskBox, type CropBox } from "../models/crop-classifier.js";
import { disposeModelFile, readModelFile, type ModelFile, type ModelInfo } from "../models/model-file.js";
import { instantiateModel } from "../models/registry.js";
import type { OfflineVisModel } from "../models/vis/offline.js";
import {
  cellColours,
  guidedUpsampleMask,
  maskProbabilitySum,
  softSuppress,
  upsampleMask,
} from "../processing/postprocess.js";
import { preprocessFrames } from "../processing/preprocess.js";
import { initRuntime, type RuntimeOptions } from "../runtime/backend.js";

export interface OfflineSegmenterOptions {
  /**
   * Frames per clip window. Default: the model file's `offline.inferenceClipLength` (what validation
   * used in training), else 64.
   */
  clipLength?: number;
  /** Frames shared by consecutive clips (for linking). Default: the model file's, else 4; < clipLength. */
  clipOverlap?: number;
  /** Results kept per video. Default: the model file's `inference.topK`, else 10. */
  topK?: number;
  /** Category id of each class index. Default: the model file's, else index + 1. */
  categoryIds?: readonly number[];
  /** Category names (labels), when known. Default: the model file's. */
  categoryNames?: readonly string[];
  /** The TensorFlow.js backend (createFromPath initialises it). */
  runtime?: RuntimeOptions;
  /** Link score below which a clip's video query starts a new track. Default 0.3. */
  minLinkScore?: number;
  /** Frames per segmenter forward. Default 1. */
  frameBatch?: number;
  /**
   * How masks reach the output size from the model's 1/4 resolution: "bilinear" logits, or "guided" by
   * the frame's colours (edge-aware, as the online segmenter's default). Guided needs the frames at the
   * output size; with another `outputSize` the masks are bilinear. Default "guided".
   */
  maskUpsampling?: "bilinear" | "guided";
  /**
   * Per-frame masks from the frame queries: in each frame, a video query's mask is replaced by the
   * mask of the frame query that overlaps it most when their IoU (at feature resolution) is at least
   * this value. The video query decides which object and which class; the frame decoder, whose
   * masked attention refines each frame on its own, draws the outline. 0: the video query's own mask
   * everywhere (VITA). Default: the model file's `offline.inferenceFrameMaskIou`, else 0.
   */
  frameMaskIou?: number;
  /**
   * Video-level linear Soft-NMS: a (track, class) result whose space-time mask IoU with a better result
   * of the same class exceeds this has its score multiplied by 1 − IoU, so a second track on one object
   * no longer outranks other objects (see `softSuppress`). 1: off. Default: the model file's
   * `offline.inferenceSoftNmsIou`, else 1.
   */
  softNmsIou?: number;
  /**
   * Mask2Former's instance score: a clip's class probabilities times the video query's mask score, the
   * mean of σ(logit) over its mask pixels (at 1/4 resolution, the new frames of the clip), so that a
   * query sure of its class but unsure of where the object is ranks lower. Default: the model file's
   * `inference.maskScore`, else false.
   */
  maskScore?: boolean;
}

export interface SegmentVideoOptions {
  /** Size of the output masks (e.g. the source video's, when frames were resized). Default: the frames'. */
  outputSize?: { width: number; height: number };
}

/** One instance of a video: a (track, class) hypothesis. */
export interface OfflineInstance {
  /** Track id, from 1 (a track may appear with several classes). */
  trackId: number;
  classIndex: number;
  categoryId: number;
  /** The track's class probability. */
  score: number;
  /** One entry per frame; null where the mask is empty. */
  masks: (CocoRle | null)[];
}

export interface OfflineVideoResult {
  numFrames: number;
  width: number;
  height: number;
  /** Top-k instances, best first. */
  instances: OfflineInstance[];
}

/** A track being built across clips. */
interface Track {
  id: number;
  embedding: Float32Array;
  classSum: Float64Array;
  frames: number;
  masks: (CocoRle | null)[];
  /** Binary masks at feature resolution of the current clip's last `clipOverlap` frames (for IoU). */
  tail: Uint8Array[];
}

/** Per-frame segmenter outputs held for the current clip. */
interface FrameEntry {
  queryFeatures: tf.Tensor2D; // [N, D]
  /** The frame queries' mask logits [N, h·w] (only with frameMaskIou). */
  frameMasks?: Float32Array;
  maskFeatures: tf.Tensor3D; // [h, w, C]
  /** The model input [H, W, 3] in 0..1, kept for the crop classifier (models that have one). */
  image?: tf.Tensor3D;
  /** The frame and its mean colour per mask cell, kept for guided mask upsampling. */
  guide?: { frame: Frame; cells: Float32Array };
}

/**
 * Frames of a clip whose crops the crop classifier sees per video query (spread over the new frames).
 * 12 rather than 4, and up to 20 queries rather than 8: on the seed-1 ovis tuning split the teacher's AP
 * went 0.100 → 0.117 (BENCHMARKS.md); every frame (up to 48) or the frames where the mask is largest
 * did no better.
 */
const CROP_FRAMES = 12;
/** Video queries re-classified from crops per clip: the most likely objects. */
const CROP_QUERIES = 20;

export class OfflineSegmenter {
  readonly clipLength: number;
  readonly clipOverlap: number;
  readonly topK: number;
  readonly minLinkScore: number;
  readonly frameBatch: number;
  readonly maskUpsampling: "bilinear" | "guided";
  readonly frameMaskIou: number;
  readonly softNmsIou: number;
  readonly maskScore: boolean;
  private readonly categoryIds?: readonly number[];
  readonly categoryNames?: readonly string[];

  constructor(
    readonly model: OfflineVisModel,
    options: OfflineSegmenterOptions = {},
  ) {
    this.clipLength = options.clipLength ?? 64;
    this.clipOverlap = options.clipOverlap ?? 4;
    this.topK = options.topK ?? 10;
    this.minLinkScore = options.minLinkScore ?? 0.3;
    this.frameBatch = options.frameBatch ?? 1;
    this.maskUpsampling = options.maskUpsampling ?? "guided";
    this.frameMaskIou = options.frameMaskIou ?? 0;
    this.softNmsIou = options.softNmsIou ?? 1;
    this.maskScore = options.maskScore ?? false;
    this.categoryIds = options.categoryIds;
    this.categoryNames = options.categoryNames;
    const integer = (value: number, min: number, name: string) =>
      check(
        Number.isInteger(value) && value >= min,
        `must be an integer ≥ ${min}, got ${value}`,
        undefined,
        name,
      );
    integer(this.clipLength, 1, "clipLength");
    integer(this.clipOverlap, 0, "clipOverlap");
    integer(this.topK, 1, "topK");
    integer(this.frameBatch, 1, "frameBatch");
    for (const [name, value] of [
      ["frameMaskIou", this.frameMaskIou],
      ["softNmsIou", this.softNmsIou],
    ] as const)
      check(value >= 0 && value <= 1, `must be in [0, 1], got ${value}`, undefined, name);
    check(this.clipOverlap < this.clipLength, "must be smaller than clipLength", undefined, "clipOverlap");
    const numClasses = model.config.segmenter.numClasses;
    check(
      !this.categoryIds || this.categoryIds.length === numClasses,
      `needs one id per class (${numClasses})`,
      undefined,
      "categoryIds",
    );
    model.eval();
  }

  /**
   * Loads a model file, a run folder holding one, or a training checkpoint (a path in Node, a URL in a
   * browser), initialises the runtime, and runs the model with the inference settings the file holds
   * unless `options` overrides them.
   */
  static async createFromPath(
    path: string,
    options: OfflineSegmenterOptions = {},
  ): Promise<OfflineSegmenter> {
    await initRuntime(options.runtime);
    return OfflineSegmenter.fromModelFile(await readModelFile(path), options);
  }

  /** Same as {@link createFromPath}. */
  static load(path: string, options: OfflineSegmenterOptions = {}): Promise<OfflineSegmenter> {
    return OfflineSegmenter.createFromPath(path, options);
  }

  /** A segmenter for a loaded model file (whose tensors it frees); the runtime must be initialised. */
  static fromModelFile(file: ModelFile, options: OfflineSegmenterOptions = {}): OfflineSegmenter {
    const { info } = file;
    let model: OfflineVisModel | undefined;
    try {
      model = instantiateModel(file, "offline");
      return new OfflineSegmenter(model, { ...storedOptions(info), ...options });
    } catch (error) {
      model?.dispose();
      throw error;
    } finally {
      disposeModelFile(file);
    }
  }

  /** Frees the model's weights; the segmenter cannot be used afterwards. */
  close(): void {
    this.model.dispose();
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.model.dispose();
  }

  /** Segments a whole video (see the module comment). Frames are RGB, all of one size. */
  async segmentVideo(
    frames: Iterable<Frame> | AsyncIterable<Frame>,
    options: SegmentVideoOptions = {},
  ): Promise<OfflineVideoResult> {
    const run = new VideoRun(this, options.outputSize);
    try {
      let batch: Frame[] = [];
      for await (const frame of frames) {
        batch.push(frame);
        if (batch.length === this.frameBatch) {
          run.addFrames(batch);
          batch = [];
        }
      }
      if (batch.length > 0) run.addFrames(batch);
      return run.finish();
    } finally {
      run.dispose();
    }
  }

  /** Category id of a class index. */
  categoryId(classIndex: number): number {
    return this.categoryIds?.[classIndex] ?? classIndex + 1;
  }
}

/** The inference settings a model file stores: its clip window, masks, top-k and categories. */
export function storedOptions(info: ModelInfo): OfflineSegmenterOptions {
  const { offline, inference } = info.config;
  return {
    clipLength: offline.inferenceClipLength,
    clipOverlap: offline.inferenceClipOverlap,
    frameMaskIou: offline.inferenceFrameMaskIou,
    softNmsIou: offline.inferenceSoftNmsIou,
    maskScore: inference.maskScore,
    topK: inference.topK,
    categoryIds: info.categoryIds,
    categoryNames: info.categoryNames,
  };
}

/** The state of one segmentVideo call. */
class VideoRun {
  private readonly entries: FrameEntry[] = [];
  /** Index of the first frame in `entries`. */
  private clipStart = 0;
  /** Frames whose masks are already emitted. */
  private emitted = 0;
  private frameCount = 0;
  private size?: { width: number; height: number };
  private live: Track[] = [];
  private readonly finished: Track[] = [];
  private nextId = 1;

  constructor(
    private readonly owner: OfflineSegmenter,
    private outputSize?: { width: number; height: number },
  ) {}

  addFrames(frames: Frame[]): void {
    const [inputHeight, inputWidth] = this.owner.model.config.segmenter.inputSize;
    for (const frame of frames) {
      this.size ??= { width: frame.width, height: frame.height };
      check(
        frame.width === this.size.width &&
          frame.height === this.size.height &&
          frame.data.length === frame.width * frame.height * 3,
        `frame is ${frame.width}×${frame.height} with ${frame.data.length} bytes; expected RGB ${this.size.width}×${this.size.height}`,
        undefined,
        `frame ${this.frameCount}`,
      );
      this.frameCount++;
    }
    this.outputSize ??= this.size;
    const outputs = tf.tidy(() => {
      const input = preprocessFrames(frames, [inputHeight, inputWidth]);
      const output = this.owner.model.segmenter.forward(input);
      return {
        queryFeatures: output.queryFeatures,
        maskFeatures: output.maskFeatures,
        frameMasks: this.owner.frameMaskIou > 0 ? output.predMasks : undefined,
        images: this.owner.model.segmenter.cropClassifier ? input : undefined,
      };
    });
    const frameMasks = outputs.frameMasks ? (outputs.frameMasks.dataSync() as Float32Array) : undefined;
    const queries = tf.unstack(outputs.queryFeatures) as tf.Tensor2D[];
    const features = tf.unstack(outputs.maskFeatures) as tf.Tensor3D[];
    const images = outputs.images ? (tf.unstack(outputs.images) as tf.Tensor3D[]) : [];
    tf.dispose([outputs.queryFeatures, outputs.maskFeatures, outputs.frameMasks, outputs.images]);
    const size = this.size!;
    const output = this.outputSize!;
    const guided =
      this.owner.maskUpsampling === "guided" && output.width === size.width && output.height === size.height;
    for (let i = 0; i < frames.length; i++) {
      const [h, w] = features[i].shape;
      const guide = guided ? { frame: frames[i], cells: cellColours(frames[i], h, w) } : undefined;
      const perFrame = frameMasks ? frameMasks.length / frames.length : 0;
      this.entries.push({
        queryFeatures: queries[i],
        maskFeatures: features[i],
        frameMasks: frameMasks?.slice(i * perFrame, (i + 1) * perFrame),
        image: images[i],
        guide,
      });
      if (this.entries.length === this.owner.clipLength) this.processClip();
    }
  }

  finish(): OfflineVideoResult {
    if (this.frameCount === 0) throw new VidsegError("segmentVideo: the video has no frames");
    if (this.emitted < this.frameCount) this.processClip();
    const tracks = [...this.finished, ...this.live];
    const ranked: OfflineInstance[] = [];
    for (const track of tracks) {
      track.classSum.forEach((sum, classIndex) =>
        ranked.push({
          trackId: track.id,
          classIndex,
          categoryId: this.owner.categoryId(classIndex),
          score: sum / track.frames,
          masks: track.masks,
        }),
      );
    }
    if (this.owner.softNmsIou < 1) {
      // Track ids are 1..nextId − 1; one tube IoU per pair of tracks, whatever the classes asking.
      const tubes = new Map(tracks.map((t) => [t.id, t.masks.map((m) => (m ? fromCoco(m) : null))]));
      const ious = new Map<number, number>();
      const trackIou = (a: number, b: number) => {
        const key = Math.min(a, b) * this.nextId + Math.max(a, b);
        if (!ious.has(key)) ious.set(key, tubeIou(tubes.get(a)!, tubes.get(b)!));
        return ious.get(key)!;
      };
      const scores = softSuppress(
        ranked.map((instance) => instance.score),
        ranked.map((instance) => instance.classIndex),
        (i, j) => trackIou(ranked[i].trackId, ranked[j].trackId),
        this.owner.softNmsIou,
      );
      ranked.forEach((instance, i) => (instance.score = scores[i]));
    }
    // Best first; ties by track then class, so the order is deterministic.
    ranked.sort((a, b) => b.score - a.score || a.trackId - b.trackId || a.classIndex - b.classIndex);
    const { width, height } = this.outputSize!;
    return {
      numFrames: this.frameCount,
      width,
      height,
      instances: ranked.slice(0, this.owner.topK).map((instance) => ({
        ...instance,
        masks: padTo(instance.masks, this.frameCount),
      })),
    };
  }

  dispose(): void {
    tf.dispose(this.entries.flatMap(entryTensors));
    this.entries.length = 0;
  }

  /**
   * The crop classifier's verdict on the clip's most likely video queries (see
   * src/models/crop-classifier.ts): p(c) = (1 − p(no object)) · the mean crop probability of c over up
   * to CROP_FRAMES of the clip's new frames where the query's mask is not empty. Updates `probs`.
   */
  private classifyCrops(probs: number[][], maskEmbed: tf.Tensor2D, newFrom: number): void {
    const classifier = this.owner.model.segmenter.cropClassifier!;
    const objectness = probs.map((row) => row.reduce((sum, p) => sum + p, 0));
    const candidates = likelyObjects(objectness, 0.05, CROP_QUERIES);
    const clipFrames = this.entries.length;
    const count = Math.min(CROP_FRAMES, clipFrames - newFrom);
    if (candidates.length === 0 || count <= 0) return;
    const frames = Array.from({ length: count }, (_, i) =>
      Math.floor(newFrom + ((i + 0.5) * (clipFrames - newFrom)) / count),
    );
    const boxes: CropBox[] = [];
    const imageIndices: number[] = [];
    const owners: number[] = [];
    frames.forEach((t, i) => {
      const [h, w] = this.entries[t].maskFeatures.shape;
      const masks = tf.tidy(() =>
        tf
          .greater(tf.matMul(this.entries[t].maskFeatures.reshape([h * w, -1]), maskEmbed, false, true), 0)
          .dataSync(),
      ) as Uint8Array;
      const numQueries = probs.length;
      for (const q of candidates) {
        const box = maskBox(strided(masks, q, numQueries), h, w);
        if (!box) continue;
        boxes.push(box);
        imageIndices.push(i);
        owners.push(q);
      }
    });
    if (boxes.length === 0) return;
    const cropProbs = tf.tidy(() => {
      const images = tf.stack(frames.map((t) => this.entries[t].image!)) as tf.Tensor4D;
      return tf.softmax(classifier.forward(images, boxes, imageIndices)).arraySync() as number[][];
    });
    for (const q of candidates) {
      const rows = cropProbs.filter((_, i) => owners[i] === q);
      if (rows.length === 0) continue;
      probs[q] = probs[q].map(
        (_, c) => (objectness[q] * rows.reduce((sum, row) => sum + row[c], 0)) / rows.length,
      );
    }
  }

  /** Runs the head on the held frames, emits masks of the new frames and links the video queries. */
  private processClip(): void {
    const model = this.owner.model;
    const numClasses = model.config.segmenter.numClasses;
    const clipFrames = this.entries.length;
    const newFrom = this.emitted - this.clipStart; // frames before this index were emitted by the last clip
    const overlapFrames = Math.min(this.owner.clipOverlap, clipFrames);
    const { width, height } = this.outputSize!;
    const head = tf.tidy(() => {
      const queries = tf.stack(this.entries.map((e) => e.queryFeatures)).expandDims(0) as tf.Tensor4D;
      const out = model.head.forward(queries);
      return {
        probs: tf.softmax(out.predLogits.squeeze([0])).slice([0, 0], [-1, numClasses]),
        embed: out.videoEmbed.squeeze([0]),
        maskEmbed: out.predMaskEmbed.squeeze([0]) as tf.Tensor2D, // [Nv, C]
      };
    });
    const probs = head.probs.arraySync() as number[][];
    if (model.segmenter.cropClassifier) this.classifyCrops(probs, head.maskEmbed, newFrom);
    const embeddings = (head.embed.arraySync() as number[][]).map((row) => Float32Array.from(row));
    const numQueries = probs.length;

    // Binary masks at feature resolution for the frames shared with the previous clip (linking) and with
    // the next one (kept as the tracks' tails); full-size RLEs for the new frames.
    const tailFrom = clipFrames - overlapFrames;
    const lowRes: Uint8Array[][] = Array.from({ length: numQueries }, () => []); // per query, per frame t
    const fullRes: (CocoRle | null)[][] = Array.from({ length: numQueries }, () => []);
    // Mask scores: per query, the sum and count of σ(logit) over its mask pixels in the new frames.
    const maskProbSum = new Float64Array(numQueries);
    const maskPixels = new Float64Array(numQueries);
    for (let t = 0; t < clipFrames; t++) {
      const needLow = t < newFrom || t >= tailFrom;
      const needFull = t >= newFrom;
      if (!needLow && !needFull) continue;
      const [h, w] = this.entries[t].maskFeatures.shape;
      // [Nv, h·w] mask logits of this frame, read back once.
      const logits = tf.tidy(() =>
        tf.matMul(head.maskEmbed, this.entries[t].maskFeatures.reshape([h * w, -1]), false, true).dataSync(),
      ) as Float32Array;
      const frameMasks = this.entries[t].frameMasks;
      if (frameMasks) snapToFrameMasks(logits, frameMasks, h * w, this.owner.frameMaskIou);
      for (let q = 0; q < numQueries; q++) {
        if (needFull && this.owner.maskScore) {
          const { sum, pixels } = maskProbabilitySum(logits, q * h * w, h * w);
          maskProbSum[q] += sum;
          maskPixels[q] += pixels;
        }
        if (needLow)
          lowRes[q][t] = Uint8Array.from(logits.subarray(q * h * w, (q + 1) * h * w), (v) => (v > 0 ? 1 : 0));
        if (needFull) {
          const guide = this.entries[t].guide;
          const mask = guide
            ? guidedUpsampleMask(logits, q * h * w, h, w, guide.frame, guide.cells)
            : upsampleMask(logits, q * h * w, h, w, height, width);
          fullRes[q].push(mask.some((v) => v !== 0) ? toCoco(encode(mask, height, width)) : null);
        }
      }
    }
    tf.dispose([head.probs, head.embed, head.maskEmbed]);

    // Link this clip's video queries to the live tracks.
    const previous = this.live;
    const assigned = new Array<Track | undefined>(numQueries);
    if (previous.length > 0) {
      const scores = previous.map((track) =>
        embeddings.map((embedding, q) => {
          const similarity = dot(track.embedding, embedding);
          if (newFrom === 0) return similarity;
          return (similarity + overlapIou(track.tail, lowRes[q].slice(0, newFrom))) / 2;
        }),
      );
      const { rows, cols } = linearSumAssignment(scores, true);
      rows.forEach((r, k) => {
        if (scores[r][cols[k]] >= this.owner.minLinkScore) assigned[cols[k]] = previous[r];
      });
    }
    const continued = new Set(assigned.filter((t) => t !== undefined));
    for (const track of previous) if (!continued.has(track)) this.finished.push(track);
    const newFrames = clipFrames - newFrom;
    this.live = embeddings.map((embedding, q) => {
      let track = assigned[q];
      if (!track) {
        track = {
          id: this.nextId++,
          embedding,
          classSum: new Float64Array(numClasses),
          frames: 0,
          masks: new Array<CocoRle | null>(this.emitted).fill(null),
          tail: [],
        };
      }
      track.embedding = embedding;
      const maskScore = !this.owner.maskScore ? 1 : maskPixels[q] > 0 ? maskProbSum[q] / maskPixels[q] : 0;
      probs[q].forEach((p, c) => (track.classSum[c] += p * maskScore * newFrames));
      track.frames += newFrames;
      padTo(track.masks, this.emitted).push(...fullRes[q]);
      track.tail = lowRes[q].slice(tailFrom);
      return track;
    });

    this.emitted = this.clipStart + clipFrames;
    // Keep the last `clipOverlap` frames as the start of the next clip.
    const dropped = this.entries.splice(0, clipFrames - overlapFrames);
    tf.dispose(dropped.flatMap(entryTensors));
    this.clipStart += dropped.length;
  }
}

/**
 * Replaces each video query's mask logits (rows of `logits`, `size` values each) by those of the frame
 * query whose mask overlaps it most, where that IoU is at least `minIou` (in place).
 */
export function snapToFrameMasks(
  logits: Float32Array,
  frameLogits: Float32Array,
  size: number,
  minIou: number,
): void {
  const binary = (data: Float32Array, row: number) => {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = data[row * size + i] > 0 ? 1 : 0;
    return out;
  };
  const frameRows = Array.from({ length: frameLogits.length / size }, (_, n) => binary(frameLogits, n));
  for (let q = 0; q < logits.length / size; q++) {
    const mask = binary(logits, q);
    let best = -1;
    let bestIou = minIou;
    frameRows.forEach((frame, n) => {
      const iou = overlapIou([mask], [frame]);
      if (iou >= bestIou) {
        best = n;
        bestIou = iou;
      }
    });
    if (best >= 0) logits.set(frameLogits.subarray(best * size, (best + 1) * size), q * size);
  }
}

/** The tensors an entry holds. */
function entryTensors(entry: FrameEntry): tf.Tensor[] {
  return [entry.queryFeatures, entry.maskFeatures, ...(entry.image ? [entry.image] : [])];
}

/** Channel q of an interleaved [pixels, channels] bool buffer as a 0/1 mask. */
function strided(data: Uint8Array, q: number, channels: number): Uint8Array {
  const out = new Uint8Array(data.length / channels);
  for (let i = 0; i < out.length; i++) out[i] = data[i * channels + q];
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** IoU of two mask sequences over all their frames together (0 when both are empty). */
function overlapIou(a: Uint8Array[], b: Uint8Array[]): number {
  let intersection = 0;
  let union = 0;
  for (let t = 0; t < Math.min(a.length, b.length); t++) {
    for (let i = 0; i < a[t].length; i++) {
      intersection += a[t][i] & b[t][i];
      union += a[t][i] | b[t][i];
    }
  }
  return union === 0 ? 0 : intersection / union;
}

/** Pads a per-frame list with nulls to `length` entries (in place) and returns it. */
function padTo(masks: (CocoRle | null)[], length: number): (CocoRle | null)[] {
  while (masks.length < length) masks.push(null);
  return masks;
}

/** The instances as YouTube-VIS results of one video. */
export function toYtvisResults(video: OfflineVideoResult, videoId: number): YtvisResult[] {
  return video.instances.map((instance) => ({
    video_id: videoId,
    category_id: instance.categoryId,
    score: instance.score,
    segmentations: instance.masks,
  }));
}
