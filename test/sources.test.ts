import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VidsegError } from "../src/core/errors.js";
import {
  openFrameFolder,
  openVideo,
  openYtvisSplit,
  rawFrames,
  type Frame,
  type FrameSource,
} from "../src/infer/sources.js";

const hasFfmpeg =
  spawnSync("ffmpeg", ["-version"]).status === 0 && spawnSync("ffprobe", ["-version"]).status === 0;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vidseg-sources-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Rgb = [number, number, number];

/** A solid-colour RGB image file (format from the extension). */
async function writeSolid(file: string, width: number, height: number, [r, g, b]: Rgb): Promise<void> {
  await sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).toFile(file);
}

async function collect(source: FrameSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of source) frames.push(frame);
  return frames;
}

/** Mean colour of a frame. */
function meanColour(frame: Frame): Rgb {
  const sum = [0, 0, 0];
  for (let i = 0; i < frame.data.length; i++) sum[i % 3] += frame.data[i];
  const n = frame.width * frame.height;
  return sum.map((s) => s / n) as Rgb;
}

/** Largest per-channel difference of every pixel from a colour. */
function maxDeviation(frame: Frame, colour: Rgb): number {
  let worst = 0;
  for (let i = 0; i < frame.data.length; i++)
    worst = Math.max(worst, Math.abs(frame.data[i] - colour[i % 3]));
  return worst;
}

/** Ten distinct, saturated-but-not-extreme colours (video codecs clip near 0 and 255). */
const COLOURS: Rgb[] = Array.from({ length: 10 }, (_, i) => [
  40 + ((i * 53) % 170),
  200 - ((i * 37) % 160),
  60 + ((i * 71) % 140),
]);

async function expectVidsegError(promise: Promise<unknown>, pattern: RegExp): Promise<VidsegError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VidsegError);
  expect((error as Error).message).toMatch(pattern);
  return error as VidsegError;
}

describe("frame folder", () => {
  it("reads jpg/png frames in natural name order, with timestamps from fps", async () => {
    const folder = join(dir, "folder");
    mkdirSync(folder);
    // Names whose plain string order (1, 10, 2, 9) differs from the natural order (1, 2, 9, 10).
    const names = ["frame1.png", "frame2.PNG", "frame9.jpg", "frame10.png"];
    for (const [i, name] of names.entries()) await writeSolid(join(folder, name), 6, 4, COLOURS[i]);
    writeFileSync(join(folder, "notes.txt"), "not a frame");

    const source = await openFrameFolder(folder, { fps: 5 });
    expect([source.width, source.height, source.frameCount, source.fps]).toEqual([6, 4, 4, 5]);
    expect(source.sourceSize).toEqual({ width: 6, height: 4 });
    const frames = await collect(source);
    expect(frames.map((f) => f.index)).toEqual([0, 1, 2, 3]);
    expect(frames.map((f) => f.timestampMs)).toEqual([0, 200, 400, 600]);
    for (const [i, frame] of frames.entries()) {
      expect([frame.width, frame.height, frame.data.length]).toEqual([6, 4, 6 * 4 * 3]);
      // PNG is exact; JPEG (frame 2) is close on a solid colour.
      expect(maxDeviation(frame, COLOURS[i])).toBeLessThanOrEqual(i === 2 ? 3 : 0);
    }
    // A second pass starts again from the first frame.
    expect((await collect(source)).length).toBe(4);
  });

  it("resizes every frame to the target size", async () => {
    const folder = join(dir, "resize");
    mkdirSync(folder);
    // Left half red, right half blue, 40×20 → 4×2: the left two columns red, the right two blue.
    const data = new Uint8Array(40 * 20 * 3);
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 40; x++) data.set(x < 20 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
    }
    await sharp(data, { raw: { width: 40, height: 20, channels: 3 } })
      .png()
      .toFile(join(folder, "00000.png"));
    await writeSolid(join(folder, "00001.png"), 40, 20, [10, 200, 30]);
    const source = await openFrameFolder(folder, { resize: { width: 4, height: 2 } });
    expect([source.width, source.height]).toEqual([4, 2]);
    expect(source.sourceSize).toEqual({ width: 40, height: 20 });
    const [split, solid] = await collect(source);
    expect([split.width, split.height, split.data.length]).toEqual([4, 2, 24]);
    // Lanczos resampling rings slightly at the edge: within 16 levels of the ideal halves.
    const ideal = [...[255, 0, 0, 255, 0, 0], ...[0, 0, 255, 0, 0, 255]];
    for (let y = 0; y < 2; y++) {
      split.data
        .subarray(y * 12, y * 12 + 12)
        .forEach((v, i) => expect(Math.abs(v - ideal[i])).toBeLessThanOrEqual(16));
    }
    expect(maxDeviation(solid, [10, 200, 30])).toBe(0);
  });

  it("expands grey and drops alpha to RGB", async () => {
    const folder = join(dir, "channels");
    mkdirSync(folder);
    await sharp(new Uint8Array(6).fill(77), { raw: { width: 3, height: 2, channels: 1 } })
      .toColourspace("b-w")
      .png()
      .toFile(join(folder, "a.png"));
    await sharp({
      create: { width: 3, height: 2, channels: 4, background: { r: 9, g: 8, b: 7, alpha: 0.5 } },
    })
      .png()
      .toFile(join(folder, "b.png"));
    const [grey, alpha] = await collect(await openFrameFolder(folder));
    expect(Array.from(grey.data)).toEqual(new Array(18).fill(77));
    expect(Array.from(alpha.data.subarray(0, 3))).toEqual([9, 8, 7]);
  });

  it("names the folder or the frame in its errors", async () => {
    await expectVidsegError(openFrameFolder(join(dir, "missing")), /missing: folder not found/);
    const empty = join(dir, "empty");
    mkdirSync(empty);
    writeFileSync(join(empty, "x.txt"), "");
    await expectVidsegError(openFrameFolder(empty), /empty: no \.jpg\/\.jpeg\/\.png frames/);

    const mixed = join(dir, "mixed");
    mkdirSync(mixed);
    await writeSolid(join(mixed, "0.png"), 6, 4, [1, 2, 3]);
    await writeSolid(join(mixed, "1.png"), 5, 4, [1, 2, 3]);
    const source = await openFrameFolder(mixed);
    const error = await expectVidsegError(collect(source), /1\.png: frame 1: image is 5×4, expected 6×4/);
    expect(error.file).toBe(join(mixed, "1.png"));

    const corrupt = join(dir, "corrupt");
    mkdirSync(corrupt);
    await writeSolid(join(corrupt, "0.png"), 6, 4, [1, 2, 3]);
    writeFileSync(join(corrupt, "1.jpg"), "not a jpeg");
    await expectVidsegError(collect(await openFrameFolder(corrupt)), /1\.jpg: frame 1: cannot read image/);
  });
});

