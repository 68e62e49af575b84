/**
 * Training data for the VIS models from a YouTube-VIS-layout root: frames (or pairs of frames of one
 * video) for the online model, clips of T frames of one video for the offline model, resized to the
 * model's input size, with their GT instance masks resized to the same size, as resumable
 * {@link SharedDataSource}s for the trainer: each batch is drawn first as a plan (which frames, flips,
 * pair partners, crop frames, and a seed per image or clip for the step's random draws), then loaded, so
 * that data-parallel workers load shares of the same batch.
 *
 * Where a split's files are: src/formats/ytvis-layout.ts. Frames are read lazily (sharp) each time they are drawn, so memory
 * does not grow with the dataset.
 */
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { VidsegError, check } from "../core/errors.js";
import { resolveInside } from "../core/paths.js";
import { Rng, type RngState } from "../core/rng.js";
import { readYtvis, type YtvisDataset } from "../formats/ytvis.js";
import type { VisSplitPaths } from "../formats/ytvis-layout.js";
import { decode, fromSegmentation } from "../mask/rle.js";
import { cropImages, jitteredInstanceBoxes, type LabelledCrops } from "../models/crop-classifier.js";
import type { CriterionTarget } from "../models/criterion.js";
import type { ClipTarget } from "../models/vis/video-criterion.js";
import { resizeFrame, resizeMaskNearest } from "../processing/preprocess.js";
import {
  drawTubePastes,
  FairTubeSampler,
  pasteTube,
  tubeAffine,
  type FairAugOptions,
  type TubeAffine,
  type TubeFrame,
  type TubePaste,
} from "./fair-aug.js";
import { assignBalanced, EpochSampler, shareUnits, type SharedDataSource } from "./trainer.js";

export type { VisSplitPaths };

/** One training batch: images [B, H, W, 3] in 0..1 and the GT of each image. */
export interface VisBatch {
  images: tf.Tensor4D;
  targets: CriterionTarget[];
  /** Crops of the GT instances of `cropFrames` more random frames, for the crop classifier. */
  crops?: LabelledCrops;
  /** (video id, frame index) of each image, for logs and tests. */
  frames: { videoId: number; frame: number }[];
  /** Seed of each image's random draws in the step (see {@link VisFramePlan}). */
  seeds: number[];
}

/** One frame of a plan: video index, frame index, flip, and the seed of its random draws. */
export interface FramePick {
  video: number;
  frame: number;
  flip: boolean;
  seed: number;
}

/** A drawn batch of {@link VisFrameData}, before loading (JSON). */
export interface VisFramePlan {
  /** The batch's images (pairs at 2p, 2p+1); each seed is that image's stream in the loss. */
  frames: FramePick[];
  /** The frames whose GT instances are cut out as crop-classifier crops; each seed jitters its crops. */
  cropFrames: FramePick[];
}

export interface VisDataOptions extends VisSplitPaths {
  /** Model input [height, width]. */
  inputSize: [number, number];
  /** Images per batch. */
  batchSize: number;
  /** Sample pairs of frames of the same video (images 2p, 2p+1); batchSize must be even. */
  pairs?: boolean;
  /** Largest frame distance within a pair. Default 5. */
  pairMaxGap?: number;
  /** Probability of a horizontal flip (one flip for both frames of a pair). Default 0.5. */
  flipProbability?: number;
  /** Seed of the epoch permutations. Default 0. */
  seed?: number;
  /** Repeat-factor sampling threshold t (see {@link frameRepeatFactors}); 0 = every frame once. */
  repeatThreshold?: number;
  /**
   * Random frames per batch (beyond the batch's own) whose GT instances are cut out as crops of
   * `cropSize`² for the crop classifier (src/models/crop-classifier.ts), jittered. Default 0.
   */
  cropFrames?: number;
  cropSize?: number;
}

/** One frame read for training: pixels at the input size and its visible instances. */
export interface TrainingFrame {
  /** [height, width, 3] RGB in 0..1 at the model input size. */
  image: Float32Array;
  /** Instances with foreground in this frame (after the resize), in annotation order. */
  instances: { annotationId: number; label: number; mask: Uint8Array }[];
}

/**
 * A split's annotations indexed for training: class index of each category, annotations per video, and
 * reading one frame (resized and optionally flipped) with its instance masks. Shared by the frame and
 * clip data sources.
 */
