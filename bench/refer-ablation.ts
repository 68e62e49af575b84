/**
 * The YOFO ablation (issue 13), every arm through the repository's own jobs (`trainRefer`, `inferRefer`,
 * the referring evaluators: what `vidseg train refer`, `infer refer --split` / `--ref-davis` and
 * `eval refer` run):
 *
 *   npm run -s bench:refer-ablation -- --data <root> --eval-data <fresh-seed root> [--ref-davis <dir>]
 *       [--pseudo <stills root>] [--pseudo-ratio 0.3] [--config bench/configs/refer-ytvis-long.json]
 *       [--from <full model file>] [--steps N] [--seeds 1,2,3] [--arms base,fm,mt,full,full-pseudo]
 *       [--split valid]
 *       [--workers n] [--checkpoint-every 100] [--parallel n] [--out runs/yofo-ablation]
 *
 * <root> holds the train split; the scored split (`--split`, default valid) is in `--eval-data` and must
 * come from a seed not used in training. `--ref-davis` is the `ref-davis` folder `vidseg synth refer
 * --ref-davis` writes (its <split>/ in the Ref-YouTube-VOS layout and DAVIS/), scored with
 * `--protocol ref-davis` too. Every arm trains with the same config, steps and seed — from scratch, or
 * with `--from` from one trained full model with the components it lacks knocked out
 * (src/models/refer/knock-out.ts) — and only:
 *
 *   base         refer.featureMining false, refer.metaTransfer false (text fused at one scale, no memory)
 *   fm           + multi-scale feature mining
 *   mt           + the meta-transfer memory (no feature mining)
 *   full         both
 *   full-pseudo  both, and refer.pseudoRatio of the clips from `--pseudo` (pseudo-videos from stills)
 *
 * Each arm × seed trains into <out>/<arm>-s<seed>/ (no validation during training: the scored split is
 * looked at once, at the end), streams the scored split (and the Ref-DAVIS17 split), and is scored: J, F,
 * J&F over expressions, and per expression group when the split has an expression_groups.json (the
 * motion-only J&F: objects only motion tells apart). Its figures go to <out>/<arm>-s<seed>.json as soon
 * as it is done: a killed run, started again with the same flags, skips the finished arm × seeds and
 * resumes an unfinished training from its last checkpoint; other settings for the same --out are
 * refused, naming the file. `--parallel n` runs n arm × seeds at once, each in a child process of its
 * own (TensorFlow.js on wasm uses one thread: two lanes with `--workers 1` keep two cores busy through
 * training and inference alike). Then <out>/summary.json and <out>/summary.md: per arm the mean ± sample
 * standard deviation over the seeds of J, F, J&F, motion-only J&F, Ref-DAVIS17 J&F, training wall and
 * CPU time and inference frames/s.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readJson } from "../src/core/fs.js";
import { readRefMetaExpressions } from "../src/formats/refytvos.js";
import { disposeModelFile, readModelFile } from "../src/models/model-file.js";
import {
  evaluatePerExpression,
  evaluateRefDavis,
  expressionGroupsPath,
  inferRefer,
  initRuntime,
  loadVisConfig,
  resolveReferSplit,
  trainRefer,
  VidsegError,
  writeFileAtomic,
  writeJsonAtomic,
  type GroupScore,
} from "../src/index.js";
import type { PerExpressionResult } from "../src/eval/refer.js";
import {
  ablationArgs,
  checkSettings,
  duration,
  knownValue,
  flagArgs,
  meanSpread,
  meanSpreadCell,
  runAblationJobs,
  timedTraining,
  type InferenceRecord,
  type MetricSummary,
  type TrainingRecord,
} from "./ablation-runs.js";
import { writeAllObjectsMasks } from "./refer-all-objects.js";

export const REFER_ARMS = ["base", "fm", "mt", "full", "full-pseudo"] as const;
export type ReferArm = (typeof REFER_ARMS)[number];

/** The figures of the table, in its order. */
export const REFER_METRICS = [
  "J",
  "F",
  "J&F",
  "motionOnlyJF",
  "refDavisJF",
  "refDavisJ",
  "refDavisF",
] as const;
export type ReferMetric = (typeof REFER_METRICS)[number];

