/**
 * The per-video part of the YouTube-VIS / OVIS evaluation as a job that any thread can run: read every
 * mask of some (video, category) groups once, and compute their spatio-temporal IoUs (`computeIoU` /
 * `iou_seq`) and their detections' average areas. `packShard` puts the groups' masks into a `ShardJob`
 * (typed arrays and strings, cheap to send to a worker thread); `runShard` computes its `ShardOutput`.
 *
 * Speed: an IoU needs only Σ|d∩g| (the union is Σ|d| + Σ|g| − Σ|d∩g|, exact in integers); a group's runs
 * are decoded once into one reused buffer; intersections are taken on the runs, skipped when the
 * foreground spans of the two frames do not overlap.
 */
import { VidsegError } from "../core/errors.js";
import { checkSegmentation, type YtvisSegmentation, type YtvisVideo } from "../formats/ytvis.js";
import { decodeCountsInto, fromSegmentation, measureRuns, type CountsSummary } from "../mask/rle.js";
import { numpyMean } from "../math/numpy.js";

/** Where a track's masks are: its segmentations, their JSON path and file. */
export interface TrackSource {
  segmentations: readonly YtvisSegmentation[];
  video: YtvisVideo;
  /** JSON path of the segmentations, e.g. `annotations[3].segmentations`. */
  where: string;
  file?: string;
  /** GT masks may be polygons; results' may not. */
  polygons: boolean;
}

/** Some groups to read: detections best first (at most 100), GTs in file order. */
export interface GroupSources {
  dts: readonly TrackSource[];
  gts: readonly TrackSource[];
}

/** The masks of some groups, in plain arrays: what `runShard` reads. */
export interface ShardJob {
  /** Per group, 2 numbers: its detections D and GTs G, whose tracks follow in `tracks` in that order. */
  groups: Int32Array;
  /** Per track, 4 numbers: frames, video height, video width, 1 where polygons are allowed. */
  tracks: Int32Array;
  /** Per track: the JSON path of its segmentations and (index in `files`) its file, for messages. */
  paths: string[];
  fileOf: Int32Array;
  files: (string | undefined)[];
  /**
   * Per frame of every track, in order: 0 absent (null or no polygon), 1 an RLE string of the video's
   * size (the next of `texts`), 2 any other form (the next of `others`).
   */
  kinds: Uint8Array;
  texts: string[];
  others: unknown[];
  /** Check every mask as the readers do (when they ran with `masks: false`). */
  check: boolean;
}

/** What `runShard` computes, in the job's order. */
export interface ShardOutput {
  /** The IoU matrix [d·G + g] of each group, one after the other (D·G numbers each). */
  ious: Float64Array;
  /** The average area of each detection (`np.array([a for a in areas if a]).mean()`, 0 if none). */
  dtAreas: Float64Array;
}

/** Packs the masks of `groups` into a job. */
export function packShard(groups: readonly GroupSources[], check: boolean): ShardJob {
  const counts: number[] = [];
  const tracks: number[] = [];
  const paths: string[] = [];
  const fileOf: number[] = [];
  const files: (string | undefined)[] = [];
  const kinds: number[] = [];
  const texts: string[] = [];
  const others: unknown[] = [];
  for (const { dts, gts } of groups) {
    counts.push(dts.length, gts.length);
    for (const source of [...dts, ...gts]) {
      const { segmentations, video } = source;
      tracks.push(segmentations.length, video.height, video.width, source.polygons ? 1 : 0);
      paths.push(source.where);
      if (!files.includes(source.file)) files.push(source.file);
      fileOf.push(files.indexOf(source.file));
      for (const segm of segmentations) {
        // Python truthiness: null and an empty polygon list are absent; any RLE object is present.
        if (segm === null || segm === undefined || (Array.isArray(segm) && segm.length === 0)) kinds.push(0);
        else if (isPlainRle(segm, video.height, video.width)) {
          kinds.push(1);
          texts.push(segm.counts);
        } else {
          kinds.push(2);
          others.push(segm);
        }
      }
    }
  }
  return {
    groups: Int32Array.from(counts),
    tracks: Int32Array.from(tracks),
    paths,
    fileOf: Int32Array.from(fileOf),
    files,
    kinds: Uint8Array.from(kinds),
    texts,
    others,
    check,
  };
}

