import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { VidsegError } from "../src/core/errors.js";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import { readYtvis, type YtvisDataset, type YtvisResult } from "../src/formats/ytvis.js";
import { decode, fromCoco, type CocoRle } from "../src/mask/rle.js";
import { resolveOptions, type SynthOptions } from "../src/synth/options.js";
import { SceneRenderer } from "../src/synth/render.js";
import { planScene } from "../src/synth/scene.js";
import { CATEGORIES } from "../src/synth/shapes.js";
import {
  occlusionLabel,
  splitStats,
  trackOcclusionScore,
  type SplitStats,
  type VideoStats,
} from "../src/synth/stats.js";
import { writePreview } from "../src/synth/preview.js";
import { generateVisDataset, type VisRunResult } from "../src/synth/vis.js";

/** The AP of a perfect detection that nothing outranks: 1 / (1 + 2⁻⁵²) rounds to 1 − 2⁻⁵². */
const PERFECT = 0.9999999999999998;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "vidseg-synth-"));
}

/** sha256 of every file under `dir`, by relative path. */
function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), createHash("sha256").update(readFileSync(path)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

/** The GT of a dataset submitted as if it were predictions (score 1 each). */
function gtAsResults(gt: YtvisDataset): YtvisResult[] {
  return gt.annotations.map((a) => ({
    video_id: a.video_id,
    category_id: a.category_id,
    score: 1,
    segmentations: a.segmentations as (CocoRle | null)[],
  }));
}

describe("synth vis: tiny preset", () => {
  const options = resolveOptions("tiny", 11, { videos: 3 });
  let dir: string;
  let run: VisRunResult;

  beforeAll(async () => {
    dir = tempDir();
    run = await generateVisDataset(options, dir, { splits: ["train", "valid"] });
  });

  it("writes the YouTube-VIS layout, readable by the validating reader, with every knob in info", async () => {
    for (const split of ["train", "valid"] as const) {
      const gt = await readYtvis(join(dir, `${split}.json`));
      expect(gt.videos).toHaveLength(3);
      expect(gt.categories.map((c) => c.name)).toEqual([...CATEGORIES]);
      const info = gt.info as unknown as { synth: SynthOptions & { split: string } };
      expect(info.synth).toMatchObject({ ...options, split });
      for (const video of gt.videos) {
        expect(video.length).toBe(8);
        for (const file of video.file_names) {
          const meta = await sharp(join(dir, split, "JPEGImages", file)).metadata();
          expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 64, 64]);
        }
      }
      expect(gt.annotations.length).toBeGreaterThan(0);
    }
    const stats = JSON.parse(readFileSync(join(dir, "stats.json"), "utf8")) as Record<string, SplitStats>;
    expect(stats).toEqual(run.stats);
  });

  it("GT evaluated as predictions gets the maximal YouTube-VIS and OVIS scores", async () => {
    for (const split of ["train", "valid"] as const) {
      const gt = await readYtvis(join(dir, `${split}.json`));
      const ytvis = evaluateYtvis(gt, gtAsResults(gt)).stats;
      for (const name of ["AP", "AP50", "AP75", "AR10", "AR100"])
        expect(ytvis[name]).toBeGreaterThanOrEqual(PERFECT);
      const ovis = evaluateYtvis(gt, gtAsResults(gt), { occlusion: true }).stats;
      for (const name of ["AP", "AP50", "AP75", "AR100"]) expect(ovis[name]).toBeGreaterThanOrEqual(PERFECT);
      for (const name of ["AP_light", "AP_medium", "AP_heavy"]) {
        if (ovis[name] !== -1) expect(ovis[name]).toBeGreaterThanOrEqual(PERFECT);
      }
    }
  });

  it("decoded RLEs equal the renderer's visible pixels; areas, boxes and occlusion labels follow them", async () => {
    const gt = await readYtvis(join(dir, "train.json"));
    let checkedFrames = 0;
    for (const video of gt.videos) {
      const scene = planScene(options, "train", video.id - 1);
      const renderer = new SceneRenderer(scene);
      const frames = Array.from({ length: video.length }, (_, t) => renderer.render(t));
      // Annotations follow the scene's object order; objects never visible have none.
      const tracks = gt.annotations.filter((a) => a.video_id === video.id);
      const shown = scene.objects.filter((o) => frames.some((f) => f.visibleArea[o.id] > 0));
      expect(tracks.map((a) => a.category_id)).toEqual(shown.map((o) => o.category + 1));
      const trackOf = new Map(shown.map((o, i) => [o.id, tracks[i]]));
      for (let t = 0; t < video.length; t++) {
        const frame = frames[t];
        for (const [id, track] of trackOf) {
          const visible = frame.visibleArea[id];
          const segmentation = track.segmentations[t] as CocoRle | null;
          expect(track.occlusion![t]).toBe(occlusionLabel(frame.fullArea[id], visible));
          if (visible === 0) {
            expect([segmentation, track.areas[t], track.bboxes[t]]).toEqual([null, null, null]);
            continue;
          }
          const mask = decode(fromCoco(segmentation!));
          const expected = Uint8Array.from(frame.labels, (label) => (label === id ? 1 : 0));
          expect(mask).toEqual(expected);
          expect(track.areas[t]).toBe(visible);
          let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
          for (let p = 0; p < expected.length; p++) {
            if (!expected[p]) continue;
            const x = p % 64;
            const y = Math.floor(p / 64);
            [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
          }
          expect(track.bboxes[t]).toEqual([x0, y0, x1 - x0 + 1, y1 - y0 + 1]);
          checkedFrames++;
        }
      }
    }
    expect(checkedFrames).toBeGreaterThan(30);
  });

  it("is deterministic: the same seed and options give byte-identical files; another seed does not", async () => {
    const again = tempDir();
    await generateVisDataset(options, again, { splits: ["train", "valid"] });
    const first = hashTree(dir);
    expect(first.size).toBe(2 * 3 * 8 + 3);
    expect(hashTree(again)).toEqual(first);
    const other = tempDir();
    await generateVisDataset({ ...options, seed: 12 }, other, { splits: ["train"] });
    expect(hashTree(other).get("train.json")).not.toBe(first.get("train.json"));
  });

  it("previews a contact sheet (rows = videos, 8 frames each, zoomed 4x) and a GIF of the GT overlays", async () => {
    const paths = await writePreview(dir, "valid", run.datasets.valid!);
    expect(paths).toEqual([join(dir, "preview", "valid-sheet.png"), join(dir, "preview", "valid.gif")]);
    const sheet = await sharp(paths[0]).metadata();
    // 64-px frames zoomed to 256, 4-px gaps, 8-px captions: 8 columns, 3 rows.
    expect([sheet.width, sheet.height]).toEqual([4 + 8 * 260, 4 + 3 * (8 + 256 + 4)]);
    const gif = await sharp(paths[1], { pages: -1 }).metadata();
    expect([gif.format, gif.pages, gif.width]).toEqual(["gif", 8, 2 + 3 * 258]);
  });

  it("writes lossless PNG frames on request, deterministic too", async () => {
    const png = { ...options, format: "png" as const, videos: 1 };
    const [a, b] = [tempDir(), tempDir()];
    await generateVisDataset(png, a, { splits: ["valid"] });
    await generateVisDataset(png, b, { splits: ["valid"] });
    expect(hashTree(a)).toEqual(hashTree(b));
    const gt = await readYtvis(join(a, "valid.json"));
    expect(gt.videos[0].file_names[0]).toBe("valid_00000/00000.png");
  });
});

