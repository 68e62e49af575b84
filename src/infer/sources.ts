/**
 * Frame sources: async iterables of RGB frames from a folder of images, a video file (decoded by the
 * system's ffmpeg), raw RGB buffers, or the videos of a YouTube-VIS split.
 *
 * Every source reads lazily, one frame at a time, so memory stays bounded whatever the video length.
 * A source can be iterated more than once; each pass starts from the first frame. Sizes are known
 * before the first frame (`width`/`height`: the output size, after the optional resize), so a model
 * can be set up before decoding starts.
 */
import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import sharp from "sharp";
import { VidsegError, check } from "../core/errors.js";
import type { Frame } from "../core/image.js";
import { resolveInside } from "../core/paths.js";
import { readYtvis, type YtvisDataset, type YtvisVideo } from "../formats/ytvis.js";
import { decodeVideo, probeVideo, type DecodeReport, type FfmpegPaths, type VideoInfo } from "./ffmpeg.js";

export type { Frame };

/** Exact output size (aspect ratio not kept, as VIS models take a fixed input size). */
export interface FrameSize {
  width: number;
  height: number;
}

export interface FrameSource extends AsyncIterable<Frame> {
  /** What the frames come from (a folder, a file, …), for messages. */
  readonly name: string;
  /** Size of the frames before the optional resize (the size results are reported in). */
  readonly sourceSize: FrameSize;
  /** Output frame size. */
  readonly width: number;
  readonly height: number;
  /** Frames per second used for the timestamps. */
  readonly fps: number;
  /** Number of frames when known in advance (a video's may be an estimate from its duration). */
  readonly frameCount: number | undefined;
}

export interface ImageSourceOptions {
  /** Resize every frame to this size (sharp). */
  resize?: FrameSize;
  /** Frame rate for the timestamps. Default 30. */
  fps?: number;
}

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png"]);

/** Natural order of file names ("frame2" before "frame10"), independent of the locale. */
const naturalOrder = new Intl.Collator("en", { numeric: true, sensitivity: "variant" }).compare;

function checkSize(size: FrameSize | undefined, what: string): void {
  if (size === undefined) return;
  check(
    Number.isInteger(size.width) && Number.isInteger(size.height) && size.width > 0 && size.height > 0,
    `resize must be positive integers, got ${size.width}×${size.height}`,
    undefined,
    what,
  );
}

function checkFps(fps: number, what: string): void {
  check(Number.isFinite(fps) && fps > 0, `fps must be a positive number, got ${fps}`, undefined, what);
}

/**
 * Decodes an image file to RGB (alpha dropped, grey expanded, 16-bit reduced), optionally resized. With
 * `expected`, the image's own size must be that (frames of one video share one size).
 */
async function readImageRgb(
  file: string,
  resize: FrameSize | undefined,
  expected: FrameSize | undefined,
  where: string,
): Promise<{ data: Uint8Array; width: number; height: number }> {
  let pipeline = sharp(file);
  let size: FrameSize;
  try {
    const { width, height } = await pipeline.metadata();
    if (!width || !height) throw new Error("no size in the header");
    size = { width, height };
  } catch (error) {
    throw new VidsegError(`cannot read image: ${(error as Error).message}`, file, where);
  }
  if (expected && (size.width !== expected.width || size.height !== expected.height)) {
    throw new VidsegError(
      `image is ${size.width}×${size.height}, expected ${expected.width}×${expected.height} like the other frames`,
      file,
      where,
    );
  }
  try {
    pipeline = pipeline.removeAlpha().toColourspace("srgb");
    if (resize) pipeline = pipeline.resize(resize.width, resize.height, { fit: "fill" });
    const { data, info } = await pipeline.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
    };
  } catch (error) {
    throw new VidsegError(`cannot decode image: ${(error as Error).message}`, file, where);
  }
}

/** An image's size from its header. */
async function imageSize(file: string): Promise<FrameSize> {
  try {
    const { width, height } = await sharp(file).metadata();
    if (!width || !height) throw new Error("no size in the header");
    return { width, height };
  } catch (error) {
    throw new VidsegError(`cannot read image: ${(error as Error).message}`, file);
  }
}

/**
 * Frames from an explicit list of image files, in the given order. Every image must have the source
 * size (`size`, else the first image's); `resize` then scales them all to one output size.
 */