/** A compressed RLE object of size h×w, as the readers accept it. */
function isPlainRle(segm: unknown, h: number, w: number): segm is { size: [number, number]; counts: string } {
  if (segm === null || typeof segm !== "object" || Array.isArray(segm)) return false;
  const { size, counts } = segm as { size?: unknown; counts?: unknown };
  return (
    Array.isArray(size) && size.length === 2 && size[0] === h && size[1] === w && typeof counts === "string"
  );
}

/** Reads every mask of the job's groups (checking them first with `check`) and computes their IoUs. */
export function runShard(job: ShardJob): ShardOutput {
  const reader = new TrackReader(job);
  const ious: number[] = [];
  const dtAreas: number[] = [];
  for (let k = 0; k < job.groups.length; k += 2) {
    const D = job.groups[k];
    const G = job.groups[k + 1];
    reader.arena.used = 0;
    const dts = Array.from({ length: D }, () => reader.next());
    const gts = Array.from({ length: G }, () => reader.next());
    for (const dt of dts) dtAreas.push(averageArea(dt.frames));
    for (const dt of dts) for (const gt of gts) ious.push(trackIou(dt, gt, reader.arena.runs));
  }
  return { ious: Float64Array.from(ious), dtAreas: Float64Array.from(dtAreas) };
}

/**
 * A track's frames, 5 numbers each: area (-1 where the frame is absent), the column-major foreground
 * span [first, last), and where its runs are in the arena (start, length). One array per track instead of
 * an object per frame (the evaluation reads about 170,000 frames of 720p video).
 */
interface ReadTrack {
  frames: Float64Array;
  totalArea: number;
}
const AREA = 0;
const FIRST = 1;
const LAST = 2;
const START = 3;
const LENGTH = 4;

/**
 * The runs of one group's frames, each decoded once into one buffer that is reused for the next group:
 * no allocation per frame, and memory that of the largest group.
 */
class RunArena {
  runs = new Uint32Array(1 << 16);
  used = 0;

  /** Makes room for `count` more runs. */
  reserve(count: number): void {
    if (this.used + count <= this.runs.length) return;
    const grown = new Uint32Array(Math.max(2 * this.runs.length, this.used + count));
    grown.set(this.runs.subarray(0, this.used));
    this.runs = grown;
  }
}

/** Reads the job's tracks one after the other into its arena. */
class TrackReader {
  readonly arena = new RunArena();
  private track = 0;
  private frame = 0;
  private text = 0;
  private other = 0;
  /** The measure of the frame at hand. */
  private readonly measured: CountsSummary = { total: 0, area: 0, first: -1, last: -1 };

  constructor(private readonly job: ShardJob) {}

