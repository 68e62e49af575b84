/**
 * The OOKD ablation (issue 12), every arm through the repository's own jobs (`trainVis`, `inferVis`,
 * `evaluateVisFiles`: what `vidseg train vis`, `infer vis` and `eval ovis` run):
 *
 *   npm run -s bench:distill -- --data <root> --teacher <offline model> --student <online model>
 *       [--steps N] [--seeds 1,2,3] [--out runs/ookd] [--config bench/configs/distill-ovis.json]
 *       [--arms A,B,C,D,E,S,T] [--kd-class-kl 2] [--fair-aug 1] [--eval-data <root>] [--split valid]
 *       [--workers n] [--checkpoint-every 100] [--parallel n] [--trained <earlier out>]
 *       [--baseline <earlier out>]
 *
 * <root> holds the train split (what the students train on, and the category frequencies of the rare
 * and frequent halves); the scored split (`--split`, default valid) is in `--eval-data` (default <root>)
 * and must come from a seed not used in training or tuning. Every student arm fine-tunes the same `--student` for the same steps
 * of clip training with the teacher running on the same clips; only the distillation settings differ:
 *
 *   A  --kd-weight 0                               clip training, no KD (the teacher runs, unused)
 *   B  --kd-filter none --kd-class-kl T            KD on all queries (Hungarian on the embeddings)
 *   C  --kd-filter qfa --kd-class-kl T             KD with QFA
 *   D  --kd-filter qfa --kd-class-kl T --fair-aug α  + class-fair augmentation
 *   E  --kd-filter qfa --kd-class-kl 0 --fair-aug α  D without the class KL
 *   S  the starting student (`--student`), scored only: what every arm fine-tunes
 *   T  the teacher, scored only
 *
 * Each arm × seed trains into <out>/<arm>-s<seed>/ (no validation during training: the scored split is
 * looked at once, at the end), streams the scored split, and is evaluated with the OVIS stats (YouTube-VIS
 * when the GT has no occlusion labels), identity switches with GT association and the AP of the rare and
 * frequent halves of the categories. Its figures go to <out>/<arm>-s<seed>.json as soon as it is done:
 * a killed run, started again with the same flags, skips the finished arm × seeds and resumes a
 * training from its last checkpoint. Then <out>/summary.json and <out>/summary.md: per arm the mean ±
 * sample standard deviation over the seeds, training wall and CPU time, inference frames/s, and the gap
 * closure (AP_D − AP_A) / (AP_T − AP_A). `--parallel n` runs n arm × seeds at once, each in a child
 * process of this script (one per core: a clip step of one clip uses one thread). `--trained <dir>`
 * scores the students an earlier ablation trained in <dir> instead of training them, e.g. on long
 * videos: `--eval-data <long root> --trained runs/ookd --out runs/ookd-long`. `--baseline <dir>` takes
 * arms A, S and T from an earlier ablation in <dir> when it ran them on the same data, teacher, student
 * and steps: none depends on the distillation settings (A trains with λ = 0, S and T are scored only),
 * so an ablation of another λ trains only B–E:
 * `--config <λ = 10> --baseline runs/ookd --out runs/ookd-kd10`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readJson } from "../src/core/fs.js";
import { loadVisConfig } from "../src/models/config-file.js";
import {
  ablationArgs,
  type AblationJob,
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
import {
  evaluateVisFiles,
  inferVis,
  readYtvis,
  resolveVisSplit,
  trainVis,
  VidsegError,
  writeFileAtomic,
  writeJsonAtomic,
  type DistillOverrides,
  type VisEvaluation,
} from "../src/index.js";

export { meanSpread, type MetricSummary };

export const ARM_NAMES = ["A", "B", "C", "D", "E", "S", "T"] as const;
export type ArmName = (typeof ARM_NAMES)[number];
/** The arms scored as they are, once (no seed): the starting student and the teacher. */
type ScoredArm = "S" | "T";
const isScored = (arm: ArmName): arm is ScoredArm => arm === "S" || arm === "T";

/** The figures of the table, in its order. */
export const METRICS = [
  "AP",
  "AP50",
  "AP75",
  "AP_light",
  "AP_medium",
  "AP_heavy",
  "AP_rare",
  "AP_frequent",
  "idSwitchesPerTrack",
  "gtFramesMatched",
] as const;
export type MetricName = (typeof METRICS)[number];