export class VisSplitReader {
  /** Class index of each category id (the sorted category ids map to 0..K−1). */
  readonly classOfCategory: Map<number, number>;
  /** Category ids in class-index order. */
  readonly categoryIds: number[];
  private readonly annotationsByVideo: Map<number, YtvisDataset["annotations"]>;

  constructor(
    readonly dataset: YtvisDataset,
    readonly paths: VisSplitPaths,
    readonly inputSize: [number, number],
  ) {
    this.categoryIds = dataset.categories.map((c) => c.id).sort((a, b) => a - b);
    this.classOfCategory = new Map(this.categoryIds.map((id, i) => [id, i]));
    this.annotationsByVideo = new Map(dataset.videos.map((v) => [v.id, []]));
    for (const annotation of dataset.annotations)
      this.annotationsByVideo.get(annotation.video_id)?.push(annotation);
  }

  get numClasses(): number {
    return this.categoryIds.length;
  }

  /** Category names in class-index order (the id as text where a category has no name). */
  get categoryNames(): string[] {
    const names = new Map(this.dataset.categories.map((c) => [c.id, c.name]));
    return this.categoryIds.map((id) => names.get(id) ?? String(id));
  }

  /** Number of (non-crowd) instances annotated in frame `frame` of the video at index `videoIndex`. */
  instanceCount(videoIndex: number, frame: number): number {
    const annotations = this.annotationsByVideo.get(this.dataset.videos[videoIndex].id) ?? [];
    return annotations.filter((a) => !a.iscrowd && a.segmentations[frame]).length;
  }

  /** Frame `frame` of the video at index `videoIndex`, at the input size, with its instances. */
  async readFrame(videoIndex: number, frame: number, flip: boolean): Promise<TrainingFrame> {
    const video = this.dataset.videos[videoIndex];
    const [height, width] = this.inputSize;
    const file = resolveInside(this.paths.imagesDir, video.file_names[frame], this.paths.annotationFile);
    let rgb: Buffer;
    try {
      rgb = await sharp(file).removeAlpha().toColourspace("srgb").raw().toBuffer();
    } catch (error) {
      throw new VidsegError(
        `cannot read frame: ${(error as Error).message}`,
        file,
        `video ${video.id}, frame ${frame}`,
      );
    }
    check(
      rgb.length === video.width * video.height * 3,
      `frame is not ${video.width}×${video.height} RGB as annotated`,
      file,
      `video ${video.id}, frame ${frame}`,
    );
    const image = resizeFrame(rgb, video.height, video.width, height, width, flip);

    const instances: TrainingFrame["instances"] = [];
    for (const annotation of this.annotationsByVideo.get(video.id) ?? []) {
      const segmentation = annotation.segmentations[frame];
      if (segmentation === null || segmentation === undefined || annotation.iscrowd) continue;
      const where = `annotation ${annotation.id}, frame ${frame}`;
      const full = decode(fromSegmentation(segmentation, video.height, video.width, where));
      const mask = resizeMaskNearest(full, video.height, video.width, height, width, flip);
      if (!mask.some((v) => v !== 0)) continue; // too small to survive the resize
      instances.push({
        annotationId: annotation.id,
        label: this.classOfCategory.get(annotation.category_id)!,
        mask,
      });
    }
    return { image, instances };
  }

  /** The frames' pixels as one [frames, height, width, 3] tensor. */
  stackImages(frames: TrainingFrame[]): tf.Tensor4D {
    const [height, width] = this.inputSize;
    const pixels = new Float32Array(frames.length * height * width * 3);
    frames.forEach((frame, i) => pixels.set(frame.image, i * height * width * 3));
    return tf.tensor4d(pixels, [frames.length, height, width, 3]);
  }
}

/**
 * Estimated work, for sharing batches evenly between workers (CPU milliseconds of the cpu-small model;
 * only the ratios matter): a GT instance in a batch frame and one in a crop frame (a regression of the
 * workers' CPU time over 22 worker steps), and reading a crop frame (its load time).
 */
const FRAME_INSTANCE_COST = 39;
const CROP_INSTANCE_COST = 6;
const CROP_FRAME_COST = 5;

