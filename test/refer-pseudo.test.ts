/**
 * Pseudo-videos from stills (YOFO's auxiliary data): the affine warp moves a mask exactly with its
 * object's pixels; `synth refer --stills` writes short clips in the Ref-YouTube-VOS layout that the
 * readers and the training data read back, with static descriptions only, byte-identical for a seed;
 * training mixes them in at refer.pseudoRatio, deterministically, and a plan's shares load in another
 * data source (a worker's) to the same batches.
 */
import * as tf from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { readExpressionGroups } from "../src/formats/expression-groups.js";
import { readObjectMasks, readRefMetaExpressions, resolveReferSplit } from "../src/formats/refytvos.js";
import { synthRefer } from "../src/jobs/synth.js";
import { presetConfig, type VisConfig } from "../src/models/config.js";
import { initRuntime } from "../src/runtime/backend.js";
import { invertAffine, pseudoMotion, similarity, warpImage, warpLabels } from "../src/synth/affine.js";
import { parseExpression, usesMotion } from "../src/synth/expressions.js";
import { ReferClipData, type ReferDataOptions } from "../src/train/refer-data.js";
import { createReferTask } from "../src/train/tasks/refer.js";
import { runCli } from "./helpers/cli.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-pseudo-"));
const real = join(root, "real");
const pseudo = join(root, "pseudo");
const CLIP = 4;

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await synthRefer({ preset: "tiny", seed: 3, out: real, splits: ["train"], overrides: { videos: 3 } });
  await synthRefer({
    preset: "tiny",
    seed: 4,
    out: pseudo,
    splits: ["train"],
    overrides: { videos: 4 },
    stills: { clipLength: CLIP },
  });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function treeHash(dir: string): string {
  const hash = createHash("sha256");
  const walk = (at: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(relative(dir, path)).update(readFileSync(path));
    }
  };
  walk(dir);
  return hash.digest("hex");
}

describe("affine warps", () => {
  it("the warp of a mask is exactly the warp of its object's pixels (nearest)", () => {
    const [width, height] = [40, 30];
    // Two objects of their own colours on a flat background.
    const labels = new Uint8Array(width * height);
    const rgb = new Uint8Array(width * height * 3).fill(90);
    const colours = [
      [0, 0, 0],
      [250, 20, 20],
      [20, 250, 20],
    ];
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if ((x - 12) ** 2 + (y - 10) ** 2 < 40) labels[p] = 1;
        else if (x > 22 && x < 35 && y > 14 && y < 26) labels[p] = 2;
        if (labels[p] > 0) rgb.set(colours[labels[p]], p * 3);
      }
    const rng = new Rng(7);
    for (let k = 0; k < 20; k++) {
      const warp = similarity(
        20,
        15,
        0.7 + 0.6 * rng.uniform(),
        rng.uniform() - 0.5,
        8 * (rng.uniform() - 0.5),
        8 * (rng.uniform() - 0.5),
      );
      const moved = warpLabels(labels, width, height, warp);
      const image = warpImage(rgb, width, height, warp, { fill: [0, 0, 255], sampling: "nearest" });
      for (let p = 0; p < width * height; p++) {
        const colour = Array.from(image.subarray(p * 3, p * 3 + 3));
        const expected = moved[p] > 0 ? colours[moved[p]] : null;
        if (expected) expect(colour).toEqual(expected);
        else expect([colours[1], colours[2]]).not.toContainEqual(colour);
      }
      // Something of each object stays in view in these mild warps, and the warp is invertible.
      expect(new Set(moved)).toEqual(new Set([0, 1, 2]));
      const back = invertAffine(invertAffine(warp));
      for (const key of ["a", "b", "c", "d", "e", "f"] as const) expect(back[key]).toBeCloseTo(warp[key], 12);
    }
    // The identity moves nothing; bilinear sampling at the identity is the image itself.
    const identity = similarity(0, 0, 1, 0, 0, 0);
    expect(warpLabels(labels, width, height, identity)).toEqual(labels);
    expect(
      Array.from(warpImage(rgb, width, height, identity, { fill: [0, 0, 0], sampling: "bilinear" })),
    ).toEqual(Array.from(rgb));
  });

  it("a pseudo motion starts at the still and moves smoothly", () => {
    const motion = pseudoMotion(new Rng(1), 6, 64, 64);
    const identity = { a: 1, b: 0, c: 0, d: 0, e: 1, f: 0 };
    for (const [key, value] of Object.entries(identity))
      expect(motion[0][key as keyof typeof identity]).toBeCloseTo(value, 12);
    // Smooth: each step's change of the translation is no larger than the largest rate of smoothstep.
    const total = Math.hypot(motion[5].c - motion[0].c, motion[5].f - motion[0].f);
    for (let t = 1; t < 6; t++) {
      const step = Math.hypot(motion[t].c - motion[t - 1].c, motion[t].f - motion[t - 1].f);
      expect(step).toBeLessThanOrEqual(total * 0.5 + 1e-9);
    }
  });
});