export interface AblationOptions {
  /** Root with the train split (and, without `evalData`, the scored split). */
  data: string;
  /** Root with the scored split (default `data`). */
  evalData?: string;
  /** The offline teacher's model file. */
  teacher: string;
  /** The online model every student arm starts from. */
  student: string;
  out: string;
  /** Clip steps per student arm (default: the config's). */
  steps?: number;
  seeds: number[];
  /** Preset name or config file of the students' training. */
  config: string;
  arms: ArmName[];
  /** Temperature of the class KL of arms B, C, D. Default 2. */
  kdClassKl?: number;
  /** α of the class-fair augmentation of arms D, E. Default 1. */
  fairAug?: number;
  /**
   * The <out> folder of an earlier ablation: its students are scored again (e.g. on long videos,
   * `evalData`), none is trained.
   */
  trained?: string;
  /** The <out> folder of an earlier ablation whose arms A, S and T this one takes (see checkBaseline). */
  baseline?: string;
  /** Scored split. Default "valid". */
  split?: string;
  workers?: number;
  checkpointEvery?: number;
  /** Arm × seeds run at once, each in a child process (default 1: one after the other, in this one). */
  parallel?: number;
  /** Run this one arm × seed (e.g. "C-s2") and write its JSON, no summary: what a lane's child does. */
  only?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** What one finished arm × seed wrote (<out>/<arm>-s<seed>.json; the teacher: <out>/T.json). */
export interface ArmRun {
  arm: ArmName;
  seed: number | null;
  what: string;
  /** The settings the run depends on: a rerun with other settings is refused. */
  settings: Record<string, unknown>;
  /** Null for the teacher. */
  train: TrainingRecord | null;
  inference: InferenceRecord;
  evaluator: "ovis" | "ytvis";
  metrics: Record<MetricName, number | null>;
  evaluation: Pick<VisEvaluation, "stats" | "identity" | "categoryHalves">;
}

export interface ArmSummary {
  what: string;
  seeds: (number | null)[];
  metrics: Record<MetricName, MetricSummary>;
  trainWallSeconds: MetricSummary;
  trainCpuSeconds: MetricSummary;
  inferenceFramesPerSecond: MetricSummary;
}

export interface AblationSummary {
  settings: Record<string, unknown>;
  arms: Partial<Record<ArmName, ArmSummary>>;
  /** (AP_D − AP_A) / (AP_T − AP_A), from the mean APs and seed by seed; null where an arm is missing. */
  gapClosure: { fromMeans: number | null; perSeed: { seed: number; value: number }[] };
  /** The runs taken from an earlier ablation (`--baseline`), if any. */
  baseline?: { folder: string; runs: string[] };
}

const WHAT: Record<ArmName, string> = {
  A: "clip training, no KD",
  B: "+ KD, no filtering",
  C: "+ KD with QFA",
  D: "+ QFA + class-fair augmentation",
  E: "D without the class KL",
  S: "the starting student, not fine-tuned",
  T: "the teacher",
};

/** The distillation settings of a student arm. */
export function armFlags(arm: Exclude<ArmName, ScoredArm>, kdClassKl = 2, fairAug = 1): DistillOverrides {
  switch (arm) {
    case "A":
      return { kdWeight: 0 };
    case "B":
      return { kdFilter: "none", kdClassKl };
    case "C":
      return { kdFilter: "qfa", kdClassKl };
    case "D":
      return { kdFilter: "qfa", kdClassKl, fairAug };
    case "E":
      return { kdFilter: "qfa", kdClassKl: 0, fairAug };
  }
}

/** Runs what is not finished yet, then writes the summary. */
export async function runDistillAblation(options: AblationOptions): Promise<AblationSummary | undefined> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const split = options.split ?? "valid";
  const evalData = options.evalData ?? options.data;
  const scored = resolveVisSplit(evalData, split);
  const trainGt = resolveVisSplit(options.data, "train").annotationFile;
  for (const [file, flag] of [
    [options.teacher, "--teacher"],
    [options.student, "--student"],
  ])
    if (!existsSync(file)) throw new VidsegError("model file not found", file, flag);
  const gt = await readYtvis(scored.annotationFile);
  const occlusion = gt.annotations.length > 0 && gt.annotations.every((a) => a.occlusion !== undefined);
  const settings = {
    data: resolve(options.data),
    evalData: resolve(evalData),
    split,
    teacher: resolve(options.teacher),
    student: resolve(options.student),
    config: options.config,
    steps: options.steps ?? null,
    kdClassKl: options.kdClassKl ?? 2,
    fairAug: options.fairAug ?? 1,
    trained: options.trained === undefined ? null : resolve(options.trained),
  };

