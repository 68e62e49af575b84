import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  evaluateYtvis,
  IOU_THRESHOLDS,
  RECALL_THRESHOLDS,
  type CategoryAp,
  type YtvisEvalOptions,
} from "../src/eval/ytvis.js";
import { countsToString } from "../src/mask/rle.js";
import { numpyMean, numpySum, pairwiseSum } from "../src/math/numpy.js";
import {
  annotationFromMasks,
  resultFromMasks,
  validateResults,
  validateYtvis,
  writeResults,
  writeYtvis,
  type OcclusionLabel,
  type YtvisDataset,
  type YtvisResult,
} from "../src/formats/ytvis.js";

/**
 * The precision of a true positive that nothing outranks: tp / (tp + fp + eps) = 1 / (1 + 2⁻⁵²), which
 * rounds to 1 − 2⁻⁵² = 0.9999999999999998. Every "perfect" AP below is the mean of such values.
 */
const P = 0.9999999999999998;
/** numpy's mean of 101 or 202 copies of P (pairwise summation), e.g. AP50 of a single perfect match. */
const P_MEAN_101 = 0.9999999999999999;

/** Frames are 1×W strips so that masks can be written as pixel lists. */
type Strip = number[] | null;
const strip = (width: number, ...pixels: number[]): number[] =>
  Array.from({ length: width }, (_, x) => (pixels.includes(x) ? 1 : 0));
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

interface TrackSpec {
  video?: number;
  category?: number;
  frames: Strip[];
}

function dataset(
  width: number,
  length: number,
  gts: (TrackSpec & {
    id?: number;
    iscrowd?: number;
    areas?: (number | null)[];
    occlusion?: (OcclusionLabel | null)[];
  })[],
  { videos = [1], categories = [1] }: { videos?: number[]; categories?: number[] } = {},
): YtvisDataset {
  return {
    videos: videos.map((id) => ({
      id,
      width,
      height: 1,
      length,
      file_names: range(0, length).map((f) => `${id}/${f}.jpg`),
    })),
    categories: categories.map((id) => ({ id, name: `class${id}` })),
    annotations: gts.map((g, i) => {
      const annotation = annotationFromMasks({
        id: g.id ?? i + 1,
        videoId: g.video ?? videos[0],
        categoryId: g.category ?? categories[0],
        masks: g.frames,
        height: 1,
        width,
        iscrowd: g.iscrowd,
        occlusion: g.occlusion,
      });
      if (g.areas) annotation.areas = g.areas;
      return annotation;
    }),
  };
}

function results(width: number, dts: (TrackSpec & { score: number })[], defaultVideo = 1): YtvisResult[] {
  return dts.map((d) =>
    resultFromMasks({
      videoId: d.video ?? defaultVideo,
      categoryId: d.category ?? 1,
      score: d.score,
      masks: d.frames,
      height: 1,
      width,
    }),
  );
}

const evaluate = (gt: YtvisDataset, res: YtvisResult[], options: YtvisEvalOptions = {}) =>
  evaluateYtvis(gt, res, options);

