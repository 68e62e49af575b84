/**
 * YouTube-VIS and OVIS AP/AR, number for number as the official `YTVOSeval` (youtubevos/cocoapi
 * `ytvoseval.py`) and `OVISeval` (qjy981010/cocoapi `oviseval.py`) compute them, quirks included:
 *
 * - GT `avg_area` is the mean of the truthy entries of the JSON `areas` (null and 0 skipped), not
 *   recomputed from masks; a result's areas come from its RLEs (again skipping null and empty frames).
 * - Spatio-temporal IoU = Σ|d∩g| / Σ|d∪g| over frames, 0 when the union is 0; a frame is "present" when
 *   its entry is truthy in Python (an RLE of an empty mask is present and adds 0; null or [] is absent).
 * - Detections are stably sorted by score and matched greedily per IoU threshold; among GTs of equal IoU
 *   the last one wins; crowd GTs can be matched many times and are ignored; a matched GT id of 0 counts
 *   as "unmatched" later on, as `dtm == 0` does in the reference.
 * - Matching is done once with the top 100 detections; maxDets 1 and 10 only truncate afterwards.
 * - Means are summed as numpy sums (pairwise within 8192-value buffers), so even the last bit agrees
 *   (a perfect result can give 0.9999999999999998, because precision is tp / (tp + fp + eps)).
 * - OVIS: a GT's occlusion score is the mean of its highest ⌈n/2⌉ labelled frames (no/slight/severe =
 *   0/0.25/0.75); GTs outside an occlusion range are ignored, unmatched detections never are.
 *
 * Speed: an IoU needs only Σ|d∩g| (the union is Σ|d| + Σ|g| − Σ|d∩g|, exact in integers); intersections
 * are taken on the runs directly, skipped when the foreground spans of the two frames do not overlap,
 * and RLE strings are decoded only for (video, category) pairs that have both GT and detections.
 */
import { VidsegError } from "../core/errors.js";
import {
  checkSegmentation,
  type YtvisAnnotation,
  type YtvisDataset,
  type YtvisResult,
  type YtvisSegmentation,
  type YtvisVideo,
} from "../formats/ytvis.js";
import { decodeCountsInto, fromSegmentation, measureRuns, type CountsSummary } from "../mask/rle.js";
import { numpyMean } from "../math/numpy.js";

export const YTVIS_STAT_NAMES = [
  "AP",
  "AP50",
  "AP75",
  "APs",
  "APm",
  "APl",
  "AR1",
  "AR10",
  "AR100",
  "ARs",
  "ARm",
  "ARl",
] as const;

export const OVIS_STAT_NAMES = [
  "AP",
  "AP50",
  "AP75",
  "APs",
  "APm",
  "APl",
  "AP_light",
  "AP_medium",
  "AP_heavy",
  "AR1",
  "AR10",
  "AR100",
  "ARs",
  "ARm",
  "ARl",
  "AR_light",
  "AR_medium",
  "AR_heavy",
] as const;

export type YtvisStatName = (typeof YTVIS_STAT_NAMES)[number];
export type OvisStatName = (typeof OVIS_STAT_NAMES)[number];

/** AP of one category (maxDets 100, all areas); -1 for a category without any non-crowd GT. */
export interface CategoryAp {
  id: number;
  name: string;
  AP: number;
  AP50: number;
  AP75: number;
}

export interface YtvisEvaluation {
  /** Stat name → value (raw float64, -1 where the official evaluator gives -1), in the official order. */
  stats: Record<string, number>;
  /**
   * Results whose category is not in the GT: the official evaluators accept them and never score them,
   * and so does this one (the CLI says how many on stderr).
   */
  droppedResults: number;
  /** Per category, by ascending category id (only with `perCategory`). */
  perCategory?: CategoryAp[];
}

export interface YtvisEvalOptions {
  /** OVIS: 18 stats with the occlusion ranges; every GT track needs occlusion labels. */
  occlusion?: boolean;
  perCategory?: boolean;
  /** File names for error messages. */
  gtFile?: string;
  resultsFile?: string;
}

// Parameters, as `Params.setDetParams` builds them ---------------------------------------------------

/** numpy.linspace(start, stop, num): start + i·step, with the last value set to stop. */
export function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const values = Array.from({ length: num }, (_, i) => i * step + start);
  values[num - 1] = stop;
  return values;
}

