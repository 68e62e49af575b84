/**
 * The batch runner's infer-refer task: a manifest line with `texts` follows each expression through a
 * frame folder, one without reads a Ref-YouTube-VOS split; both write, renamed into place, exactly the
 * bytes of `inferRefer` run directly (tiny referring model trained for two steps).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkEntry, type BatchJobData } from "../src/batch/manifest.js";
import { runBatchJob } from "../src/batch/run-job.js";
import { readRefMetaExpressions, resolveReferSplit } from "../src/formats/refytvos.js";
import { inferRefer } from "../src/jobs/infer-refer.js";
import { presetConfig } from "../src/models/config.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateReferDataset } from "../src/synth/refer.js";
import { trainReferModel } from "../src/train/run.js";
import { folderFiles } from "./helpers/files.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-batch-refer-"));
const MANIFEST = join(root, "jobs.jsonl");
let model: string;
let video: string;
let texts: string[];

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await generateReferDataset(resolveOptions("tiny", 3), join(root, "data"));
  const config = presetConfig("tiny");
  config.optim.totalSteps = 2;
  config.optim.warmupSteps = 1;
  const split = resolveReferSplit(join(root, "data"), "train");
  const run = await trainReferModel({
    config,
    data: { annotationFile: split.annotationFile, imagesDir: split.imagesDir },
    runDir: join(root, "run"),
    progress: false,
    seed: 5,
  });
  run.model.dispose();
  model = run.modelFile!;
  const valid = await readRefMetaExpressions(join(root, "data", "valid", "meta_expressions.json"));
  const [name, entry] = Object.entries(valid.videos)[0];
  video = name;
  texts = Object.values(entry.expressions).map((e) => e.exp);
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const jobData = (id: string, input: string, options: Record<string, unknown>): BatchJobData => ({
  id,
  manifest: MANIFEST,
  line: 1,
  entry: {
    id,
    task: "infer-refer",
    input,
    out: `seg/${id}`,
    options: { checkpoint: "run/model.safetensors", ...options },
  },
});

describe("batch infer-refer", () => {
  it("checks its options: texts resolve as given, the checkpoint inside the root", () => {
    const resolved = checkEntry(
      jobData("t", "data/valid/JPEGImages/x", { texts: ["a", "b"], maxFrames: 4 }).entry,
      root,
      MANIFEST,
      1,
    );
    expect(resolved.options).toEqual({
      checkpoint: join(root, "run", "model.safetensors"),
      texts: ["a", "b"],
      maxFrames: 4,
    });
  });

  it("follows the texts through a frame folder: the bytes of inferRefer run directly", async () => {
    expect(model).toBe(join(root, "run", "model.safetensors"));
    const input = join("data", "valid", "JPEGImages", video);
    const direct = join(root, "direct-frames");
    // The overlay animation is left out (MP4 bytes depend on the system's ffmpeg).
    await inferRefer({ checkpoint: model, input: join(root, input), texts, out: direct, animation: "none" });
    const result = await runBatchJob(jobData("frames", input, { texts, animation: "none" }), { root });
    expect(result.summary).toMatchObject({ videos: 1, expressions: texts.length, frames: 8 });
    const expected = folderFiles(direct);
    expect(expected.size).toBe(1 + 8 * texts.length); // expressions.json + a PNG per frame and text
    expect(folderFiles(join(root, "seg", "frames"))).toEqual(expected);
  }, 60_000);

  it("without texts reads a split: every expression, the bytes of inferRefer --split", async () => {
    const direct = join(root, "direct-split");
    const summary = await inferRefer({ checkpoint: model, split: join(root, "data", "valid"), out: direct });
    const result = await runBatchJob(jobData("split", "data/valid", {}), { root });
    expect(result.summary).toMatchObject({ videos: summary.videos, expressions: summary.expressions });
    expect(summary.expressions).toBeGreaterThan(2);
    expect(folderFiles(join(root, "seg", "split"))).toEqual(folderFiles(direct));
  }, 60_000);
});
