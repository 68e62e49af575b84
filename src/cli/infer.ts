/**
 * `vidseg infer vis`: runs a VIS model over a video file, a frame folder or a YouTube-VIS split and
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
import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { VidsegError, check } from "../core/errors.js";
import { parseJson } from "../core/json.js";
import { resolveInside } from "../core/paths.js";
import { Progress } from "../core/progress.js";
import { writeIndexedPng } from "../formats/png.js";
import { writeResults, type YtvisResult } from "../formats/ytvis.js";
import { OfflineSegmenter, toYtvisResults } from "../infer/offline-segmenter.js";
import { OnlineSegmenter } from "../infer/online-segmenter.js";
import {
  imageFrames,
  listFrameFiles,
  openVideo,
  openYtvisSplit,
  type Frame,
  type FrameSource,
} from "../infer/sources.js";
import { decode, fromCoco } from "../mask/rle.js";
import { initRuntime } from "../runtime/backend.js";
import { checkMp4Encoder, createAnimationWriter, type AnimationWriter } from "../viz/animation.js";
import type { RgbImage } from "../viz/image.js";
import { idColour, overlayMasks } from "../viz/overlay.js";
import { action, printJson } from "./common.js";

export type ModelKind = "online" | "offline";
export type AnimationChoice = "gif" | "mp4" | "none";

export interface InferVisOptions {
  /** Model file, run folder or training checkpoint. */
  checkpoint: string;
  /** Video file, frame folder, YouTube-VIS split root / split folder, or annotation JSON. */
  input: string;
  out: string;
  /** Default: the kind the model file says, else online. */
  model?: ModelKind;
  /** Split read from a YouTube-VIS root holding several (default "valid"). */
  split?: string;
  /** Frames folder of an annotation JSON, when it is not next to it. */
  images?: string;
  png?: boolean;
  /** Default "gif". */
  animation?: AnimationChoice;
  /** Frame rate: resampling for videos, timestamps for frames, and the animation's rate. */
  fps?: number;
  /** At most this many frames per video. */
  maxFrames?: number;
  /** Offline model: instances drawn in the PNGs and the animation score at least this. Default 0.3. */
  scoreThreshold?: number;
  /** No progress display. */
  quiet?: boolean;
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

/** The annotation file and frames folder of a split given as a JSON file or a folder, if it is one. */
function splitPaths(
  input: string,
  options: InferVisOptions,
): { annotationFile: string; imagesDir: string } | undefined {
  const isDir = statSync(input).isDirectory();
  let annotationFile: string | undefined;
  let candidates: string[] = [];
  if (!isDir && extname(input).toLowerCase() === ".json") {
    annotationFile = input;
    const dir = dirname(input);
    const split = stem(input).replace(/^instances_|^annotations_/, "");
    // <root>/valid.json + <root>/valid/JPEGImages; <split>/instances.json + <split>/JPEGImages;
    // <root>/annotations/instances_valid.json + <root>/valid/JPEGImages.
    candidates = [
      join(dir, split, "JPEGImages"),
      join(dir, "JPEGImages"),
      join(dir, "..", split, "JPEGImages"),
    ];
  } else if (isDir && existsSync(join(input, "JPEGImages"))) {
    annotationFile = [join(input, "instances.json"), `${input.replace(/[/\\]+$/, "")}.json`].find(existsSync);
    if (!annotationFile) {
      throw new VidsegError(
        "split folder has JPEGImages/ but no instances.json or <folder>.json next to it",
        input,
      );
    }
    candidates = [join(input, "JPEGImages")];
  } else if (isDir) {
    const split = options.split ?? "valid";
    const found = [join(input, `${split}.json`), join(input, "annotations", `instances_${split}.json`)].find(
      existsSync,
    );
    if (!found || !existsSync(join(input, split, "JPEGImages"))) {
      if (options.split !== undefined)
        throw new VidsegError(`no split "${split}" (${split}.json and ${split}/JPEGImages)`, input);
      return undefined; // a plain frame folder
    }
    annotationFile = found;
    candidates = [join(input, split, "JPEGImages")];
  } else {
    return undefined;
  }
  const imagesDir = options.images ?? candidates.find((dir) => existsSync(dir));
  if (!imagesDir)
    throw new VidsegError(
      `no frames folder found (looked for ${candidates.join(", ")}); pass --images`,
      annotationFile,
    );
  return { annotationFile, imagesDir };
}