describe("synth vis: presets are hard in the intended ways", () => {
  let ovis: SplitStats;
  let ytvis: SplitStats;

  beforeAll(async () => {
    ovis = (
      await generateVisDataset(resolveOptions("ovis", 5, { videos: 10 }), tempDir(), { splits: ["valid"] })
    ).stats.valid!;
    ytvis = (
      await generateVisDataset(resolveOptions("ytvis", 5, { videos: 4 }), tempDir(), { splits: ["valid"] })
    ).stats.valid!;
  });

  it("ovis: the OVIS-like targets (severe frames, heavy tracks, re-appearances, look-alike crossings)", () => {
    expect(ovis.frames).toBe(10 * 48);
    expect(ovis.instancesPerVideo.min).toBeGreaterThanOrEqual(4);
    expect(ovis.severeFrameFraction).toBeGreaterThanOrEqual(0.25);
    expect(ovis.heavyTrackFraction).toBeGreaterThanOrEqual(0.3);
    expect(ovis.fullyHiddenFrames).toBeGreaterThan(20);
    // Re-appearances after a full occlusion in most videos; look-alikes cross in most videos.
    expect(ovis.reappearances.videoFractionAfterOcclusion).toBeGreaterThan(0.5);
    expect(ovis.lookAlikeCrossingVideoFraction).toBeGreaterThan(0.5);
    expect(ovis.lookAlikeCrossings).toBeGreaterThanOrEqual(10);
    expect(ovis.lateAppearances).toBeGreaterThanOrEqual(2);
  });

  it("ytvis is the easy preset: far less occlusion, fewer objects", () => {
    expect(ytvis.instancesPerVideo.max).toBeLessThanOrEqual(4);
    expect(ytvis.severeFrameFraction).toBeLessThan(ovis.severeFrameFraction / 2);
    expect(ytvis.heavyTrackFraction).toBeLessThan(ovis.heavyTrackFraction);
    // A tracker that only links masks from frame to frame loses identities in every ovis video.
    expect(ovis.frameToFrame.videos).toBe(10);
    expect(ovis.frameToFrame.rate).toBeGreaterThan(1.5 * ytvis.frameToFrame.rate);
  });
});

