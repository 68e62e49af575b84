/**
 * `--preview`: a contact sheet (PNG) and an animation (GIF) of a few generated videos with their GT
 * drawn over them. Both are built from the files as written (the encoded frames and the annotation
 * JSON's RLEs), so they show what a loader will see, not what the generator meant to write.
 */
import { join } from "node:path";
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
  const image = await readRgb(join(imagesDir, video.file_names[t]));
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

function scaleMask(mask: Uint8Array, width: number, height: number, zoom: number): Uint8Array {
  if (zoom === 1) return mask;
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

/**
 * Writes `<out>/preview/<split>-sheet.png` (rows = videos, columns = evenly spaced frames) and
 * `<out>/preview/<split>.gif` (the videos side by side). Returns the written paths.
 */
export async function writePreview(
  out: string,
  split: string,
  dataset: YtvisDataset,
  options: PreviewOptions = {},
): Promise<string[]> {
  const imagesDir = join(out, split, "JPEGImages");
  const count = Math.min(options.videos ?? 4, dataset.videos.length);
  const columns = options.columns ?? 8;
  if (count === 0) return [];
  const { width, height } = dataset.videos[0];
  const zoom = zoomFor(width, height);

  const rows: RgbImage[][] = [];
  const captions: string[] = [];
  for (let v = 0; v < count; v++) {
    const video = dataset.videos[v];
    const frames = Math.min(columns, video.length);
    const picks = Array.from({ length: frames }, (_, i) =>
      frames === 1 ? 0 : Math.round((i * (video.length - 1)) / (frames - 1)),
    );
    rows.push(await Promise.all(picks.map((t) => annotatedFrame(imagesDir, dataset, v, t, zoom))));
    const tracks = dataset.annotations.filter((a) => a.video_id === video.id).length;
    const folder = video.file_names[0].split("/")[0];
    captions.push(`${folder}: ${tracks} tracks, frames ${picks.join(" ")}`);
  }
  const sheetPath = join(out, "preview", `${split}-sheet.png`);
  await writePng(sheetPath, contactSheet(rows, { captions }));

  // The animation: the first videos side by side, frame by frame (frame t of each, while it lasts).
  const gifVideos = Math.min(count, 3);
  const length = Math.min(
    options.gifFrames ?? 120,
    Math.max(...dataset.videos.slice(0, gifVideos).map((v) => v.length)),
  );
  const animation: RgbImage[] = [];
  for (let t = 0; t < length; t++) {
    const tiles: RgbImage[] = [];
    for (let v = 0; v < gifVideos; v++) {
      tiles.push(
        await annotatedFrame(imagesDir, dataset, v, Math.min(t, dataset.videos[v].length - 1), zoom),
      );
    }
    animation.push(contactSheet([tiles], { gap: 2 }));
  }
  const gifPath = join(out, "preview", `${split}.gif`);
  await writeGif(animation, gifPath, 8);
  return [sheetPath, gifPath];
}