export const IOU_THRESHOLDS = linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
export const RECALL_THRESHOLDS = linspace(0, 1, Math.round((1 - 0) / 0.01) + 1);
export const MAX_DETS = [1, 10, 100] as const;
const AREA_RANGES: readonly (readonly [number, number])[] = [
  [0 ** 2, 1e5 ** 2],
  [0 ** 2, 128 ** 2],
  [128 ** 2, 256 ** 2],
  [256 ** 2, 1e5 ** 2],
];
const AREA_LABELS = ["all", "small", "medium", "large"] as const;
const OCCLUSION_RANGES: readonly (readonly [number, number])[] = [
  [0, 1],
  [0, 0.25],
  [0.25, 0.5],
  [0.5, 1],
];
const OCCLUSION_LABELS = ["all", "light", "medium", "heavy"] as const;
const OCCLUSION_SCORES: Record<string, number> = {
  no_occlusion: 0,
  slight_occlusion: 0.25,
  severe_occlusion: 0.75,
};

// Frames ---------------------------------------------------------------------------------------------

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

/**
 * A track's frames, 5 numbers each: area (-1 where the frame is absent), the column-major foreground
 * span [first, last), and where its runs are in the arena (start, length). One array per track instead of
 * an object per frame: the evaluation reads about 170,000 frames of 720p video.
 */
type FrameTable = Float64Array;
const AREA = 0;
const FIRST = 1;
const LAST = 2;
const START = 3;
const LENGTH = 4;

/**
 * Reads frame `f` of a track into the arena and the table (absent: Python truthiness, so an RLE of an
 * empty mask is present, null and an empty polygon list are not). With `source.check`, first checks it as
 * the readers do. `where` and `countsWhere` name the frame and its counts (built only for a message).
 */
function readFrame(
  segm: YtvisSegmentation | undefined,
  source: TrackSource,
  arena: RunArena,
  table: FrameTable,
  f: number,
  where: () => string,
  countsWhere: () => string,
): void {
  const at = 5 * f;
  if (segm === null || segm === undefined || (Array.isArray(segm) && segm.length === 0)) {
    table[at + AREA] = -1;
    return;
  }
  const { video } = source;
  const { height: h, width: w } = video;
  const start = arena.used;
  let length: number;
  if (isPlainRle(segm, h, w)) {
    // The common case, checked here without building a message: an RLE string of the video's size.
    arena.reserve(segm.counts.length);
    length = decodeCountsInto(segm.counts, arena.runs, start, countsWhere, source.file, measured);
  } else {
    const path = where();
    if (source.check)
      checkSegmentation(segm, video, { where: path, file: source.file, polygons: source.polygons });
    const rle = fromSegmentation(segm, h, w, path, source.file);
    if (rle.h !== h || rle.w !== w)
      throw new VidsegError(
        `mask size ${rle.h}×${rle.w} disagrees with the video's ${h}×${w}`,
        source.file,
        path,
      );
    arena.reserve(rle.counts.length);
    arena.runs.set(rle.counts, start);
    length = rle.counts.length;
    Object.assign(measured, measureRuns(rle.counts));
  }
  const { total, area, first, last } = measured;
  if (total !== h * w)
    throw new VidsegError(
      `malformed RLE counts: runs cover ${total} pixels, not ${h}×${w}`,
      source.file,
      where(),
    );
  arena.used += length;
  table[at + AREA] = area;
  table[at + FIRST] = first;
  table[at + LAST] = last;
  table[at + START] = start;
  table[at + LENGTH] = length;
}

/** `readFrame`'s measure of the frame at hand. */
const measured: CountsSummary = { total: 0, area: 0, first: -1, last: -1 };

/** A compressed RLE object of size h×w, as the readers accept it. */
function isPlainRle(segm: unknown, h: number, w: number): segm is { size: [number, number]; counts: string } {
  if (segm === null || typeof segm !== "object" || Array.isArray(segm)) return false;
  const { size, counts } = segm as { size?: unknown; counts?: unknown };
  return (
    Array.isArray(size) && size.length === 2 && size[0] === h && size[1] === w && typeof counts === "string"
  );
}

/** |a ∩ b| of two run-length masks of the same size, by walking both run lists (in `runs`). */
function intersectionArea(
  runs: Uint32Array,
  aStart: number,
  aLength: number,
  bStart: number,
  bLength: number,
): number {
  let i = aStart;
  let j = bStart;
  const aEnd = aStart + aLength;
  const bEnd = bStart + bLength;
  let endA = runs[i];
  let endB = runs[j];
  let position = 0;
  let inter = 0;
  while (i < aEnd && j < bEnd) {
    const end = endA < endB ? endA : endB;
    if ((i - aStart) & 1 && (j - bStart) & 1) inter += end - position;
    position = end;
    if (endA === end && ++i < aEnd) endA += runs[i];
    if (endB === end && ++j < bEnd) endB += runs[j];
  }
  return inter;
}

