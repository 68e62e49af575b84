/**
 * Identity switches of VIS results, counted with GT association, as CLEAR-MOT counts them (Bernardin &
 * Stiefelhagen 2008; the order py-motmetrics follows):
 *
 * - In every frame, the GT tracks present there (a non-empty mask; crowd GTs are left out) are matched
 *   one to one with the result tracks present there. A pair needs a mask IoU ≥ `iouThreshold`. A GT keeps
 *   the result it was last matched to while that pair still passes; the others are assigned by the
 *   Hungarian method, with the most pairs first, then the highest total IoU.
 * - A GT track's identity switches when its matched result differs from the one it was last matched to,
 *   however many frames ago: a gap (the GT unmatched or absent) is no switch in itself, and a re-appearance
 *   under a new result id is one. `switchesAfterGap` counts the switches of a GT unmatched in the frame
 *   before (hidden, absent or missed): what an occlusion costs, against a swap between tracked objects.
 * - Matching is class-agnostic: AP scores the classes. Class flicker does not apply to VIS results,
 *   whose every track has one category.
 *
 * Result tracks: the tracker writes a track once per category it may hold (`categoriesPerTrack`), each
 * with the same masks and the class's score. Entries of one video with identical segmentations are one
 * track here (its identity does not depend on the class), and one is kept when any of its entries scores
 * at least `scoreThreshold`.
 */
import type { YtvisDataset, YtvisResult, YtvisSegmentation } from "../formats/ytvis.js";
import { area, fromSegmentation, iou, type Rle } from "../mask/rle.js";
import { linearSumAssignment } from "../math/hungarian.js";

/**
 * Result tracks scoring below this are left out by default: the score from which `vidseg infer vis`
 * draws an instance (its overlay and PNGs) and the model's default query threshold (`inference.
 * scoreThreshold`), i.e. the tracks a user is shown. AP needs no threshold; a hard count of switches does.
 */
export const IDENTITY_SCORE_THRESHOLD = 0.3;
/** The CLEAR-MOT and OVIS convention for a true match. */
export const IDENTITY_IOU_THRESHOLD = 0.5;

export interface IdentityOptions {
  /** Default `IDENTITY_SCORE_THRESHOLD`. */
  scoreThreshold?: number;
  /** Default `IDENTITY_IOU_THRESHOLD`. */
  iouThreshold?: number;
  /** File names for error messages. */
  gtFile?: string;
  resultsFile?: string;
}

export interface IdentityReport {
  scoreThreshold: number;
  iouThreshold: number;
  /** Non-crowd GT tracks present in at least one frame. */
  gtTracks: number;
  /** Result tracks kept (over the threshold, one per distinct track). */
  resultTracks: number;
  /** Frames in which a GT track is present, summed over the GT tracks. */
  gtFrames: number;
  /** Of those, the frames in which it is matched to a result track. */
  matchedFrames: number;
  /** matchedFrames / gtFrames (0 without GT frames). */
  matchedFraction: number;
  /** Identity switches, all GT tracks together. */
  switches: number;
  /** switches / gtTracks (0 without GT tracks). */
  switchesPerTrack: number;
  /** GT tracks with at least one switch. */
  tracksWithSwitches: number;
  /** Of the switches, those of a GT unmatched in the previous frame (re-appearances, missed frames). */
  switchesAfterGap: number;
  /** Class flicker within a track: not applicable, a VIS result track has one category. */
  classFlicker: null;
}

/** A track's masks, per frame; null where it is absent (no mask, or an empty one). */
type TrackMasks = (Rle | null)[];