describe("raw RGB buffers", () => {
  it("passes valid buffers through and resizes on request", async () => {
    const buffers = COLOURS.slice(0, 3).map((c) => {
      const data = new Uint8Array(4 * 2 * 3);
      for (let i = 0; i < data.length; i++) data[i] = c[i % 3];
      return data;
    });
    const frames = await collect(rawFrames(buffers, { width: 4, height: 2, fps: 10 }));
    expect(frames.map((f) => [f.index, f.timestampMs, f.width, f.height])).toEqual([
      [0, 0, 4, 2],
      [1, 100, 4, 2],
      [2, 200, 4, 2],
    ]);
    expect(frames[1].data).toBe(buffers[1]); // no copy

    async function* generate(): AsyncGenerator<Uint8Array> {
      yield* buffers;
    }
    const resized = await collect(
      rawFrames(generate(), { width: 4, height: 2, resize: { width: 2, height: 1 } }),
    );
    expect(resized).toHaveLength(3);
    expect(resized[2].data.length).toBe(6);
    expect(maxDeviation(resized[2], COLOURS[2])).toBe(0);
  });

  it("rejects a buffer of the wrong length, naming the frame index", async () => {
    const good = new Uint8Array(4 * 2 * 3);
    const source = rawFrames([good, good, new Uint8Array(23)], { width: 4, height: 2, name: "camera" });
    await expectVidsegError(collect(source), /camera: frame 2: frame has 23 bytes, expected 4×2×3 = 24/);
    expect(() => rawFrames([], { width: 0, height: 2 })).toThrow(VidsegError);
  });
});

