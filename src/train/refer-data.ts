/**
 * Training data for the referring model from a Ref-YouTube-VOS-layout split (`meta_expressions.json`,
 * `JPEGImages/<video>/<frame>.jpg`, `Annotations/<video>/<frame>.png`): clips of T frames of one
 * expression's video, in temporal order, resized to the model's input size, each frame with the
 * mask of the expression's object (pixels equal to its obj_id; empty where it is not visible), and
 * the expression's token ids.
 *
 * The vocabulary is every word of the split's expressions (sorted), so the same split gives the same
 * vocabulary. Expressions are drawn epoch by epoch (a seeded permutation), a clip's anchor frame and
 * its gaps from the trainer's RNG, as a plan that data-parallel workers load shares of; frames are read
 * lazily each time they are drawn. No flips: a mirrored frame would contradict "on the left".
 */
import * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import sharp from "sharp";
import { VidsegError, check } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import { readIndexedPng } from "../formats/png.js";
import { objectMaskPath, readRefMetaExpressions, type RefMetaExpressions } from "../formats/refytvos.js";
import type { VisSplitPaths } from "../formats/ytvis-layout.js";
import { buildVocabulary, WordTokenizer } from "../models/refer/tokenizer.js";
import { resizeFrame, resizeMaskNearest } from "../processing/preprocess.js";
import { EpochSampler, shareUnits, type SharedDataSource } from "./trainer.js";
import { sampleClipFrames } from "./vis-data.js";

/** One expression of a split. */
export interface ReferItem {
  video: string;
  expId: string;
  text: string;
  objId: number;
  /** The video's frame names, in order. */
  frames: string[];
}

export interface ReferDataOptions extends VisSplitPaths {
  /** Model input [height, width]. */
  inputSize: [number, number];
  clipLength: number;
  clipMaxStride: number;
  clipsPerBatch: number;
  /** Seed of the expression order. */
  seed?: number;
}

export interface ReferBatch {
  /** [B·T, H, W, 3] in 0..1, clip-major (row b·T + t). */
  images: tf.Tensor4D;
  /** [B·T, H, W] 0/1 masks of each clip's object. */
  masks: tf.Tensor3D;
  /** Token ids of each clip's expression. */
  tokens: number[][];
  clipLength: number;
  /** What each clip is, for logs and tests. */
  clips: { video: string; expId: string; frames: number[] }[];
}

/** A drawn batch of {@link ReferClipData}, before loading (JSON): each clip's expression and frames. */
export interface ReferPlan {
  clips: { item: number; frames: number[] }[];
}

/** The expressions of a Ref-YouTube-VOS split, in file order. */
export function referItems(meta: RefMetaExpressions): ReferItem[] {
  const items: ReferItem[] = [];
  for (const [video, entry] of Object.entries(meta.videos)) {
    for (const [expId, expression] of Object.entries(entry.expressions)) {
      items.push({
        video,
        expId,
        text: expression.exp,
        objId: Number(expression.obj_id),
        frames: entry.frames,
      });
    }
  }
  return items;
}

/** A Ref-YouTube-VOS split read as training clips; see the module comment. */
export class ReferClipData implements SharedDataSource<ReferBatch, ReferPlan> {
  readonly items: ReferItem[];
  readonly vocabulary: string[];
  readonly tokenizer: WordTokenizer;
  /** The split folder (masks are in its Annotations/). */
  readonly splitRoot: string;
  private readonly sampler: EpochSampler;

  private constructor(
    meta: RefMetaExpressions,
    readonly options: ReferDataOptions,
  ) {
    this.items = referItems(meta).filter((item) => item.frames.length > 0);
    check(this.items.length > 0, "the split has no expressions with frames", options.annotationFile);
    this.splitRoot = dirname(options.annotationFile);
    this.vocabulary = buildVocabulary(this.items.map((item) => item.text));
    this.tokenizer = new WordTokenizer(this.vocabulary);
    for (const item of this.items) {
      check(
        this.tokenizer.encode(item.text).ids.length > 0,
        `expression ${JSON.stringify(item.text)} has no words`,
        options.annotationFile,
        `$.videos[${JSON.stringify(item.video)}].expressions[${JSON.stringify(item.expId)}].exp`,
      );
    }
    this.sampler = new EpochSampler(this.items.length, options.clipsPerBatch, options.seed ?? 0);
  }

