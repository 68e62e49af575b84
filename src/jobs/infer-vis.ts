/**
 * The infer-vis job (`vidseg infer vis`, the demo and batch workers call it): runs a VIS model over a video file, a frame folder or a YouTube-VIS split and
 * writes
 *
 *   <out>/results.json                            YouTube-VIS results (video_id 1 for a single video)
 *   <out>/Annotations/<video>/<frame>.png         with --png: indexed PNGs, palette index = track id
 *   <out>/overlay.gif (or .mp4)                   overlay animation of a single video
 *   <out>/overlays/<video>.gif (or .mp4)          … one per video of a split
 *
 * The online model streams: each frame is decoded, segmented, drawn and written before the next is
 * read, so memory stays bounded whatever the video length (the results keep only the top-k candidate
 * tracks' RLE strings; the animation is encoded frame by frame, see viz/animation.ts). The offline model
 * segments a whole video in clip windows, then the frames are read a second time for the PNGs and the
 * animation.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { VidsegError, check } from "../core/errors.js";
import { resolveInside } from "../core/paths.js";
import type { Frame } from "../core/image.js";
import { writeIndexedPng } from "../formats/png.js";
import { writeResults, type YtvisResult } from "../formats/ytvis.js";
import { locateVisSplit } from "../formats/ytvis-layout.js";
import { OfflineSegmenter, toYtvisResults } from "../infer/offline-segmenter.js";
import { OnlineSegmenter } from "../infer/online-segmenter.js";
import {
  imageFrames,
  listFrameFiles,
  openVideo,
  openYtvisSplit,
  type FrameSource,
} from "../infer/sources.js";
import { decode, fromCoco } from "../mask/rle.js";
import { disposeModelFile, readModelFile, type ModelInfo } from "../models/model-file.js";
import { isOnnxPath } from "../models/onnx-file.js";
import { isModelKind } from "../models/registry.js";
import { initRuntime } from "../runtime/backend.js";
import {
  checkAnimationRequest,
  checkMp4Encoder,
  animationGeometry,
  createAnimationWriter,
  defaultAnimationFormat,
  resampleNearest,
  type AnimationGeometry,
  MP4_MAX_SIDE,
  mp4EncoderAvailable,
  type AnimationFormat,
  type AnimationWriter,
} from "../viz/animation.js";
import type { RgbImage } from "../viz/image.js";
import { idColour, overlayMasks } from "../viz/overlay.js";
import type { JobProgress } from "./progress.js";
import { syntheticModelNotice } from "../infer/synthetic-notice.js";

export type ModelKind = "online" | "offline";
/** "auto": MP4 when ffmpeg can encode it, else a GIF for short videos, else none (viz/animation.ts). */
export type AnimationChoice = "auto" | "gif" | "mp4" | "none";

export interface InferVisOptions {
  /** Model file, run folder or training checkpoint. */
  checkpoint: string;
  /** Video file, frame folder, YouTube-VIS split root / split folder, or annotation JSON. */
  input: string;
  out: string;
  /** The kind the model file must hold (default: whatever it holds). */
  model?: ModelKind;
  /** Split read from a YouTube-VIS root holding several (default "valid"). */
  split?: string;
  /** Frames folder of an annotation JSON, when it is not next to it. */
  images?: string;
  png?: boolean;
  /** Default "auto". */
  animation?: AnimationChoice;
  /** A video that ends before its stated length, or that ffmpeg reports errors on, is an error. */
  strict?: boolean;
  /** Frame rate: resampling for videos, timestamps for frames, and the animation's rate. */
  fps?: number;
  /** At most this many frames per video. */
  maxFrames?: number;
  /** Offline model: instances drawn in the PNGs and the animation score at least this. Default 0.3. */
  scoreThreshold?: number;
  /** How masks are upsampled to the frame (edge-aware "guided", the default, or "bilinear"). */
  maskUpsampling?: "bilinear" | "guided";
  /** Results kept per video (default: the model file's `inference.topK`). */
  topK?: number;
  /** Offline model: per-frame masks from the frame queries above this IoU (OfflineSegmenterOptions). */
  frameMaskIou?: number;
  /** Offline model: video-level Soft-NMS threshold among a class's results (OfflineSegmenterOptions). */
  softNmsIou?: number;
  /** Online model: the tracker's smallest embedding similarity that continues a track (TrackerOptions). */
  minSimilarity?: number;
  /** Online model: the tracker's memory momentum (TrackerOptions). */
  momentum?: number;
  /** Online model: frames a track may be unseen and still continue (TrackerOptions). */
  maxGap?: number;
  /** Online model: weight of the tracker's box cue (TrackerOptions). */
  boxIouWeight?: number;
  /** onnxruntime's intra-op threads for an exported `.onnx` model (default: one per core). */
  threads?: number;
  /** Called after every frame. */
  onProgress?: (progress: JobProgress) => void;
  /** Notices worth a user's attention (e.g. a synthetic-only model on other input). */
  onWarning?: (message: string) => void;
}

