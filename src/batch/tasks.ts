/**
 * The tasks a manifest line can name: each is one of the typed jobs (the same functions as the CLI
 * commands), the options a line may give it, and what the job returns to the queue. A task that this
 * version cannot run is a string saying why; adding it is replacing that string with its entry.
 */
import { join } from "node:path";
import { writeJsonAtomic } from "../core/fs.js";
import { evaluateVisFiles } from "../jobs/evaluate.js";
import { inferRefer } from "../jobs/infer-refer.js";
import { inferVis, type AnimationChoice, type InferVisOptions } from "../jobs/infer-vis.js";
import type { JobProgress } from "../jobs/progress.js";

/**
 * The type of an option: a path (relative to the root, resolved and contained before the job runs), a
 * string, a list of strings, a boolean, a number > 0, an integer ≥ 0, or one of a list of strings.
 */
export type OptionType = "path" | "string" | "strings" | "boolean" | "positive" | "count" | readonly string[];

/** What a task's job is given: paths already resolved inside the root; `out` is a fresh folder. */
export interface TaskRun {
  input: string;
  out: string;
  options: Record<string, unknown>;
  onProgress: (progress: JobProgress) => void;
  onWarning: (message: string) => void;
}

/** A job's summary as stored in the queue: numbers and short strings. */
export type TaskSummary = Record<string, number | string>;

export interface BatchTask {
  /** The options a manifest line may give, by name. */
  options: Readonly<Record<string, OptionType>>;
  /** Options every line must give. */
  required: readonly string[];
  run(job: TaskRun): Promise<TaskSummary>;
}

/** `vidseg infer vis` on one input (a video, a frame folder or a split) into `out`. */
const inferVisTask: BatchTask = {
  options: {
    checkpoint: "path",
    model: ["online", "offline"],
    split: "string",
    images: "path",
    png: "boolean",
    animation: ["auto", "gif", "mp4", "none"],
    strict: "boolean",
    fps: "positive",
    maxFrames: "count",
    scoreThreshold: "positive",
  },
  required: ["checkpoint"],
  async run({ input, out, options, onProgress, onWarning }) {
    const summary = await inferVis({
      ...(options as Omit<InferVisOptions, "input" | "out">),
      input,
      out,
      onProgress,
      onWarning,
    });
    return {
      videos: summary.videos.length,
      frames: summary.frames,
      tracks: summary.videos.reduce((n, video) => n + video.results, 0),
      seconds: summary.seconds,
    };
  },
};

/**
 * `vidseg infer refer` into `out`: with `texts`, the input is a video or a frame folder and each text
 * is followed through it (and the overlay animation written, `animation` as for infer-vis); without, the input is a Ref-YouTube-VOS split and every expression of it is.
 */
const inferReferTask: BatchTask = {
  options: {
    checkpoint: "path",
    texts: "strings",
    animation: ["auto", "gif", "mp4", "none"],
    fps: "positive",
    maxFrames: "count",
  },
  required: ["checkpoint"],
  async run({ input, out, options, onProgress, onWarning }) {
    const { checkpoint, texts, animation, fps, maxFrames } = options as {
      checkpoint: string;
      texts?: string[];
      animation?: AnimationChoice;
      fps?: number;
      maxFrames?: number;
    };
    const summary = await inferRefer({
      checkpoint,
      out,
      ...(texts ? { input, texts } : { split: input }),
      animation,
      fps,
      maxFrames,
      onProgress,
      onWarning,
    });
    return {
      videos: summary.videos,
      expressions: summary.expressions,
      frames: summary.frames,
      seconds: summary.seconds,
    };
  },
};

/**
 * `vidseg eval ytvis|ovis`: input is a results JSON, `options.gt` its annotation file; writes
 * `out/eval.json`, the document `vidseg eval … --json` prints.
 */
const evalTask: BatchTask = {
  options: { gt: "path", metric: ["ytvis", "ovis"], perCategory: "boolean" },
  required: ["gt"],
  async run({ input, out, options }) {
    const started = performance.now();
    const evaluation = await evaluateVisFiles({
      gt: options.gt as string,
      results: input,
      occlusion: options.metric === "ovis",
      perCategory: options.perCategory as boolean | undefined,
    });
    await writeJsonAtomic(
      join(out, "eval.json"),
      {
        stats: evaluation.stats,
        ...(evaluation.perCategory ? { per_category: evaluation.perCategory } : {}),
      },
      2,
    );
    return { AP: evaluation.stats.AP, seconds: (performance.now() - started) / 1000 };
  },
};

/** Task name → its job, or why this version cannot run it. */
export const BATCH_TASKS = {
  "infer-vis": inferVisTask,
  "infer-refer": inferReferTask,
  eval: evalTask,
} as const satisfies Record<string, BatchTask | string>;

export type BatchTaskName = keyof typeof BATCH_TASKS;
export const BATCH_TASK_NAMES = Object.keys(BATCH_TASKS) as BatchTaskName[];