// Tracks ---------------------------------------------------------------------------------------------

/** Where a track's masks are: its segmentations, their JSON path and file, and how to check them. */
interface TrackSource {
  segmentations: readonly YtvisSegmentation[];
  video: YtvisVideo;
  where: string;
  file?: string;
  polygons: boolean;
  /** Check each mask as the readers do before reading it (when the readers skipped them). */
  check: boolean;
}

interface Track {
  /** GT: the annotation id (its truthiness matters, see above); results: index + 1. */
  id: number;
  score: number;
  iscrowd: boolean;
  avgArea: number;
  occlusionScore: number;
  source: TrackSource;
  /** Filled by `readTrack` while its group is evaluated. */
  frames: FrameTable;
  totalArea: number;
}

const NO_FRAMES: FrameTable = new Float64Array(0);

/** Reads a track's frames into the arena; a detection's average area comes from them. */
function readTrack(track: Track, arena: RunArena, detection: boolean): void {
  const { segmentations } = track.source;
  track.frames = readFrames(track.source, arena);
  const areas: (number | null)[] = [];
  track.totalArea = 0;
  for (let f = 0; f < segmentations.length; f++) {
    const area = track.frames[5 * f + AREA];
    areas.push(area < 0 ? null : area);
    if (area > 0) track.totalArea += area;
  }
  if (detection) track.avgArea = averageArea(areas);
}

function readFrames(source: TrackSource, arena: RunArena): FrameTable {
  const table = new Float64Array(5 * source.segmentations.length);
  let f = 0;
  // Paths for messages: closures made once a track, not once a frame.
  const where = () => `${source.where}[${f}]`;
  const countsWhere = () => `${source.where}[${f}].counts`;
  for (; f < source.segmentations.length; f++)
    readFrame(source.segmentations[f], source, arena, table, f, where, countsWhere);
  return table;
}

/** Checks and measures a track that no group reads (a detection past the best 100, a dropped result). */
function checkTrack(source: TrackSource, arena: RunArena): void {
  const start = arena.used;
  readFrames(source, arena);
  arena.used = start;
}

/** Mean of the truthy areas (`np.array([a for a in areas if a]).mean()`), 0 if none. */
function averageArea(areas: readonly (number | null)[]): number {
  const kept = areas.filter((a): a is number => !!a);
  return kept.length === 0 ? 0 : numpyMean(kept);
}

/** Mean of the highest ⌈n/2⌉ occlusion scores, summed in ascending order as Python's `sum` does. */
function occlusionScore(annotation: YtvisAnnotation, where: string, file?: string): number {
  const labels = annotation.occlusion;
  if (!labels) throw new VidsegError("OVIS evaluation needs per-frame occlusion labels", file, where);
  const scores: number[] = [];
  labels.forEach((label, f) => {
    if (label === null) return;
    const score = OCCLUSION_SCORES[label];
    if (score === undefined)
      throw new VidsegError(`unknown occlusion label ${JSON.stringify(label)}`, file, `${where}[${f}]`);
    scores.push(score);
  });
  if (scores.length === 0) throw new VidsegError("no labelled frame in the occlusion list", file, where);
  scores.sort((x, y) => x - y);
  const top = scores.slice(scores.length - Math.ceil(scores.length / 2));
  let sum = 0;
  for (const s of top) sum += s;
  return sum / top.length;
}

// Groups ---------------------------------------------------------------------------------------------

/** The sorted video and category ids of an evaluation (`Params.vidIds`, `catIds`) and lookups. */
interface Layout {
  videoIds: number[];
  categoryIds: number[];
  videoIndex: Map<number, number>;
  categoryIndex: Map<number, number>;
  videoById: Map<number, YtvisVideo>;
}

function layoutOf(gt: YtvisDataset): Layout {
  const videoIds = [...new Set(gt.videos.map((v) => v.id))].sort((a, b) => a - b);
  const categoryIds = [...new Set(gt.categories.map((c) => c.id))].sort((a, b) => a - b);
  return {
    videoIds,
    categoryIds,
    videoIndex: new Map(videoIds.map((id, i) => [id, i])),
    categoryIndex: new Map(categoryIds.map((id, i) => [id, i])),
    videoById: new Map(gt.videos.map((v) => [v.id, v])),
  };
}

/** What `evaluateVid` sees of each (video, category) group; group index = video index · K + category index. */
interface Groups {
  /** GT tracks in file order. */
  gts: Track[][];
  /** Detections stably sorted by score, the best 100. */
  dts: Track[][];
  /** Detections past the best 100 of their group, and results of categories not in the GT. */
  unread: TrackSource[];
  /** Results of categories that are not in the GT. */
  droppedResults: number;
}