/** Works out what the input is and how to read its videos; bad input fails here, before the model loads. */
async function planInput(options: InferVisOptions): Promise<InputPlan> {
  const input = options.input;
  if (!existsSync(input)) throw new VidsegError("input not found", input);
  const fps = options.fps;
  const max = options.maxFrames;
  const split = splitPaths(input, options);
  if (split) {
    const { dataset, videos } = await openYtvisSplit(split.annotationFile, split.imagesDir);
    check(videos.length > 0, "the split has no videos", split.annotationFile);
    const jobs = videos.map(({ video, frames }) => ({
      id: video.id,
      name: video.file_names.length > 0 ? dirname(video.file_names[0]) : `video-${video.id}`,
      length: video.length,
      open: () => frames(fps === undefined ? {} : { fps }),
      frameName: (index: number) => stem(video.file_names[index]),
    }));
    const totalFrames = dataset.videos.reduce((n, v) => n + Math.min(v.length, max ?? Infinity), 0);
    return { kind: "split", videos: jobs, totalFrames };
  }
  if (statSync(input).isDirectory()) {
    const files = (await listFrameFiles(input)).slice(0, max);
    check(files.length > 0, "no frames to process (--max-frames 0)", input);
    const job: VideoJob = {
      id: 1,
      name: basename(resolve(input)),
      open: () => imageFrames(files, { name: input, ...(fps === undefined ? {} : { fps }) }),
      frameName: (index) => stem(files[index]),
    };
    return { kind: "frames", videos: [job], totalFrames: files.length };
  }
  // Anything else is a video for ffmpeg; probing now reports an unreadable file before the model loads.
  const source = await openVideo(input, { fps, maxFrames: max });
  const job: VideoJob = { id: 1, name: stem(input), open: async () => source, frameName: padded };
  return { kind: "video", videos: [job], totalFrames: source.frameCount };
}

/** What a vidseg model file declares about itself. */
interface DeclaredModel {
  kind?: string;
  categoryNames?: string[];
}

/**
 * The kind ("online"/"offline") and category names a vidseg model file declares, read from its
 * safetensors header only; empty for anything else (checkpoints, …), which the loaders then judge.
 */
async function declaredModel(checkpoint: string): Promise<DeclaredModel> {
  let file = checkpoint;
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "model.safetensors");
  if (!existsSync(file)) return {};
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(8);
    if ((await handle.read(head, 0, 8, 0)).bytesRead < 8) return {};
    const length = Number(head.readBigUInt64LE(0));
    if (length <= 0 || length > 100_000_000) return {};
    const json = Buffer.alloc(length);
    await handle.read(json, 0, length, 8);
    const metadata = (parseJson(json.toString("utf8"), file) as { __metadata__?: { info?: string } })
      .__metadata__;
    const info = (metadata?.info ? parseJson(metadata.info, file) : {}) as DeclaredModel;
    return {
      kind: typeof info.kind === "string" ? info.kind : undefined,
      categoryNames: Array.isArray(info.categoryNames) ? info.categoryNames.map(String) : undefined,
    };
  } catch {
    return {};
  } finally {
    await handle.close();
  }
}

/** One instance to draw on a frame. */
interface DrawnInstance {
  trackId: number;
  text: string;
  mask: Uint8Array;
}

/** Palette of the indexed PNGs: index k has track k's overlay colour, so PNGs and animation agree. */
const TRACK_PALETTE: [number, number, number][] = Array.from({ length: 256 }, (_, k) => [...idColour(k)]);

/** Longest side of an animation: small videos are enlarged by an integer factor, large ones reduced. */
const ANIMATION_MIN_SIDE = 256;
const ANIMATION_MAX_SIDE = 640;