  // The scored arms (S, T) first, then seed by seed every student arm: a partial run already compares them.
  const students = options.arms.filter((arm) => !isScored(arm));
  const context = { ...options, evalData, split, occlusion, trainGt, settings, log };
  const jobs: AblationJob<ArmName>[] = [
    ...options.arms.filter(isScored).map((arm) => ({ arm, seed: null, name: arm, trains: false })),
    ...options.seeds.flatMap((seed) =>
      students.map((arm) => ({ arm, seed, name: `${arm}-s${seed}`, trains: true })),
    ),
  ];
  const taken: string[] = []; // from --baseline
  const runs = await runAblationJobs(
    jobs,
    {
      out: options.out,
      settings,
      parallel: options.parallel,
      script: fileURLToPath(import.meta.url),
      childArgs: (name) => childArgs(options, name),
      runHere: ({ arm, seed }, tag) => runArm(arm, seed, { ...context, tag }),
      earlier: async ({ arm, name }, tag) => {
        const earlier = options.baseline === undefined ? undefined : join(options.baseline, `${name}.json`);
        if (earlier === undefined || !(arm === "A" || isScored(arm)) || !existsSync(earlier))
          return undefined;
        const done = (await readJson(earlier)) as ArmRun;
        await checkBaseline(arm, done, settings, earlier);
        taken.push(name);
        log(`${tag}: taken from the baseline (${earlier})`);
        return done;
      },
      what: (arm) => WHAT[arm],
      figures: ({ metrics: m }) =>
        `AP ${fixed(m.AP)}, AP_rare ${fixed(m.AP_rare)}, AP_frequent ${fixed(m.AP_frequent)}, ` +
        `ID switches per track ${fixed(m.idSwitchesPerTrack)}`,
      log,
    },
    options.only,
  );
  if (options.only !== undefined) return undefined;

  const summary = summarise(runs, settings);
  if (taken.length > 0) summary.baseline = { folder: resolve(options.baseline!), runs: taken };
  await writeJsonAtomic(join(options.out, "summary.json"), summary);
  await writeFileAtomic(join(options.out, "summary.md"), markdownTable(summary, options.seeds));
  log(`summary: ${join(options.out, "summary.json")}, ${join(options.out, "summary.md")}`);
  return summary;
}

/**
 * Arms A, S and T of an earlier ablation count for this one if they would have run the same: S and T
 * scored the same student or teacher on the same split; A, besides, trained from the same student for
 * the same steps with a config that differs at most in `distill.kdWeight`, which arm A sets to 0 (the
 * teacher runs, unused).
 */
async function checkBaseline(
  arm: "A" | ScoredArm,
  run: ArmRun,
  settings: Record<string, unknown>,
  file: string,
): Promise<void> {
  const same = {
    S: ["data", "evalData", "split", "student"],
    T: ["data", "evalData", "split", "teacher"],
    A: ["data", "evalData", "split", "teacher", "student", "steps", "trained"],
  }[arm];
  checkSettings(run, Object.fromEntries(same.map((key) => [key, settings[key]])), file);
  if (isScored(arm)) return;
  const [mine, theirs] = await Promise.all(
    [settings.config, run.settings.config].map((config) => loadVisConfig(String(config))),
  );
  mine.distill.kdWeight = theirs.distill.kdWeight = 0;
  if (JSON.stringify(mine) !== JSON.stringify(theirs))
    throw new VidsegError(
      `was trained with config ${String(run.settings.config)}, which differs from ${String(settings.config)} ` +
        "in more than distill.kdWeight: arm A would not be the same; leave out --baseline",
      file,
      "settings.config",
    );
}

/** The flags of a child process of this script that runs one arm × seed (`--only`) and writes its JSON. */
function childArgs(options: AblationOptions, name: string): string[] {
  return flagArgs({
    data: options.data,
    "eval-data": options.evalData,
    teacher: options.teacher,
    student: options.student,
    out: options.out,
    steps: options.steps,
    seeds: options.seeds.join(","),
    config: options.config,
    arms: options.arms.join(","),
    "kd-class-kl": options.kdClassKl,
    "fair-aug": options.fairAug,
    split: options.split,
    trained: options.trained,
    workers: options.workers,
    "checkpoint-every": options.checkpointEvery,
    only: name,
  });
}

interface RunContext extends AblationOptions {
  evalData: string;
  split: string;
  occlusion: boolean;
  trainGt: string;
  settings: Record<string, unknown>;
  log: (line: string) => void;
  tag: string;
}