/**
 * Groups the tracks (without reading their masks). Detections take their average area from `dtAreas`
 * (by result index) when given, else it is set when they are read.
 */
function groupTracks(
  gt: YtvisDataset,
  results: readonly YtvisResult[],
  layout: Layout,
  options: ShardOptions,
  dtAreas?: Float64Array,
): Groups {
  const { gtFile, resultsFile } = options;
  const check = options.checkMasks ?? false;
  const { videoIndex, categoryIndex, videoById } = layout;
  const K = layout.categoryIds.length;
  const gts: Track[][] = Array.from({ length: layout.videoIds.length * K }, () => []);
  const dts: Track[][] = Array.from({ length: layout.videoIds.length * K }, () => []);
  const unread: TrackSource[] = [];

  gt.annotations.forEach((annotation, i) => {
    const where = `annotations[${i}]`;
    const vi = videoIndex.get(annotation.video_id);
    const ci = categoryIndex.get(annotation.category_id);
    if (vi === undefined || ci === undefined) return; // not selected by getAnnIds(vidIds, catIds)
    const video = videoById.get(annotation.video_id)!;
    gts[vi * K + ci].push({
      id: annotation.id,
      score: 0,
      iscrowd: !!annotation.iscrowd,
      avgArea: averageArea(annotation.areas),
      occlusionScore: options.occlusion ? occlusionScore(annotation, `${where}.occlusion`, gtFile) : 0,
      source: {
        segmentations: annotation.segmentations,
        video,
        where: `${where}.segmentations`,
        file: gtFile,
        polygons: true,
        check,
      },
      frames: NO_FRAMES,
      totalArea: 0,
    });
  });

  let droppedResults = 0;
  results.forEach((result, i) => {
    const where = `[${i}]`;
    const vi = videoIndex.get(result.video_id);
    if (vi === undefined)
      throw new VidsegError(
        `result for video ${result.video_id}, which is not in the GT`,
        resultsFile,
        `${where}.video_id`,
      );
    const source: TrackSource = {
      segmentations: result.segmentations,
      video: videoById.get(result.video_id)!,
      where: `${where}.segmentations`,
      file: resultsFile,
      polygons: false,
      check,
    };
    const ci = categoryIndex.get(result.category_id);
    if (ci === undefined) {
      droppedResults++; // evaluation loops over the GT's categories only
      unread.push(source);
      return;
    }
    dts[vi * K + ci].push({
      id: i + 1,
      score: result.score,
      iscrowd: false,
      avgArea: dtAreas ? dtAreas[i] : 0,
      occlusionScore: 0,
      source,
      frames: NO_FRAMES,
      totalArea: 0,
    });
  });
  const maxDet = MAX_DETS[MAX_DETS.length - 1];
  for (let group = 0; group < dts.length; group++) {
    if (dts[group].length === 0) continue;
    const sorted = stableSortByScore(dts[group]);
    for (const track of sorted.slice(maxDet)) unread.push(track.source);
    dts[group] = sorted.slice(0, maxDet);
  }
  return { gts, dts, unread, droppedResults };
}

// Shards ---------------------------------------------------------------------------------------------

/**
 * What one shard of videos contributes: the average area of its detections (by result index, NaN
 * elsewhere) and the IoU matrix of each of its groups that has both detections and GT, in group order
 * (`ious.subarray(offsets[k], offsets[k + 1])` for group `groups[k]`).
 */
export interface ShardOutput {
  dtAreas: Float64Array;
  groups: Int32Array;
  offsets: Int32Array;
  ious: Float64Array;
}

export interface ShardOptions extends YtvisEvalOptions {
  /** Check every mask as the readers do (when they ran with `masks: false`). */
  checkMasks?: boolean;
}

/**
 * The per-video part of an evaluation, for the videos of one shard (by ascending id, dealt in turn):
 * reads every mask of their tracks once, group by group, and computes the groups' IoUs. Shards can run
 * in any thread; merged by `finishEvaluation`, they give the numbers of `evaluateYtvis`, bit for bit.
 */
