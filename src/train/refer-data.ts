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
 *
 * With `expressionsPerClip` E > 1 each clip also carries E − 1 other expressions of its video, drawn
 * from those of other objects first (then other expressions of the same object, then repeats): the
 * same frames with different targets, which a model can only tell apart by reading the sentence.
 *
 * With `pseudo` (a second split in the same layout, e.g. the pseudo-videos `vidseg synth refer --stills`
 * makes), each clip of a batch comes from it with probability `pseudo.ratio`, drawn from the plan's RNG,
 * and its expression from the pseudo split's own epoch order; the vocabulary covers both splits.
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
  /** The split it comes from: 0 the training split, 1 the pseudo-videos (default 0). */
  source?: number;
}

export interface ReferDataOptions extends VisSplitPaths {
  /** Model input [height, width]. */
  inputSize: [number, number];
  clipLength: number;
  clipMaxStride: number;
  clipsPerBatch: number;
  /** Expressions per clip (the drawn one first). Default 1. */
  expressionsPerClip?: number;
  /** Seed of the expression order. */
  seed?: number;
  /** Also load each row's other objects (`ReferBatch.others`, for the loss's otherObjectsWeight). */
  otherObjects?: boolean;
  /** A second split mixed in: each clip is one of its expressions with probability `ratio` (0..1]. */
  pseudo?: VisSplitPaths & { ratio: number };
}

export interface ReferBatch {
  /** [C·T, H, W, 3] in 0..1, clip-major (row c·T + t). */
  images: tf.Tensor4D;
  /** [C·E·T, H, W] 0/1 masks of each clip's expressions' objects (row (c·E + e)·T + t). */
  masks: tf.Tensor3D;
  /** [C·E·T, H, W] 0/1: the pixels of the frame's other objects, per row of `masks` (`otherObjects`). */
  others?: tf.Tensor3D;
  /** Token ids of each clip's E expressions (row c·E + e). */
  tokens: number[][];
  clipLength: number;
  /** What each clip is (its expressions' ids, the drawn one first), for logs and tests. */
  clips: { video: string; expIds: string[]; frames: number[] }[];
}

/**
 * A drawn batch of {@link ReferClipData}, before loading (JSON): each clip's expressions (item indices,
 * the drawn one first) and frames.
 */
export interface ReferPlan {
  clips: { items: number[]; frames: number[] }[];
}

/** Offset of the pseudo-videos' epoch order seed from the run's. */
const PSEUDO_SEED_OFFSET = 0x5e1d;

