/**
 * Class-fair augmentation for distillation (OOKD): instance tubes — one annotated instance's pixels and
 * masks through a clip — taken from other training videos and pasted onto a clip, so that rare classes
 * feed as many distillation pairs as frequent ones.
 *
 * - Sampling: a tube is drawn with probability ∝ 1/n_c^α, n_c being the number of tubes (instance
 *   tracks) of its class c in the split; a class is then drawn with probability ∝ n_c^(1−α) (α = 1:
 *   every class equally often; α = 0: every tube equally often).
 * - One affine per tube for the whole clip: a scale s, the tube's box centre (over the clip's frames)
 *   moved to a uniform point of the frame, and the flip it was read with. Pixels and masks are mapped
 *   with nearest-neighbour sampling, so a pasted pixel is exactly a source pixel.
 * - Occlusion: pasted pixels hide what lies under them, so they are removed from the masks of the
 *   instances below (earlier pasted tubes included); an instance whose mask lost pixels and whose
 *   visible area falls below the minimum is dropped from that frame, and so is a pasted tube whose own
 *   visible area is below it. Instances the paste does not touch keep their GT as annotated.
 *
 * The clip data source (src/train/vis-data.ts) draws every random choice first ({@link drawTubePastes}:
 * which tubes, their frames, flips, scales and places), then reads the tubes' frames and calls
 * {@link pasteTube}; its random stream is part of the source's state, so runs are deterministic and
 * resume exactly.
 */
import { VidsegError } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import type { YtvisDataset } from "../formats/ytvis.js";
import type { FairAugConfig } from "../models/config.js";
import type { TrainingFrame } from "./vis-data.js";

/** One annotated instance of the split: the frames where it has a mask. */
export interface InstanceTube {
  /** Index of its video in the dataset. */
  video: number;
  annotationId: number;
  /** Class index. */
  label: number;
  /** Frame indices with a mask, ascending. */
  frames: number[];
}

/** The split's instance tubes and the class-fair distribution over them (see the module comment). */
export class FairTubeSampler {
  readonly tubes: InstanceTube[] = [];
  /** Tubes per class index. */
  readonly classCounts: number[];
  private readonly cdf: Float64Array;

  constructor(
    dataset: YtvisDataset,
    classOfCategory: ReadonlyMap<number, number>,
    readonly alpha: number,
  ) {
    if (!(alpha >= 0)) throw new VidsegError(`must be ≥ 0, got ${alpha}`, undefined, "fairAug.alpha");
    const videoIndex = new Map(dataset.videos.map((v, i) => [v.id, i]));
    for (const annotation of dataset.annotations) {
      const video = videoIndex.get(annotation.video_id);
      const label = classOfCategory.get(annotation.category_id);
      if (annotation.iscrowd || video === undefined || label === undefined) continue;
      const frames = annotation.segmentations.flatMap((s, f) => (s === null || s === undefined ? [] : [f]));
      if (frames.length > 0) this.tubes.push({ video, annotationId: annotation.id, label, frames });
    }
    if (this.tubes.length === 0)
      throw new VidsegError("the split has no instance to paste", undefined, "fairAug");
    this.classCounts = new Array<number>(classOfCategory.size).fill(0);
    for (const tube of this.tubes) this.classCounts[tube.label] += 1;
    let total = 0;
    this.cdf = Float64Array.from(this.tubes, (tube) => (total += this.classCounts[tube.label] ** -alpha));
  }

  /** The probability of drawing a tube of each class: n_c^(1−α) / Σ_c' n_c'^(1−α). */
  classProbabilities(): number[] {
    const mass = this.classCounts.map((n) => (n > 0 ? n * n ** -this.alpha : 0));
    const total = mass.reduce((a, b) => a + b, 0);
    return mass.map((m) => m / total);
  }

  /** A tube index drawn from the class-fair distribution. */
  draw(rng: Rng): number {
    const u = rng.uniform() * this.cdf[this.cdf.length - 1];
    let low = 0;
    let high = this.cdf.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.cdf[mid] > u) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}

/** A tube to paste onto a clip, drawn before anything is read. */
export interface TubePaste {
  /** Index into {@link FairTubeSampler.tubes}. */
  tube: number;
  /** The tube's video's frame shown in each clip frame. */
  frames: number[];
  flip: boolean;
  scale: number;
  /** Where the tube's box centre goes, as fractions of the width and height. */
  target: [number, number];
}

/** How many tubes, and how they are placed (the config's `distill.fairAug`, without `enabled`). */
export type FairAugOptions = Omit<FairAugConfig, "enabled">;

