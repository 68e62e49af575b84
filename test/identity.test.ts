/**
 * Identity switches with GT association (src/eval/identity.ts) on scripted tracks whose switches are
 * known, and the AP of the rare and frequent halves of the categories (src/eval/category-halves.ts);
 * both through `vidseg eval ytvis|ovis --identity --train-gt` too.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { categoryHalves, trackCounts } from "../src/eval/category-halves.js";
import { identitySwitches } from "../src/eval/identity.js";
import { evaluateYtvis, type CategoryAp } from "../src/eval/ytvis.js";
import {
  annotationFromMasks,
  resultFromMasks,
  type YtvisDataset,
  type YtvisResult,
} from "../src/formats/ytvis.js";
import { numpyMean } from "../src/math/numpy.js";
import { runCli } from "./helpers/cli.js";

const H = 8;
const W = 8;
const FRAMES = 6;

/** An H×W mask of the rectangle [x0, x1) × [y0, y1). */
function rect(x0: number, x1: number, y0: number, y1: number): Uint8Array {
  return Uint8Array.from({ length: H * W }, (_, p) => {
    const [x, y] = [p % W, Math.floor(p / W)];
    return x >= x0 && x < x1 && y >= y0 && y < y1 ? 1 : 0;
  });
}
const A = rect(0, 4, 0, 4); // GT 1, top left
const B = rect(4, 8, 4, 8); // GT 2, bottom right
/** IoU with A: 12 / 16 = 0.75 (a 4×3 part of it). */
const A_PART = rect(0, 4, 0, 3);
/** IoU with A: 8 / 16 = 0.5, exactly the threshold. */
const A_HALF = rect(0, 4, 0, 2);
/** IoU with A: 6 / 16 < 0.5. */
const A_SLIVER = rect(0, 3, 0, 2);

type Masks = (Uint8Array | null)[];
const every = (mask: Uint8Array): Masks => Array.from({ length: FRAMES }, () => mask);
/** Frames `from`..`to` − 1 of `mask`, absent elsewhere. */
const during = (mask: Uint8Array, from: number, to: number): Masks =>
  Array.from({ length: FRAMES }, (_, f) => (f >= from && f < to ? mask : null));
/** Per frame, the first present mask of the lists. */
const joined = (...lists: Masks[]): Masks =>
  Array.from({ length: FRAMES }, (_, f) => lists.map((l) => l[f]).find((m) => m) ?? null);

function gtOf(...tracks: Masks[]): YtvisDataset {
  return {
    videos: [
      {
        id: 1,
        width: W,
        height: H,
        length: FRAMES,
        file_names: Array.from({ length: FRAMES }, (_, f) => `v/${f}.jpg`),
      },
    ],
    categories: [
      { id: 1, name: "a" },
      { id: 2, name: "b" },
    ],
    annotations: tracks.map((masks, i) =>
      annotationFromMasks({ id: i + 1, videoId: 1, categoryId: 1, masks, height: H, width: W }),
    ),
  };
}
const result = (masks: Masks, score = 0.9, categoryId = 1): YtvisResult =>
  resultFromMasks({ videoId: 1, categoryId, score, masks, height: H, width: W });

