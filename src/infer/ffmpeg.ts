/**
 * Video decoding with the system's ffmpeg (Debian's `ffmpeg` package): ffprobe for the stream's size,
 * frame rate and frame count, ffmpeg for raw RGB frames over a pipe, read one frame at a time.
 *
 * The frame count is counted, not estimated: ffprobe lists the stream's packets (a demux pass without
 * decoding, about 10 ms per 1,000 frames). A container's own figures can be far off: an AVI with a
 * variable frame rate states its nominal-rate slot count (hundreds of "frames" for a few dozen real
 * ones), and a truncated file states the length it was meant to have. Comparing the packets' time span
 * with the stated duration is what tells a truncated file from a variable-rate one.
 *
 * Memory is bounded: the pipe is read only as fast as the consumer takes frames (the stream pauses and
 * ffmpeg blocks on a full pipe), so at most one frame plus the pipe's buffers are in memory. When the
 * consumer stops early, the ffmpeg process is terminated and reaped.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
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
  /**
   * Average frame rate (frames per second): the stream's stated average, unless the counted frames
   * disagree with it (a variable-rate AVI's nominal rate); then frames per second of the packets' span.
   */
  fps: number;
  /** Frames that decoding gives: the counted packets (else the stated count); undefined if unknown. */
  frameCount: number | undefined;
  /** The frame count the container states (its frame count, else its duration × rate), if it says. */
  statedFrames: number | undefined;
  /** Set when the packets end before the stream's stated duration: the file is truncated or damaged. */
  truncation: Truncation | undefined;
}

/** A stream that ends before its stated length. */
export interface Truncation {
  /** The container's frame count (or its duration × rate). */
  statedFrames: number;
  /** Readable frames (packets) in the file. */
  readableFrames: number;
  /** Seconds the container states, and seconds the readable packets span. */
  statedSeconds: number;
  readableSeconds: number;
}

export interface DecodeOptions extends FfmpegPaths {
  /** Output size (ffmpeg's scale filter); default the video's size. */
  resize?: { width: number; height: number };
  /** Resample to this frame rate (ffmpeg's fps filter); default: every decoded frame. */
  fps?: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  /**
   * Called once when ffmpeg has decoded to the end (not when the consumer stops early or decoding
   * fails), with the frames given and ffmpeg's decode errors: ffmpeg conceals a damaged frame or skips
   * it and still exits 0, so these lines are the only sign.
   */
  onFinished?: (report: DecodeReport) => void;
}

/** How a decode that ran to the end went. */
export interface DecodeReport {
  frames: number;
  /** ffmpeg's error lines (its `[decoder @ 0x…]` prefixes and the file name removed), distinct, in order. */
  errors: string[];
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

/**
 * A tool's stderr as distinct message lines, without what the VidsegError says already: the
 * `[h264 @ 0x55d8…]` component prefixes and the input file's name (however it was passed).
 */
function stderrLines(stderr: string, file: string): string[] {
  const names = [file, resolve(file), `file:${file}`, `file:${resolve(file)}`];
  const lines = new Set<string>();
  for (const raw of stderr.split("\n")) {
    let line = raw.trim().replace(/^(\[[^\]]* @ 0x[0-9a-f]+\]\s*)+/, "");
    const name = names.find((n) => line.startsWith(`${n}: `));
    if (name !== undefined) line = line.slice(name.length + 2);
    if (line !== "") lines.add(line);
  }
  return [...lines];
}

/** The last message line of a tool's stderr (see `stderrLines`), for error messages. */
function lastLine(stderr: string, file: string): string {
  const lines = stderrLines(stderr, file);
  return lines.length > 0 ? lines[lines.length - 1] : "no message";
}

