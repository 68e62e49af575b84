/**
 * `--preview`: a contact sheet (PNG) and an animation (GIF) of a few generated videos with their GT
 * drawn over them. Both are built from the files as written (the encoded frames and the annotation
 * JSON's RLEs), so they show what a loader will see, not what the generator meant to write.
 */
import { join } from "node:path";
import { resolveInside } from "../core/paths.js";
import { readIndexedPng } from "../formats/png.js";
import {
  imagePath,
  metaExpressionsPath,
  objectMaskPath,
  readRefMetaExpressions,
} from "../formats/refytvos.js";
import type { OcclusionLabel, YtvisAnnotation, YtvisDataset } from "../formats/ytvis.js";
import { decode, fromCoco } from "../mask/rle.js";
import { writeGif } from "../viz/gif.js";
import { readRgb, scaleImage, writePng, type RgbImage } from "../viz/image.js";
import { overlayMasks } from "../viz/overlay.js";
import { contactSheet } from "../viz/sheet.js";

export interface PreviewOptions {
  /** Videos shown (the first ones of the split). */
  videos?: number;
  /** Frames per video on the contact sheet (evenly spaced). */
  columns?: number;
  /** Most frames in the animation. */
  gifFrames?: number;
}

const OCCLUSION_MARK: Record<OcclusionLabel, string> = {
  no_occlusion: "",
  slight_occlusion: " SL",
  severe_occlusion: " SEV",
};

/** Frame `t` of a video with its GT overlaid: colour by track id, label "id category [occlusion]". */
async function annotatedFrame(
  imagesDir: string,
  dataset: YtvisDataset,
  videoIndex: number,
  t: number,
  zoom: number,
): Promise<RgbImage> {
  const video = dataset.videos[videoIndex];
  const image = await readRgb(resolveInside(imagesDir, video.file_names[t]));
  const tracks = dataset.annotations.filter((a) => a.video_id === video.id);
  const names = new Map(dataset.categories.map((c) => [c.id, c.name]));
  const masks = tracks.map((a) => frameMask(a, t));
  const labels = tracks.map((a, i) => {
    const level = a.occlusion?.[t];
    return `${i + 1} ${names.get(a.category_id) ?? a.category_id}${level ? OCCLUSION_MARK[level] : ""}`;
  });
  const scaled = scaleImage(image, zoom);
  const scaledMasks = masks.map((m) => (m ? scaleMask(m, image.width, image.height, zoom) : null));
  return overlayMasks(scaled, scaledMasks, { labels, alpha: 0.4 });
}

/** The row-major mask of a track at frame t, or null where the track is absent. */
function frameMask(annotation: YtvisAnnotation, t: number): Uint8Array | null {
  const segmentation = annotation.segmentations[t];
  if (segmentation === null || Array.isArray(segmentation)) return null;
  return decode(fromCoco(segmentation));
}

function scaleMask(mask: ArrayLike<number>, width: number, height: number, zoom: number): Uint8Array {
  const out = new Uint8Array(width * zoom * height * zoom);
  for (let y = 0; y < height * zoom; y++) {
    for (let x = 0; x < width * zoom; x++) {
      out[y * width * zoom + x] = mask[Math.floor(y / zoom) * width + Math.floor(x / zoom)];
    }
  }
  return out;
}

/** Integer zoom that brings small frames to a viewable size (~256 px). */
function zoomFor(width: number, height: number): number {
  return Math.max(1, Math.floor(256 / Math.max(width, height)));
}

/** A video as the preview sees it: a caption and a way to draw frame t with its GT. */
interface PreviewVideo {
  caption: (frames: number[]) => string;
  length: number;
  frame: (t: number) => Promise<RgbImage>;
}

/**
 * Writes `<out>/preview/<name>-sheet.png` (rows = videos, columns = evenly spaced frames) and
 * `<out>/preview/<name>.gif` (the first three videos side by side, frame by frame).
 */