/** Trains (students), streams the scored split and evaluates one arm × seed. */
async function runArm(arm: ArmName, seed: number | null, context: RunContext): Promise<ArmRun> {
  const runDir = join(context.out, seed === null ? arm : `${arm}-s${seed}`);
  let train: ArmRun["train"] = null;
  let checkpoint = arm === "T" ? context.teacher : context.student;
  if (isScored(arm)) {
    // Scored as it is.
  } else if (context.trained !== undefined) {
    // Scored only: the student this arm × seed trained in an earlier ablation.
    checkpoint = join(context.trained, seed === null ? arm : `${arm}-s${seed}`, "model.safetensors");
    if (!existsSync(checkpoint)) throw new VidsegError("model file not found", checkpoint, "--trained");
  } else {
    const trained = await timedTraining(
      runDir,
      context.steps,
      (line) => context.log(`${context.tag}: ${line}`),
      (onStep) =>
        trainVis({
          model: "online",
          data: context.data,
          config: context.config,
          out: runDir,
          resume: true, // a fresh folder starts from step 0
          seed: seed!,
          steps: context.steps,
          init: context.student,
          distillFrom: context.teacher,
          distill: armFlags(arm, context.kdClassKl, context.fairAug),
          valSplit: false,
          checkpointEvery: context.checkpointEvery ?? 100,
          workers: context.workers,
          progress: false,
          onStep,
        }),
    );
    train = trained.record;
    checkpoint = trained.summary.model ?? trained.summary.checkpoint;
  }
  const inferred = await inferVis({
    checkpoint,
    model: arm === "T" ? "offline" : "online",
    input: context.evalData,
    split: context.split,
    out: join(runDir, context.split),
    animation: "none",
  });
  const evaluation = await evaluateVisFiles({
    gt: resolveVisSplit(context.evalData, context.split).annotationFile,
    results: inferred.results,
    occlusion: context.occlusion,
    identity: true,
    trainGt: context.trainGt,
  });
  const stat = (name: string) => evaluation.stats[name] ?? null;
  return {
    arm,
    seed,
    what: WHAT[arm],
    settings: context.settings,
    train,
    inference: {
      frames: inferred.frames,
      seconds: inferred.seconds,
      framesPerSecond: inferred.framesPerSecond,
    },
    evaluator: context.occlusion ? "ovis" : "ytvis",
    metrics: {
      AP: stat("AP"),
      AP50: stat("AP50"),
      AP75: stat("AP75"),
      AP_light: stat("AP_light"),
      AP_medium: stat("AP_medium"),
      AP_heavy: stat("AP_heavy"),
      AP_rare: evaluation.categoryHalves!.rare.AP,
      AP_frequent: evaluation.categoryHalves!.frequent.AP,
      idSwitchesPerTrack: evaluation.identity!.switchesPerTrack,
      gtFramesMatched: evaluation.identity!.matchedFraction,
    },
    evaluation: {
      stats: evaluation.stats,
      identity: evaluation.identity,
      categoryHalves: evaluation.categoryHalves,
    },
  };
}

/** Per arm: mean ± spread of every figure over the seeds; and the gap closure. */
export function summarise(runs: readonly ArmRun[], settings: Record<string, unknown>): AblationSummary {
  const arms: AblationSummary["arms"] = {};
  for (const arm of ARM_NAMES) {
    const mine = runs.filter((r) => r.arm === arm).sort((a, b) => (a.seed ?? 0) - (b.seed ?? 0));
    if (mine.length === 0) continue;
    arms[arm] = {
      what: WHAT[arm],
      seeds: mine.map((r) => r.seed),
      metrics: Object.fromEntries(
        METRICS.map((name) => [name, meanSpread(mine.map((r) => knownValue(r.metrics[name])))]),
      ) as Record<MetricName, MetricSummary>,
      trainWallSeconds: meanSpread(mine.map((r) => r.train?.wallSeconds ?? null)),
      trainCpuSeconds: meanSpread(mine.map((r) => r.train?.cpuSeconds ?? null)),
      inferenceFramesPerSecond: meanSpread(mine.map((r) => r.inference.framesPerSecond)),
    };
  }
  // Only a teacher ahead of arm A leaves a gap to close: with AP_T ≤ AP_A the ratio means nothing.
  const closure = (d: number | null, a: number | null, t: number | null) =>
    d === null || a === null || t === null || t <= a ? null : (d - a) / (t - a);
  const teacherAp = arms.T?.metrics.AP.mean ?? null;
  const perSeed = runs
    .filter((r) => r.arm === "D")
    .flatMap((d) => {
      const a = runs.find((r) => r.arm === "A" && r.seed === d.seed);
      const value = a ? closure(d.metrics.AP, a.metrics.AP, teacherAp) : null;
      return value === null ? [] : [{ seed: d.seed!, value }];
    })
    .sort((x, y) => x.seed - y.seed);
  return {
    settings,
    arms,
    gapClosure: {
      fromMeans: closure(arms.D?.metrics.AP.mean ?? null, arms.A?.metrics.AP.mean ?? null, teacherAp),
      perSeed,
    },
  };
}

