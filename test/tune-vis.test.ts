/**
 * `vidseg tune vis`: the tracker settings a model file stores (`inference.minSimilarity`, `.momentum`)
 * are what the online segmenter runs with; a tracker variant fed the same network outputs gives exactly
 * the results of a segmenter loaded with that variant's settings; the tune job picks the grid's best AP,
 * writes the same tensors with the chosen settings, and `infer vis` on that file reproduces the chosen
 * results; bad input is one error naming the file or the flag.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import { readResults, type YtvisDataset } from "../src/formats/ytvis.js";
import { openYtvisSplit } from "../src/infer/sources.js";
import {
  OnlineSegmenter,
  type OnlineSegmenterOptions,
  type TrackerSettings,
} from "../src/infer/online-segmenter.js";
import { inferVis } from "../src/jobs/infer-vis.js";
import { tuneVis, type TuneVisSummary } from "../src/jobs/tune-vis.js";
import { resolveVisConfig } from "../src/models/config.js";
import { disposeModelFile, readModelFile } from "../src/models/model-file.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-tune-"));
const SHIPPED = "weights/online-ytvis.safetensors";
const FRAMES = 12;
let split: YtvisDataset;
const splitRoot = join(root, "ytvis");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  // Seed 9: a seed the shipped model never trained, was tuned or scored on (as shipped-vis-models).
  const options = resolveOptions("ytvis", 9, { videos: 3, frames: FRAMES });
  split = (await generateVisDataset(options, splitRoot, { splits: ["valid"] })).datasets.valid!;
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the tracker settings of a model file", () => {
  it("default to the tracker's own (0.5, 0.7, 10) and are checked by name", () => {
    const { inference } = resolveVisConfig({ preset: "tiny" });
    expect([inference.minSimilarity, inference.momentum, inference.maxGap]).toEqual([0.5, 0.7, 10]);
    expect(() => resolveVisConfig({ inference: { maxGap: 1.5 } }, "m.json")).toThrow(/inference\.maxGap/);
    expect(inference.boxIouWeight).toBe(0);
    expect(() => resolveVisConfig({ inference: { boxIouWeight: -1 } }, "m.json")).toThrow(
      /inference\.boxIouWeight/,
    );
    expect(() => resolveVisConfig({ inference: { momentum: 1 } }, "m.json")).toThrow(
      /m\.json.*inference\.momentum.*below 1/,
    );
    expect(() => resolveVisConfig({ inference: { minSimilarity: 2 } }, "m.json")).toThrow(
      /inference\.minSimilarity/,
    );
  });

  it("a variant tracker gives the results of a segmenter loaded with its settings, bit for bit", async () => {
    const file = join(root, "random.safetensors");
    await writeRandomOnlineModel(file, 0); // score threshold 0: every query is a candidate
    const variants: TrackerSettings[] = [
      { minSimilarity: 0.9, momentum: 0, maxGap: 0, boxIouWeight: 0 },
      { minSimilarity: -1, momentum: 0.5, maxGap: 30, boxIouWeight: 1 },
    ];
    const { videos } = await openYtvisSplit(
      join(splitRoot, "valid.json"),
      join(splitRoot, "valid", "JPEGImages"),
    );
    const run = async (options: OnlineSegmenterOptions) => {
      const segmenter = await OnlineSegmenter.createFromPath(file, { collectResults: true, ...options });
      const own = [];
      const others: unknown[][] = variants.map(() => []);
      for (const { video, frames } of videos) {
        segmenter.reset();
        for await (const frame of await frames()) await segmenter.segmentForVideoAsync(frame);
        own.push(...segmenter.finish(video.id));
        segmenter.finishVariants(video.id).forEach((r, i) => others[i].push(...r));
      }
      segmenter.dispose();
      return { own, others };
    };
    const swept = await run({ trackerVariants: variants });
    const alone = await run({});
    expect(swept.own).toEqual(alone.own);
    for (const [i, settings] of variants.entries()) {
      const direct = await run(settings);
      expect(direct.own.length).toBeGreaterThan(0);
      expect(swept.others[i]).toEqual(direct.own);
    }
    // The settings change the tracks (else this test would prove nothing).
    expect(swept.others[0]).not.toEqual(swept.others[1]);
  }, 120_000);
});

describe("vidseg tune vis", () => {
  let summary: TuneVisSummary;
  const out = join(root, "tuned");

  beforeAll(async () => {
    summary = await tuneVis({
      checkpoint: SHIPPED,
      input: splitRoot,
      out,
      minSimilarity: [0.3, 0.7],
      momentum: [0, 0.9],
      maxGap: [10],
      boxIouWeight: [0, 1],
    });
  }, 120_000);

  it("scores the file's own settings first, then the grid, and chooses the best AP", async () => {
    const stored = await readModelFile(SHIPPED);
    const { minSimilarity, momentum, maxGap, boxIouWeight } = stored.info.config.inference;
    disposeModelFile(stored);
    expect(summary.grid.map((p) => [p.minSimilarity, p.momentum, p.maxGap, p.boxIouWeight])).toEqual([
      [minSimilarity, momentum, maxGap, boxIouWeight],
      [0.3, 0, 10, 0],
      [0.3, 0, 10, 1],
      [0.3, 0.9, 10, 0],
      [0.3, 0.9, 10, 1],
      [0.7, 0, 10, 0],
      [0.7, 0, 10, 1],
      [0.7, 0.9, 10, 0],
      [0.7, 0.9, 10, 1],
    ]);
    expect(summary.before).toEqual(summary.grid[0]);
    const best = Math.max(...summary.grid.map((p) => p.AP));
    expect(summary.chosen.AP).toBe(best);
    expect(summary.grid.find((p) => p.AP === best)).toEqual(summary.chosen);
    expect(summary.frames).toBe(3 * FRAMES);
    expect(JSON.parse(readFileSync(join(out, "tuning.json"), "utf8"))).toEqual(summary);
  });

  it("figures that infer vis + eval give for the same settings", async () => {
    // The file's own settings through the ordinary path.
    const plain = await inferVis({
      checkpoint: SHIPPED,
      input: splitRoot,
      out: join(root, "plain"),
      animation: "none",
    });
    const { stats } = evaluateYtvis(split, await readResults(plain.results, split));
    expect(stats.AP).toBe(summary.before.AP);
    expect(stats.AR10).toBe(summary.before.AR10);
  }, 120_000);

  it("writes the same tensors with the chosen settings, which infer vis then runs", async () => {
    const [a, b] = [await readModelFile(SHIPPED), await readModelFile(summary.model)];
    try {
      expect([...b.weights.keys()]).toEqual([...a.weights.keys()]);
      for (const [name, tensor] of a.weights) {
        expect(b.weights.get(name)!.dataSync()).toEqual(tensor.dataSync());
      }
      const { minSimilarity, momentum, maxGap, boxIouWeight } = summary.chosen;
      const chosen = { minSimilarity, momentum, maxGap, boxIouWeight };
      expect(b.info.config.inference).toEqual({ ...a.info.config.inference, ...chosen });
      expect({ ...b.info, config: { ...b.info.config, inference: a.info.config.inference } }).toEqual(a.info);
    } finally {
      disposeModelFile(a);
      disposeModelFile(b);
    }
    const again = await inferVis({
      checkpoint: summary.model,
      input: splitRoot,
      out: join(root, "again"),
      animation: "none",
    });
    expect(readFileSync(again.results, "utf8")).toBe(readFileSync(summary.results, "utf8"));
  }, 120_000);

  it("refuses what it cannot tune, in one line naming the file or the flag", async () => {
    await expect(tuneVis({ checkpoint: "m.onnx", input: splitRoot, out: join(root, "x") })).rejects.toThrow(
      /m\.onnx.*safetensors/,
    );
    await expect(
      tuneVis({ checkpoint: "weights/ovis-teacher.safetensors", input: splitRoot, out: join(root, "x") }),
    ).rejects.toThrow(/ovis-teacher.*kind "offline"/);
    await expect(
      tuneVis({ checkpoint: SHIPPED, input: join(splitRoot, "valid", "JPEGImages"), out: join(root, "x") }),
    ).rejects.toThrow(/not a YouTube-VIS split/);
    const cli = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "tune",
        "vis",
        "--checkpoint",
        SHIPPED,
        "--input",
        splitRoot,
        "--out",
        join(root, "y"),
        "--momentum",
        "0.5,1",
      ],
      { encoding: "utf8" },
    );
    expect(cli.status).toBe(1);
    expect(cli.stderr.trim()).toBe('vidseg: error: --momentum: expected a number in [0, 1), got "1"');
  }, 60_000);
});
