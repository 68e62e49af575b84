/**
 * YouTube-VIS 2019/2021/2022 and OVIS annotation JSON, and the YouTube-VIS results JSON: a typed
 * in-memory model, validating readers and atomic writers.
 *
 * Annotation JSON: {info?, licenses?, videos, categories, annotations}. An annotation is one object
 * track: per frame a segmentation (null where the object is absent, else compressed RLE, uncompressed
 * RLE or polygons), an area (null where absent) and a box (null where absent). OVIS adds per-frame
 * occlusion labels. Results JSON: [{video_id, category_id, score, segmentations}].
 */
import { readJson, writeJsonAtomic } from "../core/fs.js";
import {
  area,
  encode,
  measureCountsString,
  sumRunList,
  toBbox,
  toCoco,
  type Bbox,
  type CocoRle,
} from "../mask/rle.js";
import { JsonChecker, showValue } from "./json-check.js";

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

// Readers --------------------------------------------------------------------------------------------

/** Reads and validates a YouTube-VIS / OVIS annotation file. */
export async function readYtvis(path: string): Promise<YtvisDataset> {
  return validateYtvis(await readJson(path), path);
}

/** What the readers check. */
export interface CheckOptions {
  /**
   * Check every frame's mask (default). Without, only the per-frame lists are checked (their length),
   * and each mask must be checked before it is used (`checkSegmentation`; the evaluator does, in
   * parallel).
   */
  masks?: boolean;
}

/** How strictly results are checked against the GT. */
export interface ResultsCheckOptions extends CheckOptions {
  /**
   * Reject results whose category is not in the GT. By default they are accepted, as the official
   * evaluators accept them (and never score them: `evaluateYtvis` counts them in `droppedResults`).
   */
  strict?: boolean;
}

/**
 * Reads and validates a results file. With `gt`, every result must name a video of the GT (and, with
 * `strict`, a category of the GT), and its segmentations must match the video's length and size.
 */
export async function readResults(
  path: string,
  gt?: YtvisDataset,
  options: ResultsCheckOptions = {},
): Promise<YtvisResult[]> {
  return validateResults(await readJson(path), path, gt, options);
}

/**
 * Checks that a parsed JSON document is a well-formed annotation file and returns it typed. Every problem
 * is one VidsegError naming `file` and the JSON path (e.g. `annotations[3].segmentations[7].counts`).
 */
