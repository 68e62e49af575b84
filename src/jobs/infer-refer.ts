/**
 * The infer-refer job (`vidseg infer refer`): runs a referring model (YOFO) streaming, and writes
 * binary PNG masks (0/1 palette PNGs) in the layout `vidseg eval refer --protocol ref-youtube-vos`
 * reads:
 *
 *   --split <Ref-YouTube-VOS split>   every expression of every video:
 *                                     <out>/Annotations/<video>/<exp_id>/<frame>.png
 *   --input <video|frames> --text …   each expression k (from 0, in the order given):
 *                                     <out>/Annotations/<name>/<k>/<frame>.png, and
 *                                     <out>/expressions.json [{id, text, unknownWords}], and
 *                                     <out>/overlay.mp4 (or .gif): every expression's mask in its colour,
 *                                     the expressions written along the bottom
 *   --ref-davis <Ref-DAVIS17 split>   (`vidseg eval refer --protocol ref-davis`) each object's 4
 *                                     expressions, set k being every object's k-th: per set and frame,
 *                                     the objects' probabilities merged (argmax, background where all
 *                                     are below 0.5) into <out>/anno_<k>/<video>/<frame>.png
 *
 * The expressions of one video are followed together on one pass over its frames (the image features
 * are computed once per frame), each with its own memory; each frame is decoded, segmented and its
 * masks written before the next is read, so memory stays bounded whatever the video length.
 */
