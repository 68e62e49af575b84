/**
 * The fuzz harness in the test suite: every saved regression case (test/fuzz-regressions/, written by
 * `npm run fuzz` when it finds a failure) still passes the oracle, and a short fuzz run of every target
 * (about 2 s each, a fixed seed unless VIDSEG_FUZZ_SEED is set) finds no failure.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REGRESSIONS_DIR, runFuzz, type RegressionCase } from "./fuzz/run.js";
import { TARGETS, targetByName } from "./fuzz/targets.js";

const scratch = mkdtempSync(join(tmpdir(), "vidseg-fuzz-test-"));
beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cases = readdirSync(REGRESSIONS_DIR)
  .filter((name) => name.endsWith(".json"))
  .sort();

describe("fuzz regression cases", () => {
  it.each(cases)("%s passes the oracle", async (name) => {
    const saved = JSON.parse(readFileSync(new URL(name, REGRESSIONS_DIR), "utf8")) as RegressionCase;
    const target = targetByName(saved.target);
    if (target.available && !target.available()) return; // e.g. no ffmpeg here
    const dir = mkdtempSync(join(scratch, "case-"));
    await expect(target.check(saved.input, dir)).resolves.toMatch(/^(accepted|rejected)$/);
  });
});

describe("fuzzing", () => {
  it("a short run of every target finds no failure", async () => {
    const seed = Number(process.env.VIDSEG_FUZZ_SEED ?? 20240516);
    // Time bounds loose enough for a loaded machine running the rest of the suite beside it.
    const reports = await runFuzz({ seconds: 2, seed, regressions: null, inputMs: 30_000, hangMs: 90_000 });
    expect(reports.map((r) => r.target)).toEqual(TARGETS.map((t) => t.name));
    for (const r of reports) {
      expect(
        r.failures.map((f) => f.message),
        `${r.target} (seed ${seed})`,
      ).toEqual([]);
      if (!r.skipped) expect(r.tried, r.target).toBeGreaterThan(0);
    }
    // The runs reach past the first checks: some inputs of every JSON target are accepted.
    for (const name of ["ytvis", "ovis", "rle", "png", "config"])
      expect(reports.find((r) => r.target === name)!.accepted, name).toBeGreaterThan(0);
  }, 120_000);
});
