/**
 * `vidseg synth vis`: writes a synthetic video-instance-segmentation benchmark in the YouTube-VIS
 * layout, with OVIS occlusion labels:
 *
 *   <out>/<split>/JPEGImages/<video>/<frame>.jpg   (or .png)
 *   <out>/<split>.json                              annotations (valid keeps its GT)
 *   <out>/stats.json                                summary statistics per split
 *
 * Frames are rendered, encoded and written one at a time, and each track keeps only its per-frame RLE
 * strings, so memory stays bounded for videos of thousands of frames. The GT masks are the renderer's
 * label map (the visible pixels after depth-ordered occlusion), so they are exact by construction.
 */
import { join } from "node:path";
import sharp from "sharp";
import { writeFileAtomic, writeJsonAtomic } from "../core/fs.js";
import {
  encodeFrames,
  writeYtvis,
  type OcclusionLabel,
  type YtvisAnnotation,
  type YtvisCategory,
  type YtvisDataset,
  type YtvisInfo,
  type YtvisVideo,
} from "../formats/ytvis.js";
import { splitVideos, totalVideos, type SynthOptions } from "./options.js";
import { SceneRenderer, type RenderedFrame } from "./render.js";
import { planScene, type Scene } from "./scene.js";
import { CATEGORIES } from "./shapes.js";
import { splitStats, VideoStatsCollector, type SplitStats, type VideoStats } from "./stats.js";

export type Split = "train" | "valid";

/** The `info` block of a generated annotation file: the standard fields plus every knob. */
export interface SynthInfo extends YtvisInfo {
  synth: SynthOptions & { split: Split; generator: string };
}

export interface VisRunOptions {
  splits: readonly Split[];
  /** Called after each video with the number of videos done and the total over all splits. */
  onVideo?: (done: number, total: number) => void;
}

export interface VisRunResult {
  datasets: Partial<Record<Split, YtvisDataset>>;
  stats: Partial<Record<Split, SplitStats>>;
}

/** Frame file name inside a video folder: zero-padded so that names sort in frame order. */
export function frameFileName(t: number, format: string): string {
  return `${String(t).padStart(5, "0")}.${format}`;
}

/** The categories of every synthetic dataset: ids 1.. in CATEGORIES order. */
export function synthCategories(): YtvisCategory[] {
  return CATEGORIES.map((name, k) => ({ id: k + 1, name, supercategory: "shape" }));
}

/** Encodes a rendered frame as JPEG or PNG. sharp's encoders are deterministic for the same pixels. */
export async function encodeFrame(frame: RenderedFrame, options: SynthOptions): Promise<Buffer> {
  const image = sharp(frame.rgb, { raw: { width: options.width, height: options.height, channels: 3 } });
  return options.format === "png"
    ? image.png({ compressionLevel: 6 }).toBuffer()
    : image.jpeg({ quality: options.jpegQuality, chromaSubsampling: "4:4:4" }).toBuffer();
}

/** How many frames may be encoding/writing at once (sharp encodes on libuv's thread pool). */
const WRITES_IN_FLIGHT = 4;

/**
 * Renders one video, writes its frames under `imagesDir/<video name>/` and returns its video entry,
 * its annotations (ids from `firstAnnotationId`) and its statistics. Objects never visible get no
 * annotation.
 */
export async function writeVideo(
  scene: Scene,
  options: SynthOptions,
  imagesDir: string,
  videoId: number,
  firstAnnotationId: number,
): Promise<{ video: YtvisVideo; annotations: YtvisAnnotation[]; stats: VideoStats }> {
  const { width: W, height: H, frames: T } = options;
  const renderer = new SceneRenderer(scene);
  const collector = new VideoStatsCollector(scene);
  const tracks = scene.objects.map(() => ({
    segmentations: [] as YtvisAnnotation["segmentations"],
    areas: [] as YtvisAnnotation["areas"],
    bboxes: [] as YtvisAnnotation["bboxes"],
    occlusion: [] as (OcclusionLabel | null)[],
  }));
  const fileNames: string[] = [];
  const inFlight: Promise<void>[] = [];

  for (let t = 0; t < T; t++) {
    const frame = renderer.render(t);
    const labels = collector.addFrame(t, frame);
    // One mask per visible object, from a single pass over the label map.
    const masks: (Uint8Array | null)[] = scene.objects.map((o) =>
      frame.visibleArea[o.id] > 0 ? new Uint8Array(W * H) : null,
    );
    for (let p = 0; p < W * H; p++) {
      const id = frame.labels[p];
      if (id !== 0) masks[id - 1]![p] = 1;
    }
    scene.objects.forEach((object, i) => {
      const encoded = encodeFrames([masks[i]], H, W);
      tracks[i].segmentations.push(encoded.segmentations[0]);
      tracks[i].areas.push(encoded.areas[0]);
      tracks[i].bboxes.push(encoded.bboxes[0]);
      tracks[i].occlusion.push(labels[object.id]);
    });

    const name = `${scene.name}/${frameFileName(t, options.format)}`;
    fileNames.push(name);
    const write = encodeFrame(frame, options).then((bytes) => writeFileAtomic(join(imagesDir, name), bytes));
    // Errors surface when the write is awaited below (in order); the no-op handler only keeps Node from
    // reporting a rejection that happens before then as unhandled.
    write.catch(() => undefined);
    inFlight.push(write);
    if (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift();
  }
  for (const write of inFlight) await write;

  const stats = collector.finish();
  const annotations: YtvisAnnotation[] = [];
  scene.objects.forEach((object, i) => {
    if (tracks[i].areas.every((a) => a === null)) return;
    annotations.push({
      id: firstAnnotationId + annotations.length,
      video_id: videoId,
      category_id: object.category + 1,
      segmentations: tracks[i].segmentations,
      areas: tracks[i].areas,
      bboxes: tracks[i].bboxes,
      iscrowd: 0,
      height: H,
      width: W,
      length: T,
      occlusion: tracks[i].occlusion,
    });
  });
  return {
    video: { id: videoId, width: W, height: H, length: T, file_names: fileNames },
    annotations,
    stats,
  };
}

/** Generates the requested splits under `out`; returns the datasets (as written) and their statistics. */
export async function generateVisDataset(
  options: SynthOptions,
  out: string,
  run: VisRunOptions,
): Promise<VisRunResult> {
  const result: VisRunResult = { datasets: {}, stats: {} };
  const total = totalVideos(options, run.splits);
  let done = 0;
  for (const split of run.splits) {
    const videos: YtvisVideo[] = [];
    const annotations: YtvisAnnotation[] = [];
    const perVideo: VideoStats[] = [];
    for (let index = 0; index < splitVideos(options, split); index++) {
      const scene = planScene(options, split, index);
      const written = await writeVideo(
        scene,
        options,
        join(out, split, "JPEGImages"),
        index + 1,
        annotations.length + 1,
      );
      videos.push(written.video);
      annotations.push(...written.annotations);
      perVideo.push(written.stats);
      run.onVideo?.(++done, total);
    }
    const info: SynthInfo = {
      description: `vidseg synthetic video instance segmentation (preset ${options.preset}, ${split} split)`,
      version: "1.0",
      contributor: "vidseg synth vis",
      synth: { ...options, split, generator: "vidseg synth vis 1" },
    };
    const dataset: YtvisDataset = { info, videos, categories: synthCategories(), annotations };
    await writeYtvis(join(out, `${split}.json`), dataset);
    result.datasets[split] = dataset;
    result.stats[split] = splitStats(perVideo);
  }
  await writeJsonAtomic(join(out, "stats.json"), result.stats, 2);
  return result;
}