const WHAT: Record<ReferArm, string> = {
  base: "one-scale fusion, no memory",
  fm: "+ multi-scale feature mining",
  mt: "+ meta-transfer memory",
  full: "FM + MT",
  "full-pseudo": "FM + MT + pseudo-videos",
};

/** The refer settings an arm changes. */
export function armSettings(
  arm: ReferArm,
  pseudoRatio: number,
): { featureMining: boolean; metaTransfer: boolean; pseudoRatio: number } {
  return {
    featureMining: arm !== "base" && arm !== "mt",
    metaTransfer: arm !== "base" && arm !== "fm",
    pseudoRatio: arm === "full-pseudo" ? pseudoRatio : 0,
  };
}

export interface ReferAblationOptions {
  /** Root with the train split. */
  data: string;
  /** Root (or split folder) with the scored split (default `data`). */
  evalData?: string;
  /** The `ref-davis` folder of a Ref-DAVIS17 form (its <split>/ and DAVIS/), scored too. */
  refDavis?: string;
  /** Pseudo-videos root (`vidseg synth refer --stills`): needed by the full-pseudo arm. */
  pseudo?: string;
  /** refer.pseudoRatio of the full-pseudo arm. Default 0.3. */
  pseudoRatio?: number;
  /** Preset name or config file every arm starts from. */
  config: string;
  /** A trained full model (FM + MT) every arm continues, without the components it lacks. */
  from?: string;
  out: string;
  /** Training steps per arm (default: the config's). */
  steps?: number;
  seeds: number[];
  arms: ReferArm[];
  /** Scored split. Default "valid". */
  split?: string;
  workers?: number;
  checkpointEvery?: number;
  /** Arm × seeds run at once, each in a child process. Default 1 (in this process). */
  parallel?: number;
  /** Run only this arm × seed ("full-s2") and write its JSON, no summary: a lane's child process. */
  only?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** What one finished arm × seed wrote (<out>/<arm>-s<seed>.json). */
export interface ReferArmRun {
  arm: ReferArm;
  seed: number;
  what: string;
  /** The settings the run depends on: a rerun with other settings is refused. */
  settings: Record<string, unknown>;
  train: TrainingRecord;
  inference: InferenceRecord;
  metrics: Record<ReferMetric, number | null>;
  /** Every expression group's figures (none without a groups file). */
  groups: Record<string, GroupScore>;
  expressions: number;
}

export interface ReferArmSummary {
  what: string;
  seeds: number[];
  metrics: Record<ReferMetric, MetricSummary>;
  trainWallSeconds: MetricSummary;
  trainCpuSeconds: MetricSummary;
  inferenceFramesPerSecond: MetricSummary;
}

/** What a component adds: an arm with it against the arm without it, seed by seed. */
export const REFER_EFFECTS = [
  { component: "FM", arm: "fm", without: "base" },
  { component: "FM", arm: "full", without: "mt" },
  { component: "MT", arm: "mt", without: "base" },
  { component: "MT", arm: "full", without: "fm" },
  { component: "pseudo-videos", arm: "full-pseudo", without: "full" },
] as const satisfies readonly { component: string; arm: ReferArm; without: ReferArm }[];

/** The figures whose paired differences the summary reports. */
export const EFFECT_METRICS = ["J&F", "motionOnlyJF", "refDavisJF"] as const satisfies readonly ReferMetric[];

export interface ReferEffect {
  component: string;
  arm: ReferArm;
  without: ReferArm;
  /** The seeds both arms ran. */
  seeds: number[];
  /** Mean ± spread over those seeds of (arm − without), seed by seed. */
  metrics: Record<(typeof EFFECT_METRICS)[number], MetricSummary>;
}

/** The baseline without a model on the scored split: every expression answered by all its video's objects. */
export interface AllObjectsRun {
  settings: Record<string, unknown>;
  metrics: Record<"J" | "F" | "J&F" | "motionOnlyJF", number | null>;
}

export interface ReferAblationSummary {
  settings: Record<string, unknown>;
  /** The figures of the baseline without a model (not in summaries written without it). */
  allObjects?: AllObjectsRun["metrics"];
  arms: Partial<Record<ReferArm, ReferArmSummary>>;
  /** Each component's paired effect, where both arms ran on a common seed. */
  effects: ReferEffect[];
}

/** Runs what is not finished yet, then writes the summary. */
export async function runReferAblation(
  options: ReferAblationOptions,
): Promise<ReferAblationSummary | undefined> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const split = options.split ?? "valid";
  const scored = resolveReferSplit(options.evalData ?? options.data, split);
  resolveReferSplit(options.data, "train"); // a missing train split is an error before anything runs
  if (options.arms.includes("full-pseudo")) {
    if (options.pseudo === undefined)
      throw new VidsegError("the full-pseudo arm needs pseudo-videos", undefined, "--pseudo");
    resolveReferSplit(options.pseudo, "train");
    if (options.pseudoRatio === 0)
      throw new VidsegError(
        "the full-pseudo arm needs a share of pseudo-video clips above 0",
        undefined,
        "--pseudo-ratio",
      );
  }
  const refDavis = options.refDavis === undefined ? undefined : resolve(options.refDavis);
  if (refDavis !== undefined) resolveReferSplit(join(refDavis, split));
  if (options.from !== undefined) await checkFullModel(options.from);
  const settings = {
    data: resolve(options.data),
    scored: resolve(scored.splitRoot),
    refDavis: refDavis ?? null,
    pseudo: options.pseudo === undefined ? null : resolve(options.pseudo),
    pseudoRatio: options.pseudoRatio ?? 0.3,
    config: options.config,
    steps: options.steps ?? null,
    ...(options.from === undefined ? {} : { from: resolve(options.from) }),
  };
  const context: RunContext = {
    ...options,
    split,
    scoredRoot: scored.splitRoot,
    refDavis,
    settings,
    log,
    tag: "",
  };
  // The pseudo-videos matter to the full-pseudo arm only: the other arms' runs stand without them.
  const armRunSettings = (arm: ReferArm): Record<string, unknown> => {
    if (arm === "full-pseudo") return settings;
    const { pseudo: _pseudo, pseudoRatio: _ratio, ...rest } = settings;
    return rest;
  };

