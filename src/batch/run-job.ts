/**
 * One batch job, as a worker's child process runs it: the line is checked again against this worker's
 * root (the queue's content is not trusted), the task's job writes into a fresh temporary folder next
 * to the output folder, and that folder is renamed into place only when the job has completed. A job
 * that is killed or retried therefore never leaves a mixture of two attempts' files: the output folder
 * holds one complete attempt or nothing.
 */
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { VidsegError } from "../core/errors.js";
import { syncFolder } from "../core/fs.js";
import type { JobProgress } from "../jobs/progress.js";
import { checkEntry, type BatchJobData } from "./manifest.js";
import { BATCH_TASKS, type BatchTask, type TaskSummary } from "./tasks.js";

export interface BatchJobResult {
  id: string;
  task: string;
  /** The output folder as the manifest names it. */
  out: string;
  /** The task's own summary (frames, tracks, AP, its seconds, …). */
  summary: TaskSummary;
  /** Wall time of the whole job in its process: checks, the task, the rename into place. */
  seconds: number;
  /** The worker that ran it: host name and process id. */
  worker: string;
}

export interface RunBatchJobOptions {
  /** The folder the manifest's paths are relative to. */
  root: string;
  onProgress?: (progress: JobProgress) => void;
  onWarning?: (message: string) => void;
  /** The worker's process id, when the job runs in a child of it (default: this process). */
  workerPid?: number;
}

/** Prefix of the temporary folders of an output folder `out`: hidden siblings of it. */
const partialPrefix = (out: string) => `.${basename(out)}.partial-`;

/**
 * Moves the completed folder `partial` to `out`. An earlier attempt's complete folder there is moved
 * aside first and removed after, so `out` is never a mixture; temporary folders that killed attempts
 * left behind are removed.
 */
async function promote(partial: string, out: string): Promise<void> {
  const parent = dirname(out);
  if (existsSync(out)) {
    const old = join(parent, `.${basename(out)}.old-${randomBytes(6).toString("hex")}`);
    await rename(out, old);
    await rename(partial, out);
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(partial, out);
  }
  await syncFolder(parent);
  const prefix = partialPrefix(out);
  for (const name of await readdir(parent))
    if (name.startsWith(prefix)) await rm(join(parent, name), { recursive: true, force: true });
}

/** Runs one queued job (see the module comment). Bad input throws a VidsegError. */
export async function runBatchJob(data: BatchJobData, options: RunBatchJobOptions): Promise<BatchJobResult> {
  const started = performance.now();
  if (data.problem !== undefined) throw new VidsegError(data.problem);
  const {
    entry,
    input,
    out,
    options: taskOptions,
  } = checkEntry(data.entry, options.root, data.manifest, data.line);
  const task = BATCH_TASKS[entry.task] as BatchTask;
  if (existsSync(out) && !statSync(out).isDirectory())
    throw new VidsegError("output exists and is not a folder", out);
  const partial = join(dirname(out), `${partialPrefix(out)}${randomBytes(6).toString("hex")}`);
  await mkdir(partial, { recursive: true });
  let summary: TaskSummary;
  try {
    summary = await task.run({
      input,
      out: partial,
      options: taskOptions,
      onProgress: options.onProgress ?? (() => {}),
      onWarning: options.onWarning ?? (() => {}),
    });
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  await promote(partial, out);
  return {
    id: entry.id,
    task: entry.task,
    out: entry.out,
    summary,
    seconds: (performance.now() - started) / 1000,
    worker: `${hostname()}:${options.workerPid ?? process.pid}`,
  };
}