describe("parameters and numerics, as numpy builds them", () => {
  it("IoU and recall thresholds are linspace values (0.8999999999999999, 0.35000000000000003)", () => {
    // step = (0.95 − 0.5) / 9 with 0.95 − 0.5 = 0.44999999999999996; 8·step + 0.5 = 0.8999999999999999.
    expect(IOU_THRESHOLDS).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95]);
    expect(RECALL_THRESHOLDS).toHaveLength(101);
    expect(RECALL_THRESHOLDS[35]).toBe(0.35000000000000003);
    expect(RECALL_THRESHOLDS[100]).toBe(1);
  });

  it("sums pairwise like numpy: 8 accumulators within a block", () => {
    // 9 values: r[0..7] = first 8, then ((r0+r1)+(r2+r3)) + ((r4+r5)+(r6+r7)) + v8.
    const values = [1e16, 1, 1, 1, 1, 1, 1, 1, 1];
    // Sequential: 1e16 + 1 = 1e16 (ties to even) eight times → 1e16. Pairwise: 1e16+1 → 1e16, (1+1)+(1+1) = 4,
    // 1e16 + 4 = 1.0000000000000004e16, + ((1+1)+(1+1)) = 1.0000000000000008e16, + 1 → 1.0000000000000008e16.
    expect(pairwiseSum(values)).toBe(1.0000000000000008e16);
    expect(numpyMean(Array(1010).fill(P))).toBe(P);
  });

  it("sums in 8192-value buffers like np.sum, each summed pairwise (AP over ≥ 9 categories)", () => {
    // Values (i·0.7368) mod 1: numpy gives 4501.400000000424 for 9000 of them (one pairwise tree over all
    // 9000 would give …425), and 10122.232109999468 for 20000 values of (i·0.123456789) mod 1.
    const sequence = (n: number, step: number) => Array.from({ length: n }, (_, i) => (i * step) % 1);
    expect(numpySum(sequence(9000, 0.7368))).toBe(4501.400000000424);
    expect(pairwiseSum(sequence(9000, 0.7368))).toBe(4501.400000000425);
    expect(numpySum(sequence(20000, 0.123456789))).toBe(10122.232109999468);
  });
});

describe("spatio-temporal IoU: null versus zero-area frames", () => {
  // One GT over 2 frames of a 1×4 strip: pixels {0,1} in frame 0, absent in frame 1.
  const gt = dataset(4, 2, [{ frames: [strip(4, 0, 1), null] }]);

  it("an absent detection frame adds nothing: IoU = 1/2", () => {
    // I = |{0}| = 1, U = |{0,1}| = 2 → IoU 0.5: a match at t = 0.5 only. Precision there is P at every
    // recall threshold (rc = 1), 0 at the other 9 thresholds: AP = 101·P / 1010, AP50 = mean of 101 P's,
    // AR = 1/10.
    const { stats } = evaluate(gt, results(4, [{ score: 0.9, frames: [strip(4, 0), null] }]));
    expect(stats.AP50).toBe(P_MEAN_101);
    expect(stats.AP75).toBe(0);
    expect(stats.AP).toBeCloseTo((101 * P) / 1010, 15);
    expect(stats.AR100).toBeCloseTo(0.1, 15);
  });

  it("an empty but present detection frame also adds 0 to the union: IoU = 1/2", () => {
    const { stats } = evaluate(gt, results(4, [{ score: 0.9, frames: [strip(4, 0), strip(4)] }]));
    expect(stats.AP50).toBe(P_MEAN_101);
    expect(stats.AR100).toBeCloseTo(0.1, 15);
  });

  it("a detection where the GT is absent adds its area to the union: IoU = 1/4", () => {
    // I = 1, U = 2 + |{2,3}| = 4 → IoU 0.25 < 0.5: no match at any threshold, one FP: AP = 0, AR = 0.
    const { stats } = evaluate(gt, results(4, [{ score: 0.9, frames: [strip(4, 0), strip(4, 2, 3)] }]));
    expect(stats.AP50).toBe(0);
    expect(stats.AR100).toBe(0);
  });

  it("IoU is 0 (not NaN) when both tracks are empty everywhere", () => {
    const empty = dataset(4, 1, [{ frames: [strip(4)] }]);
    const { stats } = evaluate(empty, results(4, [{ score: 0.5, frames: [strip(4)] }]));
    expect(stats.AP).toBe(0);
    expect(stats.AR100).toBe(0);
  });

  it("the GT average area comes from the JSON areas, skipping null and 0", () => {
    // areas [0, 70000]: the mean of the truthy entries is 70000 > 256² → "large" (with the 0 it would be
    // 35000, "medium"). The detection (area 2, small) matches it, so it is not ignored in "large".
    const big = dataset(4, 2, [{ frames: [strip(4, 0, 1), strip(4, 0, 1)], areas: [0, 70000] }]);
    const { stats } = evaluate(big, results(4, [{ score: 1, frames: [strip(4, 0, 1), strip(4, 0, 1)] }]));
    expect(stats.APl).toBe(P);
    expect(stats.APm).toBe(-1);
    expect(stats.APs).toBe(-1);
    expect(stats.ARl).toBe(1);
  });
});