/** Animation size and nearest-neighbour source indices for a frame size. */
function animationGeometry(width: number, height: number) {
  const side = Math.max(width, height);
  // Small videos: an integer factor (crisp pixels) reaching at least the minimum side, 1.5× it if possible.
  const enlarge = Math.max(
    Math.ceil(ANIMATION_MIN_SIDE / side),
    Math.floor((1.5 * ANIMATION_MIN_SIDE) / side),
  );
  const scale =
    side < ANIMATION_MIN_SIDE ? enlarge : side > ANIMATION_MAX_SIDE ? ANIMATION_MAX_SIDE / side : 1;
  const outWidth = Math.max(1, Math.round(width * scale));
  const outHeight = Math.max(1, Math.round(height * scale));
  const xs = Int32Array.from({ length: outWidth }, (_, x) =>
    Math.min(width - 1, Math.floor((x + 0.5) / scale)),
  );
  const ys = Int32Array.from({ length: outHeight }, (_, y) =>
    Math.min(height - 1, Math.floor((y + 0.5) / scale)),
  );
  const textScale = Math.min(3, Math.max(1, Math.round(Math.max(outWidth, outHeight) / 200)));
  return { width: outWidth, height: outHeight, xs, ys, textScale };
}

type Geometry = ReturnType<typeof animationGeometry>;