export function evaluateShard(
  gt: YtvisDataset,
  results: readonly YtvisResult[],
  options: ShardOptions,
  shard: number,
  shards: number,
): ShardOutput {
  const layout = layoutOf(gt);
  const K = layout.categoryIds.length;
  const inShard = (video: YtvisVideo) => layout.videoIndex.get(video.id)! % shards === shard;
  const { gts, dts, unread } = groupTracks(gt, results, layout, options);
  const dtAreas = new Float64Array(results.length).fill(NaN);
  const groups: number[] = [];
  const offsets = [0];
  const matrices: Float64Array[] = [];
  const arena = new RunArena();
  for (let group = 0; group < dts.length; group++) {
    if (Math.floor(group / K) % shards !== shard) continue;
    arena.used = 0;
    for (const track of gts[group]) readTrack(track, arena, false);
    for (const track of dts[group]) {
      readTrack(track, arena, true);
      dtAreas[track.id - 1] = track.avgArea;
    }
    if (dts[group].length === 0 || gts[group].length === 0) continue;
    const ious = trackIous(dts[group], gts[group], arena.runs);
    groups.push(group);
    matrices.push(ious);
    offsets.push(offsets[offsets.length - 1] + ious.length);
  }
  arena.used = 0;
  for (const source of unread) if (inShard(source.video)) checkTrack(source, arena);
  const ious = new Float64Array(offsets[offsets.length - 1]);
  matrices.forEach((matrix, k) => ious.set(matrix, offsets[k]));
  return { dtAreas, groups: Int32Array.from(groups), offsets: Int32Array.from(offsets), ious };
}

// The evaluation -------------------------------------------------------------------------------------

/** Result of matching one (video, category) for one (area range, occlusion range). */
interface Matching {
  /** Scores of the (at most 100) detections, highest first. */
  scores: Float64Array;
  /** [t·D + d]: 1 if the detection matched a GT with a truthy id. */
  matched: Uint8Array;
  /** [t·D + d]: 1 if the detection is ignored. */
  ignored: Uint8Array;
  /** Number of non-ignored GTs. */
  nonIgnored: number;
}

/**
 * Evaluates results against GT as `YTVOSeval` (or, with `occlusion`, `OVISeval`) with iouType 'segm'.
 * Inputs are expected to be valid (see `validateYtvis` / `validateResults`); results for videos that are
 * not in the GT and mask sizes that disagree with the video are still reported as VidsegErrors.
 * (`evaluateYtvisFiles` computes the same numbers from files, on several threads.)
 */
export function evaluateYtvis(
  gt: YtvisDataset,
  results: readonly YtvisResult[],
  options: YtvisEvalOptions = {},
): YtvisEvaluation {
  return finishEvaluation(gt, results, options, [evaluateShard(gt, results, options, 0, 1)]);
}

/**
 * Matches, accumulates and summarises, from the shards' IoUs and detection areas (`evaluateVid` for
 * every group, then `accumulate` and `summarize`, in the official order).
 */