describe("ties keep file order (stable sorts)", () => {
  const gt = dataset(4, 1, [{ frames: [strip(4, 0, 1)] }]);
  const good = { score: 0.9, frames: [strip(4, 0, 1)] };
  const bad = { score: 0.9, frames: [strip(4, 2, 3)] };

  it("equal scores in one video: the first in the results file ranks first", () => {
    // [good, bad]: tp = [1, 1], fp = [0, 1], rc = [1, 1] → precision P everywhere → AP = P.
    expect(evaluate(gt, results(4, [good, bad])).stats.AP).toBe(P);
    // [bad, good]: tp = [0, 1], fp = [1, 1], pr = [0, 1/2] made non-increasing → [1/2, 1/2] → AP = 0.5.
    expect(evaluate(gt, results(4, [bad, good])).stats.AP).toBe(0.5);
  });

  it("equal scores across videos: ascending video id decides, not the order of the files", () => {
    // Videos 5 and 3 (listed in that order), one GT each. Video 5's detection misses, video 3's is exact.
    const twoVideos = dataset(
      4,
      1,
      [
        { video: 5, frames: [strip(4, 0, 1)] },
        { video: 3, frames: [strip(4, 0, 1)] },
      ],
      { videos: [5, 3] },
    );
    const res = [...results(4, [bad], 5), ...results(4, [good], 3)];
    // Video 3 first: tp = [1, 1], fp = [0, 1], npig = 2 → rc = [0.5, 0.5], pr → [P, 1/2]. Recall thresholds
    // 0.00 … 0.50 (51 of 101) find index 0 → P; above 0.5 nothing → 0. AP = 51·P/101 at every IoU.
    expect(evaluate(twoVideos, res).stats.AP).toBeCloseTo((51 * P) / 101, 15);
  });
});

describe("crowd GT", () => {
  it("a crowd region absorbs any number of detections, which are then ignored", () => {
    // Regular GT {0,1}; crowd GT {5..9}. Two detections on the crowd (scores 0.95, 0.9) and an exact one
    // on the regular GT (0.8). Sorted: ignored, ignored, TP → pr = [0, 0, P] → non-increasing [P, P, P];
    // rc = [0, 0, 1]: every recall threshold reads P → AP = P, AR = 1.
    const gt = dataset(10, 1, [
      { frames: [strip(10, 0, 1)] },
      { frames: [strip(10, ...range(5, 10))], iscrowd: 1 },
    ]);
    const res = results(10, [
      { score: 0.95, frames: [strip(10, ...range(5, 10))] },
      { score: 0.9, frames: [strip(10, ...range(5, 10))] },
      { score: 0.8, frames: [strip(10, 0, 1)] },
    ]);
    const { stats } = evaluate(gt, res);
    expect(stats.AP).toBe(P);
    expect(stats.AR100).toBe(1);
  });

  it("stops at the first ignored GT once a regular match exists; 0.9 ≥ 0.8999999999999999", () => {
    // Regular GT {0..5} (6 px), crowd GT {0..8} (9 px), detection {0..9}: IoU 6/10 = 0.6 with the regular
    // GT and 9/10 = 0.9 with the crowd (crowd IoU is not special in iou_seq).
    // t = 0.5, 0.55, 0.6: matches the regular GT, then meets the crowd GT and stops → TP.
    // t = 0.65 … 0.8999999999999999 (6 thresholds): 0.6 is too low, the crowd GT matches → ignored
    // (precision row 0: tp = fp = 0, pr = 0/eps = 0; recall 0).
    // t = 0.95: no match → FP. AP = 3·101·P/1010, AP50 = mean of 101 P's, AP75 = 0, AR = 3/10.
    const gt = dataset(10, 1, [
      { frames: [strip(10, ...range(0, 6))] },
      { frames: [strip(10, ...range(0, 9))], iscrowd: 1 },
    ]);
    const { stats } = evaluate(gt, results(10, [{ score: 0.7, frames: [strip(10, ...range(0, 10))] }]));
    expect(stats.AP50).toBe(P_MEAN_101);
    expect(stats.AP75).toBe(0);
    expect(stats.AP).toBeCloseTo((303 * P) / 1010, 15);
    expect(stats.AR100).toBeCloseTo(0.3, 15);
    expect(stats.AR1).toBeCloseTo(0.3, 15);
  });

  it("among GTs of equal IoU the last one wins", () => {
    // Two identical regular GTs, ids 0 and 9 in that order, and one exact detection. The scan takes id 0
    // (IoU 1 ≥ t), then id 9 (1 is not < 1) → the last one wins → a TP. Had the first won, its id 0 would
    // read as "unmatched" (dtm == 0) and the detection would be a FP (AP 0).
    const twins = dataset(4, 1, [
      { id: 0, frames: [strip(4, 0, 1)] },
      { id: 9, frames: [strip(4, 0, 1)] },
    ]);
    // npig = 2, tp = [1] → rc = [1/2] → 51 recall thresholds read P → AP = 51·P/101, AR = 0.5.
    const twinStats = evaluate(twins, results(4, [{ score: 0.9, frames: [strip(4, 0, 1)] }])).stats;
    expect(twinStats.AP).toBeCloseTo((51 * P) / 101, 15);
    expect(twinStats.AR100).toBe(0.5);
  });

  it("a GT with id 0 matches but its detection still counts as a false positive", () => {
    // dtm stores the GT id; id 0 reads as unmatched → FP; the GT is taken → AP = 0 and AR = 0 (not -1).
    const gt = dataset(4, 1, [{ id: 0, frames: [strip(4, 0, 1)] }]);
    const { stats } = evaluate(gt, results(4, [{ score: 0.9, frames: [strip(4, 0, 1)] }]));
    expect(stats.AP).toBe(0);
    expect(stats.AR100).toBe(0);
  });
});