describe("synth vis: long-tailed train split", () => {
  it("the train class histogram is long-tailed; the valid one is balanced", async () => {
    const options = resolveOptions("tiny", 3, { videos: 60, frames: 2 });
    const { stats } = await generateVisDataset(options, tempDir(), { splits: ["train", "valid"] });
    const train = Object.values(stats.train!.classHistogram);
    const valid = Object.values(stats.valid!.classHistogram);
    const share = (counts: number[], from: number, to: number) =>
      counts.slice(from, to).reduce((s, n) => s + n, 0) / counts.reduce((s, n) => s + n, 0);
    // Weights ∝ (k+1)^-1.2: the head (2 of 8 classes) holds ~62 %, the tail (last 4) ~16 %.
    expect(train[0]).toBe(Math.max(...train));
    expect(share(train, 0, 2)).toBeGreaterThan(0.5);
    expect(share(train, 4, 8)).toBeLessThan(0.25);
    expect(share(valid, 0, 2)).toBeLessThan(0.4);
    expect(Math.min(...valid)).toBeGreaterThan(0);
  });
});

describe("synth vis: options and labels", () => {
  it("sizes the splits: the train split of the benchmark presets is larger; --videos sets both", async () => {
    expect(resolveOptions("ytvis", 0)).toMatchObject({ videos: 60, trainVideos: 600 });
    expect(resolveOptions("ovis", 0)).toMatchObject({ videos: 40, trainVideos: 300 });
    expect(resolveOptions("ytvis", 0, { videos: 5 })).toMatchObject({ videos: 5, trainVideos: 5 });
    expect(resolveOptions("ytvis", 0, { videos: 5, trainVideos: 7 })).toMatchObject({
      videos: 5,
      trainVideos: 7,
    });
    const options = resolveOptions("tiny", 0, { videos: 1, trainVideos: 3, frames: 2 });
    const { datasets } = await generateVisDataset(options, tempDir(), { splits: ["train", "valid"] });
    expect(datasets.train!.videos).toHaveLength(3);
    expect(datasets.valid!.videos).toHaveLength(1);
    expect(() => resolveOptions("tiny", 0, { trainVideos: 0 })).toThrow(/--train-videos/);
  });

  it("rejects impossible options with a VidsegError naming the flag", () => {
    const cases: [() => unknown, RegExp][] = [
      [() => resolveOptions("huge", 0), /--preset: unknown preset "huge"/],
      [() => resolveOptions("tiny", 0, { frames: 0 }), /--frames: must be an integer in \[1, /],
      [() => resolveOptions("tiny", 0, { objects: 40 }), /--objects: 40 objects do not fit in a 64x64 frame/],
      [() => resolveOptions("tiny", 0, { width: 8 }), /--size \(width\)/],
      [() => resolveOptions("tiny", 0, { occlusion: 1.5 }), /--occlusion: must be a number in \[0, 1\]/],
      [() => resolveOptions("tiny", 0, { format: "gif" }), /--format: unknown image format "gif"/],
      [() => resolveOptions("tiny", -1), /--seed/],
    ];
    for (const [run, message] of cases) {
      expect(run).toThrow(VidsegError);
      expect(run).toThrow(message);
    }
  });

  it("labels occlusion from the hidden share of in-image pixels (5 % and 50 % thresholds)", () => {
    expect(occlusionLabel(0, 0)).toBeNull();
    expect(occlusionLabel(100, 100)).toBe("no_occlusion");
    expect(occlusionLabel(100, 96)).toBe("no_occlusion");
    expect(occlusionLabel(100, 95)).toBe("slight_occlusion");
    expect(occlusionLabel(100, 51)).toBe("slight_occlusion");
    expect(occlusionLabel(100, 50)).toBe("severe_occlusion");
    expect(occlusionLabel(100, 0)).toBe("severe_occlusion");
    // OVIS track score: mean of the highest half of the labelled frames.
    expect(trackOcclusionScore(["no_occlusion", null, "severe_occlusion", "slight_occlusion"])).toBe(0.5);
  });

  it("counts the videos with a look-alike crossing and with a re-appearance after full occlusion", () => {
    const video = (crossings: number, afterOcclusion: number, afterExit: number): VideoStats => ({
      frames: 10,
      categories: [0, 1],
      occlusion: { no_occlusion: 10, slight_occlusion: 5, severe_occlusion: 5 },
      heavyTracks: 1,
      fullyHiddenFrames: afterOcclusion,
      trackLengths: [10, 8],
      lookAlikeCrossings: crossings,
      reappearancesAfterOcclusion: afterOcclusion,
      reappearancesAfterExit: afterExit,
      lateAppearances: 0,
      neverVisible: 0,
      frameToFrameFailures: 0,
      frameToFrameSwitches: 0,
      frameToFrameChecks: 18,
    });
    const s = splitStats([video(2, 0, 1), video(0, 3, 0), video(1, 1, 0), video(0, 0, 2)]);
    expect(s.lookAlikeCrossings).toBe(3);
    expect(s.lookAlikeCrossingVideoFraction).toBe(0.5);
    expect(s.reappearances).toEqual({
      total: 7,
      afterOcclusion: 4,
      afterExit: 3,
      videoFractionAfterOcclusion: 0.5,
    });
    expect(s.severeFrameFraction).toBe(0.25);
    expect(s.heavyTrackFraction).toBe(0.5);
  });

  it("occludersBy moves full occlusions earlier; the default (1) leaves the plan unchanged", () => {
    // A crossing is planned to put the object within 0.3 partner radii (per axis) of its partner at the
    // meeting frame: the earliest frame where that holds is at or before the meeting.
    const meetings = (by: number) => {
      const options = { ...resolveOptions("ovis", 3), occluders: 1, occludersBy: by };
      const frames: number[] = [];
      for (let i = 0; i < 30; i++) {
        const { objects } = planScene(options, "valid", i);
        for (const o of objects) {
          const partner = objects[o.partner - 1];
          // Objects that appear late meet their partner after they appear, whatever occludersBy says.
          if (o.role !== "crossing" || Math.max(o.start, partner.start) > 23) continue;
          const near = (t: number) =>
            Math.abs(o.x[t] - partner.x[t]) <= 0.3 * partner.radius + 1e-9 &&
            Math.abs(o.y[t] - partner.y[t]) <= 0.3 * partner.radius + 1e-9;
          frames.push(Array.from({ length: options.frames }, (_, t) => t).find(near) ?? -1);
        }
      }
      return frames;
    };
    const anywhere = meetings(1);
    const early = meetings(0.5);
    expect(Math.min(...anywhere)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...anywhere)).toBeGreaterThan(23);
    expect(Math.min(...early)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...early)).toBeLessThanOrEqual(23);
    const ytvis = resolveOptions("ytvis", 1);
    expect([ytvis.occluders, ytvis.occludersBy]).toEqual([0.5, 1]);
  });
});