export interface InferVideoSummary {
  id: number;
  name: string;
  frames: number;
  /** Result tracks written for the video. */
  results: number;
  animation?: string;
}

export interface InferVisSummary {
  model: ModelKind;
  input: string;
  inputKind: "video" | "frames" | "split";
  results: string;
  /** Folder of the indexed PNGs (with --png). */
  annotations?: string;
  videos: InferVideoSummary[];
  frames: number;
  seconds: number;
  framesPerSecond: number;
  /** Why an animation was or was not written, when the format was chosen automatically. */
  animationNote?: string;
}

/** One video to segment. */
interface VideoJob {
  id: number;
  /** Folder name of its PNGs / animation. */
  name: string;
  /** Frames the video has in the annotation file (results are padded with nulls to it), when known. */
  length?: number;
  open(): Promise<FrameSource>;
  /** PNG file name (without extension) of frame i. */
  frameName(index: number): string;
}

interface InputPlan {
  kind: InferVisSummary["inputKind"];
  videos: VideoJob[];
  /** Total frames to process, when known (for the progress bar). */
  totalFrames: number | undefined;
  /** The input is a benchmark made by `vidseg synth` (its annotation info says so). */
  synthetic: boolean;
  /** Frames of the longest video, when known, and the (first) video's size: to choose the animation. */
  longestVideo: number | undefined;
  width: number;
  height: number;
}

const stem = (file: string) => basename(file, extname(file));
const padded = (index: number) => String(index).padStart(5, "0");

/** Stops an async iterable after `max` items (breaking out ends the source, e.g. stops ffmpeg). */
async function* firstFrames(source: AsyncIterable<Frame>, max: number | undefined): AsyncGenerator<Frame> {
  if (max === undefined) {
    yield* source;
    return;
  }
  if (max <= 0) return;
  let count = 0;
  for await (const frame of source) {
    yield frame;
    if (++count >= max) return;
  }
}

/** Works out what the input is and how to read its videos; bad input fails here, before the model loads. */
async function planInput(options: InferVisOptions): Promise<InputPlan> {
  const input = options.input;
  if (!existsSync(input)) throw new VidsegError("input not found", input);
  const fps = options.fps;
  const max = options.maxFrames;
  const split = locateVisSplit(input, options);
  if (split) {
    const { dataset, videos } = await openYtvisSplit(split.annotationFile, split.imagesDir);
    const synthetic = (dataset.info as { synth?: unknown } | undefined)?.synth !== undefined;
    check(videos.length > 0, "the split has no videos", split.annotationFile);
    const jobs = videos.map(({ video, frames }) => ({
      id: video.id,
      name: video.file_names.length > 0 ? dirname(video.file_names[0]) : `video-${video.id}`,
      length: video.length,
      open: () => frames(fps === undefined ? {} : { fps }),
      frameName: (index: number) => stem(video.file_names[index]),
    }));
    const lengths = dataset.videos.map((v) => Math.min(v.length, max ?? Infinity));
    const { width, height } = dataset.videos[0];
    const totalFrames = lengths.reduce((n, length) => n + length, 0);
    return {
      kind: "split",
      videos: jobs,
      totalFrames,
      synthetic,
      longestVideo: Math.max(...lengths),
      width,
      height,
    };
  }
  if (statSync(input).isDirectory()) {
    const files = (await listFrameFiles(input)).slice(0, max);
    check(files.length > 0, "no frames to process (--max-frames 0)", input);
    const open = () => imageFrames(files, { name: input, ...(fps === undefined ? {} : { fps }) });
    const job: VideoJob = {
      id: 1,
      name: basename(resolve(input)),
      open,
      frameName: (index) => stem(files[index]),
    };
    const { width, height } = await open();
    return {
      kind: "frames",
      videos: [job],
      totalFrames: files.length,
      synthetic: false,
      longestVideo: files.length,
      width,
      height,
    };
  }
  // Anything else is a video for ffmpeg; probing now reports an unreadable file before the model loads.
  const source = await openVideo(input, {
    fps,
    maxFrames: max,
    strict: options.strict,
    onWarning: (warning) => options.onWarning?.(warning.message),
  });
  const job: VideoJob = { id: 1, name: stem(input), open: async () => source, frameName: padded };
  const frames = source.frameCount;
  return {
    kind: "video",
    videos: [job],
    totalFrames: frames,
    synthetic: false,
    longestVideo: frames,
    width: source.width,
    height: source.height,
  };
}