describe.skipIf(!hasFfmpeg)("video file (ffmpeg; skipped when ffmpeg/ffprobe are not installed)", () => {
  let clip: string;
  let longClip: string;
  beforeAll(async () => {
    // 10 frames of solid colours at 10 fps, 32×16, H.264.
    const pngs = join(dir, "clip-frames");
    mkdirSync(pngs);
    for (let i = 0; i < 10; i++)
      await writeSolid(join(pngs, `${String(i).padStart(2, "0")}.png`), 32, 16, COLOURS[i]);
    clip = join(dir, "clip.mp4");
    execFileSync("ffmpeg", [
      ...["-v", "error", "-y", "-framerate", "10", "-i", join(pngs, "%02d.png")],
      ...["-c:v", "libx264", "-pix_fmt", "yuv444p", "-crf", "1", clip],
    ]);
    // 300 frames at 64×48: 2.7 MB of RGB, more than the pipe holds, so ffmpeg is still running mid-way.
    longClip = join(dir, "long.mp4");
    execFileSync("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-frames:v", "300"],
      ...["-c:v", "libx264", "-pix_fmt", "yuv420p", longClip],
    ]);
  });

  it("decodes every frame with its size, timestamps and colours", async () => {
    const source = await openVideo(clip);
    expect(source.info).toEqual({ width: 32, height: 16, fps: 10, frameCount: 10, statedFrames: 10 });
    expect([source.width, source.height, source.frameCount]).toEqual([32, 16, 10]);
    const frames = await collect(source);
    expect(frames).toHaveLength(10);
    for (const [i, frame] of frames.entries()) {
      expect([frame.index, frame.timestampMs, frame.width, frame.height, frame.data.length]).toEqual([
        i,
        i * 100,
        32,
        16,
        32 * 16 * 3,
      ]);
      // YUV round trip: within a few levels of the source colour.
      expect(maxDeviation(frame, COLOURS[i])).toBeLessThanOrEqual(6);
    }
  });

  it("scales, resamples and limits frames through ffmpeg", async () => {
    const source = await openVideo(clip, { resize: { width: 8, height: 6 }, fps: 5, maxFrames: 4 });
    expect([source.width, source.height, source.fps, source.frameCount]).toEqual([8, 6, 5, 4]);
    expect(source.sourceSize).toEqual({ width: 32, height: 16 });
    const frames = await collect(source);
    expect(frames.map((f) => [f.width, f.height, f.timestampMs])).toEqual([
      [8, 6, 0],
      [8, 6, 200],
      [8, 6, 400],
      [8, 6, 600],
    ]);
    // At 5 fps, frame k shows source frame 2k (ffmpeg's fps filter rounds to the nearest).
    for (const [k, frame] of frames.entries()) {
      const mean = meanColour(frame);
      const expected = COLOURS[2 * k];
      for (let c = 0; c < 3; c++) expect(Math.abs(mean[c] - expected[c])).toBeLessThanOrEqual(6);
    }
  });

  it("kills and reaps ffmpeg when the consumer stops early", async () => {
    const source = await openVideo(longClip);
    expect(source.frameCount).toBe(300);
    let ffmpegPid = 0;
    let taken = 0;
    for await (const frame of source) {
      expect(frame.data.length).toBe(64 * 48 * 3);
      if (++taken === 1) {
        const children = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], {
          encoding: "utf8",
        });
        const line = children.split("\n").find((l) => l.trim().endsWith("ffmpeg"));
        expect(line).toBeDefined();
        ffmpegPid = Number(line!.trim().split(/\s+/)[0]);
        expect(() => process.kill(ffmpegPid, 0)).not.toThrow(); // running, blocked on the full pipe
      }
      if (taken === 3) break;
    }
    expect(taken).toBe(3);
    // The iterator's cleanup waited for the exit: the process is gone (reaped, not a zombie).
    expect(() => process.kill(ffmpegPid, 0)).toThrow(/ESRCH/);
  });

  it("applies the rotation ffmpeg applies", async () => {
    const rotated = join(dir, "rotated.mp4");
    execFileSync("ffmpeg", [
      "-v",
      "error",
      "-y",
      "-i",
      clip,
      "-c",
      "copy",
      "-metadata:s:v",
      "rotate=90",
      rotated,
    ]);
    const source = await openVideo(rotated);
    expect([source.width, source.height]).toEqual([16, 32]);
    const [first] = await collect(source);
    expect([first.width, first.height]).toEqual([16, 32]);
  });

  it("gives a clear error for a missing or unreadable file and for missing ffmpeg/ffprobe", async () => {
    const missing = join(dir, "nope.mp4");
    const error = await expectVidsegError(openVideo(missing), /nope\.mp4: file not found/);
    expect(error.file).toBe(missing);

    const garbage = join(dir, "garbage.mp4");
    writeFileSync(garbage, "this is not a video");
    const unreadable = await expectVidsegError(
      openVideo(garbage),
      /garbage\.mp4: cannot read video: .*Invalid data/,
    );
    // The path is said once, by the VidsegError, not again by ffprobe's own message.
    expect(unreadable.message.split("garbage.mp4")).toHaveLength(2);

    await expectVidsegError(
      openVideo(clip, { ffprobePath: join(dir, "no-ffprobe") }),
      /clip\.mp4: ffprobe not found .*apt-get install ffmpeg/,
    );
    const noFfmpeg = await openVideo(clip, { ffmpegPath: join(dir, "no-ffmpeg") });
    await expectVidsegError(collect(noFfmpeg), /clip\.mp4: ffmpeg not found .*apt-get install ffmpeg/);
  });
});