  const jobs = options.seeds.flatMap((seed) =>
    options.arms.map((arm) => ({ arm, seed, name: `${arm}-s${seed}`, trains: true })),
  );
  const runs = await runAblationJobs<ReferArm, ReferArmRun>(
    jobs,
    {
      out: options.out,
      settings: ({ arm }) => armRunSettings(arm),
      parallel: options.parallel,
      script: fileURLToPath(import.meta.url),
      childArgs: (name) => childArgs(options, name),
      runHere: ({ arm, seed }, tag) => runArm(arm, seed!, { ...context, tag }, armRunSettings(arm)),
      what: (arm) => WHAT[arm],
      figures: ({ metrics: m }) =>
        `J&F ${fixed(m["J&F"])}, motion-only J&F ${fixed(m.motionOnlyJF)}` +
        (refDavis === undefined ? "" : `, Ref-DAVIS17 J&F ${fixed(m.refDavisJF)}`),
      log,
    },
    options.only,
  );
  if (options.only !== undefined) return undefined;

  const summary = summariseRefer(runs, settings);
  summary.allObjects = (await allObjects(context)).metrics;
  await writeJsonAtomic(join(options.out, "summary.json"), summary);
  await writeFileAtomic(join(options.out, "summary.md"), referMarkdownTable(summary, options.seeds));
  log(`summary: ${join(options.out, "summary.json")}, ${join(options.out, "summary.md")}`);
  return summary;
}