export async function imageFrames(
  files: readonly string[],
  options: ImageSourceOptions & { name?: string; size?: FrameSize } = {},
): Promise<FrameSource> {
  const name = options.name ?? (files.length > 0 ? files[0] : "images");
  check(files.length > 0, "no frames", undefined, name);
  checkSize(options.resize, name);
  const fps = options.fps ?? 30;
  checkFps(fps, name);
  const list = [...files];
  const sourceSize = options.size ?? (await imageSize(list[0]));
  const size = options.resize ?? sourceSize;
  const resize = options.resize;
  return {
    name,
    sourceSize,
    width: size.width,
    height: size.height,
    fps,
    frameCount: list.length,
    async *[Symbol.asyncIterator]() {
      for (let index = 0; index < list.length; index++) {
        const image = await readImageRgb(list[index], resize, sourceSize, `frame ${index}`);
        yield { index, timestampMs: (index * 1000) / fps, ...image };
      }
    },
  };
}

/** The image files (jpg/png) of a folder, in natural order of their names. */
export async function listFrameFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new VidsegError("not a folder", dir);
    names = await readdir(dir);
  } catch (error) {
    if (error instanceof VidsegError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new VidsegError(
      code === "ENOENT" ? "folder not found" : `cannot read folder: ${(error as Error).message}`,
      dir,
    );
  }
  const images = names.filter((file) => IMAGE_EXTENSIONS.has(extname(file).toLowerCase()));
  if (images.length === 0) throw new VidsegError("no .jpg/.jpeg/.png frames in the folder", dir);
  return images
    .sort((a, b) => naturalOrder(a, b) || (a < b ? -1 : a > b ? 1 : 0))
    .map((file) => join(dir, file));
}

/** Frames from a folder of jpg/png images, sorted naturally by file name. */
export async function openFrameFolder(dir: string, options: ImageSourceOptions = {}): Promise<FrameSource> {
  return imageFrames(await listFrameFiles(dir), { ...options, name: dir });
}

export interface VideoSourceOptions extends FfmpegPaths {
  /** Output size (ffmpeg's scale filter). */
  resize?: FrameSize;
  /** Resample to this frame rate (ffmpeg's fps filter); default every decoded frame at the video's rate. */
  fps?: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  /**
   * Called with a video's problems that still leave frames to work on: it ends before its stated
   * length (truncated or damaged), or ffmpeg reported decode errors. Each is a VidsegError naming the
   * file, not thrown; the library prints nothing itself.
   */
  onWarning?: (warning: VidsegError) => void;
  /**
   * Make those problems errors: a video the probe already shows truncated throws when opened (before
   * any frame is decoded), a decode that ends early or with errors throws at its end.
   */
  strict?: boolean;
}

/** A video file's frames; `info` is what ffprobe reported (source size and rate). */
export interface VideoSource extends FrameSource {
  readonly info: VideoInfo;
}

/**
 * Frames of a video file decoded by ffmpeg over a pipe. Throws a VidsegError naming the file if it is
 * missing or unreadable, or if ffmpeg/ffprobe are not installed. Timestamps are index / fps (the
 * average frame rate): exact for constant-rate video, approximate for variable-rate video.
 *
 * `frameCount` is the counted number of frames (see `probeVideo`), so progress totals are right for
 * variable-rate and truncated files too. A file that ends before its stated length, or that ffmpeg
 * reports errors on, is reported through `onWarning` after a pass that reached the end of the video,
 * or thrown with `strict` (see the options).
 */