function resample<T extends Uint8Array>(
  data: T,
  srcWidth: number,
  g: Geometry,
  channels: number,
): Uint8Array {
  const out = new Uint8Array(g.width * g.height * channels);
  for (let y = 0; y < g.height; y++) {
    const row = g.ys[y] * srcWidth;
    for (let x = 0; x < g.width; x++) {
      const s = (row + g.xs[x]) * channels;
      const d = (y * g.width + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = data[s + c];
    }
  }
  return out;
}

/** The per-video outputs: indexed PNGs and the overlay animation, written frame by frame. */
class VideoOutputs {
  private geometry: Geometry | undefined;
  private readonly writer: AnimationWriter | undefined;

  constructor(
    private readonly job: VideoJob,
    private readonly pngDir: string | undefined,
    animationPath: string | undefined,
    animation: AnimationChoice,
    fps: number,
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
      const g = (this.geometry ??= animationGeometry(width, height));
      const image: RgbImage = { width: g.width, height: g.height, data: resample(frame.data, width, g, 3) };
      const drawOrder = [...instances].reverse(); // overlayMasks draws later instances on top
      const overlaid = overlayMasks(
        image,
        drawOrder.map((instance) => resample(instance.mask, width, g, 1)),
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
    const { instances } = seg.segmentFrame(frame, frame.timestampMs);
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
  const animation = options.animation ?? "gif";
  check(
    ["gif", "mp4", "none"].includes(animation),
    `expected gif, mp4 or none, got "${animation}"`,
    undefined,
    "--animation",
  );
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
  if (animation === "mp4") await checkMp4Encoder();
  const plan = await planInput(options);
  const declared = await declaredModel(options.checkpoint);
  const model: ModelKind = options.model ?? (declared.kind === "offline" ? "offline" : "online");

  await initRuntime();
  const segmenters: Segmenters = {};
  if (model === "online") {
    segmenters.online = await OnlineSegmenter.load(options.checkpoint, {
      collectResults: true,
      ...(options.scoreThreshold !== undefined ? { scoreThreshold: options.scoreThreshold } : {}),
    });
  } else {
    segmenters.offline = await OfflineSegmenter.load(options.checkpoint);
  }
  const pngDir = options.png ? join(options.out, "Annotations") : undefined;
  const progress = new Progress({
    total: plan.totalFrames ?? 0,
    label: `infer ${model}`,
    silent: options.quiet,
  });
  const started = performance.now();
  let done = 0;
  const onFrame = () => {
    done++;
    const seconds = (performance.now() - started) / 1000;
    progress.update(done, { "frames/s": seconds > 0 ? done / seconds : 0 });
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
      const outputs = new VideoOutputs(job, pngDir, animationPath, animation, fps);
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
              declared.categoryNames,
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
    progress.stop();
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
  };
}

/** Human-readable lines saying what was written. */
export function summaryText(summary: InferVisSummary): string[] {
  const tracks = summary.videos.reduce((n, v) => n + v.results, 0);
  const lines = [
    `results: ${summary.results} (${tracks} tracks, ${summary.videos.length} video${summary.videos.length === 1 ? "" : "s"})`,
  ];
  if (summary.annotations)
    lines.push(`masks: ${summary.annotations}/<video>/<frame>.png (palette index = track id)`);
  const animations = summary.videos.flatMap((v) => (v.animation ? [v.animation] : []));
  if (animations.length === 1) lines.push(`animation: ${animations[0]}`);
  else if (animations.length > 1)
    lines.push(`animations: ${dirname(animations[0])}/ (${animations.length} files)`);
  lines.push(
    `${summary.model} model: ${summary.frames} frames in ${summary.seconds.toFixed(1)} s (${summary.framesPerSecond.toFixed(1)} frames/s)`,
  );
  return lines;
}

interface InferCliOptions {
  checkpoint: string;
  input: string;
  out: string;
  model?: string;
  split?: string;
  images?: string;
  png?: boolean;
  animation: string;
  fps?: string;
  maxFrames?: string;
  scoreThreshold?: string;
  quiet?: boolean;
  json?: boolean;
}

function positiveNumber(text: string | undefined, flag: string, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  const ok =
    text.trim() !== "" &&
    Number.isFinite(value) &&
    (integer ? Number.isInteger(value) && value >= 0 : value > 0);
  if (!ok)
    throw new VidsegError(
      `expected a ${integer ? "non-negative integer" : "positive number"}, got "${text}"`,
      undefined,
      flag,
    );
  return value;
}

const INFER_HELP = `
Input:
  a video file (decoded by the system's ffmpeg), a folder of .jpg/.png frames (natural name order),
  or a YouTube-VIS split: its annotation JSON (frames in <split>/JPEGImages next to it, or --images),
  a split folder holding JPEGImages/ and instances.json, or a root holding <split>.json (--split).

Written to --out:
  results.json                       YouTube-VIS results (one video: video_id 1; a split: its ids)
  Annotations/<video>/<frame>.png    with --png: indexed PNGs, palette index = track id (max 255)
  overlay.gif | overlay.mp4          one video: masks with one colour per track id, "id class score"
  overlays/<video>.gif | .mp4        a split: one animation per video

Memory stays bounded on long videos: frames are streamed and the animation is encoded frame by frame
(small videos are enlarged to at least ${ANIMATION_MIN_SIDE} px, large ones reduced to ${ANIMATION_MAX_SIDE} px on the longer side).`;

/** `vidseg infer vis`. */
export function registerInfer(program: Command): void {
  const infer = program.command("infer").description("run a trained model");
  infer
    .command("vis")
    .description("video instance segmentation: results JSON, indexed PNGs and an overlay animation")
    .requiredOption("--checkpoint <path>", "model file, run folder or training checkpoint")
    .requiredOption("--input <path>", "video file, frame folder, YouTube-VIS split or annotation JSON")
    .requiredOption("--out <dir>", "output folder")
    .option("--model <kind>", "online or offline (default: what the model file declares)")
    .option("--split <name>", "split of a YouTube-VIS root (default valid)")
    .option("--images <dir>", "frames folder of an annotation JSON")
    .option("--png", "write per-frame indexed PNGs")
    .option("--animation <format>", "gif, mp4 (needs ffmpeg with libx264) or none", "gif")
    .option("--fps <n>", "frame rate (resamples videos; timestamps and animation rate)")
    .option("--max-frames <n>", "at most n frames per video")
    .option(
      "--score-threshold <p>",
      "online: smallest query score that detects (default: the model's config); offline: smallest score drawn (default 0.3)",
    )
    .option("--quiet", "no progress display")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText("after", INFER_HELP)
    .action(
      action(async (cli: InferCliOptions) => {
        const summary = await inferVis({
          checkpoint: cli.checkpoint,
          input: cli.input,
          out: cli.out,
          model: cli.model as ModelKind | undefined,
          split: cli.split,
          images: cli.images,
          png: cli.png,
          animation: cli.animation as AnimationChoice,
          fps: positiveNumber(cli.fps, "--fps", false),
          maxFrames: positiveNumber(cli.maxFrames, "--max-frames", true),
          scoreThreshold: positiveNumber(cli.scoreThreshold, "--score-threshold", false),
          quiet: cli.quiet || cli.json,
        });
        if (cli.json) printJson(summary);
        else process.stdout.write(summaryText(summary).join("\n") + "\n");
      }),
    );
}
