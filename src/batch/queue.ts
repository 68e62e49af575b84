/**
 * The queue side of a batch: submitting a manifest (idempotent by job id) and reading a queue's
 * status. The queue is BullMQ's, on Redis; the workers are in worker.ts.
 */
import { resolve } from "node:path";
import { Queue, type Job, type JobsOptions } from "bullmq";
import type { Redis } from "ioredis";
import { VidsegError } from "../core/errors.js";
import { readManifest, type BatchJobData } from "./manifest.js";
import { connectRedis, redisUrl } from "./redis.js";
import type { BatchJobResult } from "./run-job.js";

export interface BatchQueueOptions {
  /** Queue name: letters, digits, ".", "_" and "-". */
  queue: string;
  /** Redis URL (default: VIDSEG_REDIS_URL, else redis://127.0.0.1:6379). */
  redis?: string;
}

export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_BACKOFF_MS = 2000;

const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkQueueName(name: string): void {
  if (!QUEUE_NAME.test(name))
    throw new VidsegError(
      `expected 1–100 letters, digits, ".", "_" or "-", got ${JSON.stringify(name)}`,
      undefined,
      "--queue",
    );
}

/** Opens the queue; `use` runs with it, and the connection is closed after. */
export async function withQueue<T>(
  options: BatchQueueOptions,
  use: (queue: Queue<BatchJobData, BatchJobResult>) => Promise<T>,
): Promise<T> {
  checkQueueName(options.queue);
  const connection: Redis = await connectRedis(redisUrl(options.redis));
  const queue = new Queue<BatchJobData, BatchJobResult>(options.queue, { connection });
  queue.on("error", () => {}); // the calls below reject with the same error
  try {
    return await use(queue);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

export interface SubmitOptions extends BatchQueueOptions {
  manifest: string;
  /** The folder the manifest's paths are relative to (default: the current folder). */
  root?: string;
  /** Attempts per job for failures other than bad input (default 3). */
  attempts?: number;
  /** First retry delay; it doubles at each retry (default 2000 ms). */
  backoffMs?: number;
  /** Run the manifest's jobs that failed before again. */
  retryFailed?: boolean;
}

export interface SubmitSummary {
  queue: string;
  /** Jobs (non-blank lines) in the manifest. */
  jobs: number;
  /** Jobs newly queued. */
  added: number;
  /** Already completed: not run again. */
  completed: number;
  /** Already waiting, running or waiting to be retried. */
  queued: number;
  /** Failed before and left so (see retryFailed). */
  failed: number;
  /** Failed before and queued again (with retryFailed). */
  retried: number;
  /** Lines that are not valid jobs: each is queued as a job that fails at once with this message. */
  problems: { id: string; message: string }[];
}

/** How many ids to look up (and jobs to add) per round trip batch. */
const CHUNK = 500;

/**
 * Queues a manifest's jobs. Idempotent by job id: a job already in the queue (waiting, running,
 * completed or failed) is not queued again, so submitting the same manifest twice runs nothing twice.
 */
export async function submitBatch(options: SubmitOptions): Promise<SubmitSummary> {
  const root = resolve(options.root ?? ".");
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  if (!Number.isInteger(attempts) || attempts < 1)
    throw new VidsegError(`expected a positive integer, got ${attempts}`, undefined, "--attempts");
  if (!Number.isFinite(backoffMs) || backoffMs < 0)
    throw new VidsegError(`expected a non-negative number, got ${backoffMs}`, undefined, "--backoff");
  checkQueueName(options.queue);
  const jobs = await readManifest(options.manifest, root);
  const summary: SubmitSummary = {
    queue: options.queue,
    jobs: jobs.length,
    added: 0,
    completed: 0,
    queued: 0,
    failed: 0,
    retried: 0,
    problems: jobs.flatMap((job) => (job.problem ? [{ id: job.id, message: job.problem }] : [])),
  };
  return withQueue(options, async (queue) => {
    for (let start = 0; start < jobs.length; start += CHUNK) {
      const chunk = jobs.slice(start, start + CHUNK);
      const states = await Promise.all(chunk.map((job) => queue.getJobState(job.id)));
      const fresh: BatchJobData[] = [];
      for (let i = 0; i < chunk.length; i++) {
        const state = states[i];
        if (state === "unknown") {
          fresh.push(chunk[i]);
          summary.added++;
        } else if (state === "completed") summary.completed++;
        else if (state !== "failed") summary.queued++;
        else if (!options.retryFailed) summary.failed++;
        else {
          // Replaced rather than retried, so that it runs the manifest's line as it is now.
          await queue.remove(chunk[i].id);
          fresh.push(chunk[i]);
          summary.retried++;
        }
      }
      await queue.addBulk(
        fresh.map((data) => {
          // Bad input fails at once whatever the attempts; other failures are retried with backoff.
          const opts: JobsOptions = {
            jobId: data.id,
            attempts: data.problem ? 1 : attempts,
            backoff: { type: "exponential", delay: backoffMs },
            removeOnComplete: false,
            removeOnFail: false,
          };
          const entry = data.entry as { task?: unknown } | undefined;
          return { name: typeof entry?.task === "string" ? entry.task : "invalid", data, opts };
        }),
      );
    }
    return summary;
  });
}

/** Human-readable lines for a submit summary. */
export function submitSummaryText(summary: SubmitSummary): string[] {
  const parts = [`${summary.added} queued`];
  if (summary.completed) parts.push(`${summary.completed} already completed`);
  if (summary.queued) parts.push(`${summary.queued} already queued or running`);
  if (summary.retried) parts.push(`${summary.retried} failed before, queued again`);
  if (summary.failed) parts.push(`${summary.failed} failed before (--retry-failed runs them again)`);
  const lines = [`queue ${summary.queue}: ${summary.jobs} jobs: ${parts.join(", ")}`];
  for (const problem of summary.problems) lines.push(`  ${problem.id} will fail: ${problem.message}`);
  return lines;
}

export interface BatchStatusOptions extends BatchQueueOptions {
  /** How many recently completed jobs the throughput is measured over (default 100). */
  window?: number;
}

export interface BatchStatus {
  queue: string;
  /** Waiting to run (including prioritised jobs). */
  waiting: number;
  active: number;
  /** Failed an attempt, waiting for the backoff before the next. */
  delayed: number;
  completed: number;
  failed: number;
  total: number;
  /** Completed jobs per minute over the most recently completed ones (null before two completions). */
  throughputPerMinute: number | null;
  /** Seconds until waiting, delayed and active jobs are done at that rate (null when unknown). */
  etaSeconds: number | null;
  /** The running jobs and their last progress report. */
  activeJobs: { id: string; task: string; progress: unknown }[];
  /** Every failed job with its one-line error. */
  failedJobs: { id: string; task: string; error: string; attempts: number }[];
}

/** Completed jobs per minute over the given ones: their count over the span from first start to last end. */
function throughput(jobs: Job[]): number | null {
  const timed = jobs.filter((job) => job.processedOn !== undefined && job.finishedOn !== undefined);
  if (timed.length < 2) return null;
  const start = Math.min(...timed.map((job) => job.processedOn!));
  const end = Math.max(...timed.map((job) => job.finishedOn!));
  return end > start ? (timed.length * 60_000) / (end - start) : null;
}

/** Counts, throughput, ETA, the running jobs and the failed jobs of a queue. */
export async function batchStatus(options: BatchStatusOptions): Promise<BatchStatus> {
  return withQueue(options, async (queue) => {
    const counts = await queue.getJobCounts(
      "waiting",
      "prioritized",
      "active",
      "delayed",
      "completed",
      "failed",
    );
    const waiting = counts.waiting + counts.prioritized;
    const recent = await queue.getJobs(["completed"], 0, (options.window ?? 100) - 1, false);
    const rate = throughput(recent);
    const remaining = waiting + counts.delayed + counts.active;
    const active = await queue.getJobs(["active"]);
    const failed = await queue.getJobs(["failed"], 0, -1, true);
    return {
      queue: options.queue,
      waiting,
      active: counts.active,
      delayed: counts.delayed,
      completed: counts.completed,
      failed: counts.failed,
      total: remaining + counts.completed + counts.failed,
      throughputPerMinute: rate,
      etaSeconds: remaining === 0 ? 0 : rate ? (remaining * 60) / rate : null,
      activeJobs: active.map((job) => ({ id: job.id!, task: job.name, progress: job.progress })),
      failedJobs: failed.map((job) => ({
        id: job.id!,
        task: job.name,
        error: job.failedReason,
        attempts: job.attemptsMade,
      })),
    };
  });
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** A job's progress report as "12/36 frames". */
export function progressText(progress: unknown): string {
  const p = progress as { done?: unknown; total?: unknown; unit?: unknown } | null;
  if (typeof p?.done !== "number") return "started";
  const total = typeof p.total === "number" ? `/${p.total}` : "";
  return `${p.done}${total} ${typeof p.unit === "string" ? p.unit : ""}`.trimEnd();
}

/** Human-readable lines for a queue's status. */
export function batchStatusText(status: BatchStatus): string[] {
  const lines = [
    `queue ${status.queue}: ${status.completed} completed, ${status.active} active, ${status.waiting} waiting, ${status.delayed} waiting to retry, ${status.failed} failed (${status.total} jobs)`,
  ];
  const rate = status.throughputPerMinute;
  lines.push(
    `throughput: ${rate === null ? "not measured yet" : `${rate.toFixed(1)} jobs/min`}` +
      (status.etaSeconds === null ? "" : `, ETA ${duration(status.etaSeconds)}`),
  );
  for (const job of status.activeJobs)
    lines.push(`active ${job.id} (${job.task}): ${progressText(job.progress)}`);
  for (const job of status.failedJobs)
    lines.push(
      `failed ${job.id} (${job.task}, ${job.attempts} attempt${job.attempts === 1 ? "" : "s"}): ${job.error}`,
    );
  return lines;
}