/**
 * The pastes of one clip of `clipLength` frames of video `video`: with probability `probability`, up to
 * `tubesPerClip` tubes of other videos (each at most once; a few redraws, then the clip goes without),
 * each from a clip of its own video around one of its frames (`clipFrames`: the clip sampler), a flip,
 * a scale uniform in [minScale, maxScale] and a uniform place.
 */
export function drawTubePastes(
  sampler: FairTubeSampler,
  video: number,
  options: FairAugOptions,
  clipFrames: (tube: InstanceTube, anchor: number) => number[],
  rng: Rng,
): TubePaste[] {
  const pastes: TubePaste[] = [];
  if (!rng.bernoulli(options.probability)) return pastes;
  const pastable = (index: number) =>
    sampler.tubes[index].video !== video && !pastes.some((paste) => paste.tube === index);
  for (let i = 0; i < options.tubesPerClip; i++) {
    let index = sampler.draw(rng);
    for (let tries = 0; tries < 8 && !pastable(index); tries++) index = sampler.draw(rng);
    if (!pastable(index)) continue;
    const tube = sampler.tubes[index];
    const frames = clipFrames(tube, tube.frames[rng.int(tube.frames.length)]);
    const flip = rng.bernoulli(0.5);
    const scale = rng.range(options.minScale, options.maxScale);
    pastes.push({ tube: index, frames, flip, scale, target: [rng.uniform(), rng.uniform()] });
  }
  return pastes;
}

/** Where a tube goes: target pixel (x, y) shows source pixel ⌊(x + ½ − tx)/s + sx⌋ (same for y). */
export interface TubeAffine {
  scale: number;
  /** The source point mapped to `target`: the tube's box centre, in pixels (continuous coordinates). */
  source: [number, number];
  target: [number, number];
}

/**
 * The affine of a tube of `masks` (its masks in the clip's frames, null where absent): scale `scale`,
 * the centre of the tube's box over all its frames moved to `target` (fractions of the width and
 * height). Null when the tube has no pixel.
 */
export function tubeAffine(
  masks: readonly (Uint8Array | null)[],
  width: number,
  height: number,
  scale: number,
  target: [number, number],
): TubeAffine | null {
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (const mask of masks) {
    if (!mask) continue;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!mask[y * width + x]) continue;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  return {
    scale,
    source: [(x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2],
    target: [target[0] * width, target[1] * height],
  };
}

/** The source pixel index shown at target pixel (x, y), or −1 outside the source frame. */
export function sourcePixel(affine: TubeAffine, x: number, y: number, width: number, height: number): number {
  const sx = Math.floor((x + 0.5 - affine.target[0]) / affine.scale + affine.source[0]);
  const sy = Math.floor((y + 0.5 - affine.target[1]) / affine.scale + affine.source[1]);
  return sx < 0 || sy < 0 || sx >= width || sy >= height ? -1 : sy * width + sx;
}

/** A tube's frames: per clip frame, its source frame's pixels and its mask there (null when absent). */
export interface TubeFrame {
  image: Float32Array;
  mask: Uint8Array | null;
}

/**
 * Pastes a tube onto the clip's frames in place (pixels and GT; see the module comment): frame t gets
 * `tube[t]` through `affine`; the tube becomes an instance `annotationId` of class `label` in the frames
 * where enough of it stays visible. `minVisiblePixels`: the dropping threshold.
 */
export function pasteTube(
  frames: TrainingFrame[],
  tube: readonly TubeFrame[],
  affine: TubeAffine,
  instance: { annotationId: number; label: number },
  width: number,
  height: number,
  minVisiblePixels: number,
): void {
  if (tube.length !== frames.length)
    throw new VidsegError(
      `fair augmentation: a tube of ${tube.length} frames for a clip of ${frames.length}`,
    );
  frames.forEach((frame, t) => {
    const { image, mask } = tube[t];
    if (!mask) return;
    const pasted = new Uint8Array(width * height);
    let area = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const source = sourcePixel(affine, x, y, width, height);
        if (source < 0 || !mask[source]) continue;
        const p = y * width + x;
        pasted[p] = 1;
        area += 1;
        frame.image.set(image.subarray(source * 3, source * 3 + 3), p * 3);
      }
    }
    if (area === 0) return;
    frame.instances = frame.instances.filter((below) => {
      let hidden = 0;
      let visible = 0;
      for (let p = 0; p < below.mask.length; p++) {
        if (!below.mask[p]) continue;
        if (pasted[p]) {
          below.mask[p] = 0;
          hidden += 1;
        } else visible += 1;
      }
      return hidden === 0 || (visible > 0 && visible >= minVisiblePixels);
    });
    if (area >= minVisiblePixels) frame.instances.push({ ...instance, mask: pasted });
  });
}