describe("synth refer --stills", () => {
  it("writes clips of --clip-length frames in the Ref-YouTube-VOS layout, static descriptions only", async () => {
    const split = resolveReferSplit(pseudo, "train");
    const meta = await readRefMetaExpressions(split.annotationFile);
    const groups = await readExpressionGroups(join(split.splitRoot, "expression_groups.json"));
    let expressions = 0;
    for (const [video, entry] of Object.entries(meta.videos)) {
      expect(entry.frames).toHaveLength(CLIP);
      const masks = await readObjectMasks(split.splitRoot, video, entry.frames);
      for (const [expId, expression] of Object.entries(entry.expressions)) {
        const parsed = parseExpression(expression.exp);
        expect(parsed.ok && !usesMotion(parsed.predicates), expression.exp).toBe(true);
        expect(groups.videos[video][expId]).not.toContain("uses-motion");
        // The object was described on frame 0, the still itself: it is there.
        expect(masks[0].data.includes(Number(expression.obj_id))).toBe(true);
        expressions++;
      }
    }
    expect(expressions).toBeGreaterThan(4);
    const stats = JSON.parse(readFileSync(join(pseudo, "stats.json"), "utf8")) as Record<string, unknown>;
    expect(stats.train).toMatchObject({ pseudoVideos: { clipLength: CLIP }, motionOnlyExpressions: 0 });
  });

  it("the same seed gives the same bytes; --ref-davis with --stills is refused", async () => {
    const again = join(root, "pseudo-again");
    const args = ["synth", "refer", "--preset", "tiny", "--seed", "4", "--videos", "4", "--split", "train"];
    const run = await runCli([...args, "--stills", "--clip-length", String(CLIP), "--out", again, "--quiet"]);
    expect(run.exitCode).toBe(0);
    expect(treeHash(again)).toBe(treeHash(pseudo));
    const refused = await runCli([...args, "--stills", "--ref-davis", "--out", join(root, "x"), "--quiet"]);
    expect(refused).toMatchObject({ exitCode: 1 });
    expect(refused.stderr).toMatch(/--ref-davis: pseudo-videos from stills have no Ref-DAVIS17 form\n$/);
  });
});

