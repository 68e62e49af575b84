/**
 * `vidseg infer vis` end to end with a tiny random-weight online model (fast; scoring threshold 0 so
 * that every query is tracked): on a frame folder, an ffmpeg-encoded video and a YouTube-VIS split it
 * writes results that validate and evaluate, indexed PNGs of the right size whose foreground covers
 * every result mask, and an animation with one frame per video frame; bad input is one error line.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerInfer } from "../src/cli/infer.js";
import { inferVis } from "../src/jobs/infer-vis.js";
import { evaluateYtvis, YTVIS_STAT_NAMES } from "../src/eval/ytvis.js";
import { readIndexedPng } from "../src/formats/png.js";
import { readResults, type YtvisDataset, type YtvisResult } from "../src/formats/ytvis.js";
import { decode, fromCoco } from "../src/mask/rle.js";
import { presetConfig } from "../src/models/config.js";
import { OFFLINE_HEAD_PRESETS, OfflineVisModel } from "../src/models/vis/offline.js";
import { OfflineSegmenter, toYtvisResults } from "../src/infer/offline-segmenter.js";
import { openFrameFolder } from "../src/infer/sources.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset, synthCategories } from "../src/synth/vis.js";
import { PALETTE_SAMPLE_FRAMES } from "../src/viz/animation.js";
import { idColour } from "../src/viz/overlay.js";
import { saveOfflineModelFile, writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-infer-"));
const modelFile = join(root, "model.safetensors");
const dataDir = join(root, "data");
const FRAMES = 20; // more than PALETTE_SAMPLE_FRAMES, so the GIF streams past its palette sample
const SIZE = 64;
let gt: YtvisDataset;
let videoFolder: string;
const hasFfmpeg = spawnSync("ffmpeg", ["-version"]).status === 0;

/** Number of images in a GIF and its logical screen size, by walking its blocks. */
function gifFrames(bytes: Uint8Array): { frames: number; width: number; height: number } {
  expect(new TextDecoder().decode(bytes.subarray(0, 6))).toBe("GIF89a");
  const width = bytes[6] | (bytes[7] << 8);
  const height = bytes[8] | (bytes[9] << 8);
  let p = 13;
  if (bytes[10] & 0x80) p += 3 << ((bytes[10] & 7) + 1);
  const skipSubBlocks = () => {
    while (bytes[p] !== 0) p += bytes[p] + 1;
    p++;
  };
  let frames = 0;
  for (;;) {
    const block = bytes[p++];
    if (block === 0x3b) break;
    if (block === 0x21) {
      p++; // extension label
      skipSubBlocks();
    } else if (block === 0x2c) {
      frames++;
      const flags = bytes[p + 8];
      p += 9;
      if (flags & 0x80) p += 3 << ((flags & 7) + 1);
      p++; // LZW minimum code size
      skipSubBlocks();
    } else {
      throw new Error(`bad GIF block 0x${block.toString(16)} at ${p - 1}`);
    }
  }
  return { frames, width, height };
}