/** One instance to draw on a frame. */
interface DrawnInstance {
  trackId: number;
  text: string;
  mask: Uint8Array;
}

/** Palette of the indexed PNGs: index k has track k's overlay colour, so PNGs and animation agree. */
const TRACK_PALETTE: [number, number, number][] = Array.from({ length: 256 }, (_, k) => [...idColour(k)]);

/** The per-video outputs: indexed PNGs and the overlay animation, written frame by frame. */
class VideoOutputs {
  private geometry: AnimationGeometry | undefined;
  private readonly writer: AnimationWriter | undefined;

  constructor(
    private readonly job: VideoJob,
    private readonly pngDir: string | undefined,
    animationPath: string | undefined,
    animation: AnimationFormat | "none",
    fps: number,
    private readonly maxSide: number,
  ) {
    if (animationPath && animation !== "none")
      this.writer = createAnimationWriter(animation, animationPath, fps);
  }

  get animationPath(): string | undefined {
    return this.writer?.path;
  }

  get wanted(): boolean {
    return this.pngDir !== undefined || this.writer !== undefined;
  }

  /** `instances` best first; where masks overlap, the better instance wins. */
  async frame(frame: Frame, instances: readonly DrawnInstance[]): Promise<void> {
    const { width, height } = frame;
    if (this.pngDir) {
      const labels = new Uint8Array(width * height);
      for (let i = instances.length - 1; i >= 0; i--) {
        const value = Math.min(255, instances[i].trackId);
        const mask = instances[i].mask;
        for (let p = 0; p < labels.length; p++) if (mask[p]) labels[p] = value;
      }
      const file = resolveInside(this.pngDir, join(this.job.name, `${this.job.frameName(frame.index)}.png`));
      await writeIndexedPng(file, { width, height, data: labels }, TRACK_PALETTE);
    }
    if (this.writer) {
      const g = (this.geometry ??= animationGeometry(width, height, this.maxSide));
      const image: RgbImage = {
        width: g.width,
        height: g.height,
        data: resampleNearest(frame.data, width, g, 3),
      };
      const drawOrder = [...instances].reverse(); // overlayMasks draws later instances on top
      const overlaid = overlayMasks(
        image,
        drawOrder.map((instance) => resampleNearest(instance.mask, width, g, 1)),
        {
          colours: drawOrder.map((instance) => idColour(instance.trackId)),
          labels: drawOrder.map((instance) => instance.text),
          textScale: g.textScale,
        },
      );
      await this.writer.add(overlaid);
    }
  }

  async finish(): Promise<void> {
    if (this.writer && this.writer.frameCount > 0) await this.writer.finish();
  }

  async abort(): Promise<void> {
    await this.writer?.abort();
  }
}

function label(trackId: number, name: string, score: number): string {
  return `${trackId} ${name} ${score.toFixed(2)}`;
}

/** Pads each result's segmentations with nulls to the video's annotated length (after --max-frames). */
function padResults(results: YtvisResult[], length: number | undefined): YtvisResult[] {
  if (length === undefined) return results;
  for (const result of results) while (result.segmentations.length < length) result.segmentations.push(null);
  return results;
}

interface Segmenters {
  online?: OnlineSegmenter;
  offline?: OfflineSegmenter;
}

/** Streams one video through the online model; returns its results. */
async function segmentOnline(
  seg: OnlineSegmenter,
  job: VideoJob,
  source: AsyncIterable<Frame>,
  outputs: VideoOutputs,
  onFrame: () => void,
): Promise<YtvisResult[]> {
  seg.reset();
  for await (const frame of source) {
    const { instances } = await seg.segmentForVideoAsync(frame, frame.timestampMs);
    if (outputs.wanted) {
      await outputs.frame(
        frame,
        instances.map((instance) => ({
          trackId: instance.trackId,
          text: label(instance.trackId, instance.label ?? String(instance.categoryId), instance.score),
          mask: instance.mask,
        })),
      );
    }
    onFrame();
  }
  const results = seg.finish(job.id);
  seg.reset();
  return results;
}

