/**
 * `npm run demo -- --preset ovis` (the OOKD demo) as a user runs it, with two tiny random-weight models in
 * place of the students so that it stays fast: both stream the same occlusion video, and the printed
 * figures are the evaluation of the files each wrote; missing weights are one clear error line.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identitySwitches } from "../src/eval/identity.js";
import { evaluateYtvis, OVIS_STAT_NAMES } from "../src/eval/ytvis.js";
import { readResults, readYtvis } from "../src/formats/ytvis.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-demo-ookd-"));
const baseline = join(root, "undistilled.safetensors");
const student = join(root, "distilled.safetensors");
const tsx = join("node_modules", ".bin", "tsx");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await writeRandomOnlineModel(baseline, 1);
  await writeRandomOnlineModel(student, 2);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("npm run demo -- --preset ovis", () => {
  it("streams one occlusion video through both students and prints their figures side by side", async () => {
    const out = join(root, "out");
    const run = spawnSync(
      tsx,
      [
        "scripts/demo.ts",
        "--preset",
        "ovis",
        "--baseline",
        baseline,
        "--student",
        student,
        "--frames",
        "6",
        "--out",
        out,
      ],
      { encoding: "utf8", env: { ...process.env, CI: "1" } },
    );
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    const { width, height } = resolveOptions("ovis", 3);
    expect(run.stdout).toContain(`generating an occlusion video (6 frames, ${width}×${height}, seed 3)`);
    const gt = await readYtvis(join(out, "video", "valid.json"));
    const row = (label: string) => run.stdout.split("\n").find((l) => l.startsWith(label.padEnd(20)))!;
    const columns = (label: string) => row(label).slice(20).trim().split(/ +/);
    for (const [k, name] of ["undistilled", "distilled"].entries()) {
      const results = await readResults(join(out, name, "results.json"), gt);
      const { stats } = evaluateYtvis(gt, results, { occlusion: true });
      for (const stat of OVIS_STAT_NAMES) expect(columns(stat)[k], stat).toBe(stats[stat].toFixed(3));
      const identity = identitySwitches(gt, results);
      expect(columns("ID switches/track")[k]).toBe(identity.switchesPerTrack.toFixed(3));
      expect(columns("GT frames matched")[k]).toBe(identity.matchedFraction.toFixed(3));
      expect(existsSync(join(out, name, "overlays"))).toBe(true);
    }
    const [a, b] = columns("AP").map(Number);
    expect(columns("AP")[2]).toBe(`${b - a >= 0 ? "+" : ""}${(b - a).toFixed(3)}`);
  }, 120_000);

  it("without the students: one error line, exit 1", () => {
    const missing = join(root, "missing.safetensors");
    const run = spawnSync(
      tsx,
      ["scripts/demo.ts", "--preset", "ovis", "--student", missing, "--baseline", baseline],
      {
        encoding: "utf8",
      },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`demo: error: ${missing}: model file not found\n`);
  }, 60_000);
});