interface RunContext extends ReferAblationOptions {
  split: string;
  scoredRoot: string;
  refDavis: string | undefined;
  settings: { pseudoRatio: number } & Record<string, unknown>;
  log: (line: string) => void;
  tag: string;
}

/** `--from` must hold both components, or the arms that knock one out would all be the same model. */
async function checkFullModel(path: string): Promise<void> {
  await initRuntime();
  const model = await readModelFile(path);
  try {
    const { kind, config } = model.info;
    if (kind !== "refer" || !config.refer.featureMining || !config.refer.metaTransfer)
      throw new VidsegError(
        "is not a referring model with feature mining and the meta-transfer memory",
        path,
        "--from",
      );
  } finally {
    disposeModelFile(model);
  }
}

/** The baseline without a model, scored once: <out>/all-objects.json (its masks in <out>/all-objects/). */
async function allObjects(context: RunContext): Promise<AllObjectsRun> {
  const file = join(context.out, "all-objects.json");
  const settings = { scored: context.settings.scored };
  if (existsSync(file)) {
    const done = (await readJson(file)) as AllObjectsRun;
    checkSettings(done, settings, file);
    return done;
  }
  const masks = join(context.out, "all-objects", context.split);
  const meta = await readRefMetaExpressions(resolveReferSplit(context.scoredRoot).annotationFile);
  await writeAllObjectsMasks(context.scoredRoot, meta, masks);
  const run: AllObjectsRun = { settings, metrics: figures(await scoreMasks(context, masks)) };
  await writeJsonAtomic(file, run);
  return run;
}

/** The masks in `masks` scored on the scored split: per expression, and per group where it has a groups file. */
async function scoreMasks(context: RunContext, masks: string): Promise<PerExpressionResult> {
  const groupsFile = expressionGroupsPath(context.scoredRoot);
  return evaluatePerExpression({
    protocol: "ref-youtube-vos",
    splitRoot: context.scoredRoot,
    resultsDir: masks,
    groupsFile: existsSync(groupsFile) ? groupsFile : undefined,
  });
}

/** J, F, J&F and the motion-only J&F of a scoring. */
function figures(scores: PerExpressionResult): AllObjectsRun["metrics"] {
  return {
    J: scores.J,
    F: scores.F,
    "J&F": scores["J&F"],
    motionOnlyJF: scores.groups?.["motion-only"]?.["J&F"] ?? null,
  };
}

/** Trains, streams the scored split(s) and evaluates one arm × seed. */
async function runArm(
  arm: ReferArm,
  seed: number,
  context: RunContext,
  settings: Record<string, unknown>,
): Promise<ReferArmRun> {
  const runDir = join(context.out, `${arm}-s${seed}`);
  const config = await loadVisConfig(context.config);
  Object.assign(config.refer, armSettings(arm, context.settings.pseudoRatio));
  const { summary: trained, record: train } = await timedTraining(
    runDir,
    context.steps ?? config.optim.totalSteps,
    (line) => context.log(`${context.tag}: ${line}`),
    (onStep) =>
      trainRefer({
        data: context.data,
        pseudo: arm === "full-pseudo" ? context.pseudo : undefined,
        config,
        init: context.from,
        out: runDir,
        resume: true, // a fresh folder starts from step 0
        seed,
        steps: context.steps,
        valSplit: false,
        checkpointEvery: context.checkpointEvery ?? 100,
        workers: context.workers,
        progress: false,
        onStep,
      }),
  );
  const checkpoint = trained.model ?? trained.checkpoint;

  // Ref-YouTube-VOS form: every expression of the scored split, scored per expression and per group.
  const masks = join(runDir, context.split);
  const inferred = await inferRefer({ checkpoint, split: context.scoredRoot, out: masks });
  const scores = await scoreMasks(context, masks);
  const groups = scores.groups ?? {};
  const metrics: Record<ReferMetric, number | null> = {
    ...figures(scores),
    refDavisJF: null,
    refDavisJ: null,
    refDavisF: null,
  };
  if (context.refDavis !== undefined) {
    const davisMasks = join(runDir, `ref-davis-${context.split}`);
    await inferRefer({ checkpoint, refDavis: join(context.refDavis, context.split), out: davisMasks });
    const davis = await evaluateRefDavis({
      davisRoot: join(context.refDavis, "DAVIS"),
      resultsDir: davisMasks,
      set: context.split === "valid" ? "val" : context.split,
    });
    metrics.refDavisJF = davis["J&F"];
    metrics.refDavisJ = davis.J;
    metrics.refDavisF = davis.F;
  }
  return {
    arm,
    seed,
    what: WHAT[arm],
    settings,
    train,
    inference: {
      frames: inferred.frames,
      seconds: inferred.seconds,
      framesPerSecond: inferred.framesPerSecond,
    },
    metrics,
    groups,
    expressions: Object.keys(scores.per_expression).length,
  };
}

