/**
 * Animations written frame by frame, so that memory stays constant whatever the number of frames:
 *
 * - GIF: one global palette (no colour flicker between frames) quantised from the first
 *   `PALETTE_SAMPLE_FRAMES` frames plus a swatch of the overlay colours of the first `PALETTE_IDS` track
 *   ids (so tracks that appear later keep their colour); those few frames are buffered, every later
 *   frame is quantised and appended to the file at once.
 * - MP4: raw RGB frames piped to the system's ffmpeg (`-f rawvideo` → libx264, yuv420p), which
 *   encodes as they arrive.
 *
 * Both write to a temporary file in the target folder and rename it at the end, so the animation
 * appears whole or not at all.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { VidsegError, check } from "../core/errors.js";
import { temporaryPath } from "../core/fs.js";
import { ffmpegFileArgument } from "../core/paths.js";
import { gifenc, toRgba } from "./gif.js";
import type { RgbImage } from "./image.js";
import { idColour } from "./overlay.js";

export type AnimationFormat = "gif" | "mp4";

export interface AnimationWriter {
  readonly path: string;
  /** Frames written so far. */
  readonly frameCount: number;
  /** Appends a frame (all frames must have one size). */
  add(frame: RgbImage): Promise<void>;
  /** Completes the file and renames it into place. */
  finish(): Promise<void>;
  /** Stops and removes the partial file (after an error). */
  abort(): Promise<void>;
}

/** Frames buffered to choose the GIF palette. */
export const PALETTE_SAMPLE_FRAMES = 16;
/** Track ids whose overlay colours are always in the GIF palette. */
export const PALETTE_IDS = 32;

/**
 * Overlay colours of the first PALETTE_IDS ids, pure (outlines) and blended with black, grey and white
 * (translucent fills over dark, mid and light backgrounds), repeated so that quantisation keeps them.
 */
function idSwatch(): Uint8Array {
  const colours: number[][] = [];
  for (let id = 1; id <= PALETTE_IDS; id++) {
    const c = idColour(id);
    colours.push([...c]);
    for (const background of [0, 128, 255])
      colours.push(c.map((v) => Math.round(v * 0.45 + background * 0.55)));
  }
  const repeat = 64;
  const rgba = new Uint8Array(colours.length * repeat * 4);
  colours.forEach((c, i) => {
    for (let k = 0; k < repeat; k++) rgba.set([c[0], c[1], c[2], 255], (i * repeat + k) * 4);
  });
  return rgba;
}

class GifWriter implements AnimationWriter {
  frameCount = 0;
  private readonly temp: string;
  private file: FileHandle | undefined;
  private readonly encoder = gifenc.GIFEncoder({ auto: false });
  private palette: number[][] | undefined;
  private pending: Uint8Array[] = [];
  private size: { width: number; height: number } | undefined;
  private readonly delay: number;
  /** Whether the first frame (which carries the global palette) is written. */
  private started = false;

  constructor(
    readonly path: string,
    fps: number,
  ) {
    this.temp = temporaryPath(path);
    this.delay = Math.round(1000 / fps);
  }

  async add(frame: RgbImage): Promise<void> {
    this.size ??= { width: frame.width, height: frame.height };
    if (frame.width !== this.size.width || frame.height !== this.size.height)
      throw new Error(`animation frames differ in size (${frame.width}×${frame.height})`);
    const rgba = toRgba(frame);
    this.frameCount++;
    if (!this.palette) {
      this.pending.push(rgba);
      if (this.pending.length >= PALETTE_SAMPLE_FRAMES) await this.flushPending();
      return;
    }
    await this.writeFrame(rgba);
  }

  async finish(): Promise<void> {
    if (this.frameCount === 0) throw new Error("animation has no frames");
    if (!this.palette) await this.flushPending();
    this.encoder.finish();
    await this.flush();
    await this.file!.close();
    this.file = undefined;
    await rename(this.temp, this.path);
  }

  async abort(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
    await rm(this.temp, { force: true });
  }

  private async flushPending(): Promise<void> {
    const swatch = idSwatch();
    const sample = new Uint8Array(this.pending.reduce((n, a) => n + a.length, swatch.length));
    let offset = 0;
    for (const rgba of [...this.pending, swatch]) {
      sample.set(rgba, offset);
      offset += rgba.length;
    }
    this.palette = gifenc.quantize(sample, 256);
    await mkdir(dirname(this.path), { recursive: true });
    this.file = await open(this.temp, "w");
    this.encoder.writeHeader();
    const pending = this.pending;
    this.pending = [];
    for (const rgba of pending) await this.writeFrame(rgba);
  }

  private async writeFrame(rgba: Uint8Array): Promise<void> {
    const { width, height } = this.size!;
    const index = gifenc.applyPalette(rgba, this.palette!);
    const first = !this.started;
    this.encoder.writeFrame(index, width, height, {
      first,
      palette: first ? this.palette : undefined,
      delay: this.delay,
      repeat: 0,
    });
    this.started = true;
    await this.flush();
  }