import { existsSync, statSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { VidsegError, check } from "../core/errors.js";
import { mergeObjectProbabilities, REF_DAVIS_RUNS, refDavisRunDir } from "../eval/refer.js";
import { writeResultMask } from "../formats/davis.js";
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
import { isOnnxPath } from "../models/onnx-file.js";
import { initRuntime } from "../runtime/backend.js";
import {
  animationGeometry,
  checkAnimationRequest,
  checkMp4Encoder,
  createAnimationWriter,
  defaultAnimationFormat,
  MP4_MAX_SIDE,
  mp4EncoderAvailable,
  resampleNearest,
  type AnimationFormat,
  type AnimationGeometry,
  type AnimationWriter,
} from "../viz/animation.js";
import type { RgbImage } from "../viz/image.js";
import { drawLegend, idColour, overlayMasks } from "../viz/overlay.js";
import type { AnimationChoice } from "./infer-vis.js";
import type { JobProgress } from "./progress.js";

export interface InferReferOptions {
  /** Model file, run folder, training checkpoint, or an exported `.onnx` (run by onnxruntime-node). */
  checkpoint: string;
  /** onnxruntime's intra-op threads for an exported `.onnx` model (default: one per core). */
  threads?: number;
  out: string;
  /** A Ref-YouTube-VOS split folder (or a root holding `valid/`): every expression of the split. */
  split?: string;
  /**
   * A Ref-DAVIS17 split in the Ref-YouTube-VOS layout (`vidseg synth refer --ref-davis` writes
   * `<root>/ref-davis/valid`), or a root holding `valid/`: 4 expressions per object.
   */
  refDavis?: string;
  /** A video file or a folder of frames, segmented for each of `texts`. */
  input?: string;
  texts?: string[];
  /** Frame rate: resampling for videos, timestamps for frames. */
  fps?: number;
  /** At most this many frames per video. */
  maxFrames?: number;
  /** The overlay animation of an input (as for `infer vis`): "auto" (default), "gif", "mp4" or "none". */
  animation?: AnimationChoice;
  /** Called after every frame. */
  onProgress?: (progress: JobProgress) => void;
  /** Unknown words of an expression, a synthetic-only model on other input. */
  onWarning?: (message: string) => void;
}

export interface InferReferSummary {
  input: string;
  inputKind: "split" | "ref-davis" | "video" | "frames";
  /** The folder of the PNG masks: `<out>/Annotations` (`<out>` for Ref-DAVIS17's anno_<k>). */
  annotations: string;
  videos: number;
  expressions: number;
  frames: number;
  seconds: number;
  framesPerSecond: number;
  /** The overlay animation written (an input), if any. */
  animation?: string;
  /** Why an animation was or was not written, when the format was chosen automatically. */
  animationNote?: string;
}

/** One video and the expressions to follow in it. */
interface ReferVideoJob {
  name: string;
  expressions: { id: string; text: string }[];
  /** Ref-DAVIS17: each object's label and the indices in `expressions` of its 4 (set k at k). */
  objects?: { label: number; expressions: number[] }[];
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
  options: { probabilities?: boolean } = {},
): Promise<number> {
  const targets = texts.map((text) => segmenter.track(text));
  let count = 0;
  try {
    for await (const frame of frames) {
      const results: ReferringFrameResult[] = [];
      for (const target of targets) {
        results.push(await target.segmentForVideoAsync(frame, frame.timestampMs, options));
      }
      await onFrame(frame, results);
      count++;
    }
  } finally {
    for (const target of targets) target.close();
  }
  return count;
}

/**
 * Writes one frame of the 4 Ref-DAVIS17 expression sets: for set k, `probabilities[k][o]` are object
 * o's foreground probabilities (row-major, width × height), merged into one label map (the most
 * probable object's label, background where all are below 0.5) at `<out>/anno_<k>/<video>/<frame>.png`.
 */
export async function writeRefDavisFrame(
  out: string,
  video: string,
  frame: string,
  size: { width: number; height: number },
  labels: readonly number[],
  probabilities: readonly (readonly ArrayLike<number>[])[],
): Promise<void> {
  check(probabilities.length === REF_DAVIS_RUNS, `${probabilities.length} expression sets, expected 4`);
  for (const [k, set] of probabilities.entries()) {
    const data = mergeObjectProbabilities(set, labels);
    await writeResultMask(refDavisRunDir(out, k), video, frame, { ...size, data });
  }
}

/**
 * One frame of the overlay animation: each expression's mask in the colour of its index (idColour(k + 1),
 * labelled k) over the frame at the animation's size, and the expressions listed along the bottom.
 */
export function drawReferOverlay(
  frame: RgbImage,
  masks: readonly Uint8Array[],
  texts: readonly string[],
  g: AnimationGeometry,
): RgbImage {
  const image: RgbImage = {
    width: g.width,
    height: g.height,
    data: resampleNearest(frame.data, frame.width, g, 3),
  };
  const colours = texts.map((_, k) => idColour(k + 1));
  const overlaid = overlayMasks(
    image,
    masks.map((mask) => resampleNearest(mask, frame.width, g, 1)),
    { colours, labels: texts.map((_, k) => String(k)), textScale: g.textScale },
  );
  drawLegend(
    overlaid,
    texts.map((text, k) => ({ text: `${k} ${text}`, colour: colours[k] })),
    g.textScale,
  );
  return overlaid;
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

/**
 * A Ref-DAVIS17 video's objects: expressions grouped by obj_id in file order, each object's k-th being
 * set k; every object needs exactly 4 and a label in 1..255.
 */
function refDavisObjects(
  expressions: Record<string, { exp: string; obj_id: string }>,
  file: string,
  video: string,
): { label: number; expressions: number[] }[] {
  const objects = new Map<string, number[]>();
  for (const [index, e] of Object.values(expressions).entries()) {
    const list = objects.get(e.obj_id) ?? [];
    list.push(index);
    objects.set(e.obj_id, list);
  }
  return [...objects].map(([objId, indices]) => {
    const where = `$.videos[${JSON.stringify(video)}]`;
    const label = Number(objId);
    check(
      Number.isInteger(label) && label >= 1 && label <= 255,
      `obj_id "${objId}" is not a label in 1..255`,
      file,
      where,
    );
    check(
      indices.length === REF_DAVIS_RUNS,
      `object ${objId} has ${indices.length} expressions; Ref-DAVIS17 gives each object 4`,
      file,
      where,
    );
    return { label, expressions: indices };
  });
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
  const given = [options.split, options.refDavis, options.input].filter((x) => x !== undefined);
  if (given.length !== 1) {
    throw new VidsegError(
      "give one of a split (--split), a Ref-DAVIS17 split (--ref-davis) or an input with expressions (--input, --text)",
    );
  }
  const splitFolder = options.split ?? options.refDavis;
  if (splitFolder !== undefined) {
    const flag = options.split !== undefined ? "--split" : "--ref-davis";
    check(
      options.texts === undefined || options.texts.length === 0,
      `a split brings its own expressions (no --text with ${flag})`,
      undefined,
      "--text",
    );
    const paths = resolveReferSplit(splitFolder, "valid");
    const meta = await readRefMetaExpressions(paths.annotationFile);
    const max = options.maxFrames ?? Infinity;
    let totalFrames = 0;
    const videos = Object.entries(meta.videos)
      .filter(([, entry]) => Object.keys(entry.expressions).length > 0 && entry.frames.length > 0)
      .map(([video, entry]) => ({
        name: video,
        expressions: Object.entries(entry.expressions).map(([id, e]) => ({ id, text: e.exp })),
        ...(options.refDavis !== undefined
          ? { objects: refDavisObjects(entry.expressions, paths.annotationFile, video) }
          : {}),
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
    return {
      kind: options.split !== undefined ? "split" : "ref-davis",
      input: splitFolder,
      videos,
      totalFrames,
    };
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
  const requested = options.animation ?? "auto";
  checkAnimationRequest(requested);
  if (requested === "mp4") await checkMp4Encoder();
  const plan = await planInput(options);
  const ffmpegAvailable =
    requested === "auto" && plan.kind !== "split" && plan.kind !== "ref-davis"
      ? await mp4EncoderAvailable()
      : false;
  let animationNote: string | undefined;
  let animationPath: string | undefined;
  const segmenterOptions = {
    onWarning: options.onWarning,
    syntheticInput: plan.kind === "split" || plan.kind === "ref-davis",
  };
  let segmenter: ReferringSegmenter;
  if (isOnnxPath(options.checkpoint)) {
    // An exported referring model (`vidseg export onnx`), run by onnxruntime-node.
    segmenter = await ReferringSegmenter.createFromPath(options.checkpoint, {
      ...segmenterOptions,
      onnx: { threads: options.threads },
    });
  } else {
    await initRuntime();
    segmenter = ReferringSegmenter.fromModelFile(await readModelFile(options.checkpoint), segmenterOptions);
  }
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
      let writer: AnimationWriter | undefined;
      let geometry: AnimationGeometry | undefined;
      if (plan.kind === "video" || plan.kind === "frames") {
        const policy =
          requested === "auto"
            ? defaultAnimationFormat({
                frames: plan.totalFrames,
                width: source.width,
                height: source.height,
                ffmpegAvailable,
              })
            : undefined;
        animationNote = policy?.reason;
        const format = policy?.format ?? (requested as AnimationFormat | "none");
        if (format !== "none") {
          writer = createAnimationWriter(format, join(options.out, `overlay.${format}`), source.fps ?? 8);
          geometry = animationGeometry(source.width, source.height, policy?.maxSide ?? MP4_MAX_SIDE);
        }
      }
      try {
        await segmentExpressions(
          segmenter,
          firstFrames(source, options.maxFrames),
          video.expressions.map((e) => e.text),
          async (frame, results) => {
            const frameName = video.frameName(index++);
            if (writer) {
              const masks = results.map((r) => r.mask);
              const texts = video.expressions.map((e) => e.text);
              await writer.add(drawReferOverlay(frame, masks, texts, geometry!));
            }
            const objects = video.objects;
            if (objects) {
              await writeRefDavisFrame(
                options.out,
                video.name,
                frameName,
                { width: results[0].width, height: results[0].height },
                objects.map((o) => o.label),
                Array.from({ length: REF_DAVIS_RUNS }, (_, k) =>
                  objects.map((o) => results[o.expressions[k]].probabilities!),
                ),
              );
            } else {
              for (const [k, result] of results.entries()) {
                await writeExpressionMask(options.out, video.name, video.expressions[k].id, frameName, {
                  width: result.width,
                  height: result.height,
                  data: result.mask,
                });
              }
            }
            done++;
            const seconds = (performance.now() - started) / 1000;
            options.onProgress?.({ done, total, rate: seconds > 0 ? done / seconds : 0, unit: "frames" });
          },
          { probabilities: video.objects !== undefined },
        );
      } catch (error) {
        await writer?.abort();
        throw error;
      }
      if (writer && writer.frameCount > 0) {
        await writer.finish();
        animationPath = writer.path;
      }
    }
  } finally {
    segmenter.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    input: plan.input,
    inputKind: plan.kind,
    annotations: plan.kind === "ref-davis" ? options.out : join(options.out, "Annotations"),
    videos: plan.videos.length,
    expressions: plan.videos.reduce((n, v) => n + v.expressions.length, 0),
    frames: done,
    seconds,
    framesPerSecond: seconds > 0 ? done / seconds : 0,
    ...(animationPath ? { animation: animationPath } : {}),
    ...(animationNote ? { animationNote } : {}),
  };
}
