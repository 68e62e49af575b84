/**
 * Video decoding with the system's ffmpeg (Debian's `ffmpeg` package): ffprobe for the stream's size
 * and frame rate, ffmpeg for raw RGB frames over a pipe, read one frame at a time.
 *
 * Memory is bounded: the pipe is read only as fast as the consumer takes frames (the stream pauses and
 * ffmpeg blocks on a full pipe), so at most one frame plus the pipe's buffers are in memory. When the
 * consumer stops early, the ffmpeg process is terminated and reaped.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { VidsegError } from "../core/errors.js";
import { parseJson } from "../core/json.js";
import { ffmpegFileArgument } from "../core/paths.js";

export interface FfmpegPaths {
  /** ffmpeg executable. Default: $VIDSEG_FFMPEG, else `ffmpeg` on the PATH. */
  ffmpegPath?: string;
  /** ffprobe executable. Default: $VIDSEG_FFPROBE, else `ffprobe` on the PATH. */
  ffprobePath?: string;
}

/** What ffprobe reports about a file's first video stream. */
export interface VideoInfo {
  /** Displayed size (after the rotation ffmpeg applies by default). */
  width: number;
  height: number;
  /** Average frame rate (frames per second). */
  fps: number;
  /** Number of frames when the container says, else estimated from the duration; undefined if neither. */
  frameCount: number | undefined;
}

export interface DecodeOptions extends FfmpegPaths {
  /** Output size (ffmpeg's scale filter); default the video's size. */
  resize?: { width: number; height: number };
  /** Resample to this frame rate (ffmpeg's fps filter); default: every decoded frame. */
  fps?: number;
  /** Stop after this many frames. */
  maxFrames?: number;
}

/** One decoded frame: RGB bytes, row-major. */
export interface RawVideoFrame {
  index: number;
  width: number;
  height: number;
  data: Uint8Array;
}

const INSTALL_HINT = "install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)";

function ffmpegPath(paths: FfmpegPaths): string {
  return paths.ffmpegPath ?? process.env.VIDSEG_FFMPEG ?? "ffmpeg";
}

function ffprobePath(paths: FfmpegPaths): string {
  return paths.ffprobePath ?? process.env.VIDSEG_FFPROBE ?? "ffprobe";
}

/** The error for a tool that could not be started (ENOENT: not installed). */
function spawnError(tool: string, path: string, error: NodeJS.ErrnoException, file: string): VidsegError {
  if (error.code === "ENOENT")
    return new VidsegError(`${tool} not found (looked for "${path}"); ${INSTALL_HINT}`, file);
  return new VidsegError(`cannot run ${tool} ("${path}"): ${error.message}`, file);
}

/** The last non-empty line of a tool's stderr, for error messages. */
function lastLine(stderr: string): string {
  const lines = stderr
    .trim()
    .split("\n")
    .filter((line) => line.trim() !== "");
  return lines.length > 0 ? lines[lines.length - 1].trim() : "no message";
}

/** Keeps the tail of a child's stderr (bounded, for error messages). */
function collectStderr(child: ChildProcess, limit = 8192): () => string {
  let text = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: NodeJS.ErrnoException;
}

