import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as vidseg from "../src/index.js";

describe("library API", () => {
  it("exposes RLE, the assignment and the evaluators from one entry point", () => {
    const mask = Uint8Array.from([0, 1, 1, 0, 1, 1]); // 2×3, row-major: column 0 empty, columns 1–2 full → runs [2, 4]
    const rle = vidseg.rle.encode(mask, 2, 3);
    expect(vidseg.rle.toCoco(rle)).toEqual({ size: [2, 3], counts: "24" });
    expect(vidseg.rle.decode(rle)).toEqual(mask);
    expect(
      vidseg.linearSumAssignment([
        [4, 1],
        [2, 0],
      ]),
    ).toEqual({ rows: [0, 1], cols: [1, 0] });
    expect(vidseg.YTVIS_STAT_NAMES).toHaveLength(12);
    expect(vidseg.OVIS_STAT_NAMES).toHaveLength(18);
    expect(typeof vidseg.evaluateDavis).toBe("function");
  });
});

describe("streaming API in the style of MediaPipe", () => {
  it("createFromPath works in a fresh process with no other call; close() frees every tensor; nothing else is printed", () => {
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "test/fixtures/fresh-segmenter.ts", "weights/online-ytvis.safetensors"],
      { encoding: "utf8" },
    );
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]);
    expect(report.backend).toBe("wasm");
    expect(report.loaded).toBeGreaterThan(100); // the weights
    expect(report.during).toBe(report.loaded); // no tensor outlives a frame
    expect(report.after).toBe(0);
    expect(report.frames).toEqual([0, 1]);
    expect(report.sameTracks).toBe(true);
  }, 60_000);

  it("a file that is not a vidseg model is one clear error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-api-"));
    const file = join(dir, "random.bin");
    writeFileSync(
      file,
      Uint8Array.from({ length: 256 }, (_, i) => (i * 97) % 256),
    );
    await expect(vidseg.OnlineSegmenter.createFromPath(file)).rejects.toThrow(
      new RegExp(`^${file}: not a vidseg model file`),
    );
    await expect(vidseg.OnlineSegmenter.createFromPath(dir)).rejects.toThrow(
      /model\.safetensors: file not found/,
    );
    rmSync(dir, { recursive: true });
  });
});