/** Counts identity switches and matched GT frames (see the module comment). */
export function identitySwitches(
  gt: YtvisDataset,
  results: readonly YtvisResult[],
  options: IdentityOptions = {},
): IdentityReport {
  const scoreThreshold = options.scoreThreshold ?? IDENTITY_SCORE_THRESHOLD;
  const iouThreshold = options.iouThreshold ?? IDENTITY_IOU_THRESHOLD;
  const tally = {
    gtTracks: 0,
    resultTracks: 0,
    gtFrames: 0,
    matchedFrames: 0,
    switches: 0,
    switchesAfterGap: 0,
    tracksWithSwitches: 0,
  };

  const videoById = new Map(gt.videos.map((v) => [v.id, v]));
  const gtsOf = new Map<number, TrackMasks[]>();
  gt.annotations.forEach((annotation, i) => {
    if (annotation.iscrowd) return;
    const video = videoById.get(annotation.video_id);
    if (!video) return; // not a video of the GT: the evaluators skip it too
    const masks = annotation.segmentations.map((segm, f) =>
      present(segm, video.height, video.width, `annotations[${i}].segmentations[${f}]`, options.gtFile),
    );
    if (!masks.some((m) => m !== null)) return;
    pushTo(gtsOf, annotation.video_id, masks);
  });

  // One track per distinct segmentation list of a video, kept when one of its entries passes.
  const seen = new Set<string>();
  const resultsOf = new Map<number, TrackMasks[]>();
  results.forEach((result, i) => {
    if (result.score < scoreThreshold) return;
    const key = `${result.video_id} ${JSON.stringify(result.segmentations)}`;
    if (seen.has(key)) return;
    seen.add(key);
    const video = videoById.get(result.video_id);
    if (!video) return;
    const masks = result.segmentations.map((segm, f) =>
      present(segm, video.height, video.width, `[${i}].segmentations[${f}]`, options.resultsFile),
    );
    pushTo(resultsOf, result.video_id, masks);
  });

  for (const video of gt.videos) {
    const gts = gtsOf.get(video.id) ?? [];
    const dts = resultsOf.get(video.id) ?? [];
    tally.gtTracks += gts.length;
    tally.resultTracks += dts.length;
    const last = new Array<number>(gts.length).fill(-1);
    const lastFrame = new Array<number>(gts.length).fill(-1);
    const switched = new Uint8Array(gts.length);
    for (let f = 0; f < video.length; f++) {
      const g = gts.flatMap((track, k) => (track[f] ? [k] : []));
      if (g.length === 0) continue;
      tally.gtFrames += g.length;
      const d = dts.flatMap((track, k) => (track[f] ? [k] : []));
      const ious = iou(
        d.map((k) => dts[k][f]!),
        g.map((k) => gts[k][f]!),
      );
      for (const [row, col] of matchFrame(ious, g, d, last, iouThreshold)) {
        const gk = g[col];
        const dk = d[row];
        tally.matchedFrames++;
        if (last[gk] !== -1 && last[gk] !== dk) {
          tally.switches++;
          if (lastFrame[gk] < f - 1) tally.switchesAfterGap++;
          switched[gk] = 1;
        }
        last[gk] = dk;
        lastFrame[gk] = f;
      }
    }
    for (const flag of switched) tally.tracksWithSwitches += flag;
  }

  return {
    scoreThreshold,
    iouThreshold,
    gtTracks: tally.gtTracks,
    resultTracks: tally.resultTracks,
    gtFrames: tally.gtFrames,
    matchedFrames: tally.matchedFrames,
    matchedFraction: tally.gtFrames > 0 ? tally.matchedFrames / tally.gtFrames : 0,
    switches: tally.switches,
    switchesPerTrack: tally.gtTracks > 0 ? tally.switches / tally.gtTracks : 0,
    tracksWithSwitches: tally.tracksWithSwitches,
    switchesAfterGap: tally.switchesAfterGap,
    classFlicker: null,
  };
}

/**
 * One frame's matches [row of `ious` (result), column (GT)]: first every GT's last result where the pair
 * still passes, then the Hungarian method on the rest.
 */
function matchFrame(
  ious: readonly (readonly number[])[],
  g: readonly number[],
  d: readonly number[],
  last: readonly number[],
  iouThreshold: number,
): [number, number][] {
  const pairs: [number, number][] = [];
  const rowTaken = new Set<number>();
  const colTaken = new Set<number>();
  g.forEach((gk, col) => {
    const row = d.indexOf(last[gk]);
    if (row >= 0 && ious[row][col] >= iouThreshold) {
      pairs.push([row, col]);
      rowTaken.add(row);
      colTaken.add(col);
    }
  });
  const rows = d.flatMap((_, row) => (rowTaken.has(row) ? [] : [row]));
  const cols = g.flatMap((_, col) => (colTaken.has(col) ? [] : [col]));
  if (rows.length === 0 || cols.length === 0) return pairs;
  // Costs 1 − IoU ∈ [0, 1]; a failing pair costs more than any set of passing ones saves, so the
  // assignment has the most passing pairs, and of those the highest total IoU.
  const forbidden = Math.min(rows.length, cols.length) + 1;
  const cost = rows.map((row) =>
    cols.map((col) => (ious[row][col] >= iouThreshold ? 1 - ious[row][col] : forbidden)),
  );
  const assignment = linearSumAssignment(cost);
  assignment.rows.forEach((r, k) => {
    const row = rows[r];
    const col = cols[assignment.cols[k]];
    if (ious[row][col] >= iouThreshold) pairs.push([row, col]);
  });
  return pairs;
}

/** A frame's mask when it is present and not empty, else null. */
function present(segm: YtvisSegmentation | undefined, h: number, w: number, where: string, file?: string) {
  if (segm === null || segm === undefined || (Array.isArray(segm) && segm.length === 0)) return null;
  const rle = fromSegmentation(segm, h, w, where, file);
  return area(rle) > 0 ? rle : null;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The report in one line, e.g. `identity: 3 switches over 12 GT tracks (0.250 per track, …)`. */
export function identityLine(report: IdentityReport): string {
  return (
    `identity (GT association, mask IoU ≥ ${report.iouThreshold.toFixed(2)}, result tracks scoring ≥ ` +
    `${report.scoreThreshold.toFixed(2)}): ${report.switches} switches over ${report.gtTracks} GT tracks ` +
    `(${report.switchesPerTrack.toFixed(3)} per track, ${report.tracksWithSwitches} tracks with a switch, ` +
    `${report.switchesAfterGap} after a gap); ` +
    `${(100 * report.matchedFraction).toFixed(1)} % of ${report.gtFrames} GT frames matched; ` +
    "class flicker: n/a (one category per VIS track)"
  );
}