/** Keeps the tail of a child's stderr (bounded, for error messages), from a line start. */
function collectStderr(child: ChildProcess, limit = 8192): () => string {
  let text = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    text += chunk;
    if (text.length > limit) {
      const lineStart = text.indexOf("\n", text.length - limit) + 1;
      text = text.slice(lineStart > 0 ? lineStart : text.length - limit);
    }
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
    "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,duration:stream_tags=rotate,DURATION:" +
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
  if (exit.code !== 0) throw new VidsegError(`cannot read video: ${lastLine(stderr(), file)}`, file);

  let parsed: {
    streams?: {
      width?: number;
      height?: number;
      avg_frame_rate?: string;
      r_frame_rate?: string;
      nb_frames?: string;
      duration?: string;
      tags?: { rotate?: string; DURATION?: string };
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
  const statedCount = Number.isInteger(nbFrames) && nbFrames > 0 ? nbFrames : undefined;
  // The stream's own duration (Matroska keeps it in a tag); the format's may include longer audio.
  const streamSeconds = positive(Number(stream.duration ?? parseClock(stream.tags?.DURATION)));
  const formatSeconds = positive(Number(parsed.format?.duration));
  const statedFrames = statedCount ?? roundOrUndefined((streamSeconds ?? formatSeconds ?? Number.NaN) * fps);

  const packets = await scanPackets(file, paths);
  const frameCount = packets.count > 0 ? packets.count : statedFrames;
  const span = packets.count > 0 ? packets.endSeconds - packets.startSeconds : 0;
  // A stated rate the counted frames do not fit (more than a frame or 1 % off) is a nominal rate.
  if (span > 0 && Math.abs(packets.count - fps * span) > Math.max(1, 0.01 * packets.count))
    fps = packets.count / span;

  let truncation: Truncation | undefined;
  const statedSeconds = streamSeconds ?? (statedCount !== undefined ? statedCount / fps : undefined);
  const slack = Math.max(2 / fps, 0.01 * (statedSeconds ?? 0));
  if (
    statedSeconds !== undefined &&
    span < statedSeconds - slack &&
    (statedCount === undefined || packets.count < statedCount)
  ) {
    truncation = {
      statedFrames: statedFrames ?? Math.round(statedSeconds * fps),
      readableFrames: packets.count,
      statedSeconds,
      readableSeconds: span,
    };
  }
  return {
    width: swap ? height! : width!,
    height: swap ? width! : height!,
    fps,
    frameCount,
    statedFrames,
    truncation,
  };
}

function positive(value: number): number | undefined {
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

function roundOrUndefined(value: number): number | undefined {
  return Number.isFinite(value) && value > 0 ? Math.round(value) : undefined;
}

/** Seconds of a Matroska DURATION tag ("00:01:02.500000000"); NaN if absent or malformed. */
function parseClock(clock: string | undefined): number {
  const match = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(clock ?? "");
  return match ? Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]) : Number.NaN;
}

/** The video stream's packets: how many, and the time they span (first start to last end), in seconds. */
interface PacketScan {
  count: number;
  startSeconds: number;
  endSeconds: number;
}

/**
 * Counts the first video stream's packets with ffprobe (demuxing only; lines are parsed as they come,
 * so memory stays constant). Each packet is one frame; a variable-rate AVI's empty "dropped frame"
 * chunks are not packets. Bytes missing from a truncated file are missing packets.
 */
async function scanPackets(file: string, paths: FfmpegPaths): Promise<PacketScan> {
  const tool = ffprobePath(paths);
  const args = [
    ...["-v", "error", "-select_streams", "v:0", "-of", "compact=p=0"],
    ...["-show_entries", "packet=pts_time,dts_time,duration_time", ffmpegFileArgument(file)],
  ];
  const child = spawn(tool, args, { stdio: ["ignore", "pipe", "pipe"] });
  const stderr = collectStderr(child);
  const scan: PacketScan = { count: 0, startSeconds: Infinity, endSeconds: -Infinity };
  const addLine = (line: string) => {
    if (line.trim() === "") return;
    const fields = Object.fromEntries(line.split("|").map((field) => field.split("=")));
    const pts = Number(fields.pts_time);
    const time = Number.isFinite(pts) ? pts : Number(fields.dts_time);
    const duration = Number(fields.duration_time);
    scan.count++;
    if (!Number.isFinite(time)) return;
    scan.startSeconds = Math.min(scan.startSeconds, time);
    scan.endSeconds = Math.max(scan.endSeconds, time + (Number.isFinite(duration) ? duration : 0));
  };
  let partial = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    lines.forEach(addLine);
  });
  const exit = await exitOf(child);
  addLine(partial);
  if (exit.error) throw spawnError("ffprobe", tool, exit.error, file);
  if (exit.code !== 0) throw new VidsegError(`cannot read video: ${lastLine(stderr(), file)}`, file);
  if (scan.startSeconds > scan.endSeconds) return { count: scan.count, startSeconds: 0, endSeconds: 0 };
  return scan;
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
        `ffmpeg failed (exit ${result.code ?? result.signal}): ${lastLine(stderr(), file)}`,
        file,
      );
    }
    if (filled !== 0) throw new VidsegError(`ffmpeg output ends inside frame ${index}`, file);
    options.onFinished?.({ frames: index, errors: stderrLines(stderr(), file) });
  } finally {
    if (!finished) await stopProcess(child, exit);
  }
}