/** A resumable source of frame (or frame-pair) batches; see the module comment. */
export class VisFrameData implements SharedDataSource<VisBatch, VisFramePlan> {
  /** Class index of each category id (the sorted category ids map to 0..K−1). */
  readonly classOfCategory: Map<number, number>;
  /** Category ids in class-index order. */
  readonly categoryIds: number[];
  readonly reader: VisSplitReader;
  private readonly items: { video: number; frame: number }[];
  private readonly sampler: EpochSampler;
  private readonly cropCdf: Float64Array;

  private constructor(
    readonly dataset: YtvisDataset,
    readonly options: VisDataOptions,
  ) {
    const pairs = options.pairs ?? false;
    check(
      Number.isInteger(options.batchSize) &&
        options.batchSize >= 1 &&
        (!pairs || options.batchSize % 2 === 0),
      `batch size must be a positive${pairs ? " even" : ""} integer, got ${options.batchSize}`,
      undefined,
      "batchSize",
    );
    this.reader = new VisSplitReader(dataset, options, options.inputSize);
    this.categoryIds = this.reader.categoryIds;
    this.classOfCategory = this.reader.classOfCategory;
    this.items = frameItems(dataset, options.annotationFile);
    const repeatFactors = options.repeatThreshold
      ? frameRepeatFactors(dataset, this.items, options.repeatThreshold)
      : undefined;
    this.sampler = new EpochSampler(
      this.items.length,
      pairs ? options.batchSize / 2 : options.batchSize,
      options.seed ?? 0,
      repeatFactors,
    );
    // Crop frames are drawn with the same repeat factors, as a cumulative distribution.
    let total = 0;
    this.cropCdf = Float64Array.from(this.items, (_, i) => (total += repeatFactors?.[i] ?? 1));
  }

  /** Reads and validates the split's annotations. */
  static async open(options: VisDataOptions): Promise<VisFrameData> {
    return new VisFrameData(await readYtvis(options.annotationFile), options);
  }

  get numClasses(): number {
    return this.categoryIds.length;
  }

  /** Frames per unit of the batch: 2 with pairs (a pair is never split between workers), else 1. */
  private get unit(): number {
    return this.options.pairs ? 2 : 1;
  }

  get unitsPerBatch(): number {
    return this.options.batchSize / this.unit;
  }

  async next(rng: Rng): Promise<VisBatch> {
    return this.load(this.draw(rng));
  }

  draw(rng: Rng): VisFramePlan {
    const pairs = this.options.pairs ?? false;
    const gap = this.options.pairMaxGap ?? 5;
    const flipProbability = this.options.flipProbability ?? 0.5;
    const frames: FramePick[] = [];
    for (const index of this.sampler.nextIndices()) {
      const item = this.items[index];
      const flip = rng.bernoulli(flipProbability);
      frames.push({ ...item, flip, seed: rng.seed() });
      if (pairs) {
        const length = this.dataset.videos[item.video].file_names.length;
        let other = item.frame;
        if (length > 1) {
          const low = Math.max(0, item.frame - gap);
          const high = Math.min(length - 1, item.frame + gap);
          // Uniform over [low, high] without the anchor frame itself.
          other = low + rng.int(high - low);
          if (other >= item.frame) other += 1;
        }
        frames.push({ video: item.video, frame: other, flip, seed: rng.seed() });
      }
    }
    const cropFrames = Array.from({ length: this.options.cropFrames ?? 0 }, () => ({
      ...this.items[this.drawCropFrame(rng)],
      flip: rng.bernoulli(flipProbability),
      seed: rng.seed(),
    }));
    return { frames, cropFrames };
  }

  /**
   * Shares of whole units (a pair is never split), as many units each as they go evenly, balanced by
   * the work their GT instances bring (matching and point-sampled losses on every decoder layer, crops);
   * crop frames then go to the least busy shares. Which share computes which sample changes no result
   * beyond float summation order.
   */
  share(plan: VisFramePlan, count: number): VisFramePlan[] {
    checkShares(this.unitsPerBatch, count);
    const { unit } = this;
    const instances = (pick: FramePick) => this.reader.instanceCount(pick.video, pick.frame);
    const unitCosts = shareUnits(plan.frames, unit, plan.frames.length / unit).map((frames) =>
      frames.reduce((sum, pick) => sum + FRAME_INSTANCE_COST * instances(pick), 0),
    );
    const capacity = shareUnits(unitCosts, 1, count).map((share) => share.length);
    const loads = new Array<number>(count).fill(0);
    const units = assignBalanced(unitCosts, loads, capacity);
    const cropFrames = assignBalanced(
      plan.cropFrames.map((pick) => CROP_FRAME_COST + CROP_INSTANCE_COST * instances(pick)),
      loads,
    );
    return units.map((indices, s) => ({
      frames: indices.flatMap((u) => plan.frames.slice(u * unit, (u + 1) * unit)),
      cropFrames: cropFrames[s].map((i) => plan.cropFrames[i]),
    }));
  }

