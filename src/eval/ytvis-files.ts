/**
 * YouTube-VIS / OVIS evaluation of a GT file and a results file, on the machine's cores: what
 * `vidseg eval ytvis|ovis` runs.
 *
 * The main thread reads the files and checks their structure; the videos are then dealt into shards (by
 * ascending id, in turn), whose masks go to worker threads as `ShardJob`s (started while the files are
 * read); every thread checks, decodes and intersects the masks of its shard (the bulk of the work), and
 * the main thread matches, accumulates and summarises in the official order. The numbers are those of
 * `evaluateYtvis`, bit for bit, and a bad file gets the error of the sequential readers: on any problem
 * the files are checked again in file order, so that the first one is reported.
 */
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { VidsegError } from "../core/errors.js";
import { readJson } from "../core/fs.js";
import { validateResults, validateYtvis } from "../formats/ytvis.js";
import { runShard, type ShardJob, type ShardOutput } from "./ytvis-shard.js";
import { finishEvaluation, planEvaluation, shardJobs, type YtvisEvaluation } from "./ytvis.js";

export interface YtvisFilesOptions {
  gtFile: string;
  resultsFile: string;
  /** OVIS: 18 stats with the occlusion ranges. */
  occlusion?: boolean;
  perCategory?: boolean;
  /** Reject results whose category is not in the GT (by default they are dropped, see `droppedResults`). */
  strict?: boolean;
  /**
   * Threads to use. Default: every core up to `MAX_THREADS` for results of `PARALLEL_MIN_BYTES` or more
   * on a machine that is not already busy, else 1 (see `defaultThreads`).
   */
  threads?: number;
}

export const MAX_THREADS = 4;

/**
 * tsx's ESM loader API, for the shard threads when running from the TypeScript sources (tests, tsx; a
 * dev dependency). Found through tsx's own export map: `import.meta.resolve` is missing under vitest.
 */
function tsxApi(): string {
  const packageFile = createRequire(import.meta.url).resolve("tsx/package.json");
  const { exports } = JSON.parse(readFileSync(packageFile, "utf8")) as {
    exports: Record<string, { import: { default: string } }>;
  };
  return pathToFileURL(join(dirname(packageFile), exports["./esm/api"].import.default)).href;
}
export const PARALLEL_MIN_BYTES = 8_000_000;

/** What a shard thread answers: its output, or the message of the VidsegError it met. */
export type ShardReply = { output: ShardOutput } | { error: string };

export async function evaluateYtvisFiles(options: YtvisFilesOptions): Promise<YtvisEvaluation> {
  const { gtFile, resultsFile, strict } = options;
  const threads = Math.max(1, Math.floor(options.threads ?? defaultThreads(resultsFile)));
  const evalOptions = { occlusion: options.occlusion, perCategory: options.perCategory, gtFile, resultsFile };
  // Started first, so that they are ready when the files are read.
  const workers = Array.from({ length: threads - 1 }, () => startWorker());
  try {
    const [gtJson, resultsJson] = await Promise.all([readJson(gtFile), readJson(resultsFile)]);
    try {
      const gt = validateYtvis(gtJson, gtFile, { masks: false });
      const results = validateResults(resultsJson, resultsFile, gt, { strict, masks: false });
      const plan = planEvaluation(gt, results, evalOptions);
      const jobs = shardJobs(plan, threads, true);
      const replies = workers.map((worker, k) => worker.run(jobs[k + 1]));
      const own = runShard(jobs[0]);
      const outputs = [own, ...(await Promise.all(replies))];
      return finishEvaluation(plan, outputs, gt, evalOptions);
    } catch (error) {
      // A shard reports the first problem of its videos: report the first of the files, as the readers do.
      if (error instanceof VidsegError) {
        const gt = validateYtvis(gtJson, gtFile);
        validateResults(resultsJson, resultsFile, gt, { strict });
      }
      throw error;
    }
  } finally {
    for (const worker of workers) void worker.thread.terminate();
  }
}

/**
 * One thread per core (up to `MAX_THREADS`) for large results, when the machine has cores to spare: on a
 * machine already busy (load average at or above the cores), a second thread only adds its start and the
 * copy of its masks (measured: 3.4 s against 3.0 s on 2 cores at load 12).
 */
function defaultThreads(resultsFile: string): number {
  let size = 0;
  try {
    size = statSync(resultsFile).size;
  } catch {
    return 1; // reading it will say what is wrong
  }
  const cores = availableParallelism();
  if (size < PARALLEL_MIN_BYTES || loadavg()[0] >= cores) return 1;
  return Math.min(cores, MAX_THREADS);
}

/** A shard thread: `run` sends it a job and settles with its output. */
function startWorker(): { thread: Worker; run: (job: ShardJob) => Promise<ShardOutput> } {
  const thread = import.meta.url.endsWith(".ts")
    ? // From the sources (tests, tsx), the worker is TypeScript: load it through tsx's loader.
      new Worker(
        `import(${JSON.stringify(tsxApi())}).then(({ register }) => { register(); ` +
          `return import(${JSON.stringify(new URL("./ytvis-worker.ts", import.meta.url).href)}); })`,
        { eval: true },
      )
    : new Worker(new URL("./ytvis-worker.js", import.meta.url));
  const run = (job: ShardJob) => {
    const output = new Promise<ShardOutput>((resolve, reject) => {
      thread.once("message", (reply: ShardReply) =>
        "output" in reply ? resolve(reply.output) : reject(new VidsegError(reply.error)),
      );
      thread.once("error", reject);
      thread.once("exit", (code) => reject(new Error(`evaluation thread stopped (exit code ${code})`)));
    });
    output.catch(() => {}); // awaited only once the main thread's own shard is done
    thread.postMessage(job);
    return output;
  };
  return { thread, run };
}