export function finishEvaluation(
  gt: YtvisDataset,
  results: readonly YtvisResult[],
  options: YtvisEvalOptions,
  shards: readonly ShardOutput[],
): YtvisEvaluation {
  const layout = layoutOf(gt);
  const { categoryIds } = layout;
  const V = layout.videoIds.length;
  const K = categoryIds.length;
  const occlusionRanges = options.occlusion ? OCCLUSION_RANGES : [null];
  const O = occlusionRanges.length;
  const T = IOU_THRESHOLDS.length;
  const A = AREA_RANGES.length;

  const dtAreas = new Float64Array(results.length);
  const iousOf = new Map<number, Float64Array>();
  for (const shard of shards) {
    shard.dtAreas.forEach((area, i) => {
      if (!Number.isNaN(area)) dtAreas[i] = area;
    });
    shard.groups.forEach((group, k) =>
      iousOf.set(group, shard.ious.subarray(shard.offsets[k], shard.offsets[k + 1])),
    );
  }
  const { gts: gtGroups, dts: dtGroups, droppedResults } = groupTracks(gt, results, layout, options, dtAreas);

  // evaluateVid for every group and (area, occlusion) range; null where the group has no GT and no dt.
  const matchings: (Matching[] | null)[] = new Array(V * K).fill(null);
  for (let group = 0; group < V * K; group++) {
    const gts = gtGroups[group];
    const dts = dtGroups[group];
    if (gts.length === 0 && dts.length === 0) continue;
    const ious = iousOf.get(group) ?? new Float64Array(0);
    const perRange: Matching[] = [];
    for (let a = 0; a < A; a++)
      for (let o = 0; o < O; o++)
        perRange.push(matchGroup(dts, gts, ious, AREA_RANGES[a], occlusionRanges[o]));
    matchings[group] = perRange;
  }

  // accumulate: precision [t][r][k][a][o][m] and recall [t][k][a][o][m], -1 where undefined.
  const R = RECALL_THRESHOLDS.length;
  const M = MAX_DETS.length;
  const precision = new Float64Array(T * R * K * A * O * M).fill(-1);
  const recall = new Float64Array(T * K * A * O * M).fill(-1);
  const pIndex = (t: number, r: number, k: number, a: number, o: number, m: number) =>
    ((((t * R + r) * K + k) * A + a) * O + o) * M + m;
  const rIndex = (t: number, k: number, a: number, o: number, m: number) =>
    (((t * K + k) * A + a) * O + o) * M + m;

  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      for (let o = 0; o < O; o++) {
        const entries: Matching[] = [];
        for (let vi = 0; vi < V; vi++) {
          const perRange = matchings[vi * K + k];
          if (perRange) entries.push(perRange[a * O + o]);
        }
        if (entries.length === 0) continue;
        let nonIgnored = 0;
        for (const e of entries) nonIgnored += e.nonIgnored;
        if (nonIgnored === 0) continue;
        for (let m = 0; m < M; m++) {
          const curves = precisionRecall(entries, MAX_DETS[m], nonIgnored);
          for (let t = 0; t < T; t++) {
            recall[rIndex(t, k, a, o, m)] = curves.recall[t];
            for (let r = 0; r < R; r++) precision[pIndex(t, r, k, a, o, m)] = curves.precision[t * R + r];
          }
        }
      }
    }
  }

  // summarize
  const summarize = (
    ap: boolean,
    iouThr: number | null,
    areaLabel: (typeof AREA_LABELS)[number],
    occLabel: (typeof OCCLUSION_LABELS)[number],
    maxDets: number,
    onlyCategory?: number,
  ): number => {
    const a = AREA_LABELS.indexOf(areaLabel);
    const o = options.occlusion ? OCCLUSION_LABELS.indexOf(occLabel) : 0;
    const m = MAX_DETS.indexOf(maxDets as (typeof MAX_DETS)[number]);
    const ts = iouThr === null ? IOU_THRESHOLDS.map((_, t) => t) : indicesWhereEqual(IOU_THRESHOLDS, iouThr);
    const ks = onlyCategory === undefined ? categoryIds.map((_, k) => k) : [onlyCategory];
    const kept: number[] = [];
    // The C order of s[t, r, k] (AP) or s[t, k] (AR), as numpy's boolean indexing lists them.
    for (const t of ts) {
      if (ap) {
        for (let r = 0; r < R; r++)
          for (const k of ks) {
            const value = precision[pIndex(t, r, k, a, o, m)];
            if (value > -1) kept.push(value);
          }
      } else {
        for (const k of ks) {
          const value = recall[rIndex(t, k, a, o, m)];
          if (value > -1) kept.push(value);
        }
      }
    }
    return kept.length === 0 ? -1 : numpyMean(kept);
  };

  const stats: Record<string, number> = {};
  const names: readonly OvisStatName[] = options.occlusion ? OVIS_STAT_NAMES : YTVIS_STAT_NAMES;
  for (const name of names) {
    const spec = STAT_SPECS[name];
    stats[name] = summarize(spec.ap, spec.iouThr, spec.area, spec.occ, spec.maxDets);
  }

  const evaluation: YtvisEvaluation = { stats, droppedResults };
  if (options.perCategory) {
    const nameById = new Map(gt.categories.map((c) => [c.id, c.name]));
    evaluation.perCategory = categoryIds.map((id, k) => ({
      id,
      name: nameById.get(id)!,
      AP: summarize(true, null, "all", "all", 100, k),
      AP50: summarize(true, 0.5, "all", "all", 100, k),
      AP75: summarize(true, 0.75, "all", "all", 100, k),
    }));
  }
  return evaluation;
}

interface StatSpec {
  ap: boolean;
  iouThr: number | null;
  area: (typeof AREA_LABELS)[number];
  occ: (typeof OCCLUSION_LABELS)[number];
  maxDets: number;
}

const stat = (
  ap: boolean,
  maxDets: number,
  { iouThr = null, area = "all", occ = "all" }: Partial<Pick<StatSpec, "iouThr" | "area" | "occ">> = {},
): StatSpec => ({ ap, iouThr, area, occ, maxDets });

/** `_summarizeDets` of both evaluators. */
const STAT_SPECS: Record<OvisStatName, StatSpec> = {
  AP: stat(true, 100),
  AP50: stat(true, 100, { iouThr: 0.5 }),
  AP75: stat(true, 100, { iouThr: 0.75 }),
  APs: stat(true, 100, { area: "small" }),
  APm: stat(true, 100, { area: "medium" }),
  APl: stat(true, 100, { area: "large" }),
  AP_light: stat(true, 100, { occ: "light" }),
  AP_medium: stat(true, 100, { occ: "medium" }),
  AP_heavy: stat(true, 100, { occ: "heavy" }),
  AR1: stat(false, 1),
  AR10: stat(false, 10),
  AR100: stat(false, 100),
  ARs: stat(false, 100, { area: "small" }),
  ARm: stat(false, 100, { area: "medium" }),
  ARl: stat(false, 100, { area: "large" }),
  AR_light: stat(false, 100, { occ: "light" }),
  AR_medium: stat(false, 100, { occ: "medium" }),
  AR_heavy: stat(false, 100, { occ: "heavy" }),
};