  async load(plan: VisFramePlan): Promise<VisBatch> {
    const read = (pick: FramePick) => this.reader.readFrame(pick.video, pick.frame, pick.flip);
    const loaded = await Promise.all(plan.frames.map(read));
    const cropFrames = await Promise.all(plan.cropFrames.map(read));
    const [height, width] = this.options.inputSize;
    return {
      crops: this.instanceCrops(cropFrames, plan.cropFrames),
      images: this.reader.stackImages(loaded),
      targets: loaded.map(({ instances }) => {
        const data = new Float32Array(instances.length * height * width);
        instances.forEach((instance, i) => data.set(instance.mask, i * height * width));
        return {
          labels: instances.map((instance) => instance.label),
          ids: instances.map((instance) => instance.annotationId),
          masks: tf.tensor3d(data, [instances.length, height, width]),
        };
      }),
      frames: plan.frames.map((pick) => ({ videoId: this.dataset.videos[pick.video].id, frame: pick.frame })),
      seeds: plan.frames.map((pick) => pick.seed),
    };
  }

  getState(): unknown {
    return this.sampler.getState();
  }

  setState(state: unknown): void {
    this.sampler.setState(state);
  }

  release(batch: VisBatch): void {
    tf.dispose([
      batch.images,
      ...batch.targets.map((t) => t.masks),
      ...(batch.crops ? [batch.crops.images] : []),
    ]);
  }

  /** A random frame index, drawn in proportion to the frames' repeat factors (uniform without them). */
  private drawCropFrame(rng: Rng): number {
    const cdf = this.cropCdf;
    const u = rng.uniform() * cdf[cdf.length - 1];
    let low = 0;
    let high = cdf.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (cdf[mid] > u) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  /**
   * One jittered crop of every instance of the frames, each frame's jitter drawn from its pick's seed
   * (none when they show no instance).
   */
  private instanceCrops(frames: TrainingFrame[], picks: FramePick[]): VisBatch["crops"] {
    const [height, width] = this.options.inputSize;
    const boxes: ReturnType<typeof jitteredInstanceBoxes>["boxes"] = [];
    const imageIndices: number[] = [];
    const labels: number[] = [];
    frames.forEach(({ instances }, i) => {
      const rng = new Rng(picks[i].seed);
      const frame = jitteredInstanceBoxes(
        [
          {
            masks: instances.map((instance) => instance.mask),
            labels: instances.map((instance) => instance.label),
            height,
            width,
          },
        ],
        1,
        () => rng.uniform(),
      );
      boxes.push(...frame.boxes);
      imageIndices.push(...frame.imageIndices.map(() => i));
      labels.push(...frame.labels);
    });
    if (boxes.length === 0) return undefined;
    return tf.tidy(() => {
      const images = this.reader.stackImages(frames);
      return { images: cropImages(images, boxes, imageIndices, this.options.cropSize ?? 48), labels };
    });
  }
}

/** One training batch of the offline model: B clips of T frames each. */
export interface VisClipBatch {
  /** [B·T, H, W, 3] in 0..1, clip-major (clip b's frames at b·T … b·T + T − 1). */
  images: tf.Tensor4D;
  /** Frames per clip T. */
  numFrames: number;
  /**
   * Per clip: the instance tracks with foreground in any of its frames, masks [M, T, H, W] (empty in
   * frames where a track is absent).
   */
  targets: ClipTarget[];
  /** Per clip: its video, frame indices, flip and the annotation id of each track (for logs and tests). */
  clips: {
    videoId: number;
    frames: number[];
    flip: boolean;
    trackIds: number[];
    /** The tubes pasted by the class-fair augmentation, in paste order (absent without it). */
    pasted?: PastedTube[];
  }[];
  /** Seed of each clip's random draws in the step (see {@link VisClipPlan}). */
  seeds: number[];
}

/**
 * A drawn batch of {@link VisClipData}, before loading (JSON): per clip, its frames, flip, the
 * class-fair augmentation's pastes and the seed of the clip's random draws in the step.
 */
export interface VisClipPlan {
  clips: { video: number; frames: number[]; flip: boolean; pastes: TubePaste[]; seed: number }[];
}

/** A tube pasted onto a clip (src/train/fair-aug.ts). */
export interface PastedTube {
  videoId: number;
  annotationId: number;
  label: number;
  /** The source frame shown in each clip frame. */
  frames: number[];
  flip: boolean;
  affine: TubeAffine;
}

export type { FairAugOptions };

export interface VisClipDataOptions extends VisSplitPaths {
  /** Model input [height, width]. */
  inputSize: [number, number];
  /** Frames per clip T. */
  clipLength: number;
  /** Clips per batch. */
  clipsPerBatch: number;
  /** Largest distance between consecutive frames of a clip (1 = consecutive frames). Default 1. */
  maxStride?: number;
  /** Probability of a horizontal flip (one flip for the whole clip). Default 0.5. */
  flipProbability?: number;
  /** Seed of the epoch permutations. Default 0. */
  seed?: number;
  /** Repeat-factor sampling threshold of the anchor frames ({@link frameRepeatFactors}); 0 = off. */
  repeatThreshold?: number;
  /** Class-fair augmentation (src/train/fair-aug.ts): tubes of other videos pasted onto the clips. */
  fairAug?: FairAugOptions;
}

/**
 * A resumable source of clip batches for the offline model. Each epoch visits every frame of the split
 * once as an anchor (as {@link VisFrameData} does, so long videos weigh more); the clip around an anchor
 * is T frames of its video in order, see {@link sampleClipFrames}.
 */
export class VisClipData implements SharedDataSource<VisClipBatch, VisClipPlan> {
  readonly reader: VisSplitReader;
  /** The class-fair augmentation's tubes and its own random stream (part of the state). */
  readonly fairAug?: { sampler: FairTubeSampler; rng: Rng; options: FairAugOptions };
  private readonly items: { video: number; frame: number }[];
  private readonly sampler: EpochSampler;