async function writeSheetAndGif(
  out: string,
  name: string,
  videos: readonly PreviewVideo[],
  options: PreviewOptions,
): Promise<string[]> {
  if (videos.length === 0) return [];
  const columns = options.columns ?? 8;
  const rows: RgbImage[][] = [];
  const captions: string[] = [];
  for (const video of videos) {
    const count = Math.min(columns, video.length);
    const picks = Array.from({ length: count }, (_, i) =>
      count === 1 ? 0 : Math.round((i * (video.length - 1)) / (count - 1)),
    );
    rows.push(await Promise.all(picks.map((t) => video.frame(t))));
    captions.push(video.caption(picks));
  }
  const sheetPath = join(out, "preview", `${name}-sheet.png`);
  await writePng(sheetPath, contactSheet(rows, { captions }));

  const shown = videos.slice(0, 3);
  const length = Math.min(options.gifFrames ?? 120, Math.max(...shown.map((v) => v.length)));
  const animation: RgbImage[] = [];
  for (let t = 0; t < length; t++) {
    const tiles = await Promise.all(shown.map((v) => v.frame(Math.min(t, v.length - 1))));
    animation.push(contactSheet([tiles], { gap: 2 }));
  }
  const gifPath = join(out, "preview", `${name}.gif`);
  await writeGif(animation, gifPath, 8);
  return [sheetPath, gifPath];
}

/**
 * The VIS preview of a split: every track in its own colour, labelled "track category [SL|SEV]" (the
 * OVIS occlusion level). Returns the written paths (`<out>/preview/<split>-sheet.png`, `<split>.gif`).
 */
export async function writePreview(
  out: string,
  split: string,
  dataset: YtvisDataset,
  options: PreviewOptions = {},
): Promise<string[]> {
  const imagesDir = join(out, split, "JPEGImages");
  const videos = dataset.videos.slice(0, options.videos ?? 4).map((video, v): PreviewVideo => {
    const zoom = zoomFor(video.width, video.height);
    const tracks = dataset.annotations.filter((a) => a.video_id === video.id).length;
    const folder = video.file_names[0].split("/")[0];
    return {
      caption: (frames) => `${folder}: ${tracks} tracks, frames ${frames.join(" ")}`,
      length: video.length,
      frame: (t) => annotatedFrame(imagesDir, dataset, v, t, zoom),
    };
  });
  return writeSheetAndGif(out, split, videos, options);
}

/**
 * The referring preview of a split in the Ref-YouTube-VOS layout: each object's mask (palette PNG) in
 * its id's colour, labelled with its id; the caption lists one expression per object.
 */
export async function writeReferPreview(
  out: string,
  split: string,
  options: PreviewOptions = {},
): Promise<string[]> {
  const splitRoot = join(out, split);
  const meta = await readRefMetaExpressions(metaExpressionsPath(splitRoot));
  const names = Object.keys(meta.videos)
    .sort()
    .slice(0, options.videos ?? 4);
  const videos = names.map((name): PreviewVideo => {
    const { frames, expressions } = meta.videos[name];
    const firstExpression = new Map<string, string>();
    for (const { exp, obj_id } of Object.values(expressions)) {
      if (!firstExpression.has(obj_id)) firstExpression.set(obj_id, exp);
    }
    const described = [...firstExpression.entries()].sort((a, b) => Number(a[0]) - Number(b[0]));
    return {
      caption: () => `${name}: ${described.map(([id, exp]) => `${id}: ${exp}`).join(" | ")}`,
      length: frames.length,
      frame: async (t) => {
        const image = await readRgb(imagePath(splitRoot, name, frames[t]));
        const labels = await readIndexedPng(objectMaskPath(splitRoot, name, frames[t]));
        const zoom = zoomFor(image.width, image.height);
        const ids = Array.from({ length: 256 }, (_, id) => (id > 0 ? String(id) : null));
        return overlayMasks(
          scaleImage(image, zoom),
          { data: scaleMask(labels.data, image.width, image.height, zoom) },
          {
            labels: ids,
            alpha: 0.4,
          },
        );
      },
    };
  });
  return writeSheetAndGif(out, `${split}-refer`, videos, options);
}