/** A video's key among both splits' videos (their names may repeat). */
function videoKey(item: ReferItem): string {
  return `${item.source ?? 0}/${item.video}`;
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
  /** The training split's expressions, then the pseudo split's (source 1). */
  readonly items: ReferItem[];
  readonly vocabulary: string[];
  readonly tokenizer: WordTokenizer;
  /** The split folder (masks are in its Annotations/). */
  readonly splitRoot: string;
  /** Per source: its split folder and frames folder. */
  private readonly roots: { splitRoot: string; imagesDir: string }[];
  /** The training split's items are 0 … this − 1. */
  private readonly mainCount: number;
  private readonly sampler: EpochSampler;
  private readonly pseudoSampler?: EpochSampler;
  /** The indices of each video's items (key: source and video), in file order. */
  private readonly byVideo = new Map<string, number[]>();

  private constructor(
    metas: RefMetaExpressions[],
    readonly options: ReferDataOptions,
  ) {
    const splits = [options, ...(options.pseudo ? [options.pseudo] : [])];
    this.roots = splits.map((split) => ({
      splitRoot: dirname(split.annotationFile),
      imagesDir: split.imagesDir,
    }));
    const perSource = metas.map((meta, source) => {
      const items = referItems(meta)
        .filter((item) => item.frames.length > 0)
        .map((item) => (source === 0 ? item : { ...item, source }));
      check(items.length > 0, "the split has no expressions with frames", splits[source].annotationFile);
      return items;
    });
    this.items = perSource.flat();
    this.mainCount = perSource[0].length;
    this.splitRoot = this.roots[0].splitRoot;
    this.vocabulary = buildVocabulary(this.items.map((item) => item.text));
    this.tokenizer = new WordTokenizer(this.vocabulary);
    for (const item of this.items) {
      check(
        this.tokenizer.encode(item.text).ids.length > 0,
        `expression ${JSON.stringify(item.text)} has no words`,
        splits[item.source ?? 0].annotationFile,
        `$.videos[${JSON.stringify(item.video)}].expressions[${JSON.stringify(item.expId)}].exp`,
      );
    }
    for (const [index, item] of this.items.entries()) {
      const key = videoKey(item);
      const list = this.byVideo.get(key) ?? [];
      list.push(index);
      this.byVideo.set(key, list);
    }
    // One clip at a time: the same order as whole batches of the same sampler.
    this.sampler = new EpochSampler(this.mainCount, 1, options.seed ?? 0);
    if (options.pseudo) {
      const { ratio } = options.pseudo;
      check(
        ratio > 0 && ratio <= 1,
        `the pseudo-video ratio must be in (0, 1], got ${ratio}`,
        undefined,
        "refer.pseudoRatio",
      );
      this.pseudoSampler = new EpochSampler(perSource[1].length, 1, (options.seed ?? 0) + PSEUDO_SEED_OFFSET);
    }
  }

  /**
   * Item `index` and E − 1 other expressions of its video (indices): of other objects first, then of
   * the same object, then `index` again; random within each group.
   */
  private companions(index: number, rng: Rng): number[] {
    const count = this.options.expressionsPerClip ?? 1;
    const { objId } = this.items[index];
    const others = this.byVideo.get(videoKey(this.items[index]))!.filter((other) => other !== index);
    const shuffled = (list: number[]) => {
      const out = [...list];
      for (let i = out.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    };
    const order = [
      index,
      ...shuffled(others.filter((other) => this.items[other].objId !== objId)),
      ...shuffled(others.filter((other) => this.items[other].objId === objId)),
    ];
    return Array.from({ length: count }, (_, k) => order[k] ?? index);
  }

  /** Reads and validates the split's meta_expressions.json. */
  static async open(options: ReferDataOptions): Promise<ReferClipData> {
    const metas = [await readRefMetaExpressions(options.annotationFile)];
    if (options.pseudo) metas.push(await readRefMetaExpressions(options.pseudo.annotationFile));
    return new ReferClipData(metas, options);
  }

  get unitsPerBatch(): number {
    return this.options.clipsPerBatch;
  }

  async next(rng: Rng): Promise<ReferBatch> {
    return this.load(this.draw(rng));
  }

  draw(rng: Rng): ReferPlan {
    const { clipLength, clipMaxStride, clipsPerBatch, pseudo } = this.options;
    // Which clips are pseudo-videos: drawn only when they are mixed in (the same plans as before without).
    const indices = Array.from({ length: clipsPerBatch }, () =>
      pseudo && rng.uniform() < pseudo.ratio
        ? this.mainCount + this.pseudoSampler!.nextIndices()[0]
        : this.sampler.nextIndices()[0],
    );
    const clips = indices.map((index) => {
      const { frames } = this.items[index];
      const anchor = rng.int(frames.length);
      const picked = sampleClipFrames(frames.length, clipLength, clipMaxStride, anchor, rng);
      return { items: this.companions(index, rng), frames: picked };
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
    const picks = plan.clips.map(({ items, frames }) => ({
      expressions: items.map((item) => this.items[item]),
      frames,
    }));
    const perClip = picks[0].expressions.length;
    const [height, width] = this.options.inputSize;
    const images = new Float32Array(picks.length * clipLength * height * width * 3);
    const masks = new Float32Array(picks.length * perClip * clipLength * height * width);
    const others = this.options.otherObjects ? new Float32Array(masks.length) : undefined;
    for (const [c, { expressions, frames }] of picks.entries()) {
      for (const [t, frame] of frames.entries()) {
        const { image, objects, otherObjects } = await this.readFrame(expressions[0], frame);
        images.set(image, (c * clipLength + t) * height * width * 3);
        for (const [e, expression] of expressions.entries()) {
          const row = ((c * perClip + e) * clipLength + t) * height * width;
          masks.set(objects(expression.objId), row);
          others?.set(otherObjects(expression.objId), row);
        }
      }
    }
    const rows = [picks.length * perClip * clipLength, height, width] as [number, number, number];
    return {
      images: tf.tensor4d(images, [picks.length * clipLength, height, width, 3]),
      masks: tf.tensor3d(masks, rows),
      ...(others ? { others: tf.tensor3d(others, rows) } : {}),
      tokens: picks.flatMap(({ expressions }) =>
        expressions.map((expression) => this.tokenizer.encode(expression.text).ids),
      ),
      clipLength,
      clips: picks.map(({ expressions, frames }) => ({
        video: expressions[0].video,
        expIds: expressions.map((expression) => expression.expId),
        frames,
      })),
    };
  }

  /**
   * Frame `frame` of an expression's video at the input size, its object's mask, the mask of any
   * object of the frame (`objects(objId)`) and of every object but one (`otherObjects(objId)`; void
   * pixels, 255, are neither), at the input size.
   */
  async readFrame(
    item: ReferItem,
    frame: number,
  ): Promise<{
    image: Float32Array;
    mask: Uint8Array;
    objects: (objId: number) => Uint8Array;
    otherObjects: (objId: number) => Uint8Array;
  }> {
    const [height, width] = this.options.inputSize;
    const name = item.frames[frame];
    const { splitRoot, imagesDir } = this.roots[item.source ?? 0];
    const file = join(imagesDir, item.video, `${name}.jpg`);
    let rgb: { data: Buffer; info: sharp.OutputInfo };
    try {
      rgb = await sharp(file).removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    } catch (error) {
      throw new VidsegError(`cannot read frame: ${(error as Error).message}`, file, `video ${item.video}`);
    }
    const { width: srcWidth, height: srcHeight } = rgb.info;
    const maskFile = objectMaskPath(splitRoot, item.video, name);
    const labels = await readIndexedPng(maskFile);
    check(
      labels.width === srcWidth && labels.height === srcHeight,
      `mask is ${labels.width}×${labels.height} but the frame is ${srcWidth}×${srcHeight}`,
      maskFile,
    );
    const select = (keep: (label: number) => boolean) => {
      const selected = new Uint8Array(labels.data.length);
      for (let i = 0; i < selected.length; i++) selected[i] = keep(labels.data[i]) ? 1 : 0;
      return resizeMaskNearest(selected, srcHeight, srcWidth, height, width);
    };
    const objects = (objId: number) => select((label) => label === objId);
    const otherObjects = (objId: number) =>
      select((label) => label !== 0 && label !== 255 && label !== objId);
    return {
      image: resizeFrame(rgb.data, srcHeight, srcWidth, height, width),
      mask: objects(item.objId),
      objects,
      otherObjects,
    };
  }

  release(batch: ReferBatch): void {
    tf.dispose([batch.images, batch.masks, ...(batch.others ? [batch.others] : [])]);
  }

  getState(): unknown {
    const main = this.sampler.getState();
    return this.pseudoSampler ? { ...main, pseudo: this.pseudoSampler.getState() } : main;
  }

  setState(state: unknown): void {
    this.sampler.setState(state);
    // A checkpoint of a run without pseudo-videos starts their order from the beginning.
    const pseudo = (state as { pseudo?: unknown } | null)?.pseudo;
    this.pseudoSampler?.setState(pseudo ?? { epoch: 0, cursor: 0 });
  }
}