  /** Appends the encoder's bytes to the file and empties its buffer. */
  private async flush(): Promise<void> {
    const bytes = this.encoder.bytesView();
    if (bytes.length > 0) await this.file!.write(bytes);
    this.encoder.reset();
  }
}

/** ffmpeg executable: $VIDSEG_FFMPEG, else `ffmpeg` on the PATH (as the video source uses). */
export function ffmpegExecutable(): string {
  return process.env.VIDSEG_FFMPEG || "ffmpeg";
}

const FFMPEG_HINT = "install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg) or use --animation gif";

/** Whether MP4 animations can be written: ffmpeg runs and has the libx264 encoder. */
export async function mp4EncoderAvailable(): Promise<boolean> {
  try {
    await checkMp4Encoder();
    return true;
  } catch (error) {
    if (error instanceof VidsegError) return false;
    throw error;
  }
}

/** Throws a clear VidsegError unless ffmpeg runs and has the libx264 encoder. */
export async function checkMp4Encoder(): Promise<void> {
  const tool = ffmpegExecutable();
  const child = spawn(tool, ["-hide_banner", "-encoders"], { stdio: ["ignore", "pipe", "ignore"] });
  let stdout = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => (stdout += chunk));
  const exit = await new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.once("error", (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.once("close", (code) => resolve({ code }));
  });
  if (exit.error?.code === "ENOENT")
    throw new VidsegError(`ffmpeg not found (looked for "${tool}"); ${FFMPEG_HINT}`);
  if (exit.error || exit.code !== 0)
    throw new VidsegError(`cannot run ffmpeg ("${tool}"): ${exit.error?.message ?? `exit ${exit.code}`}`);
  if (!/\blibx264\b/.test(stdout))
    throw new VidsegError(`this ffmpeg ("${tool}") has no libx264 encoder; ${FFMPEG_HINT}`);
}

class Mp4Writer implements AnimationWriter {
  frameCount = 0;
  private readonly temp: string;
  private child: ChildProcess | undefined;
  private exit: Promise<{ code: number | null; error?: NodeJS.ErrnoException }> | undefined;
  private stderr = "";
  private size: { width: number; height: number } | undefined;

  constructor(
    readonly path: string,
    private readonly fps: number,
  ) {
    this.temp = temporaryPath(path);
  }

  async add(frame: RgbImage): Promise<void> {
    if (!this.child) await this.start(frame.width, frame.height);
    if (frame.width !== this.size!.width || frame.height !== this.size!.height)
      throw new Error(`animation frames differ in size (${frame.width}×${frame.height})`);
    this.frameCount++;
    const stdin = this.child!.stdin!;
    const data = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length);
    if (!stdin.write(data)) {
      // Back-pressure: wait until ffmpeg has taken the frame (or has died; then finish() reports why).
      await new Promise<void>((resolve) => {
        stdin.once("drain", resolve);
        void this.exit!.then(() => resolve());
      });
    }
  }

  async finish(): Promise<void> {
    if (!this.child) throw new Error("animation has no frames");
    this.child.stdin!.end();
    const exit = await this.exit!;
    this.child = undefined;
    if (exit.error || exit.code !== 0) {
      await rm(this.temp, { force: true });
      const line = this.stderr.trim().split("\n").pop() ?? "";
      throw new VidsegError(
        `ffmpeg failed to encode the animation (${exit.error?.message ?? `exit ${exit.code}`}): ${line}`,
        this.path,
      );
    }
    await rename(this.temp, this.path);
  }

  async abort(): Promise<void> {
    if (this.child) {
      this.child.stdin!.destroy();
      this.child.kill("SIGTERM");
      await this.exit;
      this.child = undefined;
    }
    await rm(this.temp, { force: true });
  }

  private async start(width: number, height: number): Promise<void> {
    this.size = { width, height };
    await mkdir(dirname(this.path), { recursive: true });
    const args = [
      ...["-y", "-v", "error"],
      ...["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${width}x${height}`, "-r", String(this.fps)],
      ...["-i", "pipe:0", "-an"],
      // yuv420p (what players expect) needs even sizes: pad by one pixel where odd.
      ...["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p"],
      ...[
        "-crf",
        "20",
        "-preset",
        "veryfast",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        ffmpegFileArgument(this.temp),
      ],
    ];
    const child = spawn(ffmpegExecutable(), args, { stdio: ["pipe", "ignore", "pipe"] });
    this.child = child;
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4096)));
    // A dead ffmpeg makes writes fail with EPIPE; the exit status explains it in finish().
    child.stdin!.on("error", () => undefined);
    this.exit = new Promise((resolve) => {
      child.once("error", (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
      child.once("close", (code) => resolve({ code }));
    });
  }
}

/** The longest GIF the default policy writes, in frames (5 s at 30 fps). */
export const GIF_MAX_FRAMES = 150;
/** The longest side of a GIF the default policy writes, in pixels. */
export const GIF_MAX_SIDE = 320;
/** The longest side of an MP4 (H.264 stays small at this size). */
export const MP4_MAX_SIDE = 640;
/**
 * GIF bytes per pixel per frame for overlaid camera footage, measured: 92 MB for 795 frames of
 * 640×360 (OpenCV's pedestrian clip). GIF's LZW on dithered natural images barely compresses.
 */
