/**
 * The referring model (YOFO) end to end on a synthetic Ref-YouTube-VOS split (synth tiny preset, tiny
 * model, wasm): a few steps on one batch lower the loss; `vidseg train refer` writes the log with
 * validation J&F, checkpoints and the model file, and an interrupted run resumed gives the same
 * weights as an uninterrupted one; the model file reloads to identical outputs; the streaming
 * segmenter follows several expressions at once exactly as one at a time, at constant memory per
 * frame, and names unknown words once; `vidseg infer refer --split` writes exactly the layout that
 * `vidseg eval refer --protocol ref-youtube-vos` reads (where the ground truth written the same way
 * scores J&F = 1) and scores what training validation logged; `--input --text` writes binary PNGs per
 * expression.
 */
import * as tf from "@tensorflow/tfjs";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerInfer } from "../src/cli/infer.js";
import { registerTrain } from "../src/cli/train.js";
import { Rng } from "../src/core/rng.js";
import { evaluatePerExpression, evaluateRefDavis } from "../src/eval/refer.js";
import { WHOLE_BATCH } from "../src/models/batch-shares.js";
import { referLoss } from "../src/models/refer/loss.js";
import { readIndexedPng } from "../src/formats/png.js";
import {
  readObjectMasks,
  readRefMetaExpressions,
  resolveReferSplit,
  writeExpressionMask,
  type RefMetaExpressions,
} from "../src/formats/refytvos.js";
import { ReferringSegmenter, type ReferringFrameResult } from "../src/infer/referring-segmenter.js";
import { openFrameFolder, type FrameSource } from "../src/infer/sources.js";
import { drawReferOverlay, inferRefer, writeRefDavisFrame } from "../src/jobs/infer-refer.js";
import { animationGeometry } from "../src/viz/animation.js";
import { idColour } from "../src/viz/overlay.js";
import { validateRefer } from "../src/jobs/train-refer.js";
import { presetConfig, type VisConfig } from "../src/models/config.js";
import { readModelFile } from "../src/models/model-file.js";
import { saveModelFile } from "../src/train/checkpoint.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateReferDataset } from "../src/synth/refer.js";
import { AdamW } from "../src/train/optim.js";
import { TRAIN_TASKS, trainReferModel } from "../src/train/run.js";
import { ReferClipData, type ReferBatch } from "../src/train/refer-data.js";
import { writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-refer-"));
const data = join(root, "data");
let valid: RefMetaExpressions;

/** The tiny preset for `steps` steps. */
function tinyConfig(steps: number): VisConfig {
  const config = presetConfig("tiny");
  config.optim.totalSteps = steps;
  config.optim.warmupSteps = 1;
  config.optim.lr = 2e-3;
  return config;
}

async function runCli(register: (program: Command) => void, args: string[]) {
  const program = new Command().exitOverride();
  register(program);
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  const before = process.exitCode;
  try {
    await program.parseAsync(["node", "vidseg", ...args]);
    return {
      code: process.exitCode ?? 0,
      stdout: stdout.mock.calls.map((c) => String(c[0])).join(""),
      stderr: stderr.mock.calls.map((c) => String(c[0])).join(""),
    };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    process.exitCode = before;
  }
}

/** Every frame of a split video, as a frame source. */
async function videoFrames(video: string): Promise<FrameSource> {
  return openFrameFolder(join(data, "valid", "JPEGImages", video));
}

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  // 2 videos of 8 frames at 64×64 per split, 2–3 objects each.
  await generateReferDataset(resolveOptions("tiny", 3), data, { refDavis: true });
  valid = await readRefMetaExpressions(join(data, "valid", "meta_expressions.json"));
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("training", () => {
  it("lowers the loss of a batch in a few steps", async () => {
    const split = resolveReferSplit(data, "train");
    const task = await TRAIN_TASKS.refer({
      config: tinyConfig(10),
      data: { annotationFile: split.annotationFile, imagesDir: split.imagesDir },
      seed: 1,
    });
    const batch = (await task.data.next(new Rng(4))) as ReferBatch;
    // One clip of 3 frames, encoded once, for its expression and one of another object of its video.
    expect(batch.images.shape).toEqual([3, 64, 64, 3]);
    expect(batch.masks.shape).toEqual([6, 64, 64]);
    expect(batch.tokens).toHaveLength(2);
    const [clip] = batch.clips;
    const items = (task.data as ReferClipData).items.filter((item) => item.video === clip.video);
    const [first, second] = clip.expIds.map((id) => items.find((item) => item.expId === id)!);
    expect(second.objId).not.toBe(first.objId);
    const sums = tf.tidy(() => Array.from(batch.masks.sum([1, 2]).dataSync()));
    expect(sums.slice(0, 3).some((v) => v > 0) && sums.slice(3).some((v) => v > 0)).toBe(true);
    // Each half holds its own object's mask (they differ where the objects do).
    expect(
      tf.tidy(
        () =>
          batch.masks
            .slice([0], [3])
            .sub(batch.masks.slice([3], [3]))
            .abs()
            .sum()
            .dataSync()[0],
      ),
    ).toBeGreaterThan(0);
    // The other objects of each row are loaded only when the loss needs them (otherObjectsWeight > 0):
    // disjoint from its own object, and holding the other row's object; the same batch otherwise.
    expect(batch.others).toBeUndefined();
    const withOthers = await ReferClipData.open({
      ...(task.data as ReferClipData).options,
      otherObjects: true,
    });
    const same = await withOthers.next(new Rng(4));
    expect(same.clips).toEqual(batch.clips);
    expect(tf.tidy(() => same.masks.sub(batch.masks).abs().sum().dataSync()[0])).toBe(0);
    const [ownA, ownB] = [batch.masks.slice([0], [3]), batch.masks.slice([3], [3])];
    const [othersA, othersB] = [same.others!.slice([0], [3]), same.others!.slice([3], [3])];
    expect(tf.tidy(() => ownA.mul(othersA).sum().dataSync()[0] + ownB.mul(othersB).sum().dataSync()[0])).toBe(
      0,
    );
    expect(tf.tidy(() => ownB.sub(othersA).relu().sum().dataSync()[0])).toBe(0);
    expect(tf.tidy(() => ownA.sub(othersB).relu().sum().dataSync()[0])).toBe(0);
    tf.dispose([ownA, ownB, othersA, othersB]);
    withOthers.release(same);
    const params = task.model.namedParameters();
    const optimizer = new AdamW(params, { lr: 2e-3, weightDecay: 0 });
    const lossOf = () => tf.tidy(() => task.step(batch, WHOLE_BATCH, 0));
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) {
      const { value, grads } = tf.variableGrads(() => {
        const out = lossOf();
        return "loss" in out ? out.loss : out;
      });
      losses.push(value.dataSync()[0]);
      optimizer.step(new Map([...params].map(([name, v]) => [name, grads[v.name]])), 2e-3);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]);
    // Every parameter (λ included) gets a gradient through the solver.
    const { grads } = tf.variableGrads(() => {
      const out = lossOf();
      return "loss" in out ? out.loss : out;
    });
    const missing = [...params.keys()].filter((name) => !(params.get(name)!.name in grads));
    expect(missing).toEqual([]);
    expect(Math.abs(grads[params.get("transfer.log_lambda")!.name].dataSync()[0])).toBeGreaterThan(0);
    tf.dispose(Object.values(grads));
    task.data.release!(batch);
    optimizer.dispose();
    task.model.dispose();
  });

  it("weighs the other objects' pixels as a group (otherObjectsWeight): the mean of −log(1 − p) over them", () => {
    // Two rows of 2×2 logits at the model size; row 0 has two other-object pixels, row 1 none.
    const logits = tf.tensor4d([2, -1, 0.5, 3, 1, 1, 1, 1], [2, 2, 2, 1]);
    const masks = tf.zeros([2, 2, 2]) as tf.Tensor3D;
    const others = tf.tensor3d([0, 1, 1, 0, 0, 0, 0, 0], [2, 2, 2]);
    const output = { maskLogits: logits, weightLogits: tf.zeros([2, 1, 1, 1]) as tf.Tensor4D };
    const weights = {
      lovaszWeight: 0,
      bceWeight: 1,
      diceWeight: 0,
      weightMapWeight: 0,
      otherObjectsWeight: 2,
    };
    const { loss, terms } = referLoss(output, masks, weights, WHOLE_BATCH, others);
    const softplus = (x: number) => Math.log1p(Math.exp(x));
    const expected = (softplus(-1) + softplus(0.5)) / 2 / 2; // row 0's mean, row 1 adds 0, over 2 rows
    expect(terms.loss_other_objects!.dataSync()[0]).toBeCloseTo(expected, 6);
    const bce = terms.loss_bce!.dataSync()[0];
    expect(bce).toBeCloseTo([2, -1, 0.5, 3, 1, 1, 1, 1].reduce((sum, x) => sum + softplus(x), 0) / 8, 6);
    expect(loss.dataSync()[0]).toBeCloseTo(bce + 2 * expected, 6);
    expect(() => referLoss(output, masks, weights)).toThrow("otherObjectsWeight needs");
    tf.dispose([logits, masks, others, output.weightLogits, loss, ...Object.values(terms)]);
  });

  it("rejects an expression without words, naming the file and the field", async () => {
    const dir = join(root, "wordless");
    const meta = JSON.parse(readFileSync(join(data, "train", "meta_expressions.json"), "utf8"));
    const [video] = Object.keys(meta.videos);
    meta.videos[video].expressions["0"].exp = "?!";
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta_expressions.json"), JSON.stringify(meta));
    const open = ReferClipData.open({
      annotationFile: join(dir, "meta_expressions.json"),
      imagesDir: join(data, "train", "JPEGImages"),
      inputSize: [64, 64],
      clipLength: 2,
      clipMaxStride: 1,
      clipsPerBatch: 1,
    });
    await expect(open).rejects.toThrow(
      `${join(dir, "meta_expressions.json")}: $.videos["${video}"].expressions["0"].exp: expression "?!" has no words`,
    );
  });

  it(
    "trains through the CLI with validation J&F, checkpoints, exact resume and a model file",
    { timeout: 300_000 },
    async () => {
      const configFile = join(root, "tiny.json");
      writeFileSync(configFile, JSON.stringify({ preset: "tiny", optim: { warmupSteps: 1, lr: 2e-3 } }));
      const args = (out: string) => [
        "train",
        "refer",
        "--data",
        data,
        "--config",
        configFile,
        "--out",
        out,
        "--steps",
        "4",
        "--val-every",
        "2",
        "--val-videos",
        "1",
        "--checkpoint-every",
        "2",
        "--seed",
        "2",
        "--quiet",
      ];
      const straight = join(root, "run-straight");
      const result = await runCli(registerTrain, [...args(straight), "--json"]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ step: 4, model: join(straight, "model.safetensors") });
      const log = readFileSync(join(straight, "log.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const validations = log.filter((e) => e.type === "val");
      expect(validations.map((e) => e.step)).toEqual([2, 4]);
      for (const v of validations) {
        for (const key of ["J", "F", "J&F"]) {
          expect(v[key]).toBeGreaterThanOrEqual(0);
          expect(v[key]).toBeLessThanOrEqual(1);
        }
        expect(v["J&F"]).toBeCloseTo((v.J + v.F) / 2, 12);
      }
      expect(log.filter((e) => e.type === "train").every((e) => Number.isFinite(e.loss_lovasz))).toBe(true);
      expect(existsSync(join(straight, "plot.html"))).toBe(true);
      const stored = await readModelFile(straight);
      const info = stored.info;
      tf.dispose([...stored.weights.values()]);
      expect(info.kind).toBe("refer");
      expect(info.categoryIds).toEqual([]);
      expect(info.vocabulary!.length).toBeGreaterThan(3);

      // Interrupted after 2 steps (like Ctrl-C), then resumed: the same weights as the straight run.
      const resumed = join(root, "run-resumed");
      const { trainRefer } = await import("../src/jobs/train-refer.js");
      const controller = new AbortController();
      await trainRefer({
        data,
        config: configFile,
        out: resumed,
        steps: 4,
        seed: 2,
        valEvery: 2,
        valVideos: 1,
        checkpointEvery: 2,
        progress: false,
        signal: controller.signal,
        onStep: (e) => e.step === 2 && controller.abort(),
      });
      expect(existsSync(join(resumed, "model.safetensors"))).toBe(false);
      expect((await runCli(registerTrain, [...args(resumed), "--resume"])).code).toBe(0);
      // (Buffer.equals: a deep toEqual over megabytes takes most of a minute.)
      const weights = (run: string) => readFileSync(join(run, "model.safetensors"));
      expect(weights(resumed).equals(weights(straight))).toBe(true);

      // --init continues a model: its weights, whatever the run's seed; another kind or vocabulary is refused.
      const split = resolveReferSplit(data, "train");
      const paths = { annotationFile: split.annotationFile, imagesDir: split.imagesDir };
      const continued = await TRAIN_TASKS.refer({
        config: tinyConfig(4),
        data: paths,
        seed: 9,
        init: join(straight, "model.safetensors"),
        trainedOn: { data: "more videos", synthetic: true },
      });
      const original = await readModelFile(straight);
      for (const [name, value] of continued.model.namedParameters())
        expect(value.dataSync()).toEqual(original.weights.get(name)!.dataSync());
      // Its file names both runs' data, newest first; synthetic only if both were (this root is not).
      expect(original.info.trainedOn).toMatchObject({ synthetic: false });
      expect(continued.info.trainedOn).toEqual({
        data: `more videos, continuing a model trained on ${original.info.trainedOn!.data}`,
        synthetic: false,
      });
      // It may add the global context: fresh attention, a zero projection, so the same mask logits.
      const withContext = tinyConfig(4);
      withContext.refer.globalContext = true;
      const grown = await TRAIN_TASKS.refer({
        config: withContext,
        data: paths,
        seed: 9,
        init: join(straight, "model.safetensors"),
      });
      expect(grown.info.config.refer.globalContext).toBe(true);
      expect(grown.runConfig).toEqual({
        init: join(straight, "model.safetensors"),
        added: ["globalContext"],
      });
      const grownParameters = grown.model.namedParameters();
      expect(
        grownParameters
          .get("mining.context.project.weight")!
          .dataSync()
          .every((v) => v === 0),
      ).toBe(true);
      expect(grownParameters.has("mining.context.attention.self_attn.in_proj_weight")).toBe(true);
      const batch = (await grown.data.next(new Rng(4))) as ReferBatch;
      const logits = (model: typeof grown.model) =>
        tf.tidy(() => model.forwardClips(batch.images, batch.tokens, batch.clipLength).maskLogits.dataSync());
      expect(logits(grown.model)).toEqual(logits(continued.model));
      grown.model.dispose();
      continued.model.dispose();
      // A run's config may knock components out of the init model (the ablation's shared start), not add them.
      const base = tinyConfig(4);
      base.refer = { ...base.refer, featureMining: false, metaTransfer: false };
      const knocked = await TRAIN_TASKS.refer({
        config: base,
        data: paths,
        seed: 9,
        init: join(straight, "model.safetensors"),
      });
      expect(knocked.info.config.refer).toMatchObject({ featureMining: false, metaTransfer: false });
      expect(knocked.runConfig).toMatchObject({ knockedOut: ["featureMining", "metaTransfer"] });
      const kept = knocked.model.stateDict();
      expect([...kept.keys()].some((name) => name.startsWith("transfer."))).toBe(false);
      expect(kept.get("mining.fuse_3.mix.weight")!.dataSync()).toEqual(
        original.weights.get("mining.fuse_3.mix.weight")!.dataSync(),
      );
      const baseFile = join(root, "base.safetensors");
      await saveModelFile(baseFile, kept, knocked.info);
      knocked.model.dispose();
      const notGrown = await TRAIN_TASKS.refer({
        config: tinyConfig(4),
        data: paths,
        seed: 9,
        init: baseFile,
      });
      expect(notGrown.info.config.refer).toMatchObject({ featureMining: false, metaTransfer: false });
      expect(notGrown.runConfig).toEqual({ init: baseFile });
      notGrown.model.dispose();
      tf.dispose([...original.weights.values()]);
      const online = join(root, "online.safetensors");
      await writeRandomOnlineModel(online, 0);
      await expect(
        TRAIN_TASKS.refer({ config: tinyConfig(4), data: paths, seed: 9, init: online }),
      ).rejects.toThrow(
        `${online}: __metadata__.info.kind: holds an online model; --init takes a referring model file`,
      );
      // --backbone-from: the backbone of another model file, frozen (not among the trained parameters).
      const onlineFile = await readModelFile(online);
      const fromBackbone = await TRAIN_TASKS.refer({
        config: tinyConfig(4),
        data: paths,
        seed: 9,
        backboneFrom: online,
      });
      const trained = fromBackbone.model.namedParameters();
      for (const [name, value] of fromBackbone.model.backbone.namedParameters({ includeFrozen: true })) {
        expect(value.dataSync()).toEqual(onlineFile.weights.get(`backbone.${name}`)!.dataSync());
        expect(trained.has(`backbone.${name}`)).toBe(false);
      }
      expect(trained.size).toBeGreaterThan(0);
      tf.dispose([...onlineFile.weights.values()]);
      fromBackbone.model.dispose();
      await expect(
        TRAIN_TASKS.refer({
          config: tinyConfig(4),
          data: paths,
          seed: 9,
          backboneFrom: online,
          init: online,
        }),
      ).rejects.toThrow("give one of an init model, backbone weights and a backbone model file");
      const otherWords = join(root, "other-words");
      mkdirSync(otherWords, { recursive: true });
      const meta = JSON.parse(readFileSync(split.annotationFile, "utf8"));
      const [video] = Object.keys(meta.videos);
      meta.videos[video].expressions["0"].exp = "the zebra";
      writeFileSync(join(otherWords, "meta_expressions.json"), JSON.stringify(meta));
      await expect(
        TRAIN_TASKS.refer({
          config: tinyConfig(4),
          data: { annotationFile: join(otherWords, "meta_expressions.json"), imagesDir: split.imagesDir },
          seed: 9,
          init: join(straight, "model.safetensors"),
        }),
      ).rejects.toThrow("__metadata__.info.vocabulary: the model's vocabulary");

      // The validation J&F logged at the end is validateRefer's on the model file (the first video).
      const reloaded = await ReferringSegmenter.createFromPath(straight);
      try {
        const again = await validateRefer(
          reloaded.model,
          reloaded.info,
          resolveReferSplit(join(data, "valid")),
          1,
        );
        expect(again).toEqual({ J: validations[1].J, F: validations[1].F, "J&F": validations[1]["J&F"] });
      } finally {
        reloaded.close();
      }
    },
  );
});

