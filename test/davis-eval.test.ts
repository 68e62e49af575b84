import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { encode } from "fast-png";
import { describe, expect, it } from "vitest";
import {
  binaryJF,
  boundaryF,
  boundaryRadius,
  davisCsvFiles,
  dbStatistics,
  evaluateDavis,
  formatFixed,
  jaccard,
  scoreSequence,
  type DavisResult,
} from "../src/eval/davis.js";
import { readImageSet, readSequenceGt, resultMaskPath, writeResultMask } from "../src/formats/davis.js";
import { readIndexedPng } from "../src/formats/png.js";
import { numpyMean } from "../src/math/numpy.js";

const GOLDEN = fileURLToPath(new URL("golden/davis-cases/", import.meta.url));
const TASKS = ["semi-supervised", "unsupervised"] as const;

/** Official numbers have null where the reference gives NaN. */
function expectClose(ours: DavisResult, official: DavisResult): void {
  expect(Object.keys(ours.per_object)).toEqual(Object.keys(official.per_object));
  const compare = (a: Record<string, number>, b: Record<string, number | null>) => {
    expect(Object.keys(a)).toEqual(Object.keys(b));
    for (const key of Object.keys(b)) {
      const expected = b[key];
      if (expected === null) expect(a[key]).toBeNaN();
      else expect(Math.abs(a[key]! - expected!)).toBeLessThanOrEqual(1e-9);
    }
  };
  compare(ours.global, official.global);
  for (const name of Object.keys(official.per_object))
    compare(ours.per_object[name]!, official.per_object[name]!);
}

function mask(rows: string[]): { width: number; height: number; data: Uint8Array } {
  const height = rows.length;
  const width = rows[0]!.length;
  const data = new Uint8Array(width * height);
  rows.forEach((row, y) => [...row].forEach((c, x) => (data[y * width + x] = c === "." ? 0 : Number(c))));
  return { width, height, data };
}

describe("DAVIS evaluation against the official davis2017-evaluation (golden cases)", () => {
  const cases = readdirSync(GOLDEN).sort();

  it("has small cases and a 480×854 case", () => {
    expect(cases.filter((c) => c.startsWith("small")).length).toBe(5);
    expect(cases).toContain("large000");
  });

  it("has quirk cases: predictions over void (unsupervised) and missing objects (semi-supervised)", async () => {
    const quirks = cases.filter((c) => c.startsWith("quirk"));
    expect(quirks.length).toBe(3);
    let voidPredicted = 0;
    let missingObjects = 0;
    for (const name of quirks) {
      const root = join(GOLDEN, name);
      for (const sequence of await readImageSet(join(root, "DAVIS"), "val")) {
        const gt = await readSequenceGt(join(root, "DAVIS"), "unsupervised", sequence);
        const objects = Math.max(0, ...Array.from(gt.masks[0]!.data).filter((v) => v !== 255));
        for (const [t, frame] of gt.frames.entries()) {
          const pred = await readIndexedPng(
            resultMaskPath(join(root, "results-unsupervised"), sequence, frame),
          );
          pred.data.forEach((label, i) => {
            if (label !== 0 && gt.masks[t]!.data[i] === 255) voidPredicted++;
          });
        }
        const semi = gt.frames.slice(1, -1);
        let predicted = 0;
        for (const frame of semi) {
          const pred = await readIndexedPng(
            resultMaskPath(join(root, "results-semi-supervised"), sequence, frame),
          );
          predicted = Math.max(predicted, ...pred.data);
        }
        if (semi.length > 0 && predicted < objects) missingObjects++;
      }
    }
    expect(voidPredicted).toBeGreaterThan(100);
    expect(missingObjects).toBeGreaterThanOrEqual(2);
  });

  for (const name of cases) {
    for (const task of TASKS) {
      it(`${name} ${task}: stats at 1e-9 and identical CSV files`, async () => {
        const root = join(GOLDEN, name);
        const result = await evaluateDavis({
          davisRoot: join(root, "DAVIS"),
          resultsDir: join(root, `results-${task}`),
          task,
          set: "val",
        });
        const official = JSON.parse(readFileSync(join(root, `official-${task}.json`), "utf8")) as DavisResult;
        expectClose(result, official);
        for (const file of davisCsvFiles(result, "val")) {
          expect(file.content).toBe(readFileSync(join(root, `csv-${task}`, file.name), "utf8"));
        }
      });
    }
  }
});

