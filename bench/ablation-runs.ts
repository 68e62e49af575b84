/**
 * What the ablation benchmarks share (bench/distill-ablation.ts, bench/refer-ablation.ts): mean ±
 * spread over seeds, the training seconds of a run from its log, the settings a finished run must
 * match, durations for people, and the loop that runs an ablation's arm × seeds in parallel lanes (child
 * processes: one wasm thread each), skipping those finished before.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { readJson } from "../src/core/fs.js";
import { VidsegError, writeJsonAtomic, type StepLogEntry } from "../src/index.js";
import type { TrainRunSummary } from "../src/jobs/train-run.js";

/** How an arm × seed's training went. */
export interface TrainingRecord {
  steps: number;
  /** Seconds of training steps, from the trainer's log (across resumes). */
  trainSeconds: number;
  /** Wall-clock and CPU seconds (all threads) of the last training call, start-up included. */
  wallSeconds: number;
  cpuSeconds: number;
  /** The step this training call resumed from (0: it ran from the start). */
  resumedFrom: number;
}

/** How fast the scored split streamed. */
export interface InferenceRecord {
  frames: number;
  seconds: number;
  framesPerSecond: number;
}

/**
 * Runs a training job (`train`, given the step callback to pass on) into `runDir`, timing it and logging
 * the loss every tenth of `steps`; returns the job's summary and the record of the training.
 */
export async function timedTraining(
  runDir: string,
  steps: number | undefined,
  log: (line: string) => void,
  train: (onStep: (entry: StepLogEntry) => void) => Promise<TrainRunSummary>,
): Promise<{ summary: TrainRunSummary; record: TrainingRecord }> {
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  let resumedFrom: number | undefined;
  const every = steps === undefined ? 0 : Math.max(1, Math.round(steps / 10));
  const summary = await train((entry) => {
    resumedFrom ??= entry.step - 1;
    if (every > 0 && entry.step % every === 0)
      log(`step ${entry.step}/${steps}, loss ${entry.loss.toFixed(4)}`);
  });
  const cpu = process.cpuUsage(cpuBefore);
  const record = {
    steps: summary.step,
    trainSeconds: await trainingSeconds(runDir),
    wallSeconds: (performance.now() - wallBefore) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    resumedFrom: resumedFrom ?? summary.step,
  };
  return { summary, record };
}

export interface MetricSummary {
  mean: number | null;
  /** Sample standard deviation over the seeds (null with fewer than 2). */
  spread: number | null;
  values: (number | null)[];
}

/** An evaluator's figure, or null where it has none (the AP evaluators write -1 for "undefined"). */
export function knownValue(value: number | null | undefined): number | null {
  return value === undefined || value === null || value < 0 ? null : value;
}

/** Mean and sample standard deviation of the values that are there (null left out). */
export function meanSpread(values: readonly (number | null)[]): MetricSummary {
  const known = values.filter((v): v is number => v !== null);
  if (known.length === 0) return { mean: null, spread: null, values: [...values] };
  const mean = known.reduce((a, b) => a + b, 0) / known.length;
  const spread =
    known.length < 2 ? null : Math.sqrt(known.reduce((a, v) => a + (v - mean) ** 2, 0) / (known.length - 1));
  return { mean, spread, values: [...values] };
}

/** "0.512 ± 0.031", "0.512" with one seed, "–" without a value; `signed`: "+0.012 ± 0.004". */
export function meanSpreadCell({ mean, spread }: MetricSummary, digits = 3, signed = false): string {
  if (mean === null) return "–";
  const value = (signed && mean >= 0 ? "+" : "") + mean.toFixed(digits);
  return spread === null ? value : `${value} ± ${spread.toFixed(digits)}`;
}

/** Seconds of training steps of a run, across resumes: the time of the last step in its log. */
export async function trainingSeconds(runDir: string): Promise<number> {
  const lines = (await readFile(join(runDir, "log.jsonl"), "utf8")).trim().split("\n");
  const steps = lines.map((line) => JSON.parse(line) as { type: string; time?: number });
  return steps.filter((e) => e.type === "train").at(-1)?.time ?? 0;
}