/** Every result mask pixel is foreground in the frame's PNG, and PNG values are track ids (1..255). */
async function expectPngsCoverResults(
  pngDir: string,
  names: string[],
  results: YtvisResult[],
): Promise<void> {
  expect(readdirSync(pngDir).sort()).toEqual(names.map((n) => `${n}.png`));
  let covered = 0;
  let uncovered = 0;
  for (let t = 0; t < names.length; t++) {
    const labels = await readIndexedPng(join(pngDir, `${names[t]}.png`));
    expect([labels.width, labels.height]).toEqual([SIZE, SIZE]);
    for (const result of results) {
      const rle = result.segmentations[t];
      if (!rle) continue;
      const mask = decode(fromCoco(rle));
      for (let p = 0; p < mask.length; p++) {
        if (mask[p] && labels.data[p] > 0) covered++;
        else if (mask[p]) uncovered++;
      }
    }
  }
  expect(covered).toBeGreaterThan(0);
  expect(uncovered).toBe(0);
}

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await writeRandomOnlineModel(modelFile, 0);
  const synth = resolveOptions("tiny", 5, { videos: 1, frames: FRAMES, format: "png" });
  gt = (await generateVisDataset(synth, dataDir, { splits: ["valid"] })).datasets.valid!;
  videoFolder = join(dataDir, "valid", "JPEGImages", gt.videos[0].file_names[0].split("/")[0]);
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("vidseg infer vis", () => {
  it("segments a frame folder: results that evaluate, indexed PNGs, a GIF with every frame", async () => {
    const out = join(root, "out-folder");
    const summary = await inferVis({
      checkpoint: modelFile,
      input: videoFolder,
      out,
      animation: "gif",
      png: true,
    });
    expect(summary.model).toBe("online");
    expect(summary.inputKind).toBe("frames");
    expect(summary.frames).toBe(FRAMES);
    const results = await readResults(join(out, "results.json"), gt); // video_id 1 = the synth video's id
    expect(results.length).toBe(summary.videos[0].results);
    expect(results.length).toBeGreaterThan(0);
    expect(results.length).toBeLessThanOrEqual(50); // the model's top-k
    for (const r of results) expect(r.segmentations).toHaveLength(FRAMES);
    // --top-k 1 keeps the best-scoring (track, class) of the same run.
    const best = [...results].sort((a, b) => b.score - a.score)[0];
    const one = await inferVis({
      checkpoint: modelFile,
      input: videoFolder,
      out: join(root, "out-top1"),
      animation: "none",
      topK: 1,
    });
    expect(await readResults(one.results, gt)).toEqual([best]);
    const { stats } = evaluateYtvis(gt, results);
    for (const name of YTVIS_STAT_NAMES) {
      expect(stats[name]).toBeGreaterThanOrEqual(-1);
      expect(stats[name]).toBeLessThanOrEqual(1);
    }
    const names = Array.from({ length: FRAMES }, (_, t) => String(t).padStart(5, "0"));
    const pngDir = join(out, "Annotations", summary.videos[0].name);
    await expectPngsCoverResults(pngDir, names, results);
    // The PNG palette is the overlay's: index k has track k's colour.
    const png = readFileSync(join(pngDir, "00000.png"));
    const plte = png.indexOf(Buffer.from("PLTE")) + 4;
    expect([...png.subarray(plte + 3 * 5, plte + 3 * 6)]).toEqual([...idColour(5)]);

    expect(FRAMES).toBeGreaterThan(PALETTE_SAMPLE_FRAMES);
    const gif = gifFrames(readFileSync(join(out, "overlay.gif")));
    expect(gif).toEqual({ frames: FRAMES, width: SIZE * 6, height: SIZE * 6 });
  }, 60_000);

  it("reruns to byte-identical results", async () => {
    const out = join(root, "out-folder-again");
    await inferVis({ checkpoint: modelFile, input: videoFolder, out, animation: "none" });
    expect(readFileSync(join(out, "results.json"))).toEqual(
      readFileSync(join(root, "out-folder", "results.json")),
    );
    expect(existsSync(join(out, "overlay.gif"))).toBe(false);
  }, 60_000);

  it("passes the tracker settings on: a similarity no two frames reach starts a track per detection", async () => {
    const tracks = async (options: { minSimilarity?: number; momentum?: number }, name: string) => {
      const out = join(root, name);
      await inferVis({
        checkpoint: modelFile,
        input: videoFolder,
        out,
        animation: "none",
        topK: 1000,
        ...options,
      });
      return (await readResults(join(out, "results.json"), gt)).map((r) =>
        r.segmentations.map((s) => (s === null ? 0 : 1)).join(""),
      );
    };
    const linked = await tracks({ minSimilarity: -1, momentum: 0 }, "out-linked");
    const unlinked = await tracks({ minSimilarity: 1 }, "out-unlinked");
    // Every track of the unlinked run lives one frame; the linked run covers the same detections with fewer.
    expect(unlinked.every((frames) => frames.split("1").length === 2)).toBe(true);
    expect(linked.length).toBeLessThan(unlinked.length);
  }, 60_000);

  it("segments a split with its video ids, and --max-frames pads results to the video length", async () => {
    const out = join(root, "out-split");
    const summary = await inferVis({
      checkpoint: modelFile,
      input: join(dataDir, "valid.json"),
      out,
      animation: "gif",
      maxFrames: 5,
    });
    expect(summary.inputKind).toBe("split");
    expect(summary.frames).toBe(5);
    const results = await readResults(join(out, "results.json"), gt);
    expect(new Set(results.map((r) => r.video_id))).toEqual(new Set([gt.videos[0].id]));
    for (const r of results) {
      expect(r.segmentations).toHaveLength(FRAMES);
      expect(r.segmentations.slice(5).every((s) => s === null)).toBe(true);
    }
    const gif = gifFrames(readFileSync(join(out, "overlays", `${summary.videos[0].name}.gif`)));
    expect(gif.frames).toBe(5);
  }, 60_000);

  it("runs the offline model when the model file declares one (clip windows, then a drawing pass)", async () => {
    const offlineFile = join(root, "offline.safetensors");
    const segmenter = presetConfig("tiny").model;
    const categories = synthCategories();
    segmenter.numClasses = categories.length;
    seedParameters(2);
    const model = new OfflineVisModel({ segmenter, head: OFFLINE_HEAD_PRESETS.tiny });
    await saveOfflineModelFile(
      offlineFile,
      model,
      categories.map((c) => c.id),
    );
    model.dispose();
    const out = join(root, "out-offline");
    const summary = await inferVis({
      checkpoint: offlineFile,
      input: videoFolder,
      out,
      animation: "gif",
      png: true,
      scoreThreshold: 1e-6,
    });
    expect(summary.model).toBe("offline");
    expect(summary.frames).toBe(FRAMES);
    const results = await readResults(join(out, "results.json"), gt);
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) expect(r.segmentations).toHaveLength(FRAMES);
    const names = Array.from({ length: FRAMES }, (_, t) => String(t).padStart(5, "0"));
    await expectPngsCoverResults(join(out, "Annotations", summary.videos[0].name), names, results);
    expect(gifFrames(readFileSync(join(out, "overlay.gif"))).frames).toBe(FRAMES);
  }, 60_000);

  it("runs an offline model with the clip window and top-k stored in its model file", async () => {
    const offlineFile = join(root, "offline-settings.safetensors");
    const segmenter = { ...presetConfig("tiny").model, numClasses: synthCategories().length };
    seedParameters(3);
    const model = new OfflineVisModel({ segmenter, head: OFFLINE_HEAD_PRESETS.tiny });
    const ids = synthCategories().map((c) => c.id);
    await saveOfflineModelFile(offlineFile, model, ids, (config) => {
      config.offline.inferenceClipLength = 5;
      config.offline.inferenceClipOverlap = 1;
      config.inference.topK = 3;
      config.offline.inferenceFrameMaskIou = 0.6;
      config.offline.inferenceSoftNmsIou = 0.4;
      config.inference.maskScore = false;
    });
    model.dispose();
    const summary = await inferVis({
      checkpoint: offlineFile,
      input: videoFolder,
      out: join(root, "out-stored"),
    });
    const results = await readResults(summary.results, gt);
    expect(results.length).toBe(3); // the stored top-k, not the default 10
    // The job's topK (`--top-k`) overrides the stored one: the same ranking, cut at 2.
    const cut = await inferVis({
      checkpoint: offlineFile,
      input: videoFolder,
      out: join(root, "out-top2"),
      topK: 2,
    });
    expect(await readResults(cut.results, gt)).toEqual(results.slice(0, 2));
    // The same as the segmenter run with those settings explicitly, and not as with the defaults.
    const explicit = await OfflineSegmenter.load(offlineFile, {
      clipLength: 5,
      clipOverlap: 1,
      topK: 3,
      frameMaskIou: 0.6,
      softNmsIou: 0.4,
      maskScore: false,
    });
    expect([explicit.clipLength, explicit.clipOverlap, explicit.topK]).toEqual([5, 1, 3]);
    const stored = await OfflineSegmenter.load(offlineFile);
    expect([
      stored.clipLength,
      stored.clipOverlap,
      stored.topK,
      stored.frameMaskIou,
      stored.softNmsIou,
      stored.maskScore,
    ]).toEqual([5, 1, 3, 0.6, 0.4, false]);
    const source = await openFrameFolder(videoFolder);
    const video = await explicit.segmentVideo(source);
    expect(results).toEqual(toYtvisResults(video, 1).map((r) => ({ ...r, segmentations: r.segmentations })));
    explicit.dispose();
    stored.dispose();
  }, 60_000);

  it("says once when a synthetic-only model runs on other input, and not on a synthetic split", async () => {
    const synthetic = join(root, "synthetic-only.safetensors");
    await writeRandomOnlineModel(synthetic, 4, {
      data: "synthetic ytvis preset (vidseg synth vis), seed 1",
      synthetic: true,
    });
    const warnings: string[] = [];
    await inferVis({
      checkpoint: synthetic,
      input: videoFolder,
      out: join(root, "out-notice"),
      animation: "none",
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([
      "this model was trained only on synthetic data (synthetic ytvis preset (vidseg synth vis), seed 1); on real footage its classes and masks are not meaningful",
    ]);
    warnings.length = 0;
    await inferVis({
      checkpoint: synthetic,
      input: join(dataDir, "valid.json"),
      out: join(root, "out-notice-split"),
      animation: "none",
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([]);
  }, 60_000);

  it.skipIf(!hasFfmpeg)(
    "a truncated video: a warning naming the decoded and stated frames; --strict makes it an error",
    async () => {
      const video = join(root, "whole.mp4");
      const encode = spawnSync("ffmpeg", [
        ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=6"],
        ...["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-movflags", "+faststart", video],
      ]);
      expect(encode.status).toBe(0);
      const truncated = join(root, "truncated.mp4");
      const bytes = readFileSync(video);
      writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
      const warnings: string[] = [];
      const summary = await inferVis({
        checkpoint: modelFile,
        input: truncated,
        out: join(root, "out-truncated"),
        animation: "none",
        onWarning: (message) => warnings.push(message),
      });
      expect(summary.frames).toBeGreaterThan(0);
      expect(summary.frames).toBeLessThan(60);
      expect(
        warnings.some((w) => w.startsWith(`${truncated}: video ends after`) && w.includes("of 60 frames")),
      ).toBe(true);
      await expect(
        inferVis({ checkpoint: modelFile, input: truncated, out: join(root, "out-strict"), strict: true }),
      ).rejects.toThrow(`${truncated}: video ends after`);
      expect(existsSync(join(root, "out-strict", "results.json"))).toBe(false);
      // The intact file gives no warning.
      warnings.length = 0;
      await inferVis({
        checkpoint: modelFile,
        input: video,
        out: join(root, "out-whole"),
        animation: "none",
        onWarning: (m) => warnings.push(m),
      });
      expect(warnings).toEqual([]);
    },
    60_000,
  );

  it.skipIf(!hasFfmpeg)(
    "chooses an MP4 animation by default when ffmpeg can encode one",
    async () => {
      const summary = await inferVis({
        checkpoint: modelFile,
        input: videoFolder,
        out: join(root, "out-auto"),
      });
      expect(summary.videos[0].animation).toBe(join(root, "out-auto", "overlay.mp4"));
      expect(summary.animationNote).toBe("MP4: ffmpeg is installed");
    },
    60_000,
  );

  it.skipIf(!hasFfmpeg)(
    "segments an ffmpeg-encoded video, with an MP4 animation",
    async () => {
      const video = join(root, "clip.mp4");
      const encode = spawnSync("ffmpeg", [
        ...["-v", "error", "-y", "-framerate", "10", "-i", join(videoFolder, "%05d.png")],
        ...["-c:v", "libx264", "-pix_fmt", "yuv420p", "-qp", "0", video],
      ]);
      expect(encode.status).toBe(0);
      const out = join(root, "out-video");
      const summary = await inferVis({
        checkpoint: modelFile,
        input: video,
        out,
        png: true,
        animation: "mp4",
      });
      expect(summary.inputKind).toBe("video");
      expect(summary.frames).toBe(FRAMES);
      const results = await readResults(join(out, "results.json"), gt);
      for (const r of results) expect(r.segmentations).toHaveLength(FRAMES);
      const names = Array.from({ length: FRAMES }, (_, t) => String(t).padStart(5, "0"));
      await expectPngsCoverResults(join(out, "Annotations", "clip"), names, results);
      const probe = spawnSync("ffprobe", [
        ...["-v", "error", "-select_streams", "v:0", "-count_frames"],
        ...["-show_entries", "stream=width,height,nb_read_frames,codec_name,pix_fmt", "-of", "json"],
        join(out, "overlay.mp4"),
      ]);
      const stream = JSON.parse(probe.stdout.toString()).streams[0];
      expect(stream).toMatchObject({
        codec_name: "h264",
        pix_fmt: "yuv420p",
        width: SIZE * 6,
        height: SIZE * 6,
      });
      expect(Number(stream.nb_read_frames)).toBe(FRAMES);
    },
    60_000,
  );
});

describe("vidseg infer vis: bad input", () => {
  /** Runs the command through commander and the CLI's error wrapper; returns stderr and the exit code. */
  async function run(args: string[]): Promise<{ stderr: string; exitCode: number }> {
    const program = new Command("vidseg").exitOverride();
    registerInfer(program);
    let stderr = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      stderr += String(chunk);
      return true;
    });
    const previous = process.exitCode;
    process.exitCode = 0;
    try {
      await program.parseAsync(["node", "vidseg", "infer", "vis", ...args]);
      return { stderr, exitCode: Number(process.exitCode ?? 0) };
    } finally {
      spy.mockRestore();
      process.exitCode = previous;
    }
  }

  it("a missing checkpoint is one line naming it, exit 1", async () => {
    const missing = join(root, "nope.safetensors");
    const { stderr, exitCode } = await run(["--checkpoint", missing, "--input", videoFolder, "--out", root]);
    expect(exitCode).toBe(1);
    expect(stderr).toBe(`vidseg: error: ${missing}: checkpoint not found\n`);
  });

  it("an unreadable video is one line naming it, exit 1, and nothing is written", async () => {
    const bad = join(root, "broken.mp4");
    writeFileSync(bad, "this is not a video");
    const out = join(root, "out-bad");
    const { stderr, exitCode } = await run(["--checkpoint", modelFile, "--input", bad, "--out", out]);
    expect(exitCode).toBe(1);
    expect(stderr.split("\n")).toHaveLength(2);
    expect(stderr).toMatch(new RegExp(`^vidseg: error: ${bad}: (cannot read video|ffprobe not found)`));
    expect(existsSync(join(out, "results.json"))).toBe(false);
  });

  it("an MP4 animation without ffmpeg is one line saying what to install, before any work", async () => {
    const out = join(root, "out-no-ffmpeg");
    vi.stubEnv("VIDSEG_FFMPEG", join(root, "no-ffmpeg-here"));
    try {
      const r = await run([
        "--checkpoint",
        modelFile,
        "--input",
        videoFolder,
        "--out",
        out,
        "--animation",
        "mp4",
      ]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(
        /^vidseg: error: ffmpeg not found \(looked for ".*no-ffmpeg-here"\); install ffmpeg/,
      );
      expect(r.stderr.split("\n")).toHaveLength(2);
      expect(existsSync(out)).toBe(false);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("a missing input and a bad option value are one line each", async () => {
    const missing = join(root, "no-such-input");
    let r = await run(["--checkpoint", modelFile, "--input", missing, "--out", root]);
    expect([r.exitCode, r.stderr]).toEqual([1, `vidseg: error: ${missing}: input not found\n`]);
    for (const [flag, value, expected] of [
      ["--max-frames", "x", "a non-negative integer"],
      ["--animation", "avi", "auto, gif, mp4 or none"],
      ["--frame-mask-iou", "2", "a number in [0, 1]"],
      ["--soft-nms-iou", "-1", "a number in [0, 1]"],
      ["--momentum", "1", "a number in [0, 1)"],
      ["--min-similarity", "2", "a number in [-1, 1]"],
      ["--max-gap", "1.5", "a non-negative integer"],
    ]) {
      r = await run(["--checkpoint", modelFile, "--input", videoFolder, "--out", root, flag, value]);
      expect([r.exitCode, r.stderr]).toEqual([
        1,
        `vidseg: error: ${flag}: expected ${expected}, got "${value}"\n`,
      ]);
    }
  });
});