export function validateYtvis(json: unknown, file?: string, options: CheckOptions = {}): YtvisDataset {
  const masks = options.masks ?? true;
  const v = new Validator(file);
  const root = v.object(json, "");
  const videos = v.array(root.videos, "videos");
  const categories = v.array(root.categories, "categories");
  // The official valid/test splits ship without GT: `"annotations": null`. Read them as no annotations.
  if (root.annotations === null || root.annotations === undefined) root.annotations = [];
  const annotations = v.array(root.annotations, "annotations");
  if (root.info !== undefined) v.object(root.info, "info");
  if (root.licenses !== undefined) v.array(root.licenses, "licenses");

  const videoById = new Map<number, YtvisVideo>();
  videos.forEach((raw, i) => {
    const where = `videos[${i}]`;
    const video = v.object(raw, where);
    const id = v.integer(video.id, `${where}.id`);
    v.fail(videoById.has(id), `duplicate video id ${id}`, `${where}.id`);
    v.integer(video.width, `${where}.width`, 1);
    v.integer(video.height, `${where}.height`, 1);
    const length = v.integer(video.length, `${where}.length`, 0);
    const fileNames = v.array(video.file_names, `${where}.file_names`);
    fileNames.forEach((name, f) => v.string(name, `${where}.file_names[${f}]`));
    v.fail(
      fileNames.length !== length,
      `video has ${fileNames.length} file_names but length ${length}`,
      `${where}.file_names`,
    );
    videoById.set(id, video as unknown as YtvisVideo);
  });

  const categoryIds = new Set<number>();
  categories.forEach((raw, i) => {
    const where = `categories[${i}]`;
    const category = v.object(raw, where);
    const id = v.integer(category.id, `${where}.id`);
    v.fail(categoryIds.has(id), `duplicate category id ${id}`, `${where}.id`);
    v.string(category.name, `${where}.name`);
    if (category.supercategory !== undefined) v.string(category.supercategory, `${where}.supercategory`);
    categoryIds.add(id);
  });

  const annotationIds = new Set<number>();
  annotations.forEach((raw, i) => {
    const where = `annotations[${i}]`;
    const annotation = v.object(raw, where);
    const id = v.integer(annotation.id, `${where}.id`);
    v.fail(annotationIds.has(id), `duplicate annotation id ${id}`, `${where}.id`);
    annotationIds.add(id);
    const videoId = v.integer(annotation.video_id, `${where}.video_id`);
    const video = videoById.get(videoId);
    if (!video)
      throw v.error(`annotation for video ${videoId}, which is not in 'videos'`, `${where}.video_id`);
    const categoryId = v.integer(annotation.category_id, `${where}.category_id`);
    v.fail(
      !categoryIds.has(categoryId),
      `annotation of category ${categoryId}, which is not in 'categories'`,
      `${where}.category_id`,
    );
    const iscrowd = annotation.iscrowd;
    v.fail(
      iscrowd !== 0 && iscrowd !== 1,
      `iscrowd must be 0 or 1, got ${showValue(iscrowd)}`,
      `${where}.iscrowd`,
    );
    for (const [key, expected] of [
      ["height", video.height],
      ["width", video.width],
      ["length", video.length],
    ] as const) {
      if (annotation[key] === undefined) annotation[key] = expected;
      else
        v.fail(
          annotation[key] !== expected,
          `${key} ${showValue(annotation[key])} disagrees with the video's ${key} ${expected}`,
          `${where}.${key}`,
        );
    }
    const segmentations = v.frames(annotation.segmentations, `${where}.segmentations`, video.length);
    if (masks)
      segmentations.forEach((segm, f) => v.segmentation(segm, `${where}.segmentations[${f}]`, video, true));
    const areas = v.frames(annotation.areas, `${where}.areas`, video.length);
    areas.forEach((a, f) => {
      if (a !== null) v.number(a, `${where}.areas[${f}]`);
    });
    const bboxes = v.frames(annotation.bboxes, `${where}.bboxes`, video.length);
    bboxes.forEach((box, f) => {
      if (box === null) return;
      const values = v.array(box, `${where}.bboxes[${f}]`);
      v.fail(
        values.length !== 4,
        () => `a box is [x, y, width, height], got ${values.length} numbers`,
        `${where}.bboxes[${f}]`,
      );
      values.forEach((x, c) => v.number(x, `${where}.bboxes[${f}][${c}]`));
    });
    if (annotation.occlusion !== undefined) {
      const labels = v.frames(annotation.occlusion, `${where}.occlusion`, video.length);
      labels.forEach((label, f) =>
        v.fail(
          label !== null && !OCCLUSION_LABELS.includes(label as OcclusionLabel),
          () =>
            `unknown occlusion label ${showValue(label)} (expected ${OCCLUSION_LABELS.join(", ")} or null)`,
          () => `${where}.occlusion[${f}]`,
        ),
      );
    }
  });
  return root as unknown as YtvisDataset;
}