/** A finished run counts only if it was run with these settings. */
export function checkSettings(
  run: { settings?: Record<string, unknown> },
  settings: Record<string, unknown>,
  file: string,
): void {
  for (const [key, value] of Object.entries(settings))
    if (JSON.stringify(run.settings?.[key]) !== JSON.stringify(value))
      throw new VidsegError(
        `was run with ${key} ${JSON.stringify(run.settings?.[key])}, not ${JSON.stringify(value)}: ` +
          "use another --out, or remove it",
        file,
        `settings.${key}`,
      );
}

/** Seconds as "42 s", "12 min" or "3.4 h". */
export function duration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The flags of an ablation command, read with one-line errors naming the flag. */
export function ablationArgs<Arm extends string>(args: readonly string[], armNames: readonly Arm[]) {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return undefined;
    if (i + 1 >= args.length) throw new VidsegError(`--${name} needs a value`);
    return args[i + 1];
  };
  const required = (name: string) => {
    const v = value(name);
    if (v === undefined) throw new VidsegError(`--${name} is required`);
    return v;
  };
  /** A non-negative number (an integer when asked), at most `max`. */
  const number = (name: string, integer: boolean, max = Infinity): number | undefined => {
    const text = value(name);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < 0 || n > max || (integer && !Number.isInteger(n)))
      throw new VidsegError(
        `expected a non-negative ${integer ? "integer" : "number"}${max < Infinity ? ` up to ${max}` : ""}, got "${text}"`,
        undefined,
        `--${name}`,
      );
    return n;
  };
  const seeds = (value("seeds") ?? "1,2,3").split(",").map((s) => {
    const n = Number(s);
    if (s.trim() === "" || !Number.isInteger(n) || n < 0)
      throw new VidsegError(`expected seeds like 1,2,3, got "${value("seeds")}"`, undefined, "--seeds");
    return n;
  });
  const arms = (value("arms") ?? armNames.join(",")).split(",").map((a) => {
    if (!(armNames as readonly string[]).includes(a))
      throw new VidsegError(`expected arms among ${armNames.join(", ")}, got "${a}"`, undefined, "--arms");
    return a as Arm;
  });
  return { value, required, number, seeds, arms };
}

/**
 * Runs `jobs` in `lanes` lanes at once, each lane taking the next job when its last one ends. After a
 * failure no lane takes another job; the first failure is thrown once the running jobs have ended.
 */
export async function inLanes<Job>(
  jobs: readonly Job[],
  lanes: number,
  run: (job: Job) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < jobs.length && failure === undefined) {
      try {
        await run(jobs[next++]);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane));
  if (failure !== undefined) throw failure.error;
}

/** `--name value` for every value that is set, in the record's order. */
export function flagArgs(values: Record<string, string | number | undefined>): string[] {
  return Object.entries(values).flatMap(([name, value]) =>
    value === undefined ? [] : [`--${name}`, String(value)],
  );
}

/**
 * Runs a bench script again in a child Node process (through tsx) with `args`: one job of a lane, on a
 * core of its own. Its progress lines (stderr) are ours; a failure names the job.
 */
export async function runInChild(script: string, args: readonly string[], job: string): Promise<void> {
  const tsx = createRequire(import.meta.url).resolve("tsx/cli");
  const child = spawn(process.execPath, [tsx, script, ...args], { stdio: ["ignore", "ignore", "inherit"] });
  const code = await new Promise<number | null>((done, fail) => {
    child.once("error", fail);
    child.once("exit", done);
  });
  if (code !== 0) throw new VidsegError(`the run of ${job} failed (exit code ${code}); its output is above`);
}

/** One arm × seed of an ablation (seed null: an arm scored once); its figures go to <out>/<name>.json. */
export interface AblationJob<Arm extends string> {
  arm: Arm;
  seed: number | null;
  name: string;
  /** Whether it trains: the ETA counts the jobs that do. */
  trains: boolean;
}

