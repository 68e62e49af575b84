/**
 * Training data for the VIS models from a YouTube-VIS-layout root: frames (or pairs of frames of one
 * video) resized to the model's input size, with their GT instance masks resized to the same size, as a
 * resumable {@link DataSource} for the trainer.
 *
 * Layout: `<root>/<split>/JPEGImages/<file_names>` and the annotation JSON at the first of
 * `<root>/<split>.json`, `<root>/<split>/instances.json`, `<root>/annotations/instances_<split>.json`
 * (or give both paths explicitly). Frames are read lazily (sharp) each time they are drawn, so memory
 * does not grow with the dataset.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { VidsegError, check } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import { readYtvis, type YtvisDataset } from "../formats/ytvis.js";
import { decode, fromSegmentation } from "../mask/rle.js";
import type { CriterionTarget } from "../models/criterion.js";
import { EpochSampler, type DataSource } from "./trainer.js";

/** Where a split's annotations and frames are. */
export interface VisSplitPaths {
  annotationFile: string;
  imagesDir: string;
}

/** Finds a split of a YouTube-VIS-layout root (see the module comment). */
export function resolveVisSplit(root: string, split: string): VisSplitPaths {
  const candidates = [
    join(root, `${split}.json`),
    join(root, split, "instances.json"),
    join(root, "annotations", `instances_${split}.json`),
  ];
  const annotationFile = candidates.find((file) => existsSync(file));
  if (!annotationFile) {
    throw new VidsegError(
      `no annotation file for split "${split}" (looked for ${candidates.join(", ")})`,
      root,
    );
  }
  const imagesDir = join(root, split, "JPEGImages");
  if (!existsSync(imagesDir)) throw new VidsegError(`no frames folder for split "${split}"`, imagesDir);
  return { annotationFile, imagesDir };
}

/** One training batch: images [B, H, W, 3] in 0..1 and the GT of each image. */
export interface VisBatch {
  images: tf.Tensor4D;
  targets: CriterionTarget[];
  /** (video id, frame index) of each image, for logs and tests. */
  frames: { videoId: number; frame: number }[];
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
}