/** `np.where(value == values)`. */
function indicesWhereEqual(values: readonly number[], value: number): number[] {
  return values.flatMap((v, i) => (v === value ? [i] : []));
}

/** Stable sort, highest score first (`np.argsort(-scores, kind='mergesort')`). */
function stableSortByScore<T extends { score: number }>(items: readonly T[]): T[] {
  return items
    .map((item, i) => ({ item, i }))
    .sort((x, y) => y.item.score - x.item.score || x.i - y.i)
    .map(({ item }) => item);
}

/** IoU matrix [d·G + g] of read tracks (`computeIoU` / `iou_seq`). */
function trackIous(dts: readonly Track[], gts: readonly Track[], runs: Uint32Array): Float64Array {
  const G = gts.length;
  const ious = new Float64Array(dts.length * G);
  for (let d = 0; d < dts.length; d++) {
    const a = dts[d].frames;
    for (let g = 0; g < G; g++) {
      const b = gts[g].frames;
      let inter = 0;
      const frames = Math.min(a.length, b.length) / 5; // zip() stops at the shorter
      for (let at = 0; at < 5 * frames; at += 5) {
        // Absent or empty on one side, or foreground spans apart: no intersection.
        if (a[at] <= 0 || b[at] <= 0 || a[at + LAST] <= b[at + FIRST] || b[at + LAST] <= a[at + FIRST])
          continue;
        inter += intersectionArea(runs, a[at + START], a[at + LENGTH], b[at + START], b[at + LENGTH]);
      }
      // Σ|d ∪ g| over frames = Σ|d| + Σ|g| − Σ|d ∩ g| (an absent frame counts 0 on its side).
      const union = sumAreas(dts[d], frames) + sumAreas(gts[g], frames) - inter;
      ious[d * G + g] = union > 0 ? inter / union : 0;
    }
  }
  return ious;
}

/** Σ of a track's areas over its first `frames` frames. */
function sumAreas(track: Track, frames: number): number {
  if (5 * frames === track.frames.length) return track.totalArea;
  let total = 0;
  for (let at = 0; at < 5 * frames; at += 5) if (track.frames[at] > 0) total += track.frames[at];
  return total;
}

/** `evaluateVid` for one (video, category) and one (area range, occlusion range). */
function matchGroup(
  dts: readonly Track[],
  gtsInFileOrder: readonly Track[],
  ious: Float64Array,
  areaRange: readonly [number, number],
  occlusionRange: readonly [number, number] | null,
): Matching {
  const G = gtsInFileOrder.length;
  const D = dts.length;
  const T = IOU_THRESHOLDS.length;
  const outside = (track: Track) =>
    track.avgArea < areaRange[0] ||
    track.avgArea > areaRange[1] ||
    (occlusionRange !== null &&
      (track.occlusionScore < occlusionRange[0] || track.occlusionScore > occlusionRange[1]));
  const gtIgnoreInFileOrder = gtsInFileOrder.map((g) => (g.iscrowd || outside(g) ? 1 : 0));
  // Non-ignored GTs first, each part in file order (stable argsort of the ignore flags).
  const order = [...gtsInFileOrder.keys()].sort(
    (x, y) => gtIgnoreInFileOrder[x] - gtIgnoreInFileOrder[y] || x - y,
  );
  const gtIgnore = order.map((g) => gtIgnoreInFileOrder[g]);
  const crowd = order.map((g) => gtsInFileOrder[g].iscrowd);
  const gtIds = order.map((g) => gtsInFileOrder[g].id);

  const matched = new Uint8Array(T * D);
  const ignored = new Uint8Array(T * D);
  const gtTaken = new Uint8Array(G);
  for (let t = 0; t < T; t++) {
    gtTaken.fill(0);
    for (let d = 0; d < D; d++) {
      let best = Math.min(IOU_THRESHOLDS[t], 1 - 1e-10);
      let m = -1;
      for (let j = 0; j < G; j++) {
        if (gtTaken[j] && !crowd[j]) continue;
        if (m > -1 && gtIgnore[m] === 0 && gtIgnore[j] === 1) break;
        const iou = ious[d * G + order[j]];
        if (iou < best) continue;
        best = iou;
        m = j;
      }
      if (m === -1) continue;
      ignored[t * D + d] = gtIgnore[m];
      matched[t * D + d] = gtIds[m] ? 1 : 0;
      gtTaken[m] = 1; // the reference stores the detection id, which is always ≥ 1
    }
  }
  // Unmatched detections (dtm == 0) outside the area range are ignored; occlusion does not apply to them.
  for (let d = 0; d < D; d++) {
    const dt = dts[d];
    if (!(dt.avgArea < areaRange[0] || dt.avgArea > areaRange[1])) continue;
    for (let t = 0; t < T; t++) if (!matched[t * D + d]) ignored[t * D + d] = 1;
  }
  let nonIgnored = 0;
  for (const flag of gtIgnore) if (flag === 0) nonIgnored++;
  return { scores: Float64Array.from(dts, (dt) => dt.score), matched, ignored, nonIgnored };
}

