/**
 * One fuzz worker (a worker thread, so that the runner can stop it when an input hangs): runs the
 * given targets one after the other with fast-check and reports each input before it runs, the counts
 * and the first failure, shrunk. Messages: {type: "target" | "input" | "result" | "done"}.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { FuzzFailure, targetByName } from "./targets.js";

export interface WorkerJob {
  targets: string[];
  /** Seconds of fuzzing per target. */
  seconds: number;
  /** The run's seed; target k (in TARGETS order) uses seed + k. */
  seeds: Record<string, number>;
  /** An input taking longer than this fails (it is shrunk like any failure). */
  inputMs: number;
  /** Resident memory past this after an input fails. */
  memoryMb: number;
  scratch: string;
}

const job = workerData as WorkerJob;
const post = (message: unknown) => parentPort!.postMessage(message);

await tf.setBackend("cpu");
for (const name of job.targets) {
  const target = targetByName(name);
  post({ type: "target", name });
  let tried = 0;
  let accepted = 0;
  let rejected = 0;
  const property = fc.asyncProperty(target.input, async (input) => {
    post({ type: "input", input });
    tried++;
    const dir = await mkdtemp(join(job.scratch, `${name}-`));
    const started = performance.now();
    try {
      const outcome = await target.check(input as never, dir);
      if (outcome === "accepted") accepted++;
      else rejected++;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const ms = performance.now() - started;
    if (ms > job.inputMs) throw new FuzzFailure(`took ${Math.round(ms)} ms, more than ${job.inputMs} ms`);
    const mb = process.memoryUsage().rss / 2 ** 20;
    if (mb > job.memoryMb)
      throw new FuzzFailure(`resident memory ${Math.round(mb)} MB, more than ${job.memoryMb} MB`);
  });
  const available = target.available?.() ?? true;
  const details = available
    ? await fc.check(property, {
        seed: job.seeds[name],
        numRuns: Number.MAX_SAFE_INTEGER,
        interruptAfterTimeLimit: job.seconds * 1000,
        markInterruptAsFailure: false,
      })
    : undefined;
  post({
    type: "result",
    name,
    skipped: !available,
    tried,
    accepted,
    rejected,
    failure: details?.failed
      ? {
          input: details.counterexample?.[0],
          message: (details.errorInstance as Error | undefined)?.message ?? String(details.errorInstance),
        }
      : undefined,
  });
}
post({ type: "done" });