/** Segments one video with the offline model, then draws its instances over a second pass of frames. */
async function segmentOffline(
  seg: OfflineSegmenter,
  names: readonly string[] | undefined,
  job: VideoJob,
  frames: () => AsyncIterable<Frame>,
  outputs: VideoOutputs,
  scoreThreshold: number,
  onFrame: () => void,
): Promise<YtvisResult[]> {
  async function* counted() {
    for await (const frame of frames()) {
      yield frame;
      onFrame();
    }
  }
  const video = await seg.segmentVideo(counted());
  if (outputs.wanted) {
    // One instance per track (its best class), the ones confident enough to draw, best first.
    const shown = new Map<number, (typeof video.instances)[number]>();
    for (const instance of video.instances) {
      if (instance.score >= scoreThreshold && !shown.has(instance.trackId))
        shown.set(instance.trackId, instance);
    }
    const drawn = [...shown.values()];
    for await (const frame of frames()) {
      const instances: DrawnInstance[] = [];
      for (const instance of drawn) {
        const rle = instance.masks[frame.index];
        if (!rle) continue;
        const name = names?.[instance.classIndex];
        instances.push({
          trackId: instance.trackId,
          text: label(instance.trackId, name ?? String(instance.categoryId), instance.score),
          mask: decode(fromCoco(rle)),
        });
      }
      await outputs.frame(frame, instances);
    }
  }
  return toYtvisResults(video, job.id);
}