/** Per arm: mean ± spread of every figure over the seeds; per component its paired effect. */
export function summariseRefer(
  runs: readonly ReferArmRun[],
  settings: Record<string, unknown>,
): ReferAblationSummary {
  const arms: ReferAblationSummary["arms"] = {};
  for (const arm of REFER_ARMS) {
    const mine = runs.filter((r) => r.arm === arm).sort((a, b) => a.seed - b.seed);
    if (mine.length === 0) continue;
    arms[arm] = {
      what: WHAT[arm],
      seeds: mine.map((r) => r.seed),
      metrics: Object.fromEntries(
        REFER_METRICS.map((name) => [name, meanSpread(mine.map((r) => knownValue(r.metrics[name])))]),
      ) as Record<ReferMetric, MetricSummary>,
      trainWallSeconds: meanSpread(mine.map((r) => r.train.wallSeconds)),
      trainCpuSeconds: meanSpread(mine.map((r) => r.train.cpuSeconds)),
      inferenceFramesPerSecond: meanSpread(mine.map((r) => r.inference.framesPerSecond)),
    };
  }
  const effects: ReferEffect[] = [];
  for (const { component, arm, without } of REFER_EFFECTS) {
    const pairs = runs
      .filter((r) => r.arm === arm)
      .sort((a, b) => a.seed - b.seed)
      .flatMap((r) => {
        const other = runs.find((o) => o.arm === without && o.seed === r.seed);
        return other === undefined ? [] : [[r, other] as const];
      });
    if (pairs.length === 0) continue;
    const difference = (name: (typeof EFFECT_METRICS)[number]) =>
      meanSpread(
        pairs.map(([a, b]) => {
          const [x, y] = [knownValue(a.metrics[name]), knownValue(b.metrics[name])];
          return x === null || y === null ? null : x - y;
        }),
      );
    effects.push({
      component,
      arm,
      without,
      seeds: pairs.map(([r]) => r.seed),
      metrics: Object.fromEntries(
        EFFECT_METRICS.map((name) => [name, difference(name)]),
      ) as ReferEffect["metrics"],
    });
  }
  return { settings, arms, effects };
}

const COLUMNS: [ReferMetric, string][] = [
  ["J", "J"],
  ["F", "F"],
  ["J&F", "J&F"],
  ["motionOnlyJF", "motion-only J&F"],
  ["refDavisJF", "Ref-DAVIS17 J&F"],
];