describe("more than 100 detections in a video", () => {
  const gt = dataset(4, 1, [{ frames: [strip(4, 0, 1)] }]);
  const bad = (n: number) => Array.from({ length: n }, () => ({ score: 0.9, frames: [strip(4, 2, 3)] }));
  const good = { score: 0.1, frames: [strip(4, 0, 1)] };

  it("only the 100 best-scored detections are matched", () => {
    // 104 misses outrank the exact detection (rank 105): it is cut → AP = 0, AR100 = 0.
    const { stats } = evaluate(gt, results(4, [...bad(104), good]));
    expect(stats.AP).toBe(0);
    expect(stats.AR100).toBe(0);
  });

  it("at rank 100 it still counts, for maxDets 100 only", () => {
    // tp at index 99: pr = 1/(100 + eps) = 0.01, made non-increasing → 0.01 everywhere: AP ≈ 0.01.
    // AR100 = 1; AR10 and AR1 see only misses → 0.
    const { stats } = evaluate(gt, results(4, [...bad(99), good]));
    expect(stats.AP).toBeCloseTo(0.01, 15);
    expect(stats.AR100).toBe(1);
    expect(stats.AR10).toBe(0);
    expect(stats.AR1).toBe(0);
  });
});

describe("categories without GT", () => {
  it("give -1 and are left out of the means", () => {
    const gt = dataset(4, 1, [{ category: 1, frames: [strip(4, 0, 1)] }], { categories: [3, 1, 2] });
    const res = results(4, [
      { category: 1, score: 0.9, frames: [strip(4, 0, 1)] },
      { category: 2, score: 0.8, frames: [strip(4, 2, 3)] },
    ]);
    const { stats, perCategory } = evaluate(gt, res, { perCategory: true });
    expect(stats.AP).toBe(P);
    const noGt: Omit<CategoryAp, "id" | "name"> = { AP: -1, AP50: -1, AP75: -1 };
    expect(perCategory).toEqual([
      { id: 1, name: "class1", AP: P, AP50: P_MEAN_101, AP75: P_MEAN_101 },
      { id: 2, name: "class2", ...noGt },
      { id: 3, name: "class3", ...noGt },
    ]);
  });

  it("every stat is -1 when no category has GT", () => {
    const gt = dataset(4, 1, []);
    const { stats } = evaluate(gt, results(4, [{ score: 0.9, frames: [strip(4, 0, 1)] }]));
    expect(Object.values(stats)).toEqual(Array(12).fill(-1));
  });
});

