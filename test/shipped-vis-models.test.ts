/**
 * The shipped VIS model files (weights/): each loads through `vidseg infer vis --checkpoint`, declares
 * its kind and the synthetic categories, stays small, stores the top-k the benchmarks used, and
 * segments videos of the preset it was trained on (a floor far below its benchmark figure, far above
 * what an untrained model scores: 0). The distilled student is the undistilled one's network with other
 * weights: distillation leaves inference unchanged.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import { readResults, type YtvisDataset } from "../src/formats/ytvis.js";
import { inferVis } from "../src/jobs/infer-vis.js";
import { disposeModelFile, readModelFile } from "../src/models/model-file.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset, synthCategories } from "../src/synth/vis.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-shipped-vis-"));
const splits: Partial<Record<"ovis" | "ytvis", YtvisDataset>> = {};

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  // Seed 9: not a seed any shipped model trained, tuned or was scored on.
  for (const preset of ["ovis", "ytvis"] as const) {
    const options = resolveOptions(preset, 9, { videos: 2, frames: 16 });
    splits[preset] = (
      await generateVisDataset(options, join(root, preset), { splits: ["valid"] })
    ).datasets.valid!;
  }
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.each([
  ["weights/online-ytvis.safetensors", "online", "ytvis"],
  ["weights/ovis-student.safetensors", "online", "ovis"],
  ["weights/ovis-student-ookd.safetensors", "online", "ovis"],
  ["weights/ovis-teacher.safetensors", "offline", "ovis"],
] as const)("%s", (file, kind, preset) => {
  it(`is a small ${kind} model of the synthetic categories, storing top-50`, async () => {
    expect(statSync(file).size).toBeLessThan(30e6);
    const model = await readModelFile(file);
    try {
      expect(model.info.kind).toBe(kind);
      expect(model.info.categoryIds).toEqual(synthCategories().map((c) => c.id));
      expect(model.info.config.inference.topK).toBe(50);
      expect(model.info.trainedOn?.synthetic).toBe(true);
    } finally {
      disposeModelFile(model);
    }
  });

  it(`segments two fresh ${preset}-preset videos through infer vis`, async () => {
    const out = join(root, basename(file, ".safetensors"));
    const summary = await inferVis({ checkpoint: file, input: join(root, preset), out, animation: "none" });
    expect(summary.model).toBe(kind);
    const split = splits[preset]!;
    const results = await readResults(summary.results, split);
    for (const r of results) expect(r.segmentations).toHaveLength(16);
    const { stats } = evaluateYtvis(split, results, { occlusion: preset === "ovis" });
    expect(stats.AP50).toBeGreaterThan(0.05);
  }, 120_000);
});

it("the distilled student has exactly the undistilled student's tensors and network settings", async () => {
  const [distilled, undistilled] = await Promise.all(
    ["weights/ovis-student-ookd.safetensors", "weights/ovis-student.safetensors"].map((f) =>
      readModelFile(f),
    ),
  );
  try {
    const shapes = (file: typeof distilled) =>
      Object.fromEntries([...file.weights].map(([name, t]) => [name, t.shape]).sort());
    expect(shapes(distilled)).toEqual(shapes(undistilled));
    expect(distilled.info.config.model).toEqual(undistilled.info.config.model);
    // The tracker's association settings are each file's own (`vidseg tune vis` chose them on the
    // tuning split); what decides the network's cost and outputs is the same.
    const network = ({ scoreThreshold, topK, maskScore }: typeof distilled.info.config.inference) => ({
      scoreThreshold,
      topK,
      maskScore,
    });
    expect(network(distilled.info.config.inference)).toEqual(network(undistilled.info.config.inference));
    expect(distilled.info.config.distill).toMatchObject({ kdFilter: "qfa", fairAug: { enabled: true } });
  } finally {
    disposeModelFile(distilled);
    disposeModelFile(undistilled);
  }
});
