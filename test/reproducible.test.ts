/**
 * Same command, same bytes: two default `vidseg train vis` runs (seed 0, tiny preset, a few steps) write
 * byte-identical model files.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { runCli } from "./helpers/cli.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-reproducible-"));
const data = join(root, "data");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await generateVisDataset(resolveOptions("tiny", 0, { videos: 2, frames: 4 }), data, { splits: ["train"] });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("reproducible by default", () => {
  it("two default runs write byte-identical model files", async () => {
    const files: Buffer[] = [];
    for (const name of ["a", "b"]) {
      const out = join(root, name);
      const run = await runCli([
        "train",
        "vis",
        "--data",
        data,
        "--config",
        "tiny",
        "--steps",
        "2",
        "--out",
        out,
        "--quiet",
      ]);
      expect(run.exitCode, run.stderr).toBe(0);
      files.push(readFileSync(join(out, "model.safetensors")));
    }
    expect(files[0].length).toBeGreaterThan(10_000);
    expect(files[0].equals(files[1])).toBe(true);
  }, 120_000);
});