describe("a perfect result", () => {
  it("gives 0.9999999999999998, not 1, when each category has one GT; AR is exactly 1", () => {
    // One GT per category, found exactly: precision 1 / (1 + eps) = P at every threshold. AP = mean of
    // 2·1010 P's = 0.9999999999999998; AP50 = mean of 2·101 P's = 0.9999999999999999 (numpy's pairwise
    // rounding); every recall is 1.
    const gts = [
      { video: 1, category: 1, frames: [strip(6, 0, 1), null, strip(6, 2)] },
      { video: 3, category: 2, frames: [strip(6, 0, 1, 2, 3), null, strip(6)] },
    ];
    const gt = dataset(6, 3, gts, { videos: [1, 2, 3], categories: [1, 2] });
    const { stats } = evaluate(
      gt,
      results(
        6,
        gts.map((g, i) => ({ ...g, score: 0.3 + 0.1 * i })),
      ),
    );
    expect(stats).toEqual({
      AP: 0.9999999999999998,
      AP50: 0.9999999999999999,
      AP75: 0.9999999999999999,
      APs: 0.9999999999999998,
      APm: -1,
      APl: -1,
      AR1: 1,
      AR10: 1,
      AR100: 1,
      ARs: 1,
      ARm: -1,
      ARl: -1,
    });
  });

  it("gives exactly 1 once a category has two GTs: 2 / (2 + eps) rounds to 1 and lifts the curve", () => {
    // pr = [1/(1+eps), 2/(2+eps)] = [P, 1] → made non-increasing → [1, 1] → AP = 1.
    const gts = [
      { video: 1, frames: [strip(6, 0, 1)] },
      { video: 2, frames: [strip(6, 4)] },
    ];
    const gt = dataset(6, 1, gts, { videos: [1, 2] });
    const { stats } = evaluate(
      gt,
      results(
        6,
        gts.map((g, i) => ({ ...g, score: 0.5 + 0.1 * i })),
      ),
    );
    expect(stats.AP).toBe(1);
    expect(stats.AR1).toBe(1);
  });
});

describe("OVIS occlusion ranges", () => {
  // Four disjoint GTs in one video; occlusion score = mean of the top ⌈n/2⌉ labelled values
  // (no 0, slight 0.25, severe 0.75):
  //   GT1 [no, slight, severe] → top 2 of [0, .25, .75] → 0.5   (medium and heavy: both bounds inclusive)
  //   GT2 [slight, no, null]   → top 1 of [0, .25]      → 0.25  (light and medium)
  //   GT3 [severe, null, null] → 0.75                           (heavy)
  //   GT4 [no, no, slight]     → top 2 of [0, 0, .25]   → 0.125 (light)
  // One exact detection of GT1.
  const labels: (OcclusionLabel | null)[][] = [
    ["no_occlusion", "slight_occlusion", "severe_occlusion"],
    ["slight_occlusion", "no_occlusion", null],
    ["severe_occlusion", null, null],
    ["no_occlusion", "no_occlusion", "slight_occlusion"],
  ];
  const gt = dataset(
    8,
    3,
    labels.map((occlusion, i) => ({ frames: [strip(8, 2 * i), strip(8, 2 * i), null], occlusion })),
  );
  const res = results(8, [{ score: 0.9, frames: [strip(8, 0), strip(8, 0), null] }]);

  it("buckets GTs by occlusion score; unmatched detections are never filtered by occlusion", () => {
    const { stats } = evaluate(gt, res, { occlusion: true });
    // all: 4 GTs, 1 TP → rc = 1/4: thresholds 0 … 0.25 (26) read P → AP = 26·P/101, AR = 0.25.
    expect(stats.AP).toBeCloseTo((26 * P) / 101, 15);
    expect(stats.AR100).toBe(0.25);
    // light: GT2, GT4 count; the detection matched GT1 (ignored here) → ignored: AP = 0, AR = 0.
    expect(stats.AP_light).toBe(0);
    expect(stats.AR_light).toBe(0);
    // medium: GT1, GT2 count → rc = 1/2 → 51 thresholds → AP = 51·P/101, AR = 0.5; heavy: GT1, GT3, same.
    expect(stats.AP_medium).toBeCloseTo((51 * P) / 101, 15);
    expect(stats.AR_medium).toBe(0.5);
    expect(stats.AP_heavy).toBeCloseTo((51 * P) / 101, 15);
    expect(stats.AR_heavy).toBe(0.5);
    expect(Object.keys(stats)).toHaveLength(18);
  });

  it("needs occlusion labels on every GT", () => {
    const unlabelled = dataset(8, 3, [{ frames: [strip(8, 0), null, null] }]);
    expect(() => evaluate(unlabelled, res, { occlusion: true, gtFile: "gt.json" })).toThrow(
      /gt\.json: annotations\[0\]\.occlusion: OVIS evaluation needs per-frame occlusion labels/,
    );
  });
});