describe.skipIf(!hasFfmpeg)("damaged and variable-rate videos (skipped without ffmpeg/ffprobe)", () => {
  /** 60 frames of ffmpeg's test pattern, 160×120 at 30 fps, H.264 with the index first (faststart). */
  function encodeTestClip(file: string): void {
    execFileSync("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30", "-frames:v", "60"],
      ...["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", file],
    ]);
  }

  /** Decodes a source to the end, collecting its warnings. */
  async function decodeAll(source: FrameSource, warnings: VidsegError[]): Promise<number> {
    let frames = 0;
    for await (const frame of source) {
      expect(frame.index).toBe(frames);
      frames++;
    }
    expect(warnings.every((w) => w instanceof VidsegError)).toBe(true);
    return frames;
  }

  it("a complete clip has no truncation and no warning", async () => {
    const file = join(dir, "whole.mp4");
    encodeTestClip(file);
    const warnings: VidsegError[] = [];
    const source = await openVideo(file, { onWarning: (w) => warnings.push(w), strict: false });
    expect(source.info).toEqual({ width: 160, height: 120, fps: 30, frameCount: 60, statedFrames: 60 });
    expect(await decodeAll(source, warnings)).toBe(60);
    expect(warnings).toEqual([]);
  });

  it("reports a video that ends before its stated length, and strict makes it an error", async () => {
    const file = join(dir, "truncated.mp4");
    encodeTestClip(file);
    const bytes = readFileSync(file).length;
    truncateSync(file, Math.floor(bytes / 2));

    const warnings: VidsegError[] = [];
    const source = await openVideo(file, { onWarning: (w) => warnings.push(w) });
    const truncation = source.info.truncation!;
    expect(truncation.statedFrames).toBe(60);
    expect(truncation.statedSeconds).toBe(2);
    expect(truncation.readableFrames).toBeGreaterThan(0);
    expect(truncation.readableFrames).toBeLessThan(50);
    expect(truncation.readableSeconds).toBeCloseTo(truncation.readableFrames / 30, 5);
    // The progress total is what is there, not what the header promised.
    expect(source.frameCount).toBe(truncation.readableFrames);
    expect(warnings).toEqual([]); // nothing said before decoding

    const decoded = await decodeAll(source, warnings);
    expect(decoded).toBeGreaterThan(0);
    expect(decoded).toBeLessThanOrEqual(truncation.readableFrames);
    expect(warnings.map((w) => [w.file, w.message])).toEqual([
      [
        file,
        `${file}: video ends after ${decoded} of 60 frames ` +
          `(${truncation.readableSeconds.toFixed(2)} s of 2.00 s): the file is truncated or damaged`,
      ],
    ]);
    // A second pass reports again (each pass is a full decode).
    await decodeAll(source, warnings);
    expect(warnings).toHaveLength(2);

    // strict: an error when opened, before any decoding.
    const error = await expectVidsegError(
      openVideo(file, { strict: true }),
      new RegExp(`truncated\\.mp4: video ends after ${truncation.readableFrames} of 60 frames`),
    );
    expect(error.file).toBe(file);

    // Asking only for frames that are there is no problem, strict or not.
    const head = await openVideo(file, { maxFrames: 5, strict: true, onWarning: (w) => warnings.push(w) });
    expect(head.frameCount).toBe(5);
    expect(await decodeAll(head, warnings)).toBe(5);
    expect(warnings).toHaveLength(2);
  });

  it("reports ffmpeg's decode errors on a damaged video, and strict makes them an error", async () => {
    const file = join(dir, "damaged.mp4");
    encodeTestClip(file);
    const bytes = readFileSync(file);
    // Overwrite 200 bytes of frame data (the index is at the start: faststart).
    bytes.fill(0x5a, Math.floor(bytes.length * 0.6), Math.floor(bytes.length * 0.6) + 200);
    writeFileSync(file, bytes);

    const warnings: VidsegError[] = [];
    const source = await openVideo(file, { onWarning: (w) => warnings.push(w) });
    expect(source.info.truncation).toBeUndefined();
    const decoded = await decodeAll(source, warnings);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].file).toBe(file);
    expect(warnings[0].message).toMatch(
      new RegExp(`^${file}: ffmpeg reported decode errors \\(${decoded} frames decoded\\), .*: \\S`),
    );
    // ffmpeg's component prefixes ("[h264 @ 0x…]") are not part of the message.
    expect(warnings[0].message).not.toMatch(/@ 0x/);

    const strict = await openVideo(file, { strict: true });
    await expectVidsegError(decodeAll(strict, []), /damaged\.mp4: ffmpeg reported decode errors/);
  });

  it("counts the frames of a variable-rate AVI, not its nominal-rate slots", async () => {
    // 68 frames at irregular times (pairs 0.1 s apart, 1.2 s between pairs) in an AVI at a nominal
    // 10 fps: the AVI states 431 slots (43.1 s × 10), most of them empty "dropped frames".
    const file = join(dir, "vfr.avi");
    execFileSync("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "68"],
      ...["-vf", "setpts='(N+floor(N/2)*11)/(10*TB)'", "-fps_mode", "vfr", "-c:v", "mjpeg", file],
    ]);
    const warnings: VidsegError[] = [];
    const source = await openVideo(file, { onWarning: (w) => warnings.push(w), strict: true });
    expect(source.info.statedFrames).toBe(431);
    expect(source.frameCount).toBe(68);
    expect(source.info.truncation).toBeUndefined();
    // The average rate of the real frames, so that timestamps span the video's 43.1 s.
    expect(source.fps).toBeCloseTo(68 / 43.1, 10);
    expect(await decodeAll(source, warnings)).toBe(68);
    expect(warnings).toEqual([]);
    // Resampled to 2 fps: the total follows the real duration.
    const resampled = await openVideo(file, { fps: 2 });
    expect(resampled.frameCount).toBe(Math.round(43.1 * 2));
  });
});