describe("DAVIS frame measures", () => {
  const empty = mask(["....", "....", "...."]);
  const square = mask(["....", ".11.", ".11."]);

  it("J: both empty is 1, one empty is 0, partial overlap is |∩|/|∪|", () => {
    expect(jaccard(empty.data, empty.data)).toBe(1);
    expect(jaccard(empty.data, square.data)).toBe(0);
    expect(jaccard(square.data, empty.data)).toBe(0);
    const shifted = mask(["....", "..11", "..11"]);
    expect(jaccard(shifted.data, square.data)).toBe(2 / 6);
  });

  it("F: empty prediction gives 0, empty GT gives 0, both empty gives 1", () => {
    expect(boundaryF(empty.data, square.data, 4, 3)).toBe(0); // P = 1, R = 0
    expect(boundaryF(square.data, empty.data, 4, 3)).toBe(0); // P = 0, R = 1
    expect(boundaryF(empty.data, empty.data, 4, 3)).toBe(1);
    expect(binaryJF(square.data, square.data, 4, 3)).toEqual({ j: 1, f: 1 });
  });

  it("F: boundaries beyond the tolerance do not match, within it they do", () => {
    // 200×200: radius ceil(0.008·√80000) = 3.
    expect(boundaryRadius(200, 200)).toBe(3);
    expect(boundaryRadius(480, 854)).toBe(8);
    const size = 200;
    const block = (x0: number) => {
      const data = new Uint8Array(size * size);
      for (let y = 50; y < 100; y++) for (let x = x0; x < x0 + 50; x++) data[y * size + x] = 1;
      return data;
    };
    // A 3-pixel shift keeps every boundary pixel within the disk: F = 1 while J < 1.
    expect(boundaryF(block(53), block(50), size, size)).toBe(1);
    expect(jaccard(block(53), block(50))).toBe(47 / 53);
    // Far apart: no boundary pixel matches.
    expect(boundaryF(block(120), block(10), size, size)).toBe(0);
  });

  it("F: the seg2bmap boundary of a 2×2 square, by hand", () => {
    // Boundary pixels (offset half a pixel towards the origin): rows 0-2, cols 0-2 minus the square's
    // inside corner; exactly one boundary pixel differs between a mask and itself shifted → hand counts.
    const a = mask(["......", ".11...", ".11...", "......"]);
    const b = mask(["......", "......", ".11...", ".11..."]);
    // Tolerance for 4×6 is ceil(0.008·√52) = 1 pixel: a's boundary rows 0-2, b's rows 1-3.
    // a: 8 pixels {(0,0),(0,1),(0,2),(1,0),(1,2),(2,0),(2,1),(2,2)}; b likewise one row lower.
    // Every pixel of each lies within distance 1 of the other's boundary, so F = 1.
    expect(boundaryF(a.data, b.data, 6, 4)).toBe(1);
    const far = mask(["......", "......", "....11", "....11"]);
    // far's boundary: rows 1-2 (and col 3..5); a's pixel (0,0) is more than 1 from it.
    const f = boundaryF(a.data, far.data, 6, 4);
    expect(f).toBeGreaterThan(0);
    expect(f).toBeLessThan(1);
  });
});