const GIF_BYTES_PER_PIXEL = 0.5;

/** What an inference job's `animation` option may ask for: a format, the policy's choice, or none. */
export const ANIMATION_REQUESTS = ["auto", "gif", "mp4", "none"] as const;

/** One error line naming `--animation` unless `requested` is one of {@link ANIMATION_REQUESTS}. */
export function checkAnimationRequest(requested: string): void {
  check(
    (ANIMATION_REQUESTS as readonly string[]).includes(requested),
    `expected auto, gif, mp4 or none, got "${requested}"`,
    undefined,
    "--animation",
  );
}

export interface AnimationPolicyInput {
  /** Frames of the video (after --max-frames); undefined when unknown. */
  frames: number | undefined;
  /** Frame size. */
  width: number;
  height: number;
  /** Whether MP4 can be written (see `mp4EncoderAvailable`). */
  ffmpegAvailable: boolean;
}

export interface AnimationPolicy {
  /** The format to write, or "none" when no format fits. */
  format: AnimationFormat | "none";
  /** Scale the frames down so that their longest side is at most this. */
  maxSide: number;
  /** One line on why, for the console: e.g. why there is no animation and how to get one. */
  reason: string;
}

/** Size of a frame after scaling its longest side down to `maxSide` (never up). */
function fitted(width: number, height: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * The default animation format, when the user names none:
 *
 * - MP4 (H.264, longest side ≤ MP4_MAX_SIDE) whenever ffmpeg with libx264 is present. Measured with
 *   these writers on 300 frames of 640×360 (ffmpeg's mandelbrot source with light grain): MP4 2.8 MB in
 *   7 s, GIF 21 MB in 26 s; a user's 795-frame 640×360 clip gave a 92 MB GIF.
 * - Otherwise GIF, but only for short clips (≤ GIF_MAX_FRAMES frames), scaled down to GIF_MAX_SIDE:
 *   about 4 MB at most (150 frames of 320×180; 300 such frames measured 8.4 MB).
 * - Otherwise (long or unknown length, no ffmpeg) no animation, with a reason saying how to get one:
 *   install ffmpeg, or ask for a GIF explicitly.
 *
 * The PNG masks and the JSON results do not depend on this choice.
 */
export function defaultAnimationFormat(input: AnimationPolicyInput): AnimationPolicy {
  const { frames, width, height, ffmpegAvailable } = input;
  if (ffmpegAvailable) return { format: "mp4", maxSide: MP4_MAX_SIDE, reason: "MP4: ffmpeg is installed" };
  const gif = fitted(width, height, GIF_MAX_SIDE);
  if (frames !== undefined && frames <= GIF_MAX_FRAMES)
    return {
      format: "gif",
      maxSide: GIF_MAX_SIDE,
      reason: `GIF: no ffmpeg for MP4, and ${frames} frames is short enough for a GIF of ${gif.width}×${gif.height}`,
    };
  const megabytes = (n: number) =>
    `about ${Math.round((n * gif.width * gif.height * GIF_BYTES_PER_PIXEL) / 1e6)} MB`;
  const length =
    frames === undefined
      ? "the video's length is unknown"
      : `${frames} frames is too long for a GIF (${megabytes(frames)} at ${gif.width}×${gif.height})`;
  return {
    format: "none",
    maxSide: GIF_MAX_SIDE,
    reason: `no animation: ${length}; install ffmpeg for an MP4, or ask for a GIF explicitly`,
  };
}

/** Small videos are enlarged by an integer factor to at least this side in the animation. */
const ANIMATION_MIN_SIDE = 256;

/** An animation frame's size, its nearest-neighbour source rows and columns, and the label scale. */
export interface AnimationGeometry {
  width: number;
  height: number;
  xs: Int32Array;
  ys: Int32Array;
  textScale: number;
}

/**
 * The animation size for a frame size: small videos enlarged by an integer factor (crisp pixels) to at
 * least ANIMATION_MIN_SIDE (1.5× it if possible), large ones scaled down to `maxSide`.
 */
export function animationGeometry(width: number, height: number, maxSide: number): AnimationGeometry {
  const side = Math.max(width, height);
  const enlarge = Math.max(
    Math.ceil(ANIMATION_MIN_SIDE / side),
    Math.floor((1.5 * ANIMATION_MIN_SIDE) / side),
  );
  const scale = side < ANIMATION_MIN_SIDE ? enlarge : side > maxSide ? maxSide / side : 1;
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

/** Row-major pixels (`channels` per pixel) of a `srcWidth`-wide image at the geometry's size. */
export function resampleNearest(
  data: Uint8Array | Uint8ClampedArray,
  srcWidth: number,
  g: AnimationGeometry,
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

/** A frame-by-frame animation writer for `path` (see the module comment). */
export function createAnimationWriter(format: AnimationFormat, path: string, fps: number): AnimationWriter {
  return format === "gif" ? new GifWriter(path, fps) : new Mp4Writer(path, fps);
}
