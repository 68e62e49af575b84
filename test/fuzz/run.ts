/**
 * The fuzz runner: fuzzes the targets in a worker thread, stops it when an input hangs or the worker
 * dies (out of memory), and saves each failing input, shrunk by fast-check where it could be, as a
 * regression case under test/fuzz-regressions/ (replayed by test/fuzz.test.ts).
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { TARGETS } from "./targets.js";
import type { WorkerJob } from "./worker.js";

export const REGRESSIONS_DIR = new URL("../fuzz-regressions/", import.meta.url);

export interface FuzzOptions {
  /** Seconds per target. */
  seconds: number;
  seed: number;
  /** Target names (default: all). */
  targets?: readonly string[];
  /** An input running longer than this fails; default 10 s. */
  inputMs?: number;
  /** No message from the worker for this long is a hang; default 60 s. */
  hangMs?: number;
  /** Memory bound (resident set after an input, and the worker's heap); default 2048 MB. */
  memoryMb?: number;
  /** Where failing inputs are saved; default test/fuzz-regressions/. Null: not saved. */
  regressions?: string | null;
  log?: (line: string) => void;
}

export interface TargetReport {
  target: string;
  skipped: boolean;
  /** Inputs run, shrinking included. */
  tried: number;
  accepted: number;
  rejected: number;
  failures: { message: string; file?: string }[];
}

export interface RegressionCase {
  target: string;
  seed: number;
  message: string;
  input: unknown;
}

/** Runs the fuzz targets (see FuzzOptions); never throws for a failing input, it reports it. */
export async function runFuzz(options: FuzzOptions): Promise<TargetReport[]> {
  const names = options.targets ?? TARGETS.map((t) => t.name);
  const seeds = Object.fromEntries(TARGETS.map((t, k) => [t.name, options.seed + k]));
  const scratch = mkdtempSync(join(tmpdir(), "vidseg-fuzz-"));
  const reports = new Map<string, TargetReport>();
  const report = (name: string) => {
    let r = reports.get(name);
    if (!r)
      reports.set(
        name,
        (r = { target: name, skipped: false, tried: 0, accepted: 0, rejected: 0, failures: [] }),
      );
    return r;
  };
  const save = (target: string, message: string, input: unknown): string | undefined => {
    if (options.regressions === null) return undefined;
    const dir = options.regressions ?? REGRESSIONS_DIR.pathname;
    mkdirSync(dir, { recursive: true });
    const text = JSON.stringify(
      { target, seed: seeds[target], message, input } satisfies RegressionCase,
      null,
      1,
    );
    const file = join(dir, `${target}-${createHash("sha1").update(text).digest("hex").slice(0, 10)}.json`);
    writeFileSync(file, text + "\n");
    return file;
  };
  try {
    let remaining = [...names];
    while (remaining.length > 0) {
      remaining = await runWorker(remaining);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return names.map((name) => report(name));

  /** Runs targets in one worker; returns those left when it had to be stopped. */
  function runWorker(targets: string[]): Promise<string[]> {
    const job: WorkerJob = {
      targets,
      seconds: options.seconds,
      seeds,
      inputMs: options.inputMs ?? 10_000,
      memoryMb: options.memoryMb ?? 2048,
      scratch,
    };
    const worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), {
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: options.memoryMb ?? 2048 },
    });
    let current: string | undefined;
    let lastInput: unknown;
    let finished = false;
    let started = false;
    let done = 0;
    return new Promise((resolve, reject) => {
      const hangMs = options.hangMs ?? 60_000;
      let timer: NodeJS.Timeout | undefined;
      const stop = (why: string) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        void worker.terminate();
        if (current === undefined && !started) {
          reject(new Error(`the fuzz worker failed before any target: ${why}`));
          return;
        }
        const left = current ? targets.slice(targets.indexOf(current) + 1) : targets.slice(done);
        if (current) {
          const r = report(current);
          r.tried = Math.max(r.tried, 1);
          r.failures.push({ message: why, file: save(current, why, lastInput) });
          options.log?.(`${current}: FAILURE ${why}`);
        }
        resolve(left);
      };
      const watch = () => {
        clearTimeout(timer);
        timer = setTimeout(() => stop(`no progress for ${hangMs} ms (a hang)`), hangMs);
      };
      watch();
      worker.on("message", (message: { type: string; [key: string]: unknown }) => {
        watch();
        if (message.type === "target") {
          current = message.name as string;
          started = true;
        } else if (message.type === "input") lastInput = message.input;
        else if (message.type === "result") {
          const r = report(message.name as string);
          Object.assign(r, {
            skipped: message.skipped,
            tried: message.tried,
            accepted: message.accepted,
            rejected: message.rejected,
          });
          const failure = message.failure as { input: unknown; message: string } | undefined;
          if (failure)
            r.failures.push({
              message: failure.message,
              file: save(r.target, failure.message, failure.input),
            });
          options.log?.(
            `${r.target}: ${r.skipped ? "skipped (tool missing)" : `${r.tried} inputs, ${r.accepted} accepted, ${r.rejected} rejected, ${r.failures.length} failures`}`,
          );
          current = undefined;
          done++;
        } else if (message.type === "done") {
          finished = true;
          clearTimeout(timer);
          void worker.terminate().then(() => resolve([]));
        }
      });
      worker.on("error", (error) => stop(`worker died: ${error.message}`));
      worker.on("exit", (code) => stop(`worker exited with code ${code}`));
    });
  }
}
