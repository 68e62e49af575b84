/**
 * The child process in which a worker runs its jobs (a BullMQ sandboxed processor): inference is
 * CPU-bound and would otherwise starve the worker's event loop, which must renew the job's lock in
 * Redis. Bad input (a VidsegError) fails the job at once; any other error is retried with backoff.
 */
import { UnrecoverableError, type SandboxedJob } from "bullmq";
import { VidsegError } from "../core/errors.js";
import type { JobProgress } from "../jobs/progress.js";
import type { BatchJobData } from "./manifest.js";
import { runBatchJob, type BatchJobResult } from "./run-job.js";
import { PROGRESS_VARIABLE, ROOT_VARIABLE } from "./worker.js";

/** At most one progress report per this many milliseconds (the first and the last are always sent). */
const PROGRESS_INTERVAL_MS = Number(process.env[PROGRESS_VARIABLE] ?? 500);

// When the worker dies (e.g. SIGKILL), its channel to us closes: stop too. The job is then detected as
// stalled and retried elsewhere; this attempt's temporary folder is left for the retry to remove.
process.on("disconnect", () => process.exit(1));

export default async function processBatchJob(
  job: SandboxedJob<BatchJobData, BatchJobResult>,
): Promise<BatchJobResult> {
  let last = -Infinity;
  const onProgress = ({ done, total, unit }: JobProgress) => {
    const now = performance.now();
    if (done !== 1 && done !== total && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    // A report that cannot be sent (the worker is gone) is dropped: "disconnect" ends this process.
    job.updateProgress({ done, total: total ?? null, unit }).catch(() => {});
  };
  try {
    return await runBatchJob(job.data, {
      root: process.env[ROOT_VARIABLE] ?? process.cwd(),
      onProgress,
      onWarning: (message) => job.log(message),
      workerPid: process.ppid,
    });
  } catch (error) {
    if (error instanceof VidsegError) throw new UnrecoverableError(error.message);
    throw error;
  }
}