  private constructor(
    readonly dataset: YtvisDataset,
    readonly options: VisClipDataOptions,
  ) {
    const positive = (value: number | undefined, field: string) =>
      check(
        value === undefined || (Number.isInteger(value) && value >= 1),
        `must be a positive integer, got ${value}`,
        undefined,
        field,
      );
    positive(options.clipLength, "clipLength");
    positive(options.clipsPerBatch, "clipsPerBatch");
    positive(options.maxStride, "maxStride");
    this.reader = new VisSplitReader(dataset, options, options.inputSize);
    this.items = frameItems(dataset, options.annotationFile);
    this.sampler = new EpochSampler(
      this.items.length,
      options.clipsPerBatch,
      options.seed ?? 0,
      options.repeatThreshold ? frameRepeatFactors(dataset, this.items, options.repeatThreshold) : undefined,
    );
    if (options.fairAug) {
      // A stream of its own: the clips drawn do not depend on whether they are augmented.
      this.fairAug = {
        sampler: new FairTubeSampler(dataset, this.reader.classOfCategory, options.fairAug.alpha),
        rng: new Rng(options.seed ?? 0).fork(),
        options: options.fairAug,
      };
    }
  }

  /** Reads and validates the split's annotations. */
  static async open(options: VisClipDataOptions): Promise<VisClipData> {
    return new VisClipData(await readYtvis(options.annotationFile), options);
  }

  get unitsPerBatch(): number {
    return this.options.clipsPerBatch;
  }

  async next(rng: Rng): Promise<VisClipBatch> {
    return this.load(this.draw(rng));
  }

  draw(rng: Rng): VisClipPlan {
    const flipProbability = this.options.flipProbability ?? 0.5;
    const clips = this.sampler.nextIndices().map((index) => {
      const { video, frame } = this.items[index];
      const length = this.dataset.videos[video].file_names.length;
      const flip = rng.bernoulli(flipProbability);
      const frames = sampleClipFrames(
        length,
        this.options.clipLength,
        this.options.maxStride ?? 1,
        frame,
        rng,
      );
      return { video, frames, flip, seed: rng.seed() };
    });
    // After the clips, from the augmentation's own stream: the clips do not depend on it.
    return { clips: clips.map((clip) => ({ ...clip, pastes: this.drawPastes(clip.video) })) };
  }