/** Resolves when the child has exited and its streams are closed (or it failed to start). */
function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once("error", (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
}

function checkFile(file: string): void {
  if (!existsSync(file)) throw new VidsegError("file not found", file);
}

/** Parses "30000/1001" or "25" to a number; NaN for "0/0" or garbage. */
function parseRate(rate: unknown): number {
  if (typeof rate !== "string") return Number.NaN;
  const [num, den] = rate.split("/").map(Number);
  const value = den === undefined ? num : num / den;
  return Number.isFinite(value) && value > 0 ? value : Number.NaN;
}

/** Probes the first video stream of a file with ffprobe. */
export async function probeVideo(file: string, paths: FfmpegPaths = {}): Promise<VideoInfo> {
  checkFile(file);
  const tool = ffprobePath(paths);
  const args = [
    ...["-v", "error", "-select_streams", "v:0", "-of", "json"],
    "-show_entries",
    "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,duration:stream_tags=rotate:" +
      "stream_side_data=rotation:format=duration",
    ffmpegFileArgument(file),
  ];
  const child = spawn(tool, args, { stdio: ["ignore", "pipe", "pipe"] });
  const stderr = collectStderr(child);
  let stdout = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => (stdout += chunk));
  const exit = await exitOf(child);
  if (exit.error) throw spawnError("ffprobe", tool, exit.error, file);
  if (exit.code !== 0) throw new VidsegError(`cannot read video: ${lastLine(stderr())}`, file);

  let parsed: {
    streams?: {
      width?: number;
      height?: number;
      avg_frame_rate?: string;
      r_frame_rate?: string;
      nb_frames?: string;
      duration?: string;
      tags?: { rotate?: string };
      side_data_list?: { rotation?: number }[];
    }[];
    format?: { duration?: string };
  };
  try {
    parsed = parseJson(stdout, file) as typeof parsed;
  } catch {
    throw new VidsegError("ffprobe printed malformed JSON", file);
  }
  const stream = parsed.streams?.[0];
  if (!stream) throw new VidsegError("no video stream", file);
  const { width, height } = stream;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width! <= 0 || height! <= 0) {
    throw new VidsegError("video stream has no valid width/height", file);
  }
  let fps = parseRate(stream.avg_frame_rate);
  if (Number.isNaN(fps)) fps = parseRate(stream.r_frame_rate);
  if (Number.isNaN(fps)) throw new VidsegError("video stream has no frame rate", file);

  // ffmpeg rotates displaymatrix-tagged (phone) videos by default, so the decoded size is swapped.
  const rotation = Number(
    stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? stream.tags?.rotate ?? 0,
  );
  const swap = Math.abs(rotation) % 180 === 90;

  const nbFrames = Number(stream.nb_frames);
  const duration = Number(stream.duration ?? parsed.format?.duration);
  const frameCount =
    Number.isInteger(nbFrames) && nbFrames > 0
      ? nbFrames
      : Number.isFinite(duration) && duration > 0
        ? Math.round(duration * fps)
        : undefined;
  return { width: swap ? height! : width!, height: swap ? width! : height!, fps, frameCount };
}

/** Asks a child to stop (SIGTERM, then SIGKILL after `graceMs`) and waits until it is reaped. */
async function stopProcess(child: ChildProcess, exit: Promise<Exit>, graceMs = 2000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exit;
    clearTimeout(timer);
  } else {
    await exit;
  }
}

/**
 * Decodes a video to RGB frames of `info`'s size (or `options.resize`), one at a time. `info` is the
 * file's probe (see `probeVideo`). Breaking out of the loop terminates ffmpeg.
 */
export async function* decodeVideo(
  file: string,
  info: VideoInfo,
  options: DecodeOptions = {},
): AsyncGenerator<RawVideoFrame, void, undefined> {
  checkFile(file);
  const width = options.resize?.width ?? info.width;
  const height = options.resize?.height ?? info.height;
  const filters: string[] = [];
  if (options.fps !== undefined) filters.push(`fps=${options.fps}`);
  if (options.resize) filters.push(`scale=${width}:${height}`);
  const tool = ffmpegPath(options);
  const args = [
    ...["-v", "error", "-nostdin", "-i", ffmpegFileArgument(file), "-map", "0:v:0"],
    // Every decoded frame once: no duplication or dropping to force a constant rate.
    ...["-fps_mode", "passthrough"],
    ...(filters.length > 0 ? ["-vf", filters.join(",")] : []),
    ...(options.maxFrames !== undefined ? ["-frames:v", String(options.maxFrames)] : []),
    ...["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
  ];
  const child = spawn(tool, args, { stdio: ["ignore", "pipe", "pipe"] });
  const exit = exitOf(child);
  const stderr = collectStderr(child);

  const frameBytes = width * height * 3;
  let frame = new Uint8Array(frameBytes);
  let filled = 0;
  let index = 0;
  let finished = false;
  try {
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - offset);
        frame.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === frameBytes) {
          yield { index: index++, width, height, data: frame };
          frame = new Uint8Array(frameBytes); // the consumer may keep the previous one
          filled = 0;
        }
      }
    }
    const result = await exit;
    finished = true;
    if (result.error) throw spawnError("ffmpeg", tool, result.error, file);
    if (result.code !== 0) {
      throw new VidsegError(
        `ffmpeg failed (exit ${result.code ?? result.signal}): ${lastLine(stderr())}`,
        file,
      );
    }
    if (filled !== 0) throw new VidsegError(`ffmpeg output ends inside frame ${index}`, file);
  } finally {
    if (!finished) await stopProcess(child, exit);
  }
}