const COLUMNS: [MetricName, string][] = [
  ["AP", "AP"],
  ["AP50", "AP50"],
  ["AP75", "AP75"],
  ["AP_light", "AP_light"],
  ["AP_medium", "AP_medium"],
  ["AP_heavy", "AP_heavy"],
  ["AP_rare", "AP_rare"],
  ["AP_frequent", "AP_freq"],
  ["idSwitchesPerTrack", "IDSW/track"],
];

/** The table: mean ± sample standard deviation over the seeds; training time per run. */
export function markdownTable(summary: AblationSummary, seeds: readonly number[]): string {
  const cell = meanSpreadCell;
  const lines = [
    `| arm | what | seeds | ${COLUMNS.map(([, title]) => title).join(" | ")} | train wall | train CPU | infer frames/s |`,
    `|---|---|---|${COLUMNS.map(() => "---|").join("")}---|---|---|`,
  ];
  for (const [arm, s] of Object.entries(summary.arms)) {
    const time = (m: MetricSummary) => (m.mean === null ? "–" : duration(m.mean));
    lines.push(
      `| ${arm} | ${s.what} | ${s.seeds.every((x) => x === null) ? "–" : s.seeds.join(", ")} | ` +
        `${COLUMNS.map(([name]) => cell(s.metrics[name])).join(" | ")} | ${time(s.trainWallSeconds)} | ` +
        `${time(s.trainCpuSeconds)} | ${cell(s.inferenceFramesPerSecond, 1)} |`,
    );
  }
  const { fromMeans, perSeed } = summary.gapClosure;
  const teacherAp = summary.arms.T?.metrics.AP.mean;
  const studentAp = summary.arms.A?.metrics.AP.mean;
  const noGap =
    teacherAp != null && studentAp != null && teacherAp <= studentAp
      ? ` (the teacher does not lead arm A: AP_T − AP_A = ${(teacherAp - studentAp).toFixed(3)})`
      : "";
  lines.push(
    "",
    `Mean ± sample standard deviation over seeds ${seeds.join(", ")}. Gap closure (AP_D − AP_A) / (AP_T − AP_A): ` +
      (fromMeans === null ? `n/a${noGap}` : fromMeans.toFixed(3)) +
      " from the mean APs" +
      (perSeed.length > 0
        ? `; seed by seed ${perSeed.map(({ seed, value }) => `s${seed} ${value.toFixed(3)}`).join(", ")}`
        : "") +
      "." +
      (summary.baseline === undefined
        ? ""
        : ` Taken from the earlier ablation in ${summary.baseline.folder} (\`--baseline\`): ` +
          `${summary.baseline.runs.join(", ")}.`),
    "",
  );
  return lines.join("\n");
}

function fixed(value: number | null): string {
  return value === null ? "–" : value.toFixed(3);
}

// The command ----------------------------------------------------------------------------------------

function parseArgs(args: readonly string[]): AblationOptions {
  const { value, required, number, seeds, arms } = ablationArgs(args, ARM_NAMES);
  return {
    data: required("data"),
    teacher: required("teacher"),
    student: required("student"),
    out: value("out") ?? join("runs", "ookd"),
    steps: number("steps", true),
    seeds,
    config: value("config") ?? join("bench", "configs", "distill-ovis.json"),
    arms,
    kdClassKl: number("kd-class-kl", false),
    fairAug: number("fair-aug", false),
    evalData: value("eval-data"),
    trained: value("trained"),
    baseline: value("baseline"),
    split: value("split"),
    workers: number("workers", true),
    checkpointEvery: number("checkpoint-every", true),
    parallel: number("parallel", true),
    only: value("only"),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  (async () => {
    const options = parseArgs(process.argv.slice(2));
    if (options.seeds.length < 3 && options.only === undefined)
      process.stderr.write(`note: ${options.seeds.length} seed(s); the issue asks for at least 3\n`);
    if ((await runDistillAblation(options)) === undefined) return;
    process.stdout.write(readFileSync(join(options.out, "summary.md"), "utf8"));
  })().catch((error: unknown) => {
    if (error instanceof VidsegError) {
      process.stderr.write(`bench:distill: error: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  });
}