/** The table: mean ± sample standard deviation over the seeds; training time per run. */
export function referMarkdownTable(summary: ReferAblationSummary, seeds: readonly number[]): string {
  const lines = [
    `| arm | what | seeds | ${COLUMNS.map(([, title]) => title).join(" | ")} | train wall | train CPU | infer frames/s |`,
    `|---|---|---|${COLUMNS.map(() => "---|").join("")}---|---|---|`,
  ];
  const time = (m: MetricSummary) => (m.mean === null ? "–" : duration(m.mean));
  if (summary.allObjects !== undefined) {
    const cell = (name: ReferMetric) => {
      const value = (summary.allObjects as Partial<Record<ReferMetric, number | null>>)[name];
      return value === undefined || value === null ? "–" : value.toFixed(3);
    };
    lines.push(
      `| none | every expression answered by all its video's objects (no model) | – | ` +
        `${COLUMNS.map(([name]) => cell(name)).join(" | ")} | – | – | – |`,
    );
  }
  for (const [arm, s] of Object.entries(summary.arms)) {
    lines.push(
      `| ${arm} | ${s.what} | ${s.seeds.join(", ")} | ` +
        `${COLUMNS.map(([name]) => meanSpreadCell(s.metrics[name])).join(" | ")} | ${time(s.trainWallSeconds)} | ` +
        `${time(s.trainCpuSeconds)} | ${meanSpreadCell(s.inferenceFramesPerSecond, 1)} |`,
    );
  }
  lines.push(
    "",
    `Mean ± sample standard deviation over seeds ${seeds.join(", ")}; J, F, J&F on the scored split's ` +
      "expressions (Ref-YouTube-VOS protocol), motion-only J&F on those of objects only motion tells apart.",
    "",
  );
  if (summary.effects.length === 0) return lines.join("\n");
  lines.push(
    "| component | arms | seeds | J&F | motion-only J&F | Ref-DAVIS17 J&F |",
    "|---|---|---|---|---|---|",
    ...summary.effects.map(
      (e) =>
        `| ${e.component} | ${e.arm} − ${e.without} | ${e.seeds.join(", ")} | ` +
        `${EFFECT_METRICS.map((name) => meanSpreadCell(e.metrics[name], 3, true)).join(" | ")} |`,
    ),
    "",
    "Each component's effect: the arm with it minus the arm without it, seed by seed (same seed, same " +
      "data order), mean ± sample standard deviation of those differences.",
    "",
  );
  return lines.join("\n");
}

function fixed(value: number | null): string {
  return value === null ? "–" : value.toFixed(3);
}

// The command ----------------------------------------------------------------------------------------

export function parseReferAblationArgs(args: readonly string[]): ReferAblationOptions {
  const { value, required, number, seeds, arms } = ablationArgs(args, REFER_ARMS);
  return {
    data: required("data"),
    evalData: value("eval-data"),
    refDavis: value("ref-davis"),
    pseudo: value("pseudo"),
    pseudoRatio: number("pseudo-ratio", false, 1),
    config: value("config") ?? join("bench", "configs", "refer-ytvis-long.json"),
    from: value("from"),
    out: value("out") ?? join("runs", "yofo-ablation"),
    steps: number("steps", true),
    seeds,
    arms,
    split: value("split"),
    workers: number("workers", true),
    checkpointEvery: number("checkpoint-every", true),
    parallel: number("parallel", true),
    only: value("only"),
  };
}

/** The flags of a child process of this script that runs one arm × seed (`--only`) and writes its JSON. */
function childArgs(options: ReferAblationOptions, name: string): string[] {
  return flagArgs({
    data: options.data,
    "eval-data": options.evalData,
    "ref-davis": options.refDavis,
    pseudo: options.pseudo,
    "pseudo-ratio": options.pseudoRatio,
    config: options.config,
    from: options.from,
    out: options.out,
    steps: options.steps,
    seeds: options.seeds.join(","),
    arms: options.arms.join(","),
    split: options.split,
    workers: options.workers,
    "checkpoint-every": options.checkpointEvery,
    only: name,
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  (async () => {
    const options = parseReferAblationArgs(process.argv.slice(2));
    if (options.seeds.length < 3 && options.only === undefined)
      process.stderr.write(`note: ${options.seeds.length} seed(s); the issue asks for at least 3\n`);
    if ((await runReferAblation(options)) === undefined) return;
    process.stdout.write(readFileSync(join(options.out, "summary.md"), "utf8"));
  })().catch((error: unknown) => {
    if (error instanceof VidsegError) {
      process.stderr.write(`bench:refer-ablation: error: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  });
}