describe("results of a category that is not in the GT", () => {
  it("are accepted, never scored, and counted in droppedResults", () => {
    const gt = dataset(4, 1, [{ frames: [strip(4, 0, 1)] }]);
    const scored = results(4, [{ score: 0.5, frames: [strip(4, 0, 1)] }]);
    const unknown = results(4, [
      { score: 0.9, frames: [strip(4, 0, 1)], category: 77 },
      { score: 0.1, frames: [strip(4, 2)], category: 78 },
    ]);
    const plain = evaluate(gt, scored);
    expect(plain.droppedResults).toBe(0);
    const mixed = evaluate(gt, [unknown[0]!, ...scored, unknown[1]!]);
    expect(mixed.stats).toEqual(plain.stats);
    expect(mixed.droppedResults).toBe(2);
  });
});

describe("a 50000×50000 video (runs of 2.2e9, past the int32 range)", () => {
  it("validates and evaluates: a detection equal to the GT scores as on a small video", () => {
    const size = 50000;
    const counts = [7, 2_200_000_000, size * size - 2_200_000_007];
    const segmentation = { size: [size, size] as [number, number], counts: countsToString(counts) };
    const gt = validateYtvis(
      {
        videos: [{ id: 1, width: size, height: size, length: 1, file_names: ["a.jpg"] }],
        categories: [{ id: 1, name: "class1" }],
        annotations: [
          {
            id: 1,
            video_id: 1,
            category_id: 1,
            segmentations: [segmentation],
            areas: [2_200_000_000],
            bboxes: [[0, 0, size, size]],
            iscrowd: 0,
          },
        ],
      },
      "gt.json",
    );
    const res = validateResults(
      [{ video_id: 1, category_id: 1, score: 0.9, segmentations: [segmentation] }],
      "res.json",
      gt,
    );
    const small = evaluate(
      dataset(4, 1, [{ frames: [strip(4, 0, 1)] }]),
      results(4, [{ score: 0.9, frames: [strip(4, 0, 1)] }]),
    );
    // All areas are "large" here and "small" there; the all-area stats must agree.
    const { stats } = evaluate(gt, res);
    for (const name of ["AP", "AP50", "AP75", "AR1", "AR10", "AR100"])
      expect(stats[name], name).toBe(small.stats[name]);
    expect(stats.APl).toBe(small.stats.APs);
  });
});

