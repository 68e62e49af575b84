/**
 * The tune-vis job (`vidseg tune vis`): chooses the online tracker's association settings (minimum
 * embedding similarity, memory momentum, longest gap a track survives, weight of the box cue) on a
 * YouTube-VIS / OVIS split and stores them in a copy of
 * the model file, so that `vidseg infer vis`, the API and the demo run the model as it was tuned.
 *
 * The network runs once per frame; every grid point's tracker follows the same outputs
 * (`OnlineSegmenter` `trackerVariants`), so a 20-point grid costs about one inference pass plus the
 * evaluations. Written to the output folder:
 *
 *   <out>/model.safetensors   the model (same tensors) with the chosen `inference.minSimilarity`, …
 *   <out>/tuning.json         every grid point's AP, AP50, AP75, AR10 and identity switches per GT track
 *   <out>/results.json        the chosen settings' results on the split
 *
 * Tune on a split the model is scored on later only if you say so: choose on a tuning split, then score
 * on another.
 */
import { join } from "node:path";
import { VidsegError, check } from "../core/errors.js";
import { writeFileAtomic, writeJsonAtomic } from "../core/fs.js";
import { identitySwitches } from "../eval/identity.js";
import { evaluateYtvis } from "../eval/ytvis.js";
import { readYtvis, writeResults, type YtvisResult } from "../formats/ytvis.js";
import { locateVisSplit } from "../formats/ytvis-layout.js";
import { OnlineSegmenter, type TrackerSettings } from "../infer/online-segmenter.js";
import { openYtvisSplit } from "../infer/sources.js";
import { disposeModelFile, encodeModelFile, readModelFile } from "../models/model-file.js";
import { isOnnxPath } from "../models/onnx-file.js";
import { initRuntime } from "../runtime/backend.js";
import type { JobProgress } from "./progress.js";

/** The grid `vidseg tune vis` searches by default. */
export const DEFAULT_MIN_SIMILARITY = [0.3, 0.4, 0.5, 0.6, 0.7] as const;
export const DEFAULT_MOMENTUM = [0, 0.5, 0.7, 0.9] as const;
export const DEFAULT_MAX_GAP = [10] as const;
export const DEFAULT_BOX_IOU_WEIGHT = [0, 0.5] as const;

export interface TuneVisOptions {
  /** Online model file, run folder or training checkpoint (a `.safetensors`: the job writes one). */
  checkpoint: string;
  /** YouTube-VIS / OVIS split: root, split folder or annotation JSON, with its GT. */
  input: string;
  out: string;
  /** Split of a root holding several (default "valid"). */
  split?: string;
  /** Frames folder of an annotation JSON, when it is not next to it. */
  images?: string;
  /** Values tried for `inference.minSimilarity` (default {@link DEFAULT_MIN_SIMILARITY}). */
  minSimilarity?: readonly number[];
  /** Values tried for `inference.momentum` (default {@link DEFAULT_MOMENTUM}). */
  momentum?: readonly number[];
  /** Values tried for `inference.maxGap` (default {@link DEFAULT_MAX_GAP}). */
  maxGap?: readonly number[];
  /** Values tried for `inference.boxIouWeight` (default {@link DEFAULT_BOX_IOU_WEIGHT}). */
  boxIouWeight?: readonly number[];
  /** Called after every frame. */
  onProgress?: (progress: JobProgress) => void;
}

/** One grid point's figures on the split. */
export interface TuningPoint extends TrackerSettings {
  AP: number;
  AP50: number;
  AP75: number;
  AR10: number;
  /** Identity switches per GT track, with GT association (eval/identity.ts). */
  switchesPerTrack: number;
}

export interface TuneVisSummary {
  checkpoint: string;
  /** The split's annotation file. */
  split: string;
  videos: number;
  frames: number;
  /** OVIS evaluation (the GT has occlusion labels) or YouTube-VIS. */
  evaluation: "ovis" | "ytvis";
  /** The model file's settings before tuning, and their figures (always on the grid). */
  before: TuningPoint;
  /** The best AP on the grid (the first in grid order among equals, the file's own settings first). */
  chosen: TuningPoint;
  grid: TuningPoint[];
  model: string;
  results: string;
  seconds: number;
}

/** The grid in search order: the file's own settings first, then by minSimilarity, momentum, … */
function searchGrid(
  before: TrackerSettings,
  axes: { [K in keyof TrackerSettings]: readonly number[] },
): TrackerSettings[] {
  const keys = Object.keys(axes) as (keyof TrackerSettings)[];
  let points = [{}] as TrackerSettings[];
  for (const key of keys) points = points.flatMap((p) => axes[key].map((v) => ({ ...p, [key]: v })));
  const same = (p: TrackerSettings) => keys.every((key) => p[key] === before[key]);
  return [before, ...points.filter((p) => !same(p))];
}