describe("DAVIS statistics", () => {
  it("Mean, Recall and Decay with the reference's bins", () => {
    // N = 5: bin edges round(linspace(1, 5, 5)) - 1 = [0, 1, 2, 3, 4]; bins [0:2], [1:3], [2:4], [3:5].
    const stats = dbStatistics(Float64Array.from([1, 0, 1, 0.2, 0.9]));
    expect(stats.mean).toBe(numpyMean([1, 0, 1, 0.2, 0.9]));
    expect(stats.recall).toBe(3 / 5);
    expect(stats.decay).toBe((1 + 0) / 2 - (0.2 + 0.9) / 2);
    // N = 1: every bin is the single frame, decay 0.
    expect(dbStatistics(Float64Array.from([0.3]))).toEqual({ mean: 0.3, recall: 0, decay: 0 });
    // No frames: NaN like np.nanmean of an empty array.
    expect(dbStatistics(new Float64Array(0)).mean).toBeNaN();
  });

  it("means use NumPy's pairwise summation (values from NumPy)", () => {
    expect(numpyMean(Array.from({ length: 200 }, (_, k) => k * 0.1))).toBe(9.95);
    expect(numpyMean([...Array<number>(37).fill(0.1), ...Array<number>(5).fill(0.7)])).toBe(
      0.17142857142857146,
    );
  });

  it('formats like Python "%.3f": exact value, ties to even, "-0.000"', () => {
    expect(formatFixed(0.0625)).toBe("0.062");
    expect(formatFixed(0.1875)).toBe("0.188");
    expect(formatFixed(0.0005)).toBe("0.001"); // 0.0005 is slightly above the tie in binary
    expect(formatFixed(-0.0001)).toBe("-0.000");
    expect(formatFixed(2 / 3)).toBe("0.667");
    expect(formatFixed(1)).toBe("1.000");
    expect(formatFixed(NaN)).toBe("");
  });
});