describe("YouTube-VIS split", () => {
  it("reads each video's frames from JPEGImages, checked against the annotated size", async () => {
    const root = join(dir, "ytvis");
    const images = join(root, "JPEGImages");
    const videos = [
      { id: 3, name: "aaa", width: 12, height: 8, length: 3 },
      { id: 5, name: "bbb", width: 10, height: 6, length: 2 },
    ];
    for (const video of videos) {
      mkdirSync(join(images, video.name), { recursive: true });
      for (let f = 0; f < video.length; f++) {
        await writeSolid(
          join(images, video.name, `${String(f * 5).padStart(5, "0")}.jpg`),
          video.width,
          video.height,
          COLOURS[f],
        );
      }
    }
    const annotationFile = join(root, "valid.json");
    writeFileSync(
      annotationFile,
      JSON.stringify({
        videos: videos.map((v) => ({
          id: v.id,
          width: v.width,
          height: v.height,
          length: v.length,
          file_names: Array.from(
            { length: v.length },
            (_, f) => `${v.name}/${String(f * 5).padStart(5, "0")}.jpg`,
          ),
        })),
        categories: [{ id: 1, name: "thing" }],
        annotations: [],
      }),
    );

    const split = await openYtvisSplit(annotationFile, images);
    expect(split.videos.map((v) => v.video.id)).toEqual([3, 5]);
    const source = await split.videos[0].frames();
    expect([source.width, source.height, source.frameCount, source.fps]).toEqual([12, 8, 3, 6]);
    const frames = await collect(source);
    expect(frames.map((f) => [f.index, f.width, f.height])).toEqual([
      [0, 12, 8],
      [1, 12, 8],
      [2, 12, 8],
    ]);
    for (const [f, frame] of frames.entries()) expect(maxDeviation(frame, COLOURS[f])).toBeLessThanOrEqual(3);
    const small = await collect(await split.videos[1].frames({ resize: { width: 5, height: 3 } }));
    expect(small.map((f) => f.data.length)).toEqual([45, 45]);

    // An image whose size disagrees with the annotation, a missing image, a missing folder.
    await writeSolid(join(images, "bbb", "00005.jpg"), 9, 6, COLOURS[1]);
    await expectVidsegError(
      collect(await split.videos[1].frames()),
      /00005\.jpg: frame 1: image is 9×6, expected 10×6/,
    );
    rmSync(join(images, "aaa", "00010.jpg"));
    await expectVidsegError(
      collect(await split.videos[0].frames()),
      /00010\.jpg: frame 2: cannot read image/,
    );
    await expectVidsegError(
      openYtvisSplit(annotationFile, join(root, "nowhere")),
      /nowhere: images folder not found/,
    );
    await expectVidsegError(openYtvisSplit(join(root, "none.json"), images), /none\.json: file not found/);
  });
});