/** `accumulate` for one (category, area range, occlusion range, maxDet): precision [t·R + r] and recall [t]. */
function precisionRecall(
  entries: readonly Matching[],
  maxDet: number,
  nonIgnored: number,
): { precision: Float64Array; recall: Float64Array } {
  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  // Concatenate the first maxDet detections of every video, then stably sort by score.
  const source: { entry: Matching; d: number; D: number }[] = [];
  for (const entry of entries) {
    const D = entry.scores.length;
    for (let d = 0; d < Math.min(maxDet, D); d++) source.push({ entry, d, D });
  }
  const order = [...source.keys()].sort(
    (x, y) => source[y].entry.scores[source[y].d] - source[x].entry.scores[source[x].d] || x - y,
  );
  const nd = order.length;
  const precision = new Float64Array(T * R);
  const recall = new Float64Array(T);
  const rc = new Float64Array(nd);
  const pr = new Float64Array(nd);
  for (let t = 0; t < T; t++) {
    let tp = 0;
    let fp = 0;
    for (let i = 0; i < nd; i++) {
      const { entry, d, D } = source[order[i]];
      const at = t * D + d;
      if (!entry.ignored[at]) {
        if (entry.matched[at]) tp++;
        else fp++;
      }
      rc[i] = tp / nonIgnored;
      pr[i] = tp / (fp + tp + Number.EPSILON);
    }
    recall[t] = nd ? rc[nd - 1] : 0;
    for (let i = nd - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
    // searchsorted(rc, recThrs, side='left'); indices past the end leave 0.
    let i = 0;
    for (let r = 0; r < R; r++) {
      while (i < nd && rc[i] < RECALL_THRESHOLDS[r]) i++;
      if (i >= nd) break;
      precision[t * R + r] = pr[i];
    }
  }
  return { precision, recall };
}

// Human-readable summary ---------------------------------------------------------------------------

/** The lines the official `summarize()` prints, e.g. ` Average Precision  (AP) @[ IoU=0.50:0.95 | … ] = 0.412`. */
export function summaryLines(evaluation: YtvisEvaluation, occlusion = false): string[] {
  const names: readonly OvisStatName[] = occlusion ? OVIS_STAT_NAMES : YTVIS_STAT_NAMES;
  return names.map((name) => {
    const spec = STAT_SPECS[name];
    const title = (spec.ap ? "Average Precision" : "Average Recall").padEnd(18);
    const type = spec.ap ? "(AP)" : "(AR)";
    const iou = (spec.iouThr === null ? "0.50:0.95" : spec.iouThr.toFixed(2)).padEnd(9);
    const occ = occlusion ? ` | occ=${spec.occ.padStart(6)}` : "";
    const value = evaluation.stats[name].toFixed(3);
    return ` ${title} ${type} @[ IoU=${iou} | area=${spec.area.padStart(6)}${occ} | maxDets=${String(spec.maxDets).padStart(3)} ] = ${value}`;
  });
}

/** The per-category table: id, name, AP, AP50, AP75 (-1 for categories without GT). */
export function perCategoryLines(perCategory: readonly CategoryAp[]): string[] {
  const nameWidth = Math.max(8, ...perCategory.map((c) => c.name.length));
  const idWidth = Math.max(2, ...perCategory.map((c) => String(c.id).length));
  const cell = (value: number) => value.toFixed(3).padStart(7);
  const header = `${"id".padStart(idWidth)}  ${"category".padEnd(nameWidth)} ${"AP".padStart(7)} ${"AP50".padStart(7)} ${"AP75".padStart(7)}`;
  return [
    header,
    ...perCategory.map(
      (c) =>
        `${String(c.id).padStart(idWidth)}  ${c.name.padEnd(nameWidth)} ${cell(c.AP)} ${cell(c.AP50)} ${cell(c.AP75)}`,
    ),
  ];
}