/** A resumable source of frame (or frame-pair) batches; see the module comment. */
export class VisFrameData implements DataSource<VisBatch> {
  /** Class index of each category id (the sorted category ids map to 0..K−1). */
  readonly classOfCategory: Map<number, number>;
  /** Category ids in class-index order. */
  readonly categoryIds: number[];
  private readonly items: { video: number; frame: number }[] = [];
  private readonly sampler: EpochSampler;
  private readonly annotationsByVideo: Map<number, YtvisDataset["annotations"]>;

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
    this.categoryIds = dataset.categories.map((c) => c.id).sort((a, b) => a - b);
    this.classOfCategory = new Map(this.categoryIds.map((id, i) => [id, i]));
    this.annotationsByVideo = new Map(dataset.videos.map((v) => [v.id, []]));
    for (const annotation of dataset.annotations)
      this.annotationsByVideo.get(annotation.video_id)?.push(annotation);
    dataset.videos.forEach((video, v) => {
      for (let frame = 0; frame < video.file_names.length; frame++) this.items.push({ video: v, frame });
    });
    check(this.items.length > 0, "the split has no frames", options.annotationFile);
    this.sampler = new EpochSampler(
      this.items.length,
      pairs ? options.batchSize / 2 : options.batchSize,
      options.seed ?? 0,
    );
  }

  /** Reads and validates the split's annotations. */
  static async open(options: VisDataOptions): Promise<VisFrameData> {
    return new VisFrameData(await readYtvis(options.annotationFile), options);
  }

  get numClasses(): number {
    return this.categoryIds.length;
  }

  async next(rng: Rng): Promise<VisBatch> {
    const pairs = this.options.pairs ?? false;
    const gap = this.options.pairMaxGap ?? 5;
    const flipProbability = this.options.flipProbability ?? 0.5;
    const picks: { video: number; frame: number; flip: boolean }[] = [];
    for (const index of this.sampler.nextIndices()) {
      const item = this.items[index];
      const flip = rng.bernoulli(flipProbability);
      picks.push({ ...item, flip });
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
        picks.push({ video: item.video, frame: other, flip });
      }
    }
    const loaded = await Promise.all(picks.map((pick) => this.load(pick.video, pick.frame, pick.flip)));
    const [height, width] = this.options.inputSize;
    const pixels = new Float32Array(loaded.length * height * width * 3);
    loaded.forEach((sample, i) => pixels.set(sample.image, i * height * width * 3));
    return {
      images: tf.tensor4d(pixels, [loaded.length, height, width, 3]),
      targets: loaded.map((sample) => sample.target),
      frames: picks.map((pick) => ({ videoId: this.dataset.videos[pick.video].id, frame: pick.frame })),
    };
  }

  getState(): unknown {
    return this.sampler.getState();
  }

  setState(state: unknown): void {
    this.sampler.setState(state);
  }

  release(batch: VisBatch): void {
    tf.dispose([batch.images, ...batch.targets.map((t) => t.masks)]);
  }

  /** One frame at the input size (0..1 RGB) and its instances (labels, ids, masks at the input size). */
  private async load(
    videoIndex: number,
    frame: number,
    flip: boolean,
  ): Promise<{ image: Float32Array; target: CriterionTarget }> {
    const video = this.dataset.videos[videoIndex];
    const [height, width] = this.options.inputSize;
    const file = join(this.options.imagesDir, video.file_names[frame]);
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

    const labels: number[] = [];
    const ids: number[] = [];
    const masks: Uint8Array[] = [];
    for (const annotation of this.annotationsByVideo.get(video.id) ?? []) {
      const segmentation = annotation.segmentations[frame];
      if (segmentation === null || segmentation === undefined || annotation.iscrowd) continue;
      const where = `annotation ${annotation.id}, frame ${frame}`;
      const full = decode(fromSegmentation(segmentation, video.height, video.width, where));
      const mask = resizeMaskNearest(full, video.height, video.width, height, width, flip);
      if (!mask.some((v) => v !== 0)) continue; // too small to survive the resize
      labels.push(this.classOfCategory.get(annotation.category_id)!);
      ids.push(annotation.id);
      masks.push(mask);
    }
    const data = new Float32Array(masks.length * height * width);
    masks.forEach((mask, i) => data.set(mask, i * height * width));
    return { image, target: { labels, ids, masks: tf.tensor3d(data, [masks.length, height, width]) } };
  }
}

/**
 * RGB bytes → [height, width, 3] floats in 0..1, resized bilinearly with half-pixel centres: the same
 * resize the online segmenter applies to incoming frames, so training and inference see the same pixels.
 */
export function resizeFrame(
  rgb: Uint8Array,
  srcHeight: number,
  srcWidth: number,
  height: number,
  width: number,
  flip = false,
): Float32Array {
  return tf.tidy(() => {
    const pixels = tf.tensor4d(Float32Array.from(rgb), [1, srcHeight, srcWidth, 3]).div(255) as tf.Tensor4D;
    let resized = tf.image.resizeBilinear(pixels, [height, width], false, true);
    if (flip) resized = tf.reverse(resized, 2);
    return resized.dataSync() as Float32Array;
  });
}

/**
 * Nearest-neighbour resize of a row-major 0/1 mask, sampling each output pixel's centre (optionally
 * mirrored horizontally).
 */
export function resizeMaskNearest(
  mask: Uint8Array,
  srcHeight: number,
  srcWidth: number,
  height: number,
  width: number,
  flip = false,
): Uint8Array {
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(srcHeight - 1, Math.floor(((y + 0.5) * srcHeight) / height));
    for (let x = 0; x < width; x++) {
      const ox = flip ? width - 1 - x : x;
      const sx = Math.min(srcWidth - 1, Math.floor(((ox + 0.5) * srcWidth) / width));
      out[y * width + x] = mask[sy * srcWidth + sx] ? 1 : 0;
    }
  }
  return out;
}