describe("randomized cases checked against the official evaluators", () => {
  // Written by `scripts/vis_reference.py random` with the official YTVOSeval / OVISeval figures.
  const goldenDir = new URL("./golden/", import.meta.url);
  // -u<case>: cases with results of categories that are not in the GT (dropped, never scored).
  const files = readdirSync(goldenDir).filter((f) => /^(ytvis|ovis)-random-u?\d+\.json$/.test(f));

  it("has golden cases, some with results of categories that are not in the GT", () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
    expect(files.filter((f) => f.includes("-random-u")).length).toBeGreaterThanOrEqual(4);
  });

  for (const file of files) {
    it(file, () => {
      const golden = JSON.parse(readFileSync(new URL(file, goldenDir), "utf8")) as {
        ovis: boolean;
        gt: YtvisDataset;
        results: YtvisResult[];
        expected: { stats: Record<string, number>; per_category: CategoryAp[] };
      };
      const ours = evaluateYtvis(golden.gt, golden.results, { occlusion: golden.ovis, perCategory: true });
      if (file.includes("-random-u")) expect(ours.droppedResults, "dropped results").toBeGreaterThan(0);
      expect(Object.keys(ours.stats)).toEqual(Object.keys(golden.expected.stats));
      for (const [name, value] of Object.entries(golden.expected.stats))
        expect(Math.abs(ours.stats[name] - value), name).toBeLessThanOrEqual(1e-12);
      golden.expected.per_category.forEach((row, k) => {
        for (const key of ["AP", "AP50", "AP75"] as const)
          expect(Math.abs(ours.perCategory![k][key] - row[key]), `${key} of ${row.id}`).toBeLessThanOrEqual(
            1e-12,
          );
      });
    });
  }
});

describe("vidseg eval ytvis / ovis", () => {
  const dir = mkdtempSync(join(tmpdir(), "vidseg-eval-vis-"));
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "eval", ...args], {
      encoding: "utf8",
    });

  it("--json prints exactly one JSON document with the stats (and per_category on request)", async () => {
    const gt = dataset(4, 1, [{ frames: [strip(4, 0, 1)] }]);
    await writeYtvis(join(dir, "gt.json"), gt);
    await writeResults(join(dir, "res.json"), results(4, [{ score: 0.9, frames: [strip(4, 0, 1)] }]));
    const run = cli(
      "ytvis",
      "--gt",
      join(dir, "gt.json"),
      "--results",
      join(dir, "res.json"),
      "--json",
      "--per-category",
    );
    expect(run.status).toBe(0);
    const output = JSON.parse(run.stdout);
    expect(Object.keys(output)).toEqual(["stats", "per_category"]);
    expect(output.stats.AP).toBe(P);
    expect(Object.keys(output.stats)).toEqual([
      "AP",
      "AP50",
      "AP75",
      "APs",
      "APm",
      "APl",
      "AR1",
      "AR10",
      "AR100",
      "ARs",
      "ARm",
      "ARl",
    ]);
    expect(output.per_category).toEqual([
      { id: 1, name: "class1", AP: P, AP50: P_MEAN_101, AP75: P_MEAN_101 },
    ]);
  });

  it("a result of a category not in the GT: dropped with one warning line; --strict makes it an error", async () => {
    const res = results(4, [
      { score: 0.9, frames: [strip(4, 0, 1)] },
      { score: 0.8, frames: [strip(4, 0, 1)], category: 5 },
    ]);
    await writeResults(join(dir, "unknown.json"), res);
    const args = ["--gt", join(dir, "gt.json"), "--results", join(dir, "unknown.json"), "--json"];
    const run = cli("ytvis", ...args);
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout).stats.AP).toBe(P);
    expect(run.stderr).toBe(
      `vidseg: warning: ${join(dir, "unknown.json")}: 1 result(s) of a category that is not in the GT, ` +
        "not scored (as the official evaluator); --strict makes this an error\n",
    );
    const strict = cli("ytvis", ...args, "--strict");
    expect(strict.status).toBe(1);
    expect(strict.stdout).toBe("");
    expect(strict.stderr).toBe(
      `vidseg: error: ${join(dir, "unknown.json")}: [1].category_id: result for category 5, which is not in the GT\n`,
    );
  });

  it("a result for a video that is not in the GT: one line on stderr, exit code 1", async () => {
    await writeResults(join(dir, "bad.json"), results(4, [{ score: 0.9, frames: [strip(4, 0, 1)] }], 9));
    const run = cli("ovis", "--gt", join(dir, "gt.json"), "--results", join(dir, "bad.json"), "--json");
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `vidseg: error: ${join(dir, "bad.json")}: [0].video_id: result for video 9, which is not in the GT\n`,
    );
  });
});