describe("identity switches with GT association", () => {
  it("perfect tracking: no switch, every GT frame matched", () => {
    const gt = gtOf(every(A), during(B, 1, 5));
    const report = identitySwitches(gt, [result(every(A)), result(during(B, 1, 5))]);
    expect(report).toEqual({
      scoreThreshold: 0.3,
      iouThreshold: 0.5,
      gtTracks: 2,
      resultTracks: 2,
      gtFrames: 6 + 4,
      matchedFrames: 10,
      matchedFraction: 1,
      switches: 0,
      switchesPerTrack: 0,
      tracksWithSwitches: 0,
      switchesAfterGap: 0,
      classFlicker: null,
    });
  });

  it("two tracks swapping at frame 3: one switch per GT track", () => {
    const gt = gtOf(every(A), every(B));
    const swapped = [
      result(joined(during(A, 0, 3), during(B, 3, 6))),
      result(joined(during(B, 0, 3), during(A, 3, 6))),
    ];
    const report = identitySwitches(gt, swapped);
    expect(report).toMatchObject({
      switches: 2,
      switchesPerTrack: 1,
      tracksWithSwitches: 2,
      switchesAfterGap: 0, // a swap between tracked objects
      matchedFraction: 1,
    });
  });

  it("gaps are no switch; a re-appearance under another id is one", () => {
    // GT A is hidden in frames 2–3; the same result picks it up again: no switch.
    const gt = gtOf(joined(during(A, 0, 2), during(A, 4, 6)));
    expect(identitySwitches(gt, [result(every(A))])).toMatchObject({
      switches: 0,
      gtFrames: 4,
      matchedFrames: 4,
    });
    // A visible throughout, its result missing in frames 2–3 (unmatched), then back: no switch.
    const visible = gtOf(every(A));
    const missed = identitySwitches(visible, [result(joined(during(A, 0, 2), during(A, 4, 6)))]);
    expect(missed).toMatchObject({ switches: 0, gtFrames: 6, matchedFrames: 4 });
    expect(missed.matchedFraction).toBeCloseTo(4 / 6, 15);
    // Back under a new result id after the gap: one switch.
    const reborn = identitySwitches(visible, [result(during(A, 0, 2)), result(during(A, 4, 6))]);
    expect(reborn).toMatchObject({ switches: 1, matchedFrames: 4, switchesPerTrack: 1, switchesAfterGap: 1 });
  });

  it("a result scoring below the threshold is left out", () => {
    // The good track misses frames 2–3, where a low-score track covers A exactly.
    const gt = gtOf(every(A));
    const results = [result(joined(during(A, 0, 2), during(A, 4, 6)), 0.9), result(during(A, 2, 4), 0.1)];
    expect(identitySwitches(gt, results)).toMatchObject({ switches: 0, matchedFrames: 4, resultTracks: 1 });
    // Counted with every result: A goes to the low track at frame 2 and back at frame 4.
    expect(identitySwitches(gt, results, { scoreThreshold: 0 })).toMatchObject({
      switches: 2,
      matchedFrames: 6,
      tracksWithSwitches: 1,
    });
  });

  it("a GT keeps its last result while the pair passes, though another overlaps it more", () => {
    // Track 1 follows A loosely (IoU 0.75) throughout; track 2 covers A exactly from frame 2.
    const gt = gtOf(every(A));
    const results = [result(every(A_PART)), result(during(A, 2, 6))];
    expect(identitySwitches(gt, results)).toMatchObject({ switches: 0, matchedFrames: 6 });
    // Once track 1 drops below the IoU threshold (frame 4), A switches to track 2, once.
    const drifting = [
      result(joined(during(A_PART, 0, 3), during(A_HALF, 3, 4), during(A_SLIVER, 4, 6))),
      results[1],
    ];
    expect(identitySwitches(gt, drifting)).toMatchObject({ switches: 1, matchedFrames: 6 });
  });

  it("pairs below IoU 0.5 never match; IoU exactly 0.5 does", () => {
    const gt = gtOf(every(A));
    expect(identitySwitches(gt, [result(every(A_SLIVER))])).toMatchObject({ matchedFrames: 0, switches: 0 });
    expect(identitySwitches(gt, [result(every(A_HALF))])).toMatchObject({ matchedFrames: 6 });
  });

  it("one track written under two categories is one result track", () => {
    const gt = gtOf(every(A));
    const masks = joined(during(A, 0, 3), during(A_PART, 3, 6));
    const report = identitySwitches(gt, [result(masks, 0.6, 1), result(masks, 0.35, 2)]);
    expect(report).toMatchObject({ resultTracks: 1, switches: 0, matchedFrames: 6 });
  });

  it("invariant: the GT as results is perfect tracking on a synthetic-like video with crossings", () => {
    // Two GTs crossing: A moves right while B moves left through the same rows.
    const moving = (x0: number, step: number): Masks =>
      Array.from({ length: FRAMES }, (_, f) => rect(x0 + step * f, x0 + step * f + 2, 2, 5));
    const gt = gtOf(moving(0, 1), moving(6, -1));
    const results = gt.annotations.map((a) => ({ ...a, score: 1 }) as unknown as YtvisResult);
    expect(identitySwitches(gt, results)).toMatchObject({ switches: 0, matchedFraction: 1, gtTracks: 2 });
  });
});