describe("streaming", () => {
  let modelFile: string;
  let segmenter: ReferringSegmenter;
  const firstVideo = () => Object.entries(valid.videos)[0];

  beforeAll(async () => {
    const split = resolveReferSplit(data, "train");
    const run = await trainReferModel({
      config: tinyConfig(3),
      data: { annotationFile: split.annotationFile, imagesDir: split.imagesDir },
      runDir: join(root, "run-stream"),
      progress: false,
      seed: 5,
    });
    modelFile = run.modelFile!;
    segmenter = new ReferringSegmenter(run.model, run.info, { syntheticInput: true });
  }, 120_000);
  afterAll(() => {
    segmenter.close();
    segmenter.model.dispose();
  });

  async function follow(seg: ReferringSegmenter, video: string, texts: string[]) {
    const results: ReferringFrameResult[][] = texts.map(() => []);
    const targets = texts.map((text) => seg.track(text));
    for await (const frame of await videoFrames(video)) {
      targets.forEach((target, k) => results[k].push(target.segmentForVideo(frame, frame.timestampMs)));
    }
    for (const target of targets) target.close();
    return results;
  }

  it("reloads from its model file to identical outputs", async () => {
    const [video, entry] = firstVideo();
    const texts = Object.values(entry.expressions).map((e) => e.exp);
    const inMemory = await follow(segmenter, video, texts);
    const reloaded = await ReferringSegmenter.createFromPath(modelFile, { syntheticInput: true });
    try {
      const fromFile = await follow(reloaded, video, texts);
      expect(fromFile).toEqual(inMemory);
      expect(inMemory[0][0].mask.length).toBe(64 * 64);
      expect(inMemory.flat().every((r) => r.score >= 0 && r.score <= 1)).toBe(true);
    } finally {
      reloaded.close();
    }
  });

  it("follows several expressions at once exactly as one at a time", async () => {
    const [video, entry] = firstVideo();
    const texts = Object.values(entry.expressions)
      .map((e) => e.exp)
      .slice(0, 2);
    if (texts.length < 2) texts.push(segmenter.info.vocabulary!.slice(0, 2).join(" "));
    const together = await follow(segmenter, video, texts);
    for (const [k, text] of texts.entries())
      expect(together[k]).toEqual((await follow(segmenter, video, [text]))[0]);
    expect(segmenter.openTargets).toBe(0);
  });

  it("keeps memory constant per frame on a long stream", () => {
    const target = segmenter.track(segmenter.info.vocabulary!.slice(0, 3).join(" "));
    const slots = segmenter.model.refer.memorySlots;
    const random = new Rng(1);
    const counts: number[] = [];
    const bytes: number[] = [];
    for (let t = 0; t < 3 * slots; t++) {
      const frame = {
        width: 48,
        height: 40,
        data: Uint8Array.from({ length: 48 * 40 * 3 }, () => random.int(256)),
      };
      const result = target.segmentForVideo(frame, t * 40);
      expect(result.mask.length).toBe(48 * 40);
      expect(target.memorySize).toBe(Math.min(t + 1, slots));
      counts.push(tf.memory().numTensors);
      bytes.push(tf.memory().numBytes);
    }
    expect(new Set(counts.slice(slots)).size).toBe(1);
    expect(new Set(bytes.slice(slots)).size).toBe(1);
    const before = tf.memory().numTensors;
    target.close();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it("reads unknown words as UNK and names them once per expression", () => {
    const warnings: string[] = [];
    const seg = new ReferringSegmenter(segmenter.model, segmenter.info, {
      onWarning: (m) => warnings.push(m),
      syntheticInput: true,
    });
    const [a, b] = segmenter.info.vocabulary!;
    const target = seg.track(`${a} zorblax ${b} zorblax widdershins`);
    expect(target.unknownWords).toEqual(["zorblax", "widdershins"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/zorblax, widdershins/);
    seg.track(`${b} ${a}`).close();
    expect(warnings).toHaveLength(1);
    expect(() => seg.track("?!")).toThrow(/no words/);
    seg.close();
    expect(segmenter.model.backbone.namedParameters().values().next().value!.isDisposed).toBe(false); // the caller's model stays
  });

  it("infer refer --split writes exactly the layout eval refer reads; the ground truth in it scores 1", async () => {
    // Ground truth written as predictions: J&F = 1.
    const gtDir = join(root, "gt-as-results");
    for (const [video, entry] of Object.entries(valid.videos)) {
      const masks = await readObjectMasks(join(data, "valid"), video, entry.frames);
      for (const [expId, expression] of Object.entries(entry.expressions)) {
        for (const [t, frame] of entry.frames.entries()) {
          const object = Number(expression.obj_id);
          await writeExpressionMask(gtDir, video, expId, frame, {
            width: masks[t].width,
            height: masks[t].height,
            data: masks[t].data.map((v) => (v === object ? 1 : 0)),
          });
        }
      }
    }
    const perfect = await evaluatePerExpression({
      protocol: "ref-youtube-vos",
      splitRoot: join(data, "valid"),
      resultsDir: gtDir,
    });
    expect(perfect).toMatchObject({ J: 1, F: 1, "J&F": 1 });

    const out = join(root, "infer-layout");
    const summary = await inferRefer({ checkpoint: modelFile, split: join(data, "valid"), out });
    const list = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? list(join(dir, e.name)).map((f) => `${e.name}/${f}`) : [e.name],
      );
    expect(list(join(out, "Annotations")).sort()).toEqual(list(join(gtDir, "Annotations")).sort());
    expect(summary.frames).toBe(Object.values(valid.videos).reduce((n, v) => n + v.frames.length, 0));
    const [video, entry] = firstVideo();
    const png = await readIndexedPng(join(out, "Annotations", video, "0", `${entry.frames[0]}.png`));
    expect([png.width, png.height]).toEqual([64, 64]);
    expect(png.data.every((v) => v === 0 || v === 1)).toBe(true);
    const scored = await evaluatePerExpression({
      protocol: "ref-youtube-vos",
      splitRoot: join(data, "valid"),
      resultsDir: out,
    });
    const validated = await validateRefer(
      segmenter.model,
      segmenter.info,
      resolveReferSplit(join(data, "valid")),
    );
    expect(scored["J&F"]).toBe(validated["J&F"]);
  });

  it("infer refer --ref-davis writes the four anno_k sets eval refer --protocol ref-davis reads; the ground truth through it scores 1", async () => {
    const davisSplit = join(data, "ref-davis", "valid");
    const davisRoot = join(data, "ref-davis", "DAVIS");
    const meta = await readRefMetaExpressions(join(davisSplit, "meta_expressions.json"));
    const gtDir = join(root, "ref-davis-gt");
    for (const [video, entry] of Object.entries(meta.videos)) {
      const labels = [...new Set(Object.values(entry.expressions).map((e) => Number(e.obj_id)))];
      const masks = await readObjectMasks(davisSplit, video, entry.frames);
      for (const [t, frame] of entry.frames.entries()) {
        const objects = labels.map((label) => Float32Array.from(masks[t].data, (v) => (v === label ? 1 : 0)));
        await writeRefDavisFrame(gtDir, video, frame, masks[t], labels, [objects, objects, objects, objects]);
      }
    }
    const perfect = await evaluateRefDavis({ davisRoot, resultsDir: gtDir });
    expect(perfect).toMatchObject({ J: 1, F: 1, "J&F": 1 });

    // The model's sets: every object's k-th expression, merged per frame — the same pixels as the
    // binary masks `--split` writes for those expressions (argmax; background where none is above 0.5).
    const out = join(root, "ref-davis-model");
    const summary = await inferRefer({ checkpoint: modelFile, refDavis: davisSplit, out });
    expect(summary.inputKind).toBe("ref-davis");
    const binary = join(root, "ref-davis-binary");
    await inferRefer({ checkpoint: modelFile, split: davisSplit, out: binary });
    for (const [video, entry] of Object.entries(meta.videos)) {
      const expressions = Object.entries(entry.expressions);
      for (let k = 0; k < 4; k++) {
        const frame = entry.frames[entry.frames.length - 1];
        const merged = await readIndexedPng(join(out, `anno_${k}`, video, `${frame}.png`));
        const set = expressions.filter((_, i) => i % 4 === k);
        const masks = await Promise.all(
          set.map(([id]) => readIndexedPng(join(binary, "Annotations", video, id, `${frame}.png`))),
        );
        for (let i = 0; i < merged.data.length; i++) {
          const label = merged.data[i];
          if (label === 0) expect(masks.every((m) => m.data[i] === 0)).toBe(true);
          else expect(masks[set.findIndex(([, e]) => Number(e.obj_id) === label)].data[i]).toBe(1);
        }
      }
    }
    const scored = await evaluateRefDavis({ davisRoot, resultsDir: out });
    expect(scored.runs).toHaveLength(4);
    expect(scored["J&F"]).toBeGreaterThanOrEqual(0);
    expect(scored["J&F"]).toBeLessThanOrEqual(1);
  });

  it("infer refer --input --text writes binary PNGs per expression", async () => {
    const [video] = firstVideo();
    const [a, b, c] = segmenter.info.vocabulary!;
    const known = `${a} ${b}`;
    const input = join(data, "valid", "JPEGImages", video);
    const out = join(root, "infer-input");
    const result = await runCli(registerInfer, [
      "infer",
      "refer",
      "--checkpoint",
      modelFile,
      "--input",
      input,
      "--text",
      known,
      "--text",
      `${c} blorp`,
      "--out",
      out,
      "--animation",
      "gif",
      "--quiet",
      "--json",
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      `vidseg: warning: unknown words in "${c} blorp": blorp (read as UNK; the model's vocabulary has ${segmenter.info.vocabulary!.length} words)\n`,
    );
    expect(JSON.parse(result.stdout)).toMatchObject({
      inputKind: "frames",
      expressions: 2,
      frames: 8,
      animation: join(out, "overlay.gif"),
    });
    const gif = readFileSync(join(out, "overlay.gif"));
    expect(gif.subarray(0, 6).toString("latin1")).toBe("GIF89a");
    expect([gif.readUInt16LE(6), gif.readUInt16LE(8)]).toEqual([384, 384]); // 64² enlarged 6×
    expect(JSON.parse(readFileSync(join(out, "expressions.json"), "utf8"))).toEqual([
      { id: 0, text: known, unknownWords: [] },
      { id: 1, text: `${c} blorp`, unknownWords: ["blorp"] },
    ]);
    const names = readdirSync(input)
      .map((f) => f.replace(/\.jpg$/, ".png"))
      .sort();
    for (const k of ["0", "1"]) expect(readdirSync(join(out, "Annotations", video, k)).sort()).toEqual(names);
    // The same masks as the library's stream.
    const expected = await follow(segmenter, video, [known]);
    const png = await readIndexedPng(join(out, "Annotations", video, "0", names[3]));
    expect(png.data).toEqual(expected[0][3].mask);
  });

  it("the overlay draws each expression's mask in its colour and writes the expressions along the bottom", () => {
    const frame = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).fill(100) };
    const mask = new Uint8Array(64);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) mask[y * 8 + x] = 1;
    const g = animationGeometry(8, 8, 640); // 8² enlarged 48× to 384², text at scale 2
    expect([g.width, g.height, g.textScale]).toEqual([384, 384, 2]);
    const texts = ["the red square", "the blue circle moving left"];
    const image = drawReferOverlay(frame, [mask, new Uint8Array(64)], texts, g);
    const pixel = (x: number, y: number) =>
      Array.from(image.data.subarray((y * 384 + x) * 3, (y * 384 + x) * 3 + 3));
    // Inside expression 0's mask (0..191², away from its outline and label): the frame blended with its colour.
    const colour = idColour(1);
    expect(pixel(120, 120)).toEqual(colour.map((c) => Math.round(100 * 0.55 + c * 0.45)));
    // Outside every mask, above the legend: the frame.
    expect(pixel(300, 250)).toEqual([100, 100, 100]);
    // The legend: two lines (16 px each at scale 2) of white text on dark boxes at the bottom.
    const white = (y0: number, y1: number) => {
      let count = 0;
      for (let y = y0; y < y1; y++)
        for (let x = 0; x < 384; x++) if (pixel(x, y).every((v) => v === 255)) count++;
      return count;
    };
    expect(white(384 - 32, 384 - 16)).toBeGreaterThan(0);
    expect(white(384 - 16, 384)).toBeGreaterThan(0);
    expect(white(230, 384 - 32)).toBe(0); // (the mask's label "0" sits just below it)
  });

  it("rejects a model of another kind and bad options with one error line", async () => {
    const online = join(root, "online.safetensors");
    await writeRandomOnlineModel(online, 1);
    const split = join(data, "valid");
    const wrongKind = await runCli(registerInfer, [
      "infer",
      "refer",
      "--checkpoint",
      online,
      "--split",
      split,
      "--out",
      join(root, "x"),
    ]);
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.stderr).toMatch(
      /^vidseg: error: .*online\.safetensors.*holds an online model, not a refer one\n$/,
    );
    const both = await runCli(registerInfer, [
      "infer",
      "refer",
      "--checkpoint",
      modelFile,
      "--out",
      join(root, "y"),
    ]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/^vidseg: error: give one of a split/);
    const noText = await runCli(registerInfer, [
      "infer",
      "refer",
      "--checkpoint",
      modelFile,
      "--input",
      split,
      "--out",
      join(root, "z"),
    ]);
    expect(noText.stderr).toMatch(/--text: give at least one expression/);
  });
});
