/**
 * YouTube-VIS / OVIS evaluation of a GT file and a results file, on the machine's cores: what
 * `vidseg eval ytvis|ovis` runs.
 *
 * The videos are dealt into shards (by ascending id, in turn). Every thread reads both files; the main
 * thread checks their structure, each thread checks and measures the masks of its shard and computes the
 * IoUs of its (video, category) groups (the bulk of the work: decoding RLE strings), and the main thread
 * then matches, accumulates and summarises in the official order. The numbers are those of
 * `evaluateYtvis`, bit for bit, and a bad file gets the same error as from the sequential readers: on any
 * problem the files are checked again in file order, so that the first one is reported.
 */
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { VidsegError } from "../core/errors.js";
import { readJson } from "../core/fs.js";
import { validateResults, validateYtvis } from "../formats/ytvis.js";
import { evaluateShard, finishEvaluation, type ShardOutput, type YtvisEvaluation } from "./ytvis.js";

export interface YtvisFilesOptions {
  gtFile: string;
  resultsFile: string;
  /** OVIS: 18 stats with the occlusion ranges. */
  occlusion?: boolean;
  perCategory?: boolean;
  /** Reject results whose category is not in the GT (by default they are dropped, see `droppedResults`). */
  strict?: boolean;
  /**
   * Threads to use. Default: every core up to `MAX_THREADS` for results of `PARALLEL_MIN_BYTES` or more,
   * else 1 (a thread costs its start and a second reading of the files).
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

/** What a shard thread is asked to do (its `workerData`). */
export interface ShardJob {
  gtFile: string;
  resultsFile: string;
  occlusion: boolean;
  shard: number;
  shards: number;
}

/** What a shard thread answers: its output, or the message of the VidsegError it met. */
export type ShardReply = { output: ShardOutput } | { error: string };

export async function evaluateYtvisFiles(options: YtvisFilesOptions): Promise<YtvisEvaluation> {
  const { gtFile, resultsFile, strict } = options;
  const threads = Math.max(1, Math.floor(options.threads ?? defaultThreads(resultsFile)));
  const occlusion = options.occlusion ?? false;
  // Started first, so that the threads read the files while this one does.
  const shards = Array.from({ length: threads - 1 }, (_, k) =>
    startShard({ gtFile, resultsFile, occlusion, shard: k + 1, shards: threads }),
  );
  try {
    const [gtJson, resultsJson] = await Promise.all([readJson(gtFile), readJson(resultsFile)]);
    try {
      const gt = validateYtvis(gtJson, gtFile, { masks: false });
      const results = validateResults(resultsJson, resultsFile, gt, { strict, masks: false });
      const own = evaluateShard(
        gt,
        results,
        { occlusion, gtFile, resultsFile, checkMasks: true },
        0,
        threads,
      );
      const outputs = [own, ...(await Promise.all(shards.map((s) => s.output)))];
      return finishEvaluation(gt, results, { ...options, occlusion }, outputs);
    } catch (error) {
      // A shard reports the first problem of its videos: report the first of the files, as the readers do.
      if (error instanceof VidsegError) {
        const gt = validateYtvis(gtJson, gtFile);
        validateResults(resultsJson, resultsFile, gt, { strict });
      }
      throw error;
    }
  } finally {
    for (const shard of shards) void shard.worker.terminate();
  }
}

function defaultThreads(resultsFile: string): number {
  let size = 0;
  try {
    size = statSync(resultsFile).size;
  } catch {
    return 1; // reading it will say what is wrong
  }
  return size >= PARALLEL_MIN_BYTES ? Math.min(availableParallelism(), MAX_THREADS) : 1;
}

/** Starts a shard thread; `output` settles with its answer (and is never left unhandled). */
function startShard(job: ShardJob): { worker: Worker; output: Promise<ShardOutput> } {
  const worker = import.meta.url.endsWith(".ts")
    ? // From the sources (tests, tsx), the worker is TypeScript: load it through tsx's loader.
      new Worker(
        `import(${JSON.stringify(tsxApi())}).then(({ register }) => { register(); ` +
          `return import(${JSON.stringify(new URL("./ytvis-worker.ts", import.meta.url).href)}); })`,
        { eval: true, workerData: job },
      )
    : new Worker(new URL("./ytvis-worker.js", import.meta.url), { workerData: job });
  const output = new Promise<ShardOutput>((resolve, reject) => {
    worker.once("message", (reply: ShardReply) =>
      "output" in reply ? resolve(reply.output) : reject(new VidsegError(reply.error)),
    );
    worker.once("error", reject);
    worker.once("exit", (code) =>
      reject(new Error(`evaluation thread ${job.shard} stopped (exit code ${code})`)),
    );
  });
  output.catch(() => {}); // awaited only once the main thread's own checks pass
  return { worker, output };
}
