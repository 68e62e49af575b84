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
 * - Results of a category that is not in the GT are accepted and never scored (`droppedResults`).
 *
 * The stages: `planEvaluation` groups the tracks by (video, category) without reading a mask;
 * `shardJobs` + `runShard` (ytvis-shard.ts) read the masks and compute the IoUs, shard by shard, in any
 * thread (`evaluateYtvisFiles` uses the cores); `finishEvaluation` matches, accumulates and summarises.
 */
import { VidsegError } from "../core/errors.js";
import type { YtvisAnnotation, YtvisDataset, YtvisResult } from "../formats/ytvis.js";
import { numpyMean } from "../math/numpy.js";
import {
  packShard,
  runShard,
  type GroupSources,
  type ShardJob,
  type ShardOutput,
  type TrackSource,
} from "./ytvis-shard.js";

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

// Tracks and groups ----------------------------------------------------------------------------------

interface Track {
  /** GT: the annotation id (its truthiness matters, see above); results: index + 1. */
  id: number;
  score: number;
  iscrowd: boolean;
  /** GT: from the JSON `areas`; detections: from their masks, once read. */
  avgArea: number;
  occlusionScore: number;
  source: TrackSource;
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

/**
 * An evaluation before any mask is read: the sorted video and category ids (`Params.vidIds`, `catIds`)
 * and the tracks of each (video, category) group, group index = video index · K + category index.
 */
export interface EvaluationPlan {
  videoIds: number[];
  categoryIds: number[];
  /** GT tracks in file order. */
  gts: Track[][];
  /** Detections stably sorted by score, the best 100 (what `evaluateVid` keeps). */
  dts: Track[][];
  /** Masks read for their checks only: detections past the best 100, results of unknown categories. */
  unread: TrackSource[];
  /** Results of categories that are not in the GT: accepted and never scored. */
  droppedResults: number;
}

/** Groups the tracks, as `YTVOSeval` selects them (`getAnnIds(vidIds, catIds)`, `_prepare`). */
export function planEvaluation(
  gt: YtvisDataset,
  results: readonly YtvisResult[],
  options: YtvisEvalOptions = {},
): EvaluationPlan {
  const { gtFile, resultsFile } = options;
  const videoIds = [...new Set(gt.videos.map((v) => v.id))].sort((a, b) => a - b);
  const categoryIds = [...new Set(gt.categories.map((c) => c.id))].sort((a, b) => a - b);
  const videoIndex = new Map(videoIds.map((id, i) => [id, i]));
  const categoryIndex = new Map(categoryIds.map((id, i) => [id, i]));
  const videoById = new Map(gt.videos.map((v) => [v.id, v]));
  const K = categoryIds.length;
  const gts: Track[][] = Array.from({ length: videoIds.length * K }, () => []);
  const dts: Track[][] = Array.from({ length: videoIds.length * K }, () => []);
  const unread: TrackSource[] = [];

  gt.annotations.forEach((annotation, i) => {
    const where = `annotations[${i}]`;
    const vi = videoIndex.get(annotation.video_id);
    const ci = categoryIndex.get(annotation.category_id);
    if (vi === undefined || ci === undefined) return; // not selected by getAnnIds(vidIds, catIds)
    gts[vi * K + ci].push({
      id: annotation.id,
      score: 0,
      iscrowd: !!annotation.iscrowd,
      avgArea: averageArea(annotation.areas),
      occlusionScore: options.occlusion ? occlusionScore(annotation, `${where}.occlusion`, gtFile) : 0,
      source: {
        segmentations: annotation.segmentations,
        video: videoById.get(annotation.video_id)!,
        where: `${where}.segmentations`,
        file: gtFile,
        polygons: true,
      },
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
      avgArea: 0,
      occlusionScore: 0,
      source,
    });
  });
  const maxDet = MAX_DETS[MAX_DETS.length - 1];
  for (let group = 0; group < dts.length; group++) {
    if (dts[group].length === 0) continue;
    const sorted = stableSortByScore(dts[group]);
    for (const track of sorted.slice(maxDet)) unread.push(track.source);
    dts[group] = sorted.slice(0, maxDet);
  }
  return { videoIds, categoryIds, gts, dts, unread, droppedResults };
}

/**
 * The shard jobs of a plan: videos by ascending id dealt in turn to `shards` shards, each job holding its
 * videos' groups (with detections or GT) and, last, the unread tracks to check. `check`: the readers ran
 * with `masks: false`, so the jobs check every mask.
 */
export function shardJobs(plan: EvaluationPlan, shards: number, check: boolean): ShardJob[] {
  const K = plan.categoryIds.length;
  const videoIndex = new Map(plan.videoIds.map((id, i) => [id, i]));
  return Array.from({ length: shards }, (_, shard) => {
    const groups: GroupSources[] = [];
    for (let group = 0; group < plan.dts.length; group++) {
      if (Math.floor(group / K) % shards !== shard) continue;
      const dts = plan.dts[group];
      const gts = plan.gts[group];
      if (dts.length > 0 || gts.length > 0)
        groups.push({ dts: dts.map((t) => t.source), gts: gts.map((t) => t.source) });
    }
    const unread = plan.unread.filter((source) => videoIndex.get(source.video.id)! % shards === shard);
    if (unread.length > 0) groups.push({ dts: unread, gts: [] });
    return packShard(groups, check);
  });
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
  const plan = planEvaluation(gt, results, options);
  const [job] = shardJobs(plan, 1, false);
  return finishEvaluation(plan, [runShard(job)], gt, options);
}

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
 * Matches, accumulates and summarises, from the outputs of the plan's shard jobs (`shardJobs` order):
 * `evaluateVid` for every group, then `accumulate` and `summarize`, in the official order.
 */
export function finishEvaluation(
  plan: EvaluationPlan,
  outputs: readonly ShardOutput[],
  gt: YtvisDataset,
  options: YtvisEvalOptions,
): YtvisEvaluation {
  const { categoryIds, gts: gtGroups, dts: dtGroups, droppedResults } = plan;
  const V = plan.videoIds.length;
  const K = categoryIds.length;
  const occlusionRanges = options.occlusion ? OCCLUSION_RANGES : [null];
  const O = occlusionRanges.length;
  const T = IOU_THRESHOLDS.length;
  const A = AREA_RANGES.length;

  // The outputs follow the jobs: per shard, its groups in order, each with D·G IoUs and D areas.
  const iousOf: Float64Array[] = new Array(V * K);
  outputs.forEach((output, shard) => {
    let iou = 0;
    let area = 0;
    for (let group = 0; group < V * K; group++) {
      if (Math.floor(group / K) % outputs.length !== shard) continue;
      const dts = dtGroups[group];
      const G = gtGroups[group].length;
      if (dts.length === 0 && G === 0) continue;
      iousOf[group] = output.ious.subarray(iou, iou + dts.length * G);
      iou += dts.length * G;
      for (const dt of dts) dt.avgArea = output.dtAreas[area++];
    }
  });

  // evaluateVid for every group and (area, occlusion) range; null where the group has no GT and no dt.
  const matchings: (Matching[] | null)[] = new Array(V * K).fill(null);
  for (let group = 0; group < V * K; group++) {
    const gts = gtGroups[group];
    const dts = dtGroups[group];
    if (gts.length === 0 && dts.length === 0) continue;
    const ious = iousOf[group];
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