/** Runs `vidseg infer vis` (see the module comment) and returns what it wrote. */
export async function inferVis(options: InferVisOptions): Promise<InferVisSummary> {
  const requested = options.animation ?? "auto";
  checkAnimationRequest(requested);
  if (options.model !== undefined)
    check(
      ["online", "offline"].includes(options.model),
      `expected online or offline, got "${options.model}"`,
      undefined,
      "--model",
    );
  if (!existsSync(options.checkpoint)) throw new VidsegError("checkpoint not found", options.checkpoint);
  if (existsSync(options.out) && !statSync(options.out).isDirectory())
    throw new VidsegError("output exists and is not a folder", options.out);
  if (requested === "mp4") await checkMp4Encoder();
  const plan = await planInput(options);
  const policy =
    requested === "auto"
      ? defaultAnimationFormat({
          frames: plan.longestVideo,
          width: plan.width,
          height: plan.height,
          ffmpegAvailable: await mp4EncoderAvailable(),
        })
      : undefined;
  const animation = policy?.format ?? (requested as AnimationFormat | "none");
  const maxSide = policy?.maxSide ?? MP4_MAX_SIDE;
  const segmenters: Segmenters = {};
  // What both segmenters take from the job (unset: the model file's own settings).
  const outputOptions = {
    ...(options.maskUpsampling !== undefined ? { maskUpsampling: options.maskUpsampling } : {}),
    ...(options.topK !== undefined ? { topK: options.topK } : {}),
  };
  const onlineOptions = {
    collectResults: true,
    syntheticInput: true, // the job gives the notice itself, once, below
    ...(options.scoreThreshold !== undefined ? { scoreThreshold: options.scoreThreshold } : {}),
    ...(options.minSimilarity !== undefined ? { minSimilarity: options.minSimilarity } : {}),
    ...(options.momentum !== undefined ? { momentum: options.momentum } : {}),
    ...(options.maxGap !== undefined ? { maxGap: options.maxGap } : {}),
    ...(options.boxIouWeight !== undefined ? { boxIouWeight: options.boxIouWeight } : {}),
    ...outputOptions,
  };
  let info: ModelInfo;
  let model: ModelKind;
  if (isOnnxPath(options.checkpoint)) {
    // An exported online model (`vidseg export onnx`), run by onnxruntime-node.
    if (options.model === "offline") {
      throw new VidsegError("an ONNX export holds an online model, expected offline", options.checkpoint);
    }
    segmenters.online = await OnlineSegmenter.createFromPath(options.checkpoint, {
      ...onlineOptions,
      onnx: { threads: options.threads },
    });
    info = segmenters.online.info;
    model = "online";
  } else {
    await initRuntime();
    const modelFile = await readModelFile(options.checkpoint);
    const kind = modelFile.info.kind;
    if (!isModelKind(kind) || kind === "refer" || (options.model !== undefined && options.model !== kind)) {
      disposeModelFile(modelFile);
      const expected = options.model ?? "online or offline";
      throw new VidsegError(
        `holds a model of kind "${kind}", expected ${expected}${kind === "refer" ? " (vidseg infer refer runs it)" : ""}`,
        modelFile.file,
        "__metadata__.info.kind",
      );
    }
    info = modelFile.info;
    model = kind;
    if (model === "online") segmenters.online = OnlineSegmenter.fromModelFile(modelFile, onlineOptions);
    else
      segmenters.offline = OfflineSegmenter.fromModelFile(modelFile, {
        ...outputOptions,
        ...(options.frameMaskIou !== undefined ? { frameMaskIou: options.frameMaskIou } : {}),
        ...(options.softNmsIou !== undefined ? { softNmsIou: options.softNmsIou } : {}),
      });
  }
  const trainedOn = info.trainedOn;
  if (trainedOn?.synthetic && !plan.synthetic) {
    options.onWarning?.(syntheticModelNotice(trainedOn, "classes and masks"));
  }
  const pngDir = options.png ? join(options.out, "Annotations") : undefined;
  const started = performance.now();
  let done = 0;
  const onFrame = () => {
    done++;
    const seconds = (performance.now() - started) / 1000;
    options.onProgress?.({
      done,
      total: plan.totalFrames,
      rate: seconds > 0 ? done / seconds : 0,
      unit: "frames",
    });
  };
  const results: YtvisResult[] = [];
  const videos: InferVideoSummary[] = [];
  try {
    for (const job of plan.videos) {
      const source = await job.open();
      const fps = options.fps ?? source.fps;
      const animationPath =
        animation === "none"
          ? undefined
          : plan.kind === "split"
            ? join(options.out, "overlays", `${job.name.replace(/[/\\]/g, "_")}.${animation}`)
            : join(options.out, `overlay.${animation}`);
      const outputs = new VideoOutputs(job, pngDir, animationPath, animation, fps, maxSide);
      let frames = done;
      try {
        const videoResults = segmenters.online
          ? await segmentOnline(
              segmenters.online,
              job,
              firstFrames(source, options.maxFrames),
              outputs,
              onFrame,
            )
          : await segmentOffline(
              segmenters.offline!,
              segmenters.offline!.categoryNames,
              job,
              () => firstFrames(source, options.maxFrames),
              outputs,
              options.scoreThreshold ?? 0.3,
              onFrame,
            );
        frames = done - frames;
        check(frames > 0, "no frames decoded", source.name);
        await outputs.finish();
        results.push(...padResults(videoResults, job.length));
        videos.push({
          id: job.id,
          name: job.name,
          frames,
          results: videoResults.length,
          animation: outputs.animationPath,
        });
      } catch (error) {
        await outputs.abort();
        throw error;
      }
    }
  } finally {
    segmenters.online?.dispose();
    segmenters.offline?.dispose();
  }
  const resultsFile = join(options.out, "results.json");
  await writeResults(resultsFile, results);
  const seconds = (performance.now() - started) / 1000;
  return {
    model,
    input: options.input,
    inputKind: plan.kind,
    results: resultsFile,
    annotations: pngDir,
    videos,
    frames: done,
    seconds,
    framesPerSecond: seconds > 0 ? done / seconds : 0,
    ...(policy ? { animationNote: policy.reason } : {}),
  };
}

/** Human-readable lines saying what was written. */
export function inferVisSummaryText(summary: InferVisSummary): string[] {
  const tracks = summary.videos.reduce((n, v) => n + v.results, 0);
  const lines = [
    `results: ${summary.results} (${tracks} tracks, ${summary.videos.length} video${summary.videos.length === 1 ? "" : "s"})`,
  ];
  if (summary.annotations) {
    const folders = summary.videos.map((video) => join(summary.annotations!, video.name));
    lines.push(
      folders.length === 1
        ? `masks: ${folders[0]}/ (indexed PNGs, palette index = track id)`
        : `masks: ${summary.annotations}/<video>/ for ${folders.length} videos (indexed PNGs, palette index = track id)`,
    );
  }
  const animations = summary.videos.flatMap((v) => (v.animation ? [v.animation] : []));
  if (animations.length === 0 && summary.animationNote) lines.push(summary.animationNote);
  if (animations.length === 1) lines.push(`animation: ${animations[0]}`);
  else if (animations.length > 1)
    lines.push(`animations: ${dirname(animations[0])}/ (${animations.length} files)`);
  lines.push(
    `${summary.model} model: ${summary.frames} frame${summary.frames === 1 ? "" : "s"} in ${summary.seconds.toFixed(1)} s (${summary.framesPerSecond.toFixed(1)} frames/s)`,
  );
  return lines;
}
