/**
 * `npm run demo` as a user runs it (a fresh process), with a tiny random-weight model in place of the
 * shipped one so that it stays fast: it writes the animation, contact sheet, results and GT, prints the
 * 12-line AP table and where everything is; a missing model is one clear error line and exit 1.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import { readResults, readYtvis } from "../src/formats/ytvis.js";
import { initRuntime } from "../src/runtime/backend.js";
import { writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-demo-"));
const modelFile = join(root, "model.safetensors");
const tsx = join("node_modules", ".bin", "tsx");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await writeRandomOnlineModel(modelFile, 1);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("npm run demo", () => {
  it("writes the animation, sheet, results and GT, and prints the AP table", async () => {
    const out = join(root, "demo-output");
    const run = spawnSync(tsx, ["scripts/demo.ts", "--checkpoint", modelFile, "--out", out], {
      encoding: "utf8",
      env: { ...process.env, CI: "1" },
    });
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    const table = run.stdout.split("\n").filter((line) => line.includes("@[ IoU="));
    expect(table).toHaveLength(12);
    for (const file of ["overlay.gif", "overlay-sheet.png", "results.json", "video/valid.json"]) {
      expect(existsSync(join(out, file))).toBe(true);
      expect(run.stdout).toContain(join(out, file));
    }
    expect(existsSync(join(out, "overlays"))).toBe(false);
    expect(readFileSync(join(out, "overlay.gif")).subarray(0, 6).toString()).toBe("GIF89a");
    // The printed AP is the evaluation of the written files.
    const gt = await readYtvis(join(out, "video", "valid.json"));
    expect(gt.videos).toHaveLength(1);
    const { stats } = evaluateYtvis(gt, await readResults(join(out, "results.json"), gt));
    expect(table[0].endsWith(`= ${stats.AP.toFixed(3)}`)).toBe(true);
  }, 120_000);

  it("without the model: one error line, exit 1", () => {
    const missing = join(root, "missing.safetensors");
    const run = spawnSync(tsx, ["scripts/demo.ts", "--checkpoint", missing, "--out", join(root, "x")], {
      encoding: "utf8",
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`demo: error: ${missing}: model file not found\n`);
    expect(existsSync(join(root, "x"))).toBe(false);
  }, 60_000);
});
