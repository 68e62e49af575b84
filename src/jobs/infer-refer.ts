/**
 * The infer-refer job (`vidseg infer refer`): runs a referring model (YOFO) streaming, and writes
 * binary PNG masks (0/1 palette PNGs) in the layout `vidseg eval refer --protocol ref-youtube-vos`
 * reads:
 *
 *   --split <Ref-YouTube-VOS split>   every expression of every video:
 *                                     <out>/Annotations/<video>/<exp_id>/<frame>.png
 *   --input <video|frames> --text …   each expression k (from 0, in the order given):
 *                                     <out>/Annotations/<name>/<k>/<frame>.png, and
 *                                     <out>/expressions.json [{id, text, unknownWords}]
 *
 * The expressions of one video are followed together on one pass over its frames (the image features
 * are computed once per frame), each with its own memory; each frame is decoded, segmented and its
 * masks written before the next is read, so memory stays bounded whatever the video length.
 */
import { existsSync, statSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { VidsegError, check } from "../core/errors.js";
import { writeJsonAtomic } from "../core/fs.js";
import type { Frame } from "../core/image.js";
import {
  imagePath,
  readRefMetaExpressions,
  resolveReferSplit,
  writeExpressionMask,
} from "../formats/refytvos.js";
import { ReferringSegmenter, type ReferringFrameResult } from "../infer/referring-segmenter.js";
import { imageFrames, listFrameFiles, openVideo, type FrameSource } from "../infer/sources.js";
import { readModelFile } from "../models/model-file.js";
import { initRuntime } from "../runtime/backend.js";
import type { JobProgress } from "./progress.js";

export interface InferReferOptions {
  /** Model file, run folder or training checkpoint. */
  checkpoint: string;
  out: string;
  /** A Ref-YouTube-VOS split folder (or a root holding `valid/`): every expression of the split. */
  split?: string;
  /** A video file or a folder of frames, segmented for each of `texts`. */
  input?: string;
  texts?: string[];
  /** Frame rate: resampling for videos, timestamps for frames. */
  fps?: number;
  /** At most this many frames per video. */
  maxFrames?: number;
  /** Called after every frame. */
  onProgress?: (progress: JobProgress) => void;
  /** Unknown words of an expression, a synthetic-only model on other input. */
  onWarning?: (message: string) => void;
}

export interface InferReferSummary {
  input: string;
  inputKind: "split" | "video" | "frames";
  /** The folder of the PNG masks: `<out>/Annotations`. */
  annotations: string;
  videos: number;
  expressions: number;
  frames: number;
  seconds: number;
  framesPerSecond: number;
}

/** One video and the expressions to follow in it. */
interface ReferVideoJob {
  name: string;
  expressions: { id: string; text: string }[];
  open(): Promise<FrameSource>;
  /** PNG file name (without extension) of frame i. */
  frameName(index: number): string;
}

const stem = (file: string) => basename(file, extname(file));
const padded = (index: number) => String(index).padStart(5, "0");

/**
 * Follows several expressions through one stream of frames, calling `onFrame` with every
 * expression's result for each frame (in the order of `texts`). The targets are closed at the end.
 */
export async function segmentExpressions(
  segmenter: ReferringSegmenter,
  frames: AsyncIterable<Frame>,
  texts: readonly string[],
  onFrame: (frame: Frame, results: ReferringFrameResult[]) => void | Promise<void>,
): Promise<number> {
  const targets = texts.map((text) => segmenter.track(text));
  let count = 0;
  try {
    for await (const frame of frames) {
      await onFrame(
        frame,
        targets.map((target) => target.segmentForVideo(frame, frame.timestampMs)),
      );
      count++;
    }
  } finally {
    for (const target of targets) target.close();
  }
  return count;
}

/** Stops an async iterable after `max` items (breaking out ends the source, e.g. stops ffmpeg). */
async function* firstFrames(source: AsyncIterable<Frame>, max: number | undefined): AsyncGenerator<Frame> {
  let count = 0;
  if (max !== undefined && max <= 0) return;
  for await (const frame of source) {
    yield frame;
    if (max !== undefined && ++count >= max) return;
  }
}

/** What the input is; bad input fails here, before the model loads. */
async function planInput(options: InferReferOptions): Promise<{
  kind: InferReferSummary["inputKind"];
  input: string;
  videos: ReferVideoJob[];
  /** Frames to process, when known (for the progress bar). */
  totalFrames: number | undefined;
}> {
  const fps = options.fps === undefined ? {} : { fps: options.fps };
  if ((options.split === undefined) === (options.input === undefined)) {
    throw new VidsegError("give either a split (--split) or an input with expressions (--input, --text)");
  }
  if (options.split !== undefined) {
    check(
      options.texts === undefined || options.texts.length === 0,
      "a split brings its own expressions (no --text with --split)",
      undefined,
      "--text",
    );
    const paths = resolveReferSplit(options.split, "valid");
    const meta = await readRefMetaExpressions(paths.annotationFile);
    const max = options.maxFrames ?? Infinity;
    let totalFrames = 0;
    const videos = Object.entries(meta.videos)
      .filter(([, entry]) => Object.keys(entry.expressions).length > 0 && entry.frames.length > 0)
      .map(([video, entry]) => ({
        name: video,
        expressions: Object.entries(entry.expressions).map(([id, e]) => ({ id, text: e.exp })),
        open: () =>
          imageFrames(
            entry.frames.map((frame) => imagePath(paths.splitRoot, video, frame)),
            { ...fps, name: `${paths.splitRoot}: video ${video}` },
          ),
        frameName: (index: number) => entry.frames[index],
        frames: Math.min(entry.frames.length, max),
      }));
    for (const video of videos) totalFrames += video.frames;
    check(videos.length > 0, "the split has no expressions", paths.annotationFile);
    return { kind: "split", input: options.split, videos, totalFrames };
  }
  const input = options.input!;
  const texts = options.texts ?? [];
  check(texts.length > 0, "give at least one expression", undefined, "--text");
  if (!existsSync(input)) throw new VidsegError("input not found", input);
  const expressions = texts.map((text, k) => ({ id: String(k), text }));
  if (statSync(input).isDirectory()) {
    const files = (await listFrameFiles(input)).slice(0, options.maxFrames);
    check(files.length > 0, "no frames to process (--max-frames 0)", input);
    return {
      kind: "frames",
      input,
      totalFrames: files.length,
      videos: [
        {
          name: basename(resolve(input)),
          expressions,
          open: () => imageFrames(files, { ...fps, name: input }),
          frameName: (index) => stem(files[index]),
        },
      ],
    };
  }
  // Anything else is a video for ffmpeg; probing now reports an unreadable file before the model loads.
  const source = await openVideo(input, { ...fps, maxFrames: options.maxFrames });
  return {
    kind: "video",
    input,
    totalFrames: source.frameCount,
    videos: [{ name: stem(input), expressions, open: async () => source, frameName: padded }],
  };
}

/** Runs the job (see the module comment). */
export async function inferRefer(options: InferReferOptions): Promise<InferReferSummary> {
  if (!existsSync(options.checkpoint)) throw new VidsegError("checkpoint not found", options.checkpoint);
  if (existsSync(options.out) && !statSync(options.out).isDirectory())
    throw new VidsegError("output exists and is not a folder", options.out);
  const plan = await planInput(options);
  await initRuntime();
  const segmenter = ReferringSegmenter.fromModelFile(await readModelFile(options.checkpoint), {
    onWarning: options.onWarning,
    syntheticInput: plan.kind === "split",
  });
  const started = performance.now();
  let done = 0;
  const total = plan.totalFrames;
  try {
    if (plan.kind !== "split") {
      const video = plan.videos[0];
      await writeJsonAtomic(
        join(options.out, "expressions.json"),
        video.expressions.map(({ id, text }) => ({
          id: Number(id),
          text,
          unknownWords: segmenter.tokenizer.encode(text).unknown,
        })),
      );
    }
    for (const video of plan.videos) {
      const source = await video.open();
      let index = 0;
      await segmentExpressions(
        segmenter,
        firstFrames(source, options.maxFrames),
        video.expressions.map((e) => e.text),
        async (_frame, results) => {
          const frameName = video.frameName(index++);
          for (const [k, result] of results.entries()) {
            await writeExpressionMask(options.out, video.name, video.expressions[k].id, frameName, {
              width: result.width,
              height: result.height,
              data: result.mask,
            });
          }
          done++;
          const seconds = (performance.now() - started) / 1000;
          options.onProgress?.({ done, total, rate: seconds > 0 ? done / seconds : 0, unit: "frames" });
        },
      );
    }
  } finally {
    segmenter.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    input: plan.input,
    inputKind: plan.kind,
    annotations: join(options.out, "Annotations"),
    videos: plan.videos.length,
    expressions: plan.videos.reduce((n, v) => n + v.expressions.length, 0),
    frames: done,
    seconds,
    framesPerSecond: seconds > 0 ? done / seconds : 0,
  };
}