export async function openVideo(file: string, options: VideoSourceOptions = {}): Promise<VideoSource> {
  checkSize(options.resize, file);
  if (options.fps !== undefined) checkFps(options.fps, file);
  const { maxFrames } = options;
  if (maxFrames !== undefined) {
    check(Number.isInteger(maxFrames) && maxFrames >= 0, "maxFrames must be an integer ≥ 0", file);
  }
  const info = await probeVideo(file, options);
  const fps = options.fps ?? info.fps;
  /** A count of the video's frames at the output rate, up to maxFrames. */
  const outputFrames = (count: number) =>
    Math.min(maxFrames ?? Infinity, options.fps !== undefined ? Math.round((count * fps) / info.fps) : count);
  const frameCount = info.frameCount === undefined ? undefined : outputFrames(info.frameCount);
  const truncation = info.truncation;
  /** The truncation as an error, when it cuts into the frames asked for; `frames` is how many came. */
  const truncationError = (frames: number) => {
    if (!truncation || frames >= outputFrames(truncation.statedFrames)) return undefined;
    const seconds = `${truncation.readableSeconds.toFixed(2)} s of ${truncation.statedSeconds.toFixed(2)} s`;
    return new VidsegError(
      `video ends after ${frames} of ${outputFrames(truncation.statedFrames)} frames (${seconds}): ` +
        "the file is truncated or damaged",
      file,
    );
  };
  if (options.strict && truncation) {
    const error = truncationError(outputFrames(truncation.readableFrames));
    if (error) throw error;
  }
  const report = (warning: VidsegError) => {
    if (options.strict) throw warning;
    options.onWarning?.(warning);
  };
  const onFinished = ({ frames, errors }: DecodeReport) => {
    const truncated = truncationError(frames);
    if (truncated) return report(truncated);
    if (errors.length > 0) {
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more error lines)` : "";
      report(
        new VidsegError(
          `ffmpeg reported decode errors (${frames} frames decoded), the video may be damaged: ` +
            `${errors[0]}${more}`,
          file,
        ),
      );
    }
  };
  const size = options.resize ?? { width: info.width, height: info.height };
  return {
    name: file,
    info,
    sourceSize: { width: info.width, height: info.height },
    width: size.width,
    height: size.height,
    fps,
    frameCount,
    async *[Symbol.asyncIterator]() {
      for await (const frame of decodeVideo(file, info, { ...options, onFinished })) {
        yield { ...frame, timestampMs: (frame.index * 1000) / fps };
      }
    },
  };
}

export interface RawSourceOptions {
  /** Size of the given buffers. */
  width: number;
  height: number;
  /** Resize every frame to this size (sharp). */
  resize?: FrameSize;
  /** Frame rate for the timestamps. Default 30. */
  fps?: number;
  /** Number of frames, when known (for progress reporting). */
  frameCount?: number;
  name?: string;
}

/**
 * Frames from raw RGB buffers (row-major, width × height × 3 bytes each), from any sync or async
 * iterable. A buffer of the wrong length is a VidsegError naming its frame index. The buffers are passed
 * through without a copy unless resized, and the iterable is consumed once.
 */
export function rawFrames(
  buffers: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: RawSourceOptions,
): FrameSource {
  const name = options.name ?? "raw frames";
  const { width, height, resize } = options;
  checkSize({ width, height }, name);
  checkSize(resize, name);
  const fps = options.fps ?? 30;
  checkFps(fps, name);
  const expected = width * height * 3;
  const out = resize ?? { width, height };
  return {
    name,
    sourceSize: { width, height },
    width: out.width,
    height: out.height,
    fps,
    frameCount: options.frameCount,
    async *[Symbol.asyncIterator]() {
      let index = 0;
      for await (const buffer of buffers) {
        check(
          buffer instanceof Uint8Array && buffer.length === expected,
          `frame has ${buffer instanceof Uint8Array ? `${buffer.length} bytes` : "no byte buffer"}, ` +
            `expected ${width}×${height}×3 = ${expected}`,
          undefined,
          `${name}: frame ${index}`,
        );
        let data = buffer;
        if (resize) {
          const resized = await sharp(buffer, { raw: { width, height, channels: 3 } })
            .resize(resize.width, resize.height, { fit: "fill" })
            .raw()
            .toBuffer();
          data = new Uint8Array(resized.buffer, resized.byteOffset, resized.length);
        }
        yield { index, timestampMs: (index * 1000) / fps, width: out.width, height: out.height, data };
        index++;
      }
    },
  };
}

/** One video of a YouTube-VIS split. */
export interface YtvisSplitVideo {
  video: YtvisVideo;
  /** The video's frames (JPEGImages/<file_names[i]>), each checked against the annotated size. */
  frames(options?: ImageSourceOptions): Promise<FrameSource>;
}

export interface YtvisSplit {
  dataset: YtvisDataset;
  videos: YtvisSplitVideo[];
}

/**
 * The videos of a YouTube-VIS / OVIS split: the annotation JSON (read and validated by `readYtvis`) and
 * the folder its `file_names` are relative to (the split's `JPEGImages`). Default fps is 6: YouTube-VIS
 * annotates every 5th frame of 30 fps video.
 */
export async function openYtvisSplit(annotationFile: string, imagesDir: string): Promise<YtvisSplit> {
  const dataset = await readYtvis(annotationFile);
  try {
    if (!(await stat(imagesDir)).isDirectory()) throw new Error("not a folder");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new VidsegError(
      code === "ENOENT" ? "images folder not found" : `cannot use images folder: ${(error as Error).message}`,
      imagesDir,
    );
  }
  const videos = dataset.videos.map((video, v) => {
    const files = video.file_names.map((name, f) =>
      resolveInside(imagesDir, name, annotationFile, `videos[${v}].file_names[${f}]`),
    );
    return {
      video,
      frames: (options: ImageSourceOptions = {}) =>
        imageFrames(files, {
          fps: 6,
          ...options,
          name: `${annotationFile}: video ${video.id}`,
          size: { width: video.width, height: video.height },
        }),
    };
  });
  return { dataset, videos };
}