/** How {@link runAblationJobs} runs a bench's jobs. */
export interface AblationRunner<Arm extends string, Run> {
  out: string;
  /** What a run finished before must have been run with (per job where some settings matter to some arms only). */
  settings: Record<string, unknown> | ((job: AblationJob<Arm>) => Record<string, unknown>);
  /** Jobs at once (`--parallel`, default 1); with more than one each runs in a child process: `script`
   * with `childArgs(name)`, which must end in `--only <name>`. */
  parallel?: number;
  script: string;
  childArgs: (name: string) => string[];
  /** Runs one job in this process (`tag`: its place in the list, for the log). */
  runHere: (job: AblationJob<Arm>, tag: string) => Promise<Run>;
  /** A run taken from elsewhere instead of running it (an earlier ablation's), if there is one. */
  earlier?: (job: AblationJob<Arm>, tag: string) => Promise<Run | undefined>;
  /** What the arm is, and the figures of a finished run, for the log. */
  what: (arm: Arm) => string;
  figures: (run: Run) => string;
  log: (line: string) => void;
}

/**
 * The loop both ablation benches run. A job whose JSON is in `out` finished before: it is read back
 * (its settings checked) and skipped; one that `earlier` gives is taken; the rest run `lanes` at a time,
 * each writing its JSON as soon as it is done, with the elapsed time and an ETA in the log. With `only`
 * (a job's name: what a lane's child process is given) that one job runs here and nothing else.
 * Returns the runs of every job, in the order they were read or finished.
 */
export async function runAblationJobs<Arm extends string, Run extends { settings?: Record<string, unknown> }>(
  jobs: readonly AblationJob<Arm>[],
  runner: AblationRunner<Arm, Run>,
  only?: string,
): Promise<Run[]> {
  const { out, log } = runner;
  const lanes = Math.max(1, runner.parallel ?? 1);
  const fileOf = (name: string) => join(out, `${name}.json`);
  if (only !== undefined) {
    const job = jobs.find((j) => j.name === only);
    if (job === undefined)
      throw new VidsegError(`no job ${only} among the arms and seeds`, undefined, "--only");
    await writeJsonAtomic(fileOf(only), await runner.runHere(job, only));
    return [];
  }
  const runs: Run[] = [];
  const pending: { job: AblationJob<Arm>; tag: string }[] = [];
  for (const [k, job] of jobs.entries()) {
    const file = fileOf(job.name);
    const tag = `[${k + 1}/${jobs.length}] ${job.name}`;
    if (existsSync(file)) {
      const done = (await readJson(file)) as Run;
      checkSettings(
        done,
        typeof runner.settings === "function" ? runner.settings(job) : runner.settings,
        file,
      );
      runs.push(done);
      log(`${tag}: finished before, skipped (${file})`);
      continue;
    }
    const taken = await runner.earlier?.(job, tag);
    if (taken !== undefined) runs.push(taken);
    else pending.push({ job, tag });
  }

  const started = performance.now();
  const spent: number[] = []; // seconds of the training jobs run now, for the ETA
  let taking = 0;
  await inLanes(pending, lanes, async ({ job, tag }) => {
    const left = pending.slice(taking++).filter((p) => p.job.trains).length;
    const perJob = spent.length > 0 ? spent.reduce((a, b) => a + b, 0) / spent.length : undefined;
    log(
      `${tag}: ${runner.what(job.arm)}; elapsed ${duration((performance.now() - started) / 1000)}` +
        (perJob === undefined ? "" : `, ETA ${duration((perJob * left) / lanes)} for ${left} training runs`),
    );
    const jobStart = performance.now();
    const file = fileOf(job.name);
    if (lanes > 1) await runInChild(runner.script, runner.childArgs(job.name), job.name);
    else await writeJsonAtomic(file, await runner.runHere(job, tag));
    const run = (await readJson(file)) as Run;
    runs.push(run);
    if (job.trains) spent.push((performance.now() - jobStart) / 1000);
    log(`${tag}: ${runner.figures(run)} → ${file}`);
  });
  return runs;
}
