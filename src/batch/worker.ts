/**
 * A batch worker: takes jobs from a BullMQ queue and runs each in a child process (processor.ts), so
 * that its own event loop stays free to renew the jobs' locks. Run one per core, on any number of
 * machines that reach the same Redis. A worker that dies mid-job (even by SIGKILL) stops renewing the
 * lock; another worker then finds the job stalled and runs it again.
 */
import { existsSync, statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, Worker, type Job } from "bullmq";
import { VidsegError } from "../core/errors.js";
import type { BatchJobData } from "./manifest.js";
import { checkQueueName, type BatchQueueOptions } from "./queue.js";
import { connectRedis, redactRedisUrl, redisUrl } from "./redis.js";
import type { BatchJobResult } from "./run-job.js";

/** The environment variable through which the worker gives its root to its child processes. */
export const ROOT_VARIABLE = "VIDSEG_BATCH_ROOT";
/** Environment variable telling a job's child process how often to report progress (ms). */
export const PROGRESS_VARIABLE = "VIDSEG_BATCH_PROGRESS_MS";

export interface BatchWorkerOptions extends BatchQueueOptions {
  /** The folder the manifests' paths are relative to (default: the current folder). */
  root?: string;
  /** Jobs run at once, each in its own child process (default 1). */
  concurrency?: number;
  /** How long a job's lock lasts without renewal: a dead worker's job is retried after it (default 30 s). */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default 30 s). */
  stalledIntervalMs?: number;
  /** A job reports its progress at most this often, besides its first and last step (default 500 ms). */
  progressEveryMs?: number;
  /** Stop once the queue has nothing waiting, running or waiting to be retried. */
  untilEmpty?: boolean;
  onEvent?: (event: BatchWorkerEvent) => void;
}

export type BatchWorkerEvent =
  | { type: "ready"; queue: string; redis: string; root: string; concurrency: number }
  | { type: "started"; id: string; task: string; attempt: number }
  | { type: "progress"; id: string; progress: unknown }
  | { type: "completed"; id: string; task: string; seconds: number; result: BatchJobResult }
  | { type: "failed"; id: string; task: string; error: string; attempt: number; willRetry: boolean }
  | { type: "stalled"; id: string }
  | { type: "connection"; message: string }
  /** The worker has stopped: what it did, and the CPU its own process spent since it was ready. */
  | { type: "stopped"; completed: number; failed: number; cpuSeconds: number };

export interface BatchWorker {
  /** Settles when the worker has stopped. */
  closed: Promise<void>;
  /** Stops taking jobs and waits for the running ones (or, with `force`, abandons them to be retried). */
  close(force?: boolean): Promise<void>;
}

/** A job is stalled this many times at most before it fails (a crash loop must end). */
const MAX_STALLED = 2;

/** The child-process entry: processor.js next to this file (processor.ts when run from source). */
const PROCESSOR_FILE = fileURLToPath(
  new URL(`./processor${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

const seconds = (job: Job) =>
  job.processedOn !== undefined && job.finishedOn !== undefined
    ? (job.finishedOn - job.processedOn) / 1000
    : 0;

/** Starts a worker on a queue (see the module comment). */
export async function startBatchWorker(options: BatchWorkerOptions): Promise<BatchWorker> {
  checkQueueName(options.queue);
  const root = resolve(options.root ?? ".");
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new VidsegError("not a folder", root, "--root");
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new VidsegError(`expected a positive integer, got ${concurrency}`, undefined, "--concurrency");
  const emit = options.onEvent ?? (() => {});
  const url = redisUrl(options.redis);
  const connection = await connectRedis(url, {
    persistent: true,
    onError: (message) => emit({ type: "connection", message: `${message}; retrying` }),
  });
  const worker = new Worker<BatchJobData, BatchJobResult>(options.queue, PROCESSOR_FILE, {
    connection,
    concurrency,
    useWorkerThreads: false,
    workerForkOptions: {
      env: {
        ...process.env,
        [ROOT_VARIABLE]: root,
        ...(options.progressEveryMs !== undefined
          ? { [PROGRESS_VARIABLE]: String(options.progressEveryMs) }
          : {}),
      },
    },
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: MAX_STALLED,
  });
  // Reported by the connection's own listener (once per outage); BullMQ re-emits them here.
  worker.on("error", () => {});
  worker.on("active", (job) =>
    emit({ type: "started", id: job.id!, task: job.name, attempt: job.attemptsMade + 1 }),
  );
  worker.on("progress", (job, progress) => emit({ type: "progress", id: job.id!, progress }));
  let completed = 0;
  let failed = 0;
  worker.on("completed", (job, result) => {
    completed++;
    emit({ type: "completed", id: job.id!, task: job.name, seconds: seconds(job), result });
  });
  worker.on("failed", (job, error) => {
    if (!job) return;
    const unrecoverable = error.name === "UnrecoverableError";
    const willRetry = !unrecoverable && job.attemptsMade < (job.opts.attempts ?? 1);
    if (!willRetry) failed++;
    emit({
      type: "failed",
      id: job.id!,
      task: job.name,
      error: error.message,
      attempt: job.attemptsMade,
      willRetry,
    });
  });
  worker.on("stalled", (id) => emit({ type: "stalled", id }));

  let finished!: () => void;
  const closed = new Promise<void>((done) => (finished = done));
  let closing: Promise<void> | undefined;
  let emptyCheck: NodeJS.Timeout | undefined;
  const queue = options.untilEmpty ? new Queue(options.queue, { connection }) : undefined;
  queue?.on("error", () => {});
  const close = (force = false) => {
    closing ??= (async () => {
      clearInterval(emptyCheck);
      await worker.close(force);
      await queue?.close();
      connection.disconnect();
      const cpu = process.cpuUsage(cpuAtReady);
      emit({ type: "stopped", completed, failed, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      finished();
    })();
    return closing;
  };
  await worker.waitUntilReady();
  const cpuAtReady = process.cpuUsage();
  emit({ type: "ready", queue: options.queue, redis: redactRedisUrl(url), root, concurrency });
  if (queue) {
    let checking = false;
    emptyCheck = setInterval(async () => {
      if (checking) return;
      checking = true;
      try {
        const counts = await queue.getJobCounts("waiting", "prioritized", "active", "delayed");
        if (Object.values(counts).every((count) => count === 0)) void close();
      } catch {
        // Redis unreachable: the connection reports it; look again at the next tick.
      } finally {
        checking = false;
      }
    }, 1000);
  }
  return { closed, close };
}
