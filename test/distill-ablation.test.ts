/**
 * `npm run bench:distill` end to end on the tiny preset (2 clip steps per arm, 2 seeds, a random tiny
 * teacher and student): one JSON per finished arm × seed with the evaluation's own figures, the summary
 * and its table, a rerun that skips every finished arm, and one that resumes after a lost arm; and the
 * summary's arithmetic on scripted runs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  armFlags,
  markdownTable,
  meanSpread,
  runDistillAblation,
  summarise,
  type AblationOptions,
  type ArmRun,
} from "../bench/distill-ablation.js";
import { knownValue } from "../bench/ablation-runs.js";
import { evaluateVisFiles } from "../src/jobs/evaluate.js";
import { presetConfig } from "../src/models/config.js";
import { OfflineVisModel } from "../src/models/vis/offline.js";
import { seedParameters } from "../src/nn/init.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset, synthCategories } from "../src/synth/vis.js";
import { saveOfflineModelFile, writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-ablation-"));
const data = join(root, "data");
const fresh = join(root, "fresh");
const teacher = join(root, "teacher.safetensors");
const student = join(root, "student.safetensors");
const config = join(root, "config.json");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  // Train on seed 5, score a valid split of seed 6.
  await generateVisDataset(resolveOptions("tiny", 5, { videos: 2 }), data, { splits: ["train"] });
  await generateVisDataset(resolveOptions("tiny", 6, { videos: 2 }), fresh, { splits: ["valid"] });
  const tiny = presetConfig("tiny");
  const categories = synthCategories();
  tiny.model.numClasses = categories.length;
  seedParameters(11);
  const model = new OfflineVisModel({ segmenter: tiny.model, head: tiny.offline.head });
  await saveOfflineModelFile(
    teacher,
    model,
    categories.map((c) => c.id),
    (c) => (c.inference.scoreThreshold = 0),
  );
  model.dispose();
  await writeRandomOnlineModel(student, 3);
  writeFileSync(
    config,
    JSON.stringify({
      preset: "tiny",
      optim: { totalSteps: 2, warmupSteps: 1, lr: 2e-3 },
      distill: { clipLength: 3, clipMaxStride: 2, fairAug: { probability: 1 } },
    }),
  );
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("npm run bench:distill", () => {
  const out = join(root, "ablation");
  const lines: string[] = [];
  const options = (): AblationOptions => ({
    data,
    evalData: fresh,
    teacher,
    student,
    out,
    steps: 2,
    seeds: [1, 2],
    config,
    arms: ["A", "B", "C", "D", "E", "T"],
    workers: 1,
    log: (line) => lines.push(line),
  });
  const files = ["T", ...[1, 2].flatMap((s) => ["A", "B", "C", "D", "E"].map((a) => `${a}-s${s}`))];

  it("runs every arm × seed through train, infer and eval, one JSON each, and the summary", async () => {
    const summary = (await runDistillAblation(options()))!;
    for (const name of files) expect(existsSync(join(out, `${name}.json`)), name).toBe(true);
    const run = (name: string) => JSON.parse(readFileSync(join(out, `${name}.json`), "utf8")) as ArmRun;
    // The figures are the evaluator's own, on the written results.
    const c2 = run("C-s2");
    const evaluation = await evaluateVisFiles({
      gt: join(fresh, "valid.json"),
      results: join(out, "C-s2", "valid", "results.json"),
      occlusion: true,
      identity: true,
      trainGt: join(data, "train.json"),
    });
    expect(c2.evaluator).toBe("ovis");
    expect(c2.metrics.AP).toBe(evaluation.stats.AP);
    expect(c2.metrics.AP_heavy).toBe(evaluation.stats.AP_heavy);
    expect(c2.metrics.AP_rare).toBe(evaluation.categoryHalves!.rare.AP);
    expect(c2.metrics.idSwitchesPerTrack).toBe(evaluation.identity!.switchesPerTrack);
    expect(c2.train).toMatchObject({ steps: 2, resumedFrom: 0 });
    expect(c2.train!.cpuSeconds).toBeGreaterThan(0);
    expect(c2.train!.trainSeconds).toBeLessThanOrEqual(c2.train!.wallSeconds);
    // Each student arm trained with its own settings, from the same student.
    const logged = (name: string) =>
      JSON.parse(readFileSync(join(out, name, "log.jsonl"), "utf8").split("\n")[0]).config.modelInfo.config
        .distill;
    expect(logged("A-s1")).toMatchObject({ kdWeight: 0 });
    expect(logged("B-s1")).toMatchObject({ kdFilter: "none", kdClassKl: 2, fairAug: { enabled: false } });
    expect(logged("D-s2")).toMatchObject({
      kdFilter: "qfa",
      kdClassKl: 2,
      fairAug: { enabled: true, alpha: 1 },
    });
    expect(logged("E-s2")).toMatchObject({ kdFilter: "qfa", kdClassKl: 0, fairAug: { enabled: true } });
    expect(run("T")).toMatchObject({ arm: "T", seed: null, train: null });
    // The summary: every arm, its seeds, mean ± spread of the runs' figures.
    expect(Object.keys(summary.arms)).toEqual(["A", "B", "C", "D", "E", "T"]);
    expect(summary.arms.C!.seeds).toEqual([1, 2]);
    expect(summary.arms.C!.metrics.AP).toEqual(meanSpread([run("C-s1").metrics.AP, c2.metrics.AP]));
    expect(JSON.parse(readFileSync(join(out, "summary.json"), "utf8"))).toEqual(summary);
    const table = readFileSync(join(out, "summary.md"), "utf8").split("\n");
    expect(table[0]).toMatch(
      /^\| arm \| what \| seeds \| AP \| AP50 .* \| AP_rare \| AP_freq \| IDSW\/track \|/,
    );
    expect(table.filter((l) => /^\| [A-ET] \|/.test(l))).toHaveLength(6);
    expect(table.join("\n")).toContain("Gap closure (AP_D − AP_A) / (AP_T − AP_A)");
    // Progress lines with an ETA once a student run is done.
    expect(lines.some((l) => /^\[3\/11\] B-s1: .*ETA/.test(l))).toBe(true);
  }, 600_000);

  it("a rerun skips every finished arm; a lost arm alone is run again", async () => {
    const before = statSync(join(out, "C-s1.json")).mtimeMs;
    lines.length = 0;
    await runDistillAblation(options());
    expect(lines.filter((l) => l.includes("finished before, skipped"))).toHaveLength(11);
    expect(statSync(join(out, "C-s1.json")).mtimeMs).toBe(before);
    // A killed run: E-s2's figures never written, its training finished.
    const lost = readFileSync(join(out, "E-s2.json"), "utf8");
    rmSync(join(out, "E-s2.json"));
    lines.length = 0;
    await runDistillAblation({ ...options(), parallel: 2 }); // in a child process of the script
    expect(lines.filter((l) => l.includes("skipped"))).toHaveLength(10);
    const again = JSON.parse(readFileSync(join(out, "E-s2.json"), "utf8")) as ArmRun;
    const first = JSON.parse(lost) as ArmRun;
    expect(again.metrics).toEqual(first.metrics); // same model, same figures
    expect(again.train).toMatchObject({ steps: 2, resumedFrom: 2 });
    // Other settings for the same folder are refused, naming the file.
    await expect(runDistillAblation({ ...options(), steps: 3 })).rejects.toThrow(
      `${join(out, "T.json")}: settings.steps: was run with steps 2, not 3: use another --out, or remove it`,
    );
  }, 300_000);

  it("--trained scores an earlier ablation's students without training them", async () => {
    const again = join(root, "scored-again");
    const summary = (await runDistillAblation({
      ...options(),
      out: again,
      arms: ["A", "T"],
      seeds: [1],
      trained: out,
    }))!;
    const run = (dir: string) => JSON.parse(readFileSync(join(dir, "A-s1.json"), "utf8")) as ArmRun;
    expect(run(again).train).toBeNull();
    expect(run(again).metrics).toEqual(run(out).metrics);
    expect(summary.arms.A!.trainWallSeconds.mean).toBeNull();
    expect(existsSync(join(again, "A-s1", "log.jsonl"))).toBe(false);
    await expect(
      runDistillAblation({ ...options(), out: join(root, "none"), arms: ["A"], seeds: [9], trained: out }),
    ).rejects.toThrow(`${join(out, "A-s9", "model.safetensors")}: --trained: model file not found`);
  }, 120_000);
  it("--baseline takes arms A and T from an earlier ablation whose config differs only in λ; S scores the student", async () => {
    // The same config with another λ: A (λ = 0) and T would run the same, only C trains; S (the
    // starting student, never run in the baseline) is scored here.
    type ConfigJson = { optim: { lr: number }; distill: { kdWeight?: number } };
    const variant = (name: string, change: (json: ConfigJson) => void) => {
      const json = JSON.parse(readFileSync(config, "utf8")) as ConfigJson;
      change(json);
      writeFileSync(join(root, name), JSON.stringify(json));
      return join(root, name);
    };
    const kd5 = variant("kd5.json", (json) => (json.distill.kdWeight = 5));
    const again = join(root, "kd5");
    lines.length = 0;
    const summary = (await runDistillAblation({
      ...options(),
      out: again,
      config: kd5,
      arms: ["A", "C", "S", "T"],
      seeds: [1],
      baseline: out,
    }))!;
    expect(lines.filter((l) => l.includes("taken from the baseline"))).toHaveLength(2);
    expect(summary.baseline).toEqual({ folder: out, runs: ["T", "A-s1"] });
    const run = (dir: string, name: string) =>
      JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as ArmRun;
    expect(summary.arms.A!.metrics.AP.mean).toBe(run(out, "A-s1").metrics.AP);
    expect(summary.arms.T!.metrics.AP.mean).toBe(run(out, "T").metrics.AP);
    expect(existsSync(join(again, "A-s1.json"))).toBe(false);
    // S: the student as it is, through the same inference and evaluation, nothing trained.
    const s = run(again, "S");
    expect(s).toMatchObject({ arm: "S", seed: null, train: null });
    const scored = await evaluateVisFiles({
      gt: join(fresh, "valid.json"),
      results: join(again, "S", "valid", "results.json"),
      occlusion: true,
      identity: true,
      trainGt: join(data, "train.json"),
    });
    expect(s.metrics.AP).toBe(scored.stats.AP);
    expect(existsSync(join(again, "S", "log.jsonl"))).toBe(false);
    expect(summary.arms.S!.what).toBe("the starting student, not fine-tuned");
    expect(run(again, "C-s1").train).toMatchObject({ steps: 2, resumedFrom: 0 });
    const logged = JSON.parse(readFileSync(join(again, "C-s1", "log.jsonl"), "utf8").split("\n")[0]).config
      .modelInfo.config.distill;
    expect(logged).toMatchObject({ kdWeight: 5, kdFilter: "qfa" });
    expect(readFileSync(join(again, "summary.md"), "utf8")).toContain(
      `Taken from the earlier ablation in ${out} (\`--baseline\`): T, A-s1.`,
    );
    // Another learning rate would train another arm A: refused, naming the file, before any training.
    const lr = variant("lr.json", (json) => (json.optim.lr = 1e-3));
    await expect(
      runDistillAblation({
        ...options(),
        out: join(root, "lr"),
        config: lr,
        arms: ["A", "T"],
        baseline: out,
      }),
    ).rejects.toThrow(`${join(out, "A-s1.json")}: settings.config: was trained with config ${config}`);
    expect(existsSync(join(root, "lr", "A-s1"))).toBe(false);
  }, 120_000);
});

describe("the summary", () => {
  const run = (arm: ArmRun["arm"], seed: number | null, ap: number): ArmRun =>
    ({
      arm,
      seed,
      metrics: { AP: ap, AP_rare: -1, idSwitchesPerTrack: 0.5 },
      train: arm === "T" ? null : { wallSeconds: 10 * ap, cpuSeconds: 20 * ap },
      inference: { framesPerSecond: 5 },
    }) as unknown as ArmRun;

  it("mean ± sample standard deviation, null left out; the evaluators' -1 is no value; the gap closure from means and per seed", () => {
    expect(meanSpread([0.1, 0.3, null])).toEqual({
      mean: 0.2,
      spread: Math.sqrt(0.02),
      values: [0.1, 0.3, null],
    });
    expect(meanSpread([0.4])).toMatchObject({ mean: 0.4, spread: null });
    // A paired difference of −1 is a value, the evaluators' −1 is not.
    expect(meanSpread([-1, -0.5]).mean).toBeCloseTo(-0.75, 12);
    expect([0.3, 0, -1, null, undefined].map(knownValue)).toEqual([0.3, 0, null, null, null]);
    const summary = summarise(
      [run("T", null, 0.5), run("A", 1, 0.1), run("A", 2, 0.3), run("D", 1, 0.4), run("D", 2, 0.4)],
      {},
    );
    // Means: A 0.2, D 0.4, T 0.5 → (0.4 − 0.2) / (0.5 − 0.2) = 2/3; seed 1: 0.3 / 0.4, seed 2: 0.1 / 0.2.
    expect(summary.gapClosure.fromMeans).toBeCloseTo(2 / 3, 12);
    expect(summary.gapClosure.perSeed.map((p) => p.seed)).toEqual([1, 2]);
    expect(summary.gapClosure.perSeed[0].value).toBeCloseTo(0.75, 12);
    expect(summary.gapClosure.perSeed[1].value).toBeCloseTo(0.5, 12);
    expect(summary.arms.A!.metrics.AP_rare.mean).toBeNull();
    expect(summary.arms.A!.trainCpuSeconds.mean).toBeCloseTo(4, 12);
    expect(summary.arms.T!.trainWallSeconds.mean).toBeNull();

    // A teacher behind arm A leaves no gap to close: no ratio, and the table says why.
    const behind = summarise([run("T", null, 0.09), run("A", 1, 0.1), run("D", 1, 0.095)], {});
    expect(behind.gapClosure).toEqual({ fromMeans: null, perSeed: [] });
    expect(markdownTable(behind, [1])).toContain(
      "n/a (the teacher does not lead arm A: AP_T − AP_A = -0.010)",
    );
  });

  it("the arms' distillation flags", () => {
    expect(armFlags("A")).toEqual({ kdWeight: 0 });
    expect(armFlags("B", 3)).toEqual({ kdFilter: "none", kdClassKl: 3 });
    expect(armFlags("D", 2, 0.5)).toEqual({ kdFilter: "qfa", kdClassKl: 2, fairAug: 0.5 });
    expect(armFlags("E", 2, 0.5)).toEqual({ kdFilter: "qfa", kdClassKl: 0, fairAug: 0.5 });
  });
});