  next(): ReadTrack {
    const { job, arena, measured } = this;
    const t = this.track++;
    const n = job.tracks[4 * t];
    const h = job.tracks[4 * t + 1];
    const w = job.tracks[4 * t + 2];
    const file = job.files[job.fileOf[t]];
    const frames = new Float64Array(5 * n);
    let totalArea = 0;
    let f = 0;
    // Paths for messages: closures made once a track, not once a frame.
    const where = () => `${job.paths[t]}[${f}]`;
    const countsWhere = () => `${where()}.counts`;
    for (; f < n; f++) {
      const kind = job.kinds[this.frame++];
      const at = 5 * f;
      if (kind === 0) {
        frames[at + AREA] = -1;
        continue;
      }
      const start = arena.used;
      let length: number;
      if (kind === 1) {
        const counts = job.texts[this.text++];
        arena.reserve(counts.length);
        length = decodeCountsInto(counts, arena.runs, start, countsWhere, file, measured);
      } else {
        const segm = job.others[this.other++];
        const video = { height: h, width: w } as YtvisVideo;
        if (job.check)
          checkSegmentation(segm, video, { where: where(), file, polygons: job.tracks[4 * t + 3] === 1 });
        const rle = fromSegmentation(segm, h, w, where(), file);
        if (rle.h !== h || rle.w !== w)
          throw new VidsegError(
            `mask size ${rle.h}×${rle.w} disagrees with the video's ${h}×${w}`,
            file,
            where(),
          );
        arena.reserve(rle.counts.length);
        arena.runs.set(rle.counts, start);
        length = rle.counts.length;
        Object.assign(measured, measureRuns(rle.counts));
      }
      if (measured.total !== h * w)
        throw new VidsegError(
          `malformed RLE counts: runs cover ${measured.total} pixels, not ${h}×${w}`,
          file,
          kind === 1 ? countsWhere() : where(),
        );
      arena.used += length;
      frames[at + AREA] = measured.area;
      frames[at + FIRST] = measured.first;
      frames[at + LAST] = measured.last;
      frames[at + START] = start;
      frames[at + LENGTH] = length;
      totalArea += measured.area;
    }
    return { frames, totalArea };
  }
}

/** Mean of the truthy areas (`np.array([a for a in areas if a]).mean()`), 0 if none. */
function averageArea(frames: Float64Array): number {
  const kept: number[] = [];
  for (let at = 0; at < frames.length; at += 5) if (frames[at + AREA] > 0) kept.push(frames[at + AREA]);
  return kept.length === 0 ? 0 : numpyMean(kept);
}

/**
 * Spatio-temporal IoU: Σ|d∩g| / Σ|d∪g| over the frames both have (zip() stops at the shorter), 0 when
 * the union is 0; an absent frame counts 0 on its side.
 */
function trackIou(dt: ReadTrack, gt: ReadTrack, runs: Uint32Array): number {
  const a = dt.frames;
  const b = gt.frames;
  const n = Math.min(a.length, b.length);
  let inter = 0;
  for (let at = 0; at < n; at += 5) {
    if (a[at] <= 0 || b[at] <= 0) continue; // absent or empty on one side
    // Nothing intersects past the end of either foreground span, or when the spans are apart.
    const to = Math.min(a[at + LAST], b[at + LAST]);
    if (Math.max(a[at + FIRST], b[at + FIRST]) >= to) continue;
    inter += intersectionArea(runs, a[at + START], a[at + LENGTH], b[at + START], b[at + LENGTH], to);
  }
  const union = sumAreas(dt, n) + sumAreas(gt, n) - inter;
  return union > 0 ? inter / union : 0;
}

/** Σ of a track's areas over its first n / 5 frames. */
function sumAreas(track: ReadTrack, n: number): number {
  if (n === track.frames.length) return track.totalArea;
  let total = 0;
  for (let at = 0; at < n; at += 5) if (track.frames[at] > 0) total += track.frames[at];
  return total;
}

/**
 * |a ∩ b| of two run-length masks of the same size, by walking both run lists (in `runs`) up to the
 * column-major position `to`, past which one of them has no foreground.
 */
function intersectionArea(
  runs: Uint32Array,
  aStart: number,
  aLength: number,
  bStart: number,
  bLength: number,
  to: number,
): number {
  let i = aStart;
  let j = bStart;
  const aEnd = aStart + aLength;
  const bEnd = bStart + bLength;
  let endA = runs[i];
  let endB = runs[j];
  let position = 0;
  let inter = 0;
  while (position < to && i < aEnd && j < bEnd) {
    const end = endA < endB ? endA : endB;
    if ((i - aStart) & 1 && (j - bStart) & 1) inter += end - position;
    position = end;
    if (endA === end && ++i < aEnd) endA += runs[i];
    if (endB === end && ++j < bEnd) endB += runs[j];
  }
  return inter;
}