describe("DAVIS sequence scoring rules", () => {
  const gt = [mask(["11..", "..22"]), mask(["11..", "..22"]), mask(["1...", "..2."])];

  it("semi-supervised: more predicted objects than GT objects is an error; fewer are padded and scored", () => {
    expect(() => scoreSequence("semi-supervised", "s", gt, [mask(["113.", "...."])])).toThrow(
      "s: the predictions have label 3, more than the 2 object(s) of the first GT frame",
    );
    const series = scoreSequence("semi-supervised", "s", gt, [mask(["11..", "..22"])]);
    expect(series.map((o) => [o.name, Array.from(o.j), Array.from(o.f)])).toEqual([
      ["s_1", [1], [1]],
      ["s_2", [1], [1]],
    ]);
    // Object 2 missing from the predictions: an empty mask, J = F = 0 where the GT has it.
    const padded = scoreSequence("semi-supervised", "s", gt, [mask(["11..", "...."])]);
    expect(padded.map((o) => [o.name, Array.from(o.j), Array.from(o.f)])).toEqual([
      ["s_1", [1], [1]],
      ["s_2", [0], [0]],
    ]);
    // No predicted object at all.
    const none = scoreSequence("semi-supervised", "s", gt, [mask(["....", "...."])]);
    expect(none.map((o) => Array.from(o.j))).toEqual([[0], [0]]);
  });

  it("unsupervised: more than 20 proposals is an error; fewer are padded; proposals are matched", () => {
    const tooMany = mask(["1...", "...."]);
    tooMany.data[0] = 21;
    expect(() => scoreSequence("unsupervised", "s", [gt[0]!], [tooMany])).toThrow(
      "s: the predictions have label 21, more than the 20 proposals allowed",
    );
    // Proposals swapped: the assignment recovers the objects.
    const swapped = scoreSequence("unsupervised", "s", gt, [
      mask(["22..", "..11"]),
      mask(["22..", "..11"]),
      mask(["2...", "..1."]),
    ]);
    expect(swapped.map((o) => numpyMean(o.j))).toEqual([1, 1]);
    // No proposals at all: padded with empty masks, J = F = 0 wherever the object exists.
    const none = scoreSequence("unsupervised", "s", gt, [
      mask(["....", "...."]),
      mask(["....", "...."]),
      mask(["....", "...."]),
    ]);
    expect(none.map((o) => Array.from(o.j))).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  it("GT labels above the first frame's maximum are ignored", () => {
    const gtFrames = [mask(["1...", "...."]), mask(["1...", "...."])];
    gtFrames[1]!.data[7] = 9;
    const series = scoreSequence("unsupervised", "v", gtFrames, [
      mask(["1...", "...."]),
      mask(["1...", "...."]),
    ]);
    expect(Array.from(series[0]!.j)).toEqual([1, 1]);
  });

  it("void (255): left out of J and F in the unsupervised task, background in the semi-supervised one", () => {
    // The prediction covers the GT object and one void pixel.
    const withVoid = () => {
      const frame = mask(["11..", "...."]);
      frame.data[2] = 255;
      return frame;
    };
    const pred = mask(["111.", "...."]);
    const unsupervised = scoreSequence("unsupervised", "v", [withVoid()], [pred]);
    expect([Array.from(unsupervised[0]!.j), Array.from(unsupervised[0]!.f)]).toEqual([[1], [1]]);
    const semi = scoreSequence("semi-supervised", "v", [withVoid(), withVoid(), withVoid()], [pred]);
    expect(Array.from(semi[0]!.j)).toEqual([2 / 3]);
    // Without the void pixel the unsupervised J is 2/3 as well.
    expect(Array.from(scoreSequence("unsupervised", "v", [mask(["11..", "...."])], [pred])[0]!.j)).toEqual([
      2 / 3,
    ]);
  });
});

describe("DAVIS folders: bad input", () => {
  const base = join(GOLDEN, "small001");

  function copyCase(): string {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-davis-"));
    cpSync(base, dir, { recursive: true });
    return dir;
  }

  it("a missing result frame, a size mismatch and a non-indexed PNG name the file", async () => {
    const dir = copyCase();
    try {
      const results = join(dir, "results-unsupervised");
      const seq = readdirSync(results).sort()[0]!;
      const frame = readdirSync(join(results, seq)).sort()[0]!;
      const file = join(results, seq, frame);
      rmSync(file);
      const run = () =>
        evaluateDavis({ davisRoot: join(dir, "DAVIS"), resultsDir: results, task: "unsupervised" });
      await expect(run()).rejects.toThrow(`${file}: missing frame: file not found`);
      await writeResultMask(results, seq, frame.replace(".png", ""), {
        width: 5,
        height: 5,
        data: new Uint8Array(25),
      });
      await expect(run()).rejects.toThrow(`${file}: mask is 5×5 but the GT mask is 64×48`);
      writeFileSync(
        file,
        encode({ width: 64, height: 48, data: new Uint8Array(64 * 48 * 3), channels: 3, depth: 8 }),
      );
      await expect(run()).rejects.toThrow(`${file}: PNG is not indexed`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a missing GT mask is named by the image that lacks it", async () => {
    const dir = copyCase();
    try {
      const annotations = join(dir, "DAVIS", "Annotations", "480p", "seq0");
      rmSync(join(annotations, "00001.png"));
      await expect(
        evaluateDavis({
          davisRoot: join(dir, "DAVIS"),
          resultsDir: join(dir, "results-semi-supervised"),
          task: "semi-supervised",
        }),
      ).rejects.toThrow(`${join(annotations, "00001.png")}: missing frame`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("vidseg eval davis (CLI)", () => {
  const run = promisify(execFile);
  const cli = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

  it("--json prints exactly one JSON document; --csv-dir writes the official CSV files", async () => {
    const root = join(GOLDEN, "small002");
    const csvDir = mkdtempSync(join(tmpdir(), "vidseg-csv-"));
    const { stdout } = await run(process.execPath, [
      "--import",
      "tsx",
      cli,
      "eval",
      "davis",
      "--davis-root",
      join(root, "DAVIS"),
      "--results",
      join(root, "results-unsupervised"),
      "--task",
      "unsupervised",
      "--json",
      "--csv-dir",
      csvDir,
    ]);
    const document = JSON.parse(stdout) as DavisResult;
    const official = JSON.parse(
      readFileSync(join(root, "official-unsupervised.json"), "utf8"),
    ) as DavisResult;
    expectClose(document, official);
    for (const name of ["global_results-val.csv", "per-sequence_results-val.csv"]) {
      expect(readFileSync(join(csvDir, name), "utf8")).toBe(
        readFileSync(join(root, "csv-unsupervised", name), "utf8"),
      );
    }
    rmSync(csvDir, { recursive: true, force: true });
  }, 30_000);

  it("bad input: one line on stderr, exit code 1", async () => {
    const error = await run(process.execPath, [
      "--import",
      "tsx",
      cli,
      "eval",
      "davis",
      "--davis-root",
      "/nonexistent",
      "--results",
      "/nonexistent",
      "--task",
      "semi-supervised",
    ]).catch((e: { code: number; stderr: string; stdout: string }) => e);
    expect(error).toMatchObject({ code: 1, stdout: "" });
    expect((error as { stderr: string }).stderr).toBe(
      'vidseg: error: /nonexistent/ImageSets/2017/val.txt: image set "val" not found\n',
    );
  }, 30_000);
});
