/**
 * YouTube-VIS 2019/2021/2022 and OVIS annotation JSON, and the YouTube-VIS results JSON: a typed
 * in-memory model, validating readers and atomic writers.
 *
 * Annotation JSON: {info?, licenses?, videos, categories, annotations}. An annotation is one object
 * track: per frame a segmentation (null where the object is absent, else compressed RLE, uncompressed
 * RLE or polygons), an area (null where absent) and a box (null where absent). OVIS adds per-frame
 * occlusion labels. Results JSON: [{video_id, category_id, score, segmentations}].
 */
import { writeJsonAtomic } from "../core/fs.js";
import { area, encode, toBbox, toCoco, type Bbox, type CocoRle } from "../mask/rle.js";

/** Polygons of one frame: a list of parts, each [x0, y0, x1, y1, …]. */
export type Polygons = number[][];

/** One frame of a track: absent (null), an RLE (compressed or uncompressed) or polygons. */
export type YtvisSegmentation = CocoRle | Polygons | null;

/** OVIS per-frame occlusion label (null where the frame is unlabelled). */
export type OcclusionLabel = "no_occlusion" | "slight_occlusion" | "severe_occlusion";

export const OCCLUSION_LABELS: readonly OcclusionLabel[] = [
  "no_occlusion",
  "slight_occlusion",
  "severe_occlusion",
];

export interface YtvisInfo {
  description?: string;
  url?: string;
  version?: string;
  year?: number | string;
  contributor?: string;
  date_created?: string;
}

export interface YtvisLicense {
  id?: number;
  name?: string;
  url?: string;
}

export interface YtvisVideo {
  id: number;
  width: number;
  height: number;
  length: number;
  file_names: string[];
  license?: number;
  flickr_url?: string;
  coco_url?: string;
  date_captured?: string;
}

export interface YtvisCategory {
  id: number;
  name: string;
  supercategory?: string;
}

export interface YtvisAnnotation {
  id: number;
  video_id: number;
  category_id: number;
  /** One entry per frame of the video. */
  segmentations: YtvisSegmentation[];
  /** Per-frame areas as stored in the file (the evaluator reads these, it does not recompute them). */
  areas: (number | null)[];
  bboxes: (Bbox | null)[];
  iscrowd: number;
  height: number;
  width: number;
  length: number;
  /** OVIS only. */
  occlusion?: (OcclusionLabel | null)[];
}

export interface YtvisDataset {
  info?: YtvisInfo;
  licenses?: YtvisLicense[];
  videos: YtvisVideo[];
  categories: YtvisCategory[];
  annotations: YtvisAnnotation[];
}

/** One detected track, as submitted to the YouTube-VIS / OVIS servers. */
export interface YtvisResult {
  video_id: number;
  category_id: number;
  score: number;
  /** One entry per frame of the video; null where the track is absent. */
  segmentations: (CocoRle | null)[];
}

/** Writes an annotation file atomically (whole or not at all). */
export async function writeYtvis(path: string, dataset: YtvisDataset): Promise<void> {
  await writeJsonAtomic(path, dataset);
}

/** Writes a results file atomically. */
export async function writeResults(path: string, results: readonly YtvisResult[]): Promise<void> {
  await writeJsonAtomic(path, results);
}

/** Per-frame masks of one track: row-major h×w (non-zero = foreground), null where absent. */
export type FrameMasks = readonly (ArrayLike<number> | null)[];

/** Encodes per-frame masks as compressed RLEs with their areas and boxes (null where absent). */
export function encodeFrames(
  masks: FrameMasks,
  height: number,
  width: number,
): { segmentations: (CocoRle | null)[]; areas: (number | null)[]; bboxes: (Bbox | null)[] } {
  const segmentations: (CocoRle | null)[] = [];
  const areas: (number | null)[] = [];
  const bboxes: (Bbox | null)[] = [];
  for (const mask of masks) {
    if (mask === null) {
      segmentations.push(null);
      areas.push(null);
      bboxes.push(null);
      continue;
    }
    const rle = encode(mask, height, width);
    segmentations.push(toCoco(rle));
    areas.push(area(rle));
    bboxes.push(toBbox(rle));
  }
  return { segmentations, areas, bboxes };
}

/** Builds a GT annotation (track) from per-frame masks. */
export function annotationFromMasks(options: {
  id: number;
  videoId: number;
  categoryId: number;
  masks: FrameMasks;
  height: number;
  width: number;
  iscrowd?: number;
  occlusion?: (OcclusionLabel | null)[];
}): YtvisAnnotation {
  const { segmentations, areas, bboxes } = encodeFrames(options.masks, options.height, options.width);
  const annotation: YtvisAnnotation = {
    id: options.id,
    video_id: options.videoId,
    category_id: options.categoryId,
    segmentations,
    areas,
    bboxes,
    iscrowd: options.iscrowd ?? 0,
    height: options.height,
    width: options.width,
    length: options.masks.length,
  };
  if (options.occlusion) annotation.occlusion = options.occlusion;
  return annotation;
}

/** Builds a result (detected track) from per-frame masks. */
export function resultFromMasks(options: {
  videoId: number;
  categoryId: number;
  score: number;
  masks: FrameMasks;
  height: number;
  width: number;
}): YtvisResult {
  return {
    video_id: options.videoId,
    category_id: options.categoryId,
    score: options.score,
    segmentations: encodeFrames(options.masks, options.height, options.width).segmentations,
  };
}