export async function tuneVis(options: TuneVisOptions): Promise<TuneVisSummary> {
  const started = performance.now();
  if (isOnnxPath(options.checkpoint)) {
    throw new VidsegError(
      "tune vis writes a model file: give the .safetensors model it was exported from",
      options.checkpoint,
    );
  }
  const minSimilarity = options.minSimilarity ?? DEFAULT_MIN_SIMILARITY;
  const momentum = options.momentum ?? DEFAULT_MOMENTUM;
  const maxGap = options.maxGap ?? DEFAULT_MAX_GAP;
  const boxIouWeight = options.boxIouWeight ?? DEFAULT_BOX_IOU_WEIGHT;
  for (const s of minSimilarity) check(s >= -1 && s <= 1, `must be in [-1, 1], got ${s}`, "--min-similarity");
  for (const m of momentum) check(m >= 0 && m < 1, `must be in [0, 1), got ${m}`, "--momentum");
  for (const g of maxGap)
    check(Number.isInteger(g) && g >= 0, `must be an integer ≥ 0, got ${g}`, "--max-gap");
  const paths = locateVisSplit(options.input, options);
  if (!paths) throw new VidsegError("not a YouTube-VIS split (tuning needs its GT)", options.input);
  const gt = await readYtvis(paths.annotationFile);
  check(gt.videos.length > 0, "the split has no videos", paths.annotationFile);
  const occlusion = gt.annotations.length > 0 && gt.annotations.every((a) => a.occlusion !== undefined);

  await initRuntime();
  const modelFile = await readModelFile(options.checkpoint);
  const info = modelFile.info;
  if (info.kind !== "online") {
    disposeModelFile(modelFile);
    throw new VidsegError(
      `holds a model of kind "${info.kind}", expected online (only the online model has a tracker)`,
      modelFile.file,
      "__metadata__.info.kind",
    );
  }
  const stored = info.config.inference;
  const before: TrackerSettings = {
    minSimilarity: stored.minSimilarity,
    momentum: stored.momentum,
    maxGap: stored.maxGap,
    boxIouWeight: stored.boxIouWeight,
  };
  const grid = searchGrid(before, { minSimilarity, momentum, maxGap, boxIouWeight });
  const segmenter = OnlineSegmenter.fromModelFile(modelFile, {
    collectResults: true,
    syntheticInput: true,
    trackerVariants: grid.slice(1), // grid[0], the file's settings, is the segmenter's own tracker
  });
  const { videos } = await openYtvisSplit(paths.annotationFile, paths.imagesDir);
  const total = gt.videos.reduce((n, v) => n + v.length, 0);
  const results: YtvisResult[][] = grid.map(() => []);
  let frames = 0;
  try {
    for (const { video, frames: open } of videos) {
      segmenter.reset();
      for await (const frame of await open()) {
        await segmenter.segmentForVideoAsync(frame, frame.timestampMs);
        frames++;
        const seconds = (performance.now() - started) / 1000;
        options.onProgress?.({
          done: frames,
          total,
          rate: seconds > 0 ? frames / seconds : 0,
          unit: "frames",
        });
      }
      [segmenter.finish(video.id), ...segmenter.finishVariants(video.id)].forEach((videoResults, i) => {
        for (const result of videoResults) {
          while (result.segmentations.length < video.length) result.segmentations.push(null);
          results[i].push(result);
        }
      });
    }
  } finally {
    segmenter.dispose();
  }

  const points: TuningPoint[] = grid.map((settings, i) => {
    const { stats } = evaluateYtvis(gt, results[i], { occlusion, gtFile: paths.annotationFile });
    const identity = identitySwitches(gt, results[i], { gtFile: paths.annotationFile });
    return {
      ...settings,
      AP: stats.AP,
      AP50: stats.AP50,
      AP75: stats.AP75,
      AR10: stats.AR10,
      switchesPerTrack: identity.switchesPerTrack,
    };
  });
  let best = 0;
  points.forEach((point, i) => {
    if (point.AP > points[best].AP) best = i;
  });
  const model = join(options.out, "model.safetensors");
  const resultsFile = join(options.out, "results.json");
  // Read again: the segmenter freed the weights it was built from.
  const tuned = await readModelFile(options.checkpoint);
  try {
    const inference = { ...tuned.info.config.inference, ...grid[best] };
    await writeFileAtomic(
      model,
      encodeModelFile(tuned.weights, { ...tuned.info, config: { ...tuned.info.config, inference } }),
    );
  } finally {
    disposeModelFile(tuned);
  }
  await writeResults(resultsFile, results[best]);
  const summary: TuneVisSummary = {
    checkpoint: options.checkpoint,
    split: paths.annotationFile,
    videos: gt.videos.length,
    frames,
    evaluation: occlusion ? "ovis" : "ytvis",
    before: points[0],
    chosen: points[best],
    grid: points,
    model,
    results: resultsFile,
    seconds: (performance.now() - started) / 1000,
  };
  await writeJsonAtomic(join(options.out, "tuning.json"), summary, 2);
  return summary;
}

/** Human-readable lines: the grid as a table, then what was chosen and written. */
export function tuneVisSummaryText(summary: TuneVisSummary): string[] {
  const f = (v: number) => v.toFixed(3);
  const settings = (p: TrackerSettings) =>
    `minSimilarity ${p.minSimilarity}, momentum ${p.momentum}, maxGap ${p.maxGap}, boxIouWeight ${p.boxIouWeight}`;
  const lines = ["minSimilarity momentum maxGap boxIouWeight     AP   AP50   AP75   AR10  IDSW/track"];
  for (const p of summary.grid) {
    const columns = [
      p.minSimilarity.toString().padStart(13),
      p.momentum.toString().padStart(8),
      p.maxGap.toString().padStart(6),
      p.boxIouWeight.toString().padStart(12),
      ...[p.AP, p.AP50, p.AP75, p.AR10].map((v) => f(v).padStart(6)),
      p.switchesPerTrack.toFixed(2).padStart(11),
    ];
    lines.push(columns.join(" ") + (p === summary.chosen ? " *" : ""));
  }
  const { before, chosen } = summary;
  lines.push(
    `chosen on ${summary.split} (${summary.videos} videos, ${summary.frames} frames, ${summary.evaluation} AP): ` +
      `${settings(chosen)}: AP ${f(chosen.AP)} (the file's ${settings(before)}: ${f(before.AP)})`,
    `model: ${summary.model}`,
    `results: ${summary.results}, grid: tuning.json`,
  );
  return lines;
}