/** Checks a parsed results document (see `readResults`). */
export function validateResults(
  json: unknown,
  file?: string,
  gt?: YtvisDataset,
  options: ResultsCheckOptions = {},
): YtvisResult[] {
  const v = new Validator(file);
  const results = v.array(json, "");
  const videoById = new Map(gt?.videos.map((video) => [video.id, video]));
  const categoryIds = new Set(gt?.categories.map((category) => category.id));
  results.forEach((raw, i) => {
    const where = `[${i}]`;
    const result = v.object(raw, where);
    const videoId = v.integer(result.video_id, `${where}.video_id`);
    const categoryId = v.integer(result.category_id, `${where}.category_id`);
    v.number(result.score, `${where}.score`);
    const video = videoById.get(videoId);
    if (gt) {
      if (!video) throw v.error(`result for video ${videoId}, which is not in the GT`, `${where}.video_id`);
      v.fail(
        options.strict === true && !categoryIds.has(categoryId),
        `result for category ${categoryId}, which is not in the GT`,
        `${where}.category_id`,
      );
    }
    const segmentations = v.frames(result.segmentations, `${where}.segmentations`, video?.length);
    if (options.masks ?? true)
      segmentations.forEach((segm, f) => v.segmentation(segm, `${where}.segmentations[${f}]`, video, false));
  });
  return results as unknown as YtvisResult[];
}

/**
 * The check of one frame's mask (GT annotation or result) that the readers skip with `masks: false`;
 * `where` names it (e.g. `annotations[3].segmentations[7]`).
 */
export function checkSegmentation(
  segm: unknown,
  video: YtvisVideo,
  { where, file, polygons }: { where: string; file?: string; polygons: boolean },
): void {
  new Validator(file).segmentation(segm, where, video, polygons);
}

/** The generic checks plus the YouTube-VIS per-frame ones. */
class Validator extends JsonChecker {
  /** A per-frame list: one entry per frame of the video when its length is known. */
  frames(value: unknown, where: string, length: number | undefined): unknown[] {
    const list = this.array(value, where);
    if (length !== undefined && list.length !== length)
      throw this.error(`has ${list.length} entries but the video has ${length} frames`, where);
    return list;
  }

  /**
   * One frame's segmentation: null, an RLE whose runs cover its size exactly (which must be the video's),
   * or (GT only) polygons of at least 3 points.
   */
  segmentation(segm: unknown, where: string, video: YtvisVideo | undefined, allowPolygons: boolean): void {
    if (segm === null) return;
    if (Array.isArray(segm)) {
      if (!allowPolygons)
        throw this.error("results must use RLE segmentations (or null), not polygons", where);
      segm.forEach((part, p) => {
        const xy = this.array(part, `${where}[${p}]`);
        xy.forEach((c, j) => this.number(c, `${where}[${p}][${j}]`));
        this.fail(
          xy.length < 6 || xy.length % 2 !== 0,
          () => `a polygon is [x0, y0, x1, y1, ...] with at least 3 points, got ${xy.length} numbers`,
          `${where}[${p}]`,
        );
      });
      return;
    }
    const rle = this.object(segm, where);
    const size = this.array(rle.size, `${where}.size`);
    this.fail(
      size.length !== 2,
      () => `size must be [height, width], got ${showValue(size)}`,
      () => `${where}.size`,
    );
    const h = this.integer(size[0], `${where}.size[0]`, 0);
    const w = this.integer(size[1], `${where}.size[1]`, 0);
    if (video)
      this.fail(
        h !== video.height || w !== video.width,
        () => `mask size ${h}×${w} disagrees with the video's ${video.height}×${video.width}`,
        () => `${where}.size`,
      );
    let total: number;
    if (typeof rle.counts === "string")
      total = measureCountsString(rle.counts, `${where}.counts`, this.file).total;
    else if (Array.isArray(rle.counts)) total = sumRunList(rle.counts, `${where}.counts`, this.file);
    else {
      throw this.error(
        rle.counts === undefined ? "missing field" : "RLE counts must be a string or a list of run lengths",
        `${where}.counts`,
      );
    }
    this.fail(
      total !== h * w,
      () => `malformed RLE counts: runs cover ${total} pixels but the mask has ${h}×${w} = ${h * w}`,
      () => `${where}.counts`,
    );
  }
}
