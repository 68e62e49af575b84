import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "synth", ...args], { encoding: "utf8" });

describe("vidseg synth vis (CLI)", () => {
  it("writes the dataset, stats.json and previews; --json prints the statistics only; the GT scores 1", () => {
    const out = mkdtempSync(join(tmpdir(), "vidseg-synth-cli-"));
    const result = run(
      "vis",
      "--preset",
      "tiny",
      "--seed",
      "4",
      "--out",
      out,
      "--split",
      "valid",
      "--json",
      "--preview",
    );
    expect(result.status).toBe(0);
    const printed = JSON.parse(result.stdout) as { stats: Record<string, { videos: number }> };
    expect(Object.keys(printed.stats)).toEqual(["valid"]);
    expect(printed.stats.valid.videos).toBe(2);
    expect(JSON.parse(readFileSync(join(out, "stats.json"), "utf8"))).toEqual(printed.stats);
    expect(existsSync(join(out, "valid", "JPEGImages", "valid_00001", "00007.jpg"))).toBe(true);
    expect(existsSync(join(out, "train.json"))).toBe(false);
    for (const file of ["valid-sheet.png", "valid.gif"])
      expect(existsSync(join(out, "preview", file))).toBe(true);

    // The written GT, submitted as results, through `vidseg eval ovis`.
    const gt = JSON.parse(readFileSync(join(out, "valid.json"), "utf8")) as {
      annotations: { video_id: number; category_id: number; segmentations: unknown[] }[];
    };
    const results = gt.annotations.map((a) => ({ ...a, score: 1 }));
    const resultsFile = join(out, "results.json");
    writeFileSync(resultsFile, JSON.stringify(results));
    const evaluation = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "eval",
        "ovis",
        "--gt",
        join(out, "valid.json"),
        "--results",
        resultsFile,
        "--json",
      ],
      { encoding: "utf8" },
    );
    expect(evaluation.status).toBe(0);
    expect((JSON.parse(evaluation.stdout) as { stats: { AP: number } }).stats.AP).toBeGreaterThanOrEqual(
      0.9999999999999998,
    );
  });

  // The option checks themselves are unit-tested in synth-vis.test.ts; here: parsing and the one-line contract.
  it("reports impossible options as one line and exit code 1", () => {
    const out = mkdtempSync(join(tmpdir(), "vidseg-synth-cli-"));
    const cases: [string[], string][] = [
      [["--preset", "tiny", "--speed", "fast"], 'vidseg: error: --speed: expected a number, got "fast"\n'],
      [
        ["--preset", "tiny", "--split", "test"],
        'vidseg: error: --split: expected train, valid or both, got "test"\n',
      ],
      [
        ["--preset", "ytvis", "--objects", "99"],
        "vidseg: error: --objects: 99 objects do not fit in a 128x128 frame (at most 30 objects of radius ≥ 11.5 px)\n",
      ],
    ];
    for (const [args, message] of cases) {
      const result = run("vis", ...args, "--out", out);
      expect([result.status, result.stderr, result.stdout]).toEqual([1, message, ""]);
    }
  });
});