  share(plan: VisClipPlan, count: number): VisClipPlan[] {
    checkShares(this.unitsPerBatch, count);
    return shareUnits(plan.clips, 1, count).map((clips) => ({ clips }));
  }

  async load(plan: VisClipPlan): Promise<VisClipBatch> {
    const { clipLength, inputSize } = this.options;
    const picks = plan.clips;
    const loaded = await Promise.all(
      picks.map((pick) =>
        Promise.all(pick.frames.map((frame) => this.reader.readFrame(pick.video, frame, pick.flip))),
      ),
    );
    const pasted: PastedTube[][] = [];
    for (const [b, frames] of loaded.entries()) pasted.push(await this.applyPastes(frames, picks[b].pastes));
    const [height, width] = inputSize;
    const frameSize = height * width;
    const targets: ClipTarget[] = [];
    const clips: VisClipBatch["clips"] = [];
    loaded.forEach((frames, b) => {
      // Tracks in order of first appearance in the clip; the masks of absent frames stay empty.
      const trackOf = new Map<number, number>();
      const labels: number[] = [];
      frames.forEach(({ instances }) =>
        instances.forEach(({ annotationId, label }) => {
          if (trackOf.has(annotationId)) return;
          trackOf.set(annotationId, labels.length);
          labels.push(label);
        }),
      );
      const data = new Float32Array(labels.length * clipLength * frameSize);
      frames.forEach(({ instances }, t) =>
        instances.forEach(({ annotationId, mask }) =>
          data.set(mask, (trackOf.get(annotationId)! * clipLength + t) * frameSize),
        ),
      );
      targets.push({ labels, masks: tf.tensor4d(data, [labels.length, clipLength, height, width]) });
      const { video, frames: frameIndices, flip } = picks[b];
      clips.push({
        videoId: this.dataset.videos[video].id,
        frames: frameIndices,
        flip,
        trackIds: [...trackOf.keys()],
        ...(this.fairAug ? { pasted: pasted[b] } : {}),
      });
    });
    return {
      images: this.reader.stackImages(loaded.flat()),
      numFrames: clipLength,
      targets,
      clips,
      seeds: picks.map((pick) => pick.seed),
    };
  }

  getState(): unknown {
    const position = this.sampler.getState();
    return this.fairAug ? { ...position, fairAugRng: this.fairAug.rng.getState() } : position;
  }

  setState(state: unknown): void {
    if (this.fairAug) {
      const rng = (state as { fairAugRng?: unknown } | null)?.fairAugRng;
      if (rng === undefined)
        throw new VidsegError("the data state has no fair augmentation stream (fairAugRng)");
      this.fairAug.rng.setState(rng as RngState);
    }
    this.sampler.setState(state);
  }

  /** The class-fair augmentation's random choices for a clip of video `video` (none without it). */
  private drawPastes(video: number): TubePaste[] {
    if (!this.fairAug) return [];
    const { sampler, rng, options } = this.fairAug;
    const clipFrames = (tube: { video: number }, anchor: number) =>
      sampleClipFrames(
        this.dataset.videos[tube.video].file_names.length,
        this.options.clipLength,
        this.options.maxStride ?? 1,
        anchor,
        rng,
      );
    return drawTubePastes(sampler, video, options, clipFrames, rng);
  }

  /** Reads the pasted tubes' frames and pastes them onto the clip's frames, in place. */
  private async applyPastes(frames: TrainingFrame[], pastes: readonly TubePaste[]): Promise<PastedTube[]> {
    const pasted: PastedTube[] = [];
    if (!this.fairAug) return pasted;
    const [height, width] = this.options.inputSize;
    for (const paste of pastes) {
      const tube = this.fairAug.sampler.tubes[paste.tube];
      const tubeFrames: TubeFrame[] = await Promise.all(
        paste.frames.map(async (frame) => {
          const read = await this.reader.readFrame(tube.video, frame, paste.flip);
          const own = read.instances.find((instance) => instance.annotationId === tube.annotationId);
          return { image: read.image, mask: own?.mask ?? null };
        }),
      );
      const masks = tubeFrames.map((f) => f.mask);
      const affine = tubeAffine(masks, width, height, paste.scale, paste.target);
      if (!affine) continue;
      const minPixels = this.fairAug.options.minVisibleArea * width * height;
      const instance = { annotationId: tube.annotationId, label: tube.label };
      pasteTube(frames, tubeFrames, affine, instance, width, height, minPixels);
      pasted.push({
        videoId: this.dataset.videos[tube.video].id,
        annotationId: tube.annotationId,
        label: tube.label,
        frames: paste.frames,
        flip: paste.flip,
        affine,
      });
    }
    return pasted;
  }