  /** Reads and validates the split's meta_expressions.json. */
  static async open(options: ReferDataOptions): Promise<ReferClipData> {
    return new ReferClipData(await readRefMetaExpressions(options.annotationFile), options);
  }

  get unitsPerBatch(): number {
    return this.options.clipsPerBatch;
  }

  async next(rng: Rng): Promise<ReferBatch> {
    return this.load(this.draw(rng));
  }

  draw(rng: Rng): ReferPlan {
    const { clipLength, clipMaxStride } = this.options;
    const clips = this.sampler.nextIndices().map((index) => {
      const { frames } = this.items[index];
      const anchor = rng.int(frames.length);
      return { item: index, frames: sampleClipFrames(frames.length, clipLength, clipMaxStride, anchor, rng) };
    });
    return { clips };
  }

  share(plan: ReferPlan, count: number): ReferPlan[] {
    check(
      Number.isInteger(count) && count >= 1 && count <= plan.clips.length,
      `a batch of ${plan.clips.length} clips cannot be shared by ${count} workers`,
      undefined,
      "workers",
    );
    return shareUnits(plan.clips, 1, count).map((clips) => ({ clips }));
  }

  async load(plan: ReferPlan): Promise<ReferBatch> {
    const { clipLength } = this.options;
    const picks = plan.clips.map(({ item, frames }) => ({ item: this.items[item], frames }));
    const [height, width] = this.options.inputSize;
    const images = new Float32Array(picks.length * clipLength * height * width * 3);
    const masks = new Float32Array(picks.length * clipLength * height * width);
    let row = 0;
    for (const { item, frames } of picks) {
      for (const frame of frames) {
        const { image, mask } = await this.readFrame(item, frame);
        images.set(image, row * height * width * 3);
        masks.set(mask, row * height * width);
        row++;
      }
    }
    return {
      images: tf.tensor4d(images, [row, height, width, 3]),
      masks: tf.tensor3d(masks, [row, height, width]),
      tokens: picks.map(({ item }) => this.tokenizer.encode(item.text).ids),
      clipLength,
      clips: picks.map(({ item, frames }) => ({ video: item.video, expId: item.expId, frames })),
    };
  }

  /** Frame `frame` of an expression's video at the input size, and its object's mask. */
  async readFrame(item: ReferItem, frame: number): Promise<{ image: Float32Array; mask: Uint8Array }> {
    const [height, width] = this.options.inputSize;
    const name = item.frames[frame];
    const file = join(this.options.imagesDir, item.video, `${name}.jpg`);
    let rgb: { data: Buffer; info: sharp.OutputInfo };
    try {
      rgb = await sharp(file).removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    } catch (error) {
      throw new VidsegError(`cannot read frame: ${(error as Error).message}`, file, `video ${item.video}`);
    }
    const { width: srcWidth, height: srcHeight } = rgb.info;
    const maskFile = objectMaskPath(this.splitRoot, item.video, name);
    const labels = await readIndexedPng(maskFile);
    check(
      labels.width === srcWidth && labels.height === srcHeight,
      `mask is ${labels.width}×${labels.height} but the frame is ${srcWidth}×${srcHeight}`,
      maskFile,
    );
    const object = new Uint8Array(labels.data.length);
    for (let i = 0; i < object.length; i++) object[i] = labels.data[i] === item.objId ? 1 : 0;
    return {
      image: resizeFrame(rgb.data, srcHeight, srcWidth, height, width),
      mask: resizeMaskNearest(object, srcHeight, srcWidth, height, width),
    };
  }

  release(batch: ReferBatch): void {
    tf.dispose([batch.images, batch.masks]);
  }

  getState(): unknown {
    return this.sampler.getState();
  }

  setState(state: unknown): void {
    this.sampler.setState(state);
  }
}