describe("training on pseudo-videos", () => {
  async function source(ratio: number | null, seed = 1): Promise<ReferClipData> {
    const train = resolveReferSplit(real, "train");
    const extra = resolveReferSplit(pseudo, "train");
    const options: ReferDataOptions = {
      annotationFile: train.annotationFile,
      imagesDir: train.imagesDir,
      inputSize: [32, 32],
      clipLength: 3,
      clipMaxStride: 2,
      clipsPerBatch: 2,
      expressionsPerClip: 2,
      seed,
      ...(ratio === null
        ? {}
        : { pseudo: { annotationFile: extra.annotationFile, imagesDir: extra.imagesDir, ratio } }),
    };
    return ReferClipData.open(options);
  }

  it("draws the configured share of clips from the pseudo-videos, the same for the same seed", async () => {
    const data = await source(0.3);
    const plain = await source(null);
    const pseudoItems = data.items.filter((item) => item.source === 1).length;
    expect(data.items.length - pseudoItems).toBe(plain.items.length);
    const draws = (d: ReferClipData, seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 500 }, () => d.draw(rng));
    };
    const plans = draws(data, 9);
    const isPseudo = (item: number) => data.items[item].source === 1;
    const drawn = plans.flatMap((plan) => plan.clips.map((clip) => isPseudo(clip.items[0])));
    const share = drawn.filter(Boolean).length / drawn.length;
    // 1,000 clips: the binomial standard deviation is 0.0145; 4 of them.
    expect(Math.abs(share - 0.3)).toBeLessThan(0.058);
    // A clip's companions come from the same video of the same split.
    for (const plan of plans)
      for (const clip of plan.clips) {
        const first = data.items[clip.items[0]];
        for (const item of clip.items)
          expect([data.items[item].source ?? 0, data.items[item].video]).toEqual([
            first.source ?? 0,
            first.video,
          ]);
      }
    // Every pseudo expression comes up, epoch by epoch.
    expect(new Set(plans.flatMap((plan) => plan.clips.map((c) => c.items[0])).filter(isPseudo)).size).toBe(
      pseudoItems,
    );
    // Same seeds, same plans; the sampler state (with the pseudo order) resumes the same sequence.
    const other = await source(0.3);
    expect(draws(other, 9)).toEqual(plans);
    const rng = new Rng(4);
    for (let k = 0; k < 7; k++) data.draw(rng);
    const state = JSON.parse(JSON.stringify(data.getState())) as unknown;
    const rngState = rng.getState();
    const next = Array.from({ length: 5 }, () => data.draw(rng));
    other.setState(state);
    const resumed = new Rng(0);
    resumed.setState(rngState);
    expect(Array.from({ length: 5 }, () => other.draw(resumed))).toEqual(next);
    // Without pseudo-videos nothing else is drawn from the RNG: a batch is whole epochs' order.
    expect(plain.getState()).toEqual({ epoch: 0, cursor: 0 });
  });

  it("a plan's shares load in another data source (a worker's) to the same clips as the whole", async () => {
    const data = await source(0.5, 2);
    const worker = await source(0.5, 2);
    const rng = new Rng(3);
    let plan = data.draw(rng);
    while (!(
      plan.clips.some((c) => data.items[c.items[0]].source === 1) &&
      plan.clips.some((c) => !data.items[c.items[0]].source)
    ))
      plan = data.draw(rng);
    const whole = await data.load(plan);
    const parts = await Promise.all(data.share(plan, 2).map((share) => worker.load(share)));
    expect(parts.flatMap((p) => p.clips)).toEqual(whole.clips);
    expect(Array.from(tf.concat(parts.map((p) => p.images)).dataSync())).toEqual(
      Array.from(whole.images.dataSync()),
    );
    expect(Array.from(tf.concat(parts.map((p) => p.masks)).dataSync())).toEqual(
      Array.from(whole.masks.dataSync()),
    );
    expect(parts.flatMap((p) => p.tokens)).toEqual(whole.tokens);
    // The pseudo clip's first frame has its object.
    const c = plan.clips.findIndex((clip) => data.items[clip.items[0]].source === 1);
    const frame = whole.masks.slice([c * 2 * 3, 0, 0], [1, 32, 32]);
    expect(frame.sum().dataSync()[0]).toBeGreaterThan(0);
    for (const batch of [whole, ...parts]) data.release(batch);
  });

  it("vidseg train refer --pseudo trains with them mixed in, on 2 workers", async () => {
    const configFile = join(root, "config.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        preset: "tiny",
        refer: { pseudoRatio: 0.5, clipsPerBatch: 2 },
        optim: { warmupSteps: 1 },
      }),
    );
    const out = join(root, "run");
    const run = await runCli([
      "train",
      "refer",
      "--data",
      real,
      "--pseudo",
      pseudo,
      "--config",
      configFile,
      "--steps",
      "1",
      "--workers",
      "2",
      "--val-split",
      "none",
      "--out",
      out,
      "--quiet",
      "--json",
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    const start = JSON.parse(readFileSync(join(out, "log.jsonl"), "utf8").split("\n")[0]) as {
      config: {
        workers: number;
        modelInfo: { config: VisConfig; trainedOn: { data: string; synthetic: boolean } };
      };
    };
    expect(start.config.workers).toBe(2);
    expect(start.config.modelInfo.config.refer.pseudoRatio).toBe(0.5);
    // Both roots carry the synth.json of `vidseg synth refer`: the model records synthetic data only.
    expect(start.config.modelInfo.trainedOn).toEqual({
      data: "synthetic tiny preset (vidseg synth refer), seed 3 + pseudo-videos from stills (vidseg synth refer --stills, tiny preset, seed 4)",
      synthetic: true,
    });
    expect(JSON.parse(run.stdout)).toMatchObject({ step: 1, model: join(out, "model.safetensors") });
  }, 60_000);

  it("the task refuses a ratio without pseudo-videos and pseudo-videos without a ratio", async () => {
    const train = resolveReferSplit(real, "train");
    const extra = resolveReferSplit(pseudo, "train");
    const config = presetConfig("tiny");
    const base = { data: { annotationFile: train.annotationFile, imagesDir: train.imagesDir }, seed: 1 };
    config.refer.pseudoRatio = 0.25;
    await expect(createReferTask({ ...base, config })).rejects.toThrow(
      "refer.pseudoRatio: is 0.25, but no pseudo-videos were given (--pseudo <root>)",
    );
    config.refer.pseudoRatio = 0;
    await expect(
      createReferTask({
        ...base,
        config,
        pseudo: { annotationFile: extra.annotationFile, imagesDir: extra.imagesDir },
      }),
    ).rejects.toThrow(/--pseudo: pseudo-videos given, but refer.pseudoRatio is 0/);
  });
});
