/**
 * `npm run bench:refer-ablation` end to end on the tiny preset (2 arms × 1 seed × 2 steps, a fresh-seed
 * valid split with motion-only expressions and its Ref-DAVIS17 form, pseudo-videos from stills): one
 * JSON per arm × seed with the evaluators' own figures, each arm trained with its own settings, the
 * summary and its table; a rerun skips finished arms, a lost one is scored again from its finished
 * training, other settings are refused (the pseudo-videos' only for the arm that uses them);
 * `--from` starts every arm from one full model, knocked out.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  armSettings,
  referMarkdownTable,
  runReferAblation,
  summariseRefer,
  type ReferAblationOptions,
  type ReferArm,
  type ReferArmRun,
} from "../bench/refer-ablation.js";
import { meanSpread } from "../bench/ablation-runs.js";
import { evaluatePerExpression, evaluateRefDavis } from "../src/eval/refer.js";
import { readIndexedPng } from "../src/formats/png.js";
import { expressionMaskPath, readObjectMasks, readRefMetaExpressions } from "../src/formats/refytvos.js";
import { synthRefer } from "../src/jobs/synth.js";
import { trainRefer } from "../src/jobs/train-refer.js";
import { initRuntime } from "../src/runtime/backend.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-refer-ablation-"));
const data = join(root, "data");
const fresh = join(root, "fresh");
const pseudo = join(root, "pseudo");
const config = join(root, "config.json");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  const tiny = { preset: "tiny", splits: ["train"] as ["train"], overrides: { videos: 2 } };
  await synthRefer({ ...tiny, seed: 5, out: data });
  await synthRefer({ ...tiny, seed: 4, out: pseudo, stills: { clipLength: 3 } });
  // A fresh seed, with look-alikes that only motion tells apart, and its Ref-DAVIS17 form.
  await synthRefer({
    preset: "tiny",
    seed: 3,
    out: fresh,
    splits: ["valid"],
    overrides: { videos: 2, frames: 12, distractors: 1 },
    refDavis: true,
  });
  writeFileSync(config, JSON.stringify({ preset: "tiny", optim: { warmupSteps: 1, lr: 2e-3 } }));
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("npm run bench:refer-ablation", () => {
  const out = join(root, "ablation");
  const lines: string[] = [];
  const options = (): ReferAblationOptions => ({
    data,
    evalData: fresh,
    refDavis: join(fresh, "ref-davis"),
    pseudo,
    config,
    out,
    steps: 2,
    seeds: [1],
    arms: ["base", "full-pseudo"],
    workers: 1,
    log: (line) => lines.push(line),
  });
  const run = (name: string) => JSON.parse(readFileSync(join(out, `${name}.json`), "utf8")) as ReferArmRun;

  it("trains, infers and scores every arm × seed; one JSON each with the evaluators' figures; the summary", async () => {
    const summary = (await runReferAblation(options()))!;
    const base = run("base-s1");
    // The figures are the evaluators' own, on the masks the run wrote.
    const split = join(fresh, "valid");
    const scores = await evaluatePerExpression({
      protocol: "ref-youtube-vos",
      splitRoot: split,
      resultsDir: join(out, "base-s1", "valid"),
      groupsFile: join(split, "expression_groups.json"),
    });
    expect(base.metrics).toMatchObject({ J: scores.J, F: scores.F, "J&F": scores["J&F"] });
    expect(base.metrics.motionOnlyJF).toBe(scores.groups!["motion-only"]["J&F"]);
    expect(base.groups["motion-only"].expressions).toBeGreaterThan(0);
    const davis = await evaluateRefDavis({
      davisRoot: join(fresh, "ref-davis", "DAVIS"),
      resultsDir: join(out, "base-s1", "ref-davis-valid"),
    });
    expect(base.metrics).toMatchObject({ refDavisJF: davis["J&F"], refDavisJ: davis.J, refDavisF: davis.F });
    expect(base.train).toMatchObject({ steps: 2, resumedFrom: 0 });
    expect(base.train.cpuSeconds).toBeGreaterThan(0);
    expect(base.inference.framesPerSecond).toBeGreaterThan(0);
    // Each arm trained with its own settings (the same code path as `vidseg train refer`).
    const start = (name: string) =>
      JSON.parse(readFileSync(join(out, name, "log.jsonl"), "utf8").split("\n")[0]).config.modelInfo;
    expect(start("base-s1").config.refer).toMatchObject({
      featureMining: false,
      metaTransfer: false,
      pseudoRatio: 0,
    });
    expect(start("full-pseudo-s1").config.refer).toMatchObject({
      featureMining: true,
      metaTransfer: true,
      pseudoRatio: 0.3,
    });
    expect(start("full-pseudo-s1").trainedOn.data).toMatch(
      /\+ pseudo-videos from stills \(vidseg synth refer --stills, tiny preset, seed 4\)$/,
    );
    // The summary: mean ± spread of the runs' figures, and its table.
    expect(Object.keys(summary.arms)).toEqual(["base", "full-pseudo"]);
    expect(summary.arms.base!.metrics["J&F"]).toEqual(meanSpread([base.metrics["J&F"]]));
    expect(JSON.parse(readFileSync(join(out, "summary.json"), "utf8"))).toEqual(summary);
    const table = readFileSync(join(out, "summary.md"), "utf8").split("\n");
    expect(table[0]).toBe(
      "| arm | what | seeds | J | F | J&F | motion-only J&F | Ref-DAVIS17 J&F | train wall | train CPU | infer frames/s |",
    );
    expect(table.filter((l) => /^\| (base|full-pseudo) \|/.test(l))).toHaveLength(2);
    expect(lines.some((l) => /^\[2\/2\] full-pseudo-s1: .*ETA/.test(l))).toBe(true);
    // The baseline without a model: every expression's mask is the union of its video's objects.
    const meta = await readRefMetaExpressions(join(split, "meta_expressions.json"));
    const [video, entry] = Object.entries(meta.videos)[0];
    const objects = await readObjectMasks(split, video, entry.frames);
    const id = Object.keys(entry.expressions)[0];
    const answer = await readIndexedPng(
      expressionMaskPath(join(out, "all-objects", "valid"), video, id, entry.frames[3]),
    );
    expect(Array.from(answer.data, (v) => (v > 0 ? 1 : 0))).toEqual(
      Array.from(objects[3].data, (v) => (v > 0 ? 1 : 0)),
    );
    expect(objects[3].data.some((v) => v > 0)).toBe(true);
    const union = await evaluatePerExpression({
      protocol: "ref-youtube-vos",
      splitRoot: split,
      resultsDir: join(out, "all-objects", "valid"),
      groupsFile: join(split, "expression_groups.json"),
    });
    expect(summary.allObjects).toEqual({
      J: union.J,
      F: union.F,
      "J&F": union["J&F"],
      motionOnlyJF: union.groups!["motion-only"]["J&F"],
    });
    expect(table[2]).toMatch(
      /^\| none \| every expression answered by all its video's objects \(no model\) \| – \| 0\.\d{3} \|/,
    );
  }, 60_000);

  it("a rerun skips finished arms; a lost arm is scored again from its training; other settings are refused", async () => {
    const before = statSync(join(out, "base-s1.json")).mtimeMs;
    const lost = run("full-pseudo-s1");
    rmSync(join(out, "full-pseudo-s1.json"));
    lines.length = 0;
    await runReferAblation({ ...options(), parallel: 2 }); // in a child process of the script
    expect(lines.filter((l) => l.includes("finished before, skipped"))).toHaveLength(1);
    expect(statSync(join(out, "base-s1.json")).mtimeMs).toBe(before);
    const again = run("full-pseudo-s1");
    expect(again.metrics).toEqual(lost.metrics); // the same model, the same figures
    expect(again.train).toMatchObject({ steps: 2, resumedFrom: 2 });
    await expect(runReferAblation({ ...options(), steps: 3 })).rejects.toThrow(
      `${join(out, "base-s1.json")}: settings.steps: was run with steps 2, not 3: use another --out, or remove it`,
    );
    await expect(runReferAblation({ ...options(), pseudo: undefined })).rejects.toThrow(
      "--pseudo: the full-pseudo arm needs pseudo-videos",
    );
    // The pseudo-videos matter to the full-pseudo arm only: the other arms' runs stand without them.
    lines.length = 0;
    await runReferAblation({ ...options(), arms: ["base"], pseudo: undefined, pseudoRatio: 0.5 });
    expect(lines.filter((l) => l.includes("base-s1: finished before, skipped"))).toHaveLength(1);
    expect(existsSync(join(out, "summary.md"))).toBe(true);
  }, 60_000);

  it("--from: every arm continues one full model with the components it lacks knocked out", async () => {
    const full = join(root, "full");
    const { model } = await trainRefer({
      data,
      config,
      out: full,
      steps: 1,
      valSplit: false,
      progress: false,
    });
    const from = model!;
    const knockOut = join(root, "knock-out");
    await runReferAblation({
      ...options(),
      from,
      arms: ["mt"],
      steps: 1,
      refDavis: undefined,
      out: knockOut,
    });
    const first = JSON.parse(
      readFileSync(join(knockOut, "mt-s1", "log.jsonl"), "utf8").split("\n")[0],
    ).config;
    expect(first).toMatchObject({ init: from, knockedOut: ["featureMining"] });
    expect(first.modelInfo.config.refer).toMatchObject({ featureMining: false, metaTransfer: true });
    expect(JSON.parse(readFileSync(join(knockOut, "mt-s1.json"), "utf8")).settings.from).toBe(from);
    const notFull = join(knockOut, "mt-s1", "model.safetensors");
    await expect(runReferAblation({ ...options(), from: notFull, out: knockOut })).rejects.toThrow(
      `${notFull}: --from: is not a referring model with feature mining and the meta-transfer memory`,
    );
  }, 60_000);

  it("the arms' settings", () => {
    expect(armSettings("base", 0.3)).toEqual({ featureMining: false, metaTransfer: false, pseudoRatio: 0 });
    expect(armSettings("fm", 0.3)).toEqual({ featureMining: true, metaTransfer: false, pseudoRatio: 0 });
    expect(armSettings("mt", 0.3)).toEqual({ featureMining: false, metaTransfer: true, pseudoRatio: 0 });
    expect(armSettings("full", 0.3)).toEqual({ featureMining: true, metaTransfer: true, pseudoRatio: 0 });
    expect(armSettings("full-pseudo", 0.2)).toEqual({
      featureMining: true,
      metaTransfer: true,
      pseudoRatio: 0.2,
    });
  });

  it("each component's effect: the arm with it minus the arm without it, seed by seed", () => {
    const arm = (name: ReferArm, seed: number, jf: number, motion: number | null) =>
      ({
        arm: name,
        seed,
        metrics: { J: jf, F: jf, "J&F": jf, motionOnlyJF: motion, refDavisJF: null },
        train: { wallSeconds: 1, cpuSeconds: 1 },
        inference: { framesPerSecond: 1 },
      }) as unknown as ReferArmRun;
    const summary = summariseRefer(
      [
        arm("base", 1, 0.4, 0.3),
        arm("fm", 1, 0.45, 0.3),
        arm("base", 2, 0.5, 0.2),
        arm("fm", 2, 0.52, 0.25),
        arm("fm", 3, 0.6, 0.3), // no base on seed 3: not paired
        arm("full", 1, 0.5, 0.4),
      ],
      {},
    );
    expect(summary.effects.map((e) => `${e.component} ${e.arm}-${e.without} ${e.seeds}`)).toEqual([
      "FM fm-base 1,2",
      "MT full-fm 1",
    ]);
    const fm = summary.effects[0].metrics;
    expect(fm["J&F"].mean).toBeCloseTo((0.05 + 0.02) / 2, 12);
    expect(fm["J&F"].spread).toBeCloseTo(Math.SQRT2 * 0.015, 12);
    expect(fm.motionOnlyJF.mean).toBeCloseTo(0.025, 12);
    expect(fm.refDavisJF.mean).toBeNull();
    expect(summary.effects[1].metrics["J&F"]).toMatchObject({ spread: null });
    expect(summary.effects[1].metrics["J&F"].mean).toBeCloseTo(0.05, 12);
    const table = referMarkdownTable(summary, [1, 2, 3]);
    expect(table).toContain("| FM | fm − base | 1, 2 | +0.035 ± 0.021 | +0.025 ± 0.035 | – |");
    expect(table).toContain("| MT | full − fm | 1 | +0.050 | +0.100 | – |");
  });
});