  release(batch: VisClipBatch): void {
    tf.dispose([batch.images, ...batch.targets.map((t) => t.masks)]);
  }
}

/**
 * The frame indices of a training clip of `clipLength` frames from a video of `length` frames around
 * frame `anchor`, in increasing order:
 * - a long enough video: consecutive frames `1..s` apart, each gap uniform in [1, s] where
 *   s = min(maxStride, ⌊(length − 1)/(clipLength − 1)⌋) (so the clip always fits), and the clip's start
 *   uniform among the starts whose span covers the anchor;
 * - a video shorter than the clip: every frame, each repeated once or twice to fill the clip
 *   (⌊i·length/clipLength⌋ for i = 0..clipLength − 1).
 */
export function sampleClipFrames(
  length: number,
  clipLength: number,
  maxStride: number,
  anchor: number,
  rng: Rng,
): number[] {
  if (clipLength === 1) return [anchor];
  if (length < clipLength)
    return Array.from({ length: clipLength }, (_, i) => Math.floor((i * length) / clipLength));
  const stride = Math.min(maxStride, Math.floor((length - 1) / (clipLength - 1)));
  const gaps = Array.from({ length: clipLength - 1 }, () => 1 + rng.int(stride));
  const span = gaps.reduce((sum, gap) => sum + gap, 0);
  const low = Math.max(0, anchor - span);
  const high = Math.min(anchor, length - 1 - span);
  const frames = [low + rng.int(high - low + 1)];
  for (const gap of gaps) frames.push(frames[frames.length - 1] + gap);
  return frames;
}

function checkShares(units: number, count: number): void {
  check(
    Number.isInteger(count) && count >= 1 && count <= units,
    `a batch of ${units} unit${units === 1 ? "" : "s"} cannot be shared by ${count} workers`,
    undefined,
    "workers",
  );
}

/** Every (video index, frame index) of a split: the anchors the samplers draw. */
function frameItems(dataset: YtvisDataset, file: string): { video: number; frame: number }[] {
  const items: { video: number; frame: number }[] = [];
  dataset.videos.forEach((video, v) => {
    for (let frame = 0; frame < video.file_names.length; frame++) items.push({ video: v, frame });
  });
  check(items.length > 0, "the split has no frames", file);
  return items;
}

/**
 * LVIS repeat factors of frames, for long-tailed splits: a class present in a fraction f_c of the frames
 * gets r_c = max(1, √(t / f_c)), and a frame the largest r_c of the classes visible in it (1 when
 * empty), so frames showing rare classes are drawn more often.
 */
export function frameRepeatFactors(
  dataset: YtvisDataset,
  items: readonly { video: number; frame: number }[],
  threshold: number,
): number[] {
  check(threshold > 0 && threshold <= 1, `must be in (0, 1], got ${threshold}`, undefined, "repeatThreshold");
  const classesByVideo = new Map<number, YtvisDataset["annotations"]>();
  for (const annotation of dataset.annotations) {
    if (annotation.iscrowd) continue;
    const list = classesByVideo.get(annotation.video_id) ?? [];
    list.push(annotation);
    classesByVideo.set(annotation.video_id, list);
  }
  const frameClasses = items.map(({ video, frame }) => {
    const annotations = classesByVideo.get(dataset.videos[video].id) ?? [];
    return new Set(annotations.filter((a) => a.segmentations[frame]).map((a) => a.category_id));
  });
  const framesWith = new Map<number, number>();
  for (const classes of frameClasses)
    for (const c of classes) framesWith.set(c, (framesWith.get(c) ?? 0) + 1);
  const classFactor = new Map(
    [...framesWith].map(([c, n]) => [c, Math.max(1, Math.sqrt(threshold / (n / items.length)))]),
  );
  return frameClasses.map((classes) => Math.max(1, ...[...classes].map((c) => classFactor.get(c)!)));
}