describe("AP on the rare and frequent halves of the categories", () => {
  const ap = (id: number, AP: number): CategoryAp => ({ id, name: String(id), AP, AP50: AP, AP75: AP });

  it("splits at the median of the train track counts, ties by id; halves skip categories without GT", () => {
    const counts = new Map([
      [1, 3],
      [2, 1],
      [3, 1],
      [4, 5],
      [5, 0],
    ]);
    const halves = categoryHalves([ap(1, 0.5), ap(2, 0.2), ap(3, -1), ap(4, 0.9), ap(5, 0.4)], counts);
    expect(halves.rare).toMatchObject({ categoryIds: [5, 2], trainTracks: [0, 1] });
    expect(halves.frequent).toMatchObject({ categoryIds: [3, 1, 4], trainTracks: [1, 3, 5] });
    expect(halves.rare.AP).toBeCloseTo(0.3, 15);
    expect(halves.frequent.AP).toBeCloseTo(0.7, 15);
    // A category missing from the train split counts 0 tracks; a half without GT is -1.
    const lonely = categoryHalves([ap(7, -1), ap(8, 0.25)], new Map([[8, 2]]));
    expect(lonely.rare).toMatchObject({ categoryIds: [7], trainTracks: [0], AP: -1 });
    expect(lonely.frequent).toMatchObject({ categoryIds: [8], AP: 0.25 });
  });

  it("counts non-crowd train tracks per category", () => {
    const train = gtOf(every(A), every(B), every(A));
    train.annotations[1].category_id = 2;
    train.annotations[2].iscrowd = 1;
    expect([...trackCounts(train)]).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it("over all categories the mean of per-category APs is the official AP", () => {
    const gt = gtOf(every(A), every(B));
    gt.annotations[1].category_id = 2;
    const results = [result(every(A_PART), 0.8, 1), result(every(B), 0.7, 1), result(every(B), 0.6, 2)];
    const evaluation = evaluateYtvis(gt, results, { perCategory: true });
    const values = evaluation.perCategory!.map((c) => c.AP);
    expect(numpyMean(values)).toBeCloseTo(evaluation.stats.AP, 14);
  });
});

describe("vidseg eval ytvis|ovis --identity --train-gt", () => {
  const dir = mkdtempSync(join(tmpdir(), "vidseg-identity-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const gt = gtOf(every(A), every(B));
  gt.annotations[1].category_id = 2;
  const train = gtOf(every(A), every(A), every(B));
  train.annotations[2].category_id = 2;
  const files = {
    gt: join(dir, "valid.json"),
    train: join(dir, "train.json"),
    results: join(dir, "results.json"),
  };
  writeFileSync(files.gt, JSON.stringify(gt));
  writeFileSync(files.train, JSON.stringify(train));
  const swapped = [
    result(joined(during(A, 0, 3), during(B, 3, 6)), 0.9, 1),
    result(joined(during(B, 0, 3), during(A, 3, 6)), 0.8, 2),
  ];
  writeFileSync(files.results, JSON.stringify(swapped));
  /** `vidseg eval ytvis` of the files, with more flags. */
  const evalCli = (extra: string[]) =>
    runCli(["eval", "ytvis", "--gt", files.gt, "--results", files.results, ...extra]);
  const args = ["--gt", files.gt, "--results", files.results, "--identity", "--train-gt", files.train];

  it("--json adds identity and category_halves", async () => {
    const run = await runCli(["eval", "ytvis", ...args, "--json"]);
    expect(run).toMatchObject({ exitCode: 0, stderr: "" });
    const json = JSON.parse(run.stdout);
    expect(Object.keys(json)).toEqual(["stats", "identity", "category_halves"]);
    expect(json.identity).toMatchObject({
      switches: 2,
      gtTracks: 2,
      switchesPerTrack: 1,
      classFlicker: null,
    });
    // Category 2 has 1 train track, category 1 has 2: rare = [2], frequent = [1].
    const { perCategory } = evaluateYtvis(gt, swapped, { perCategory: true });
    expect(json.category_halves.rare).toMatchObject({
      categoryIds: [2],
      trainTracks: [1],
      AP: perCategory![1].AP,
    });
    expect(json.category_halves.frequent).toMatchObject({ categoryIds: [1], AP: perCategory![0].AP });
  });

  it("text: the halves and the identity line after the table; --identity-score", async () => {
    const run = await runCli(["eval", "ytvis", ...args]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/\nAP rare half {5}\d\.\d{3} {2}\(1 categories, 1–1 train tracks\)\n/);
    expect(run.stdout).toContain(
      "2 switches over 2 GT tracks (1.000 per track, 2 tracks with a switch, 0 after a gap)",
    );
    expect(run.stdout).toContain("100.0 % of 12 GT frames matched; class flicker: n/a");
    // Above the second track's score: A and B are each matched to the first track in half the frames.
    const strict = await evalCli(["--identity-score", "0.85", "--json"]);
    expect(JSON.parse(strict.stdout).identity).toMatchObject({
      resultTracks: 1,
      switches: 0,
      matchedFrames: 6,
    });
    const bad = await evalCli(["--identity-score", "x"]);
    expect(bad).toMatchObject({
      exitCode: 1,
      stderr: 'vidseg: error: --identity-score: expected a non-negative number, got "x"\n',
    });
  });

  it("a bad train file: one line naming it", async () => {
    const broken = join(dir, "broken.json");
    writeFileSync(broken, JSON.stringify({ videos: [], categories: [{ id: "x" }], annotations: [] }));
    const run = await evalCli(["--train-gt", broken]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^vidseg: error: ${broken}: categories\\[0\\]`));
  });
});
