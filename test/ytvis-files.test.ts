/**
 * evaluateYtvisFiles: the file-level evaluation that `vidseg eval ytvis|ovis` runs, with the videos dealt
 * into shards over threads. The numbers must be those of evaluateYtvis bit for bit, and a bad file must
 * get the error the sequential readers give (the first problem in file order).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { evaluateYtvisFiles } from "../src/eval/ytvis-files.js";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import { validateResults, validateYtvis, type YtvisDataset, type YtvisResult } from "../src/formats/ytvis.js";

const dir = mkdtempSync(join(tmpdir(), "vidseg-ytvis-files-"));

/** A golden case (official numbers) written back to files. */
function goldenFiles(name: string): {
  gtFile: string;
  resultsFile: string;
  ovis: boolean;
  expected: Record<string, number>;
} {
  const golden = JSON.parse(readFileSync(new URL(`./golden/${name}`, import.meta.url), "utf8")) as {
    ovis: boolean;
    gt: YtvisDataset;
    results: YtvisResult[];
    expected: { stats: Record<string, number> };
  };
  const gtFile = join(dir, `${name}-gt.json`);
  const resultsFile = join(dir, `${name}-results.json`);
  writeFileSync(gtFile, JSON.stringify(golden.gt));
  writeFileSync(resultsFile, JSON.stringify(golden.results));
  return { gtFile, resultsFile, ovis: golden.ovis, expected: golden.expected.stats };
}

describe("evaluateYtvisFiles", () => {
  it("gives evaluateYtvis's numbers bit for bit on 1, 2 and 3 threads (official numbers to 1e-12)", async () => {
    for (const name of ["ytvis-random-u9.json", "ovis-random-u5.json"]) {
      const { gtFile, resultsFile, ovis, expected } = goldenFiles(name);
      const gt = validateYtvis(JSON.parse(readFileSync(gtFile, "utf8")), gtFile);
      const results = validateResults(JSON.parse(readFileSync(resultsFile, "utf8")), resultsFile, gt);
      const reference = evaluateYtvis(gt, results, { occlusion: ovis, perCategory: true });
      for (const threads of name.startsWith("ytvis") ? [1, 2, 3] : [2]) {
        const evaluation = await evaluateYtvisFiles({
          gtFile,
          resultsFile,
          occlusion: ovis,
          perCategory: true,
          threads,
        });
        expect(evaluation, `${name}, ${threads} threads`).toEqual(reference);
      }
      for (const [stat, value] of Object.entries(expected))
        expect(Math.abs(reference.stats[stat] - value), stat).toBeLessThanOrEqual(1e-12);
      expect(reference.droppedResults).toBeGreaterThan(0);
    }
  }, 60_000);

  it("reports the first problem in file order, whichever thread meets one first", async () => {
    const { gtFile, resultsFile } = goldenFiles("ytvis-random-u9.json");
    const results = JSON.parse(readFileSync(resultsFile, "utf8")) as YtvisResult[];
    const gt = JSON.parse(readFileSync(gtFile, "utf8")) as YtvisDataset;
    // Videos by ascending id are dealt in turn to threads 0, 1: spoil a mask of a result on thread 1 and,
    // later in the file, one on thread 0, which thread 0 meets first.
    const order = gt.videos.map((v) => v.id).sort((a, b) => a - b);
    const thread = (r: YtvisResult) => order.indexOf(r.video_id) % 2;
    const withMask = (r: YtvisResult) => r.segmentations.some((s) => s);
    // A result of thread 1 first in the file, then the last one of thread 0.
    results.unshift(
      ...results.splice(
        results.findIndex((r) => thread(r) === 1 && withMask(r)),
        1,
      ),
    );
    const inSecond = 0;
    const inFirst = results.findLastIndex((r) => thread(r) === 0 && withMask(r));
    expect(inFirst).toBeGreaterThan(inSecond);
    const spoil = (i: number, counts: string) => {
      const f = results[i].segmentations.findIndex((s) => s);
      results[i].segmentations[f]!.counts = counts;
      return `[${i}].segmentations[${f}].counts`;
    };
    const where = spoil(inSecond, "0 1");
    spoil(inFirst, "!");
    const bad = join(dir, "bad-results.json");
    writeFileSync(bad, JSON.stringify(results));
    const sequential = (() => {
      try {
        validateResults(results, bad, validateYtvis(gt, gtFile));
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(sequential).toContain(`${bad}: ${where}: malformed RLE counts`);
    for (const threads of [1, 2])
      await expect(evaluateYtvisFiles({ gtFile, resultsFile: bad, threads })).rejects.toThrow(sequential);
  }, 60_000);

  it("--strict: a category not in the GT is an error; by default such results are counted", async () => {
    const { gtFile, resultsFile } = goldenFiles("ytvis-random-u12.json");
    const evaluation = await evaluateYtvisFiles({ gtFile, resultsFile });
    expect(evaluation.droppedResults).toBeGreaterThan(0);
    await expect(evaluateYtvisFiles({ gtFile, resultsFile, strict: true })).rejects.toThrow(
      /category_id: result for category \d+, which is not in the GT/,
    );
  });
});

describe("vidseg eval ytvis loads only what it needs", () => {
  it("no TensorFlow.js, no sharp", () => {
    const { gtFile, resultsFile } = goldenFiles("ytvis-random-u0.json");
    const run = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        "./test/fixtures/trace-loads.mjs",
        "src/cli/main.ts",
        "eval",
        "ytvis",
        "--gt",
        gtFile,
        "--results",
        resultsFile,
        "--json",
      ],
      { encoding: "utf8" },
    );
    expect(run.status).toBe(0);
    const loaded = run.stderr.split("\n").filter((line) => line.startsWith("vidseg-load "));
    expect(loaded.some((line) => line.includes("/src/eval/ytvis.ts"))).toBe(true);
    expect(loaded.filter((line) => /node_modules\/(sharp|@tensorflow)\//.test(line))).toEqual([]);
  }, 30_000);
});
