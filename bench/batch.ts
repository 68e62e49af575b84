/**
 * The batch runner's throughput and its cost per job: N synthetic ytvis-preset videos (128×128 × 36
 * frames) segmented with the shipped online model (weights/online-ytvis.safetensors; results.json and
 * a GIF overlay, so that each job stays on one core: the MP4 encoder would add ffmpeg's threads)
 *
 *   - directly, as a control: the infer-vis job called on each video in plain processes (1, then 2 at
 *     once, each taking half the videos): what the machine gives one and two processes right now;
 *   - through the queue: `vidseg batch work` processes (1, then 2), one job at a time each.
 *
 *   npm run bench:batch [-- --videos N] [-- --repeats R] [-- --json]
 *
 * A process's first video also loads TensorFlow.js and the wasm runtime (a worker's first job also
 * starts its child process), a cost paid once per process, so rates are steady-state: per process,
 * (videos − 1) over the time from its first video's end to its last one's, summed over processes. The
 * queue's overhead per job is measured inside the one-worker runs: the time between two consecutive
 * jobs' ends that the job itself (checks, task, rename, timed in the child) does not account for —
 * fetching the job, the lock, the messages to and from the child, marking it completed — reported
 * against the direct time of one video, with the CPU the worker processes themselves spent per job
 * (lock renewals, relaying progress, fetching and completing jobs; the jobs ran in their children).
 * Redis is a throwaway redis-server on a free loopback port, without persistence.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { submitBatch } from "../src/batch/queue.js";
import type { BatchJobResult } from "../src/batch/run-job.js";
import { inferVis } from "../src/jobs/infer-vis.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { startRedis, type TestRedis } from "../test/helpers/redis.js";

const args = process.argv.slice(2);
const value = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const VIDEOS = Number(value("--videos") ?? 8);
const REPEATS = Number(value("--repeats") ?? 1);
const json = args.includes("--json");
const log = (line: string) => process.stderr.write(line + "\n");

const CHECKPOINT = "model.safetensors";
const OPTIONS = { checkpoint: CHECKPOINT, animation: "gif" } as const;
const video = (i: number) => `data/valid/JPEGImages/valid_${String(i).padStart(5, "0")}`;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Child mode (`--direct ROOT OUT i,j,…`): the infer-vis job on those videos; prints their end times. */
async function directChild(root: string, out: string, indices: number[]): Promise<void> {
  const ends: number[] = [];
  for (const i of indices) {
    await inferVis({
      ...OPTIONS,
      checkpoint: join(root, CHECKPOINT),
      input: join(root, video(i)),
      out: join(out, String(i)),
    });
    ends.push(Date.now());
  }
  process.stdout.write(JSON.stringify(ends) + "\n");
}

/** Steady-state videos per minute of processes given each one's job end times (ms). */
function steadyRate(endsPerProcess: number[][]): number {
  let rate = 0;
  for (const ends of endsPerProcess) {
    const sorted = [...ends].sort((a, b) => a - b);
    if (sorted.length >= 2) rate += ((sorted.length - 1) * 60_000) / (sorted.at(-1)! - sorted[0]);
  }
  return rate;
}

/** Runs `node --import tsx …argv`; its stdout and stderr (printed, with an error, if it fails). */
const runProcess = (argv: string[]) =>
  new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", ...argv], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("exit", (code) => {
      if (code === 0) return resolve({ stdout, stderr });
      process.stderr.write(stderr);
      reject(new Error(`${argv.join(" ")} exited with ${code}`));
    });
  });

/** The control: `processes` plain processes at once, the videos split evenly between them. */
async function direct(root: string, processes: number, tag: string): Promise<number> {
  const parts = Array.from({ length: processes }, (_, p) =>
    Array.from({ length: VIDEOS }, (_, i) => i).filter((i) => i % processes === p),
  );
  const outputs = await Promise.all(
    parts.map((part) => runProcess(["bench/batch.ts", "--direct", root, join(root, tag), part.join(",")])),
  );
  return steadyRate(outputs.map(({ stdout }) => JSON.parse(stdout) as number[]));
}

interface BatchRun {
  videosPerMinute: number;
  /** Mean seconds per job between two jobs' ends on one worker that the job does not account for. */
  queueOverheadSeconds: number;
  /** CPU seconds per job of the worker processes themselves (the jobs ran in their children). */
  workerCpuSeconds: number;
}

/** `workers` × `vidseg batch work --until-empty` on a fresh queue of the videos. */
async function batch(root: string, redis: TestRedis, workers: number, tag: string): Promise<BatchRun> {
  const manifest = join(root, `${tag}.jsonl`);
  const lines = Array.from({ length: VIDEOS }, (_, i) =>
    JSON.stringify({ id: `v${i}`, task: "infer-vis", input: video(i), out: `${tag}/${i}`, options: OPTIONS }),
  );
  writeFileSync(manifest, lines.join("\n") + "\n");
  await submitBatch({ manifest, queue: tag, redis: redis.url, root });
  const work = ["src/cli/main.ts", "batch", "work", "--queue", tag, "--redis", redis.url, "--root", root];
  const logs = await Promise.all(
    Array.from({ length: workers }, () => runProcess([...work, "--until-empty"])),
  );
  // Each worker's own CPU while it served jobs (its "stopped" line), per job.
  let workerCpu = 0;
  for (const { stderr } of logs) {
    const stopped = /stopped: .* used ([\d.]+) s of CPU/.exec(stderr);
    if (!stopped) throw new Error(`no "stopped" line from a worker:\n${stderr}`);
    workerCpu += Number(stopped[1]);
  }

  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue<unknown, BatchJobResult>(tag, { connection });
  const jobs = await queue.getJobs(["completed"]);
  await queue.close();
  connection.disconnect();
  if (jobs.length !== VIDEOS) throw new Error(`${jobs.length} of ${VIDEOS} jobs completed`);
  const byWorker = new Map<string, { end: number; seconds: number }[]>();
  for (const job of jobs) {
    const list = byWorker.get(job.returnvalue.worker) ?? [];
    list.push({ end: job.finishedOn!, seconds: job.returnvalue.seconds });
    byWorker.set(job.returnvalue.worker, list);
  }
  const gaps: number[] = [];
  for (const list of byWorker.values()) {
    list.sort((a, b) => a.end - b.end);
    for (let k = 1; k < list.length; k++) gaps.push((list[k].end - list[k - 1].end) / 1000 - list[k].seconds);
  }
  return {
    videosPerMinute: steadyRate([...byWorker.values()].map((list) => list.map((job) => job.end))),
    queueOverheadSeconds: sum(gaps) / gaps.length,
    workerCpuSeconds: workerCpu / VIDEOS,
  };
}

interface Row {
  loadAverage1m: number;
  directOneVideosPerMinute: number;
  directTwoVideosPerMinute: number;
  directSpeedup: number;
  oneWorkerVideosPerMinute: number;
  twoWorkersVideosPerMinute: number;
  speedup: number;
  directSecondsPerVideo: number;
  queueOverheadSecondsPerJob: number;
  queueOverheadPercent: number;
  workerCpuSecondsPerJob: number;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "vidseg-bench-batch-"));
  copyFileSync("weights/online-ytvis.safetensors", join(root, CHECKPOINT));
  await generateVisDataset(resolveOptions("ytvis", 11, { videos: VIDEOS }), join(root, "data"), {
    splits: ["valid"],
  });
  const redis = await startRedis();
  const rows: Row[] = [];
  try {
    for (let r = 0; r < REPEATS; r++) {
      const load = loadavg()[0];
      log(`repeat ${r + 1}/${REPEATS}: load average ${load.toFixed(1)}`);
      const directOne = await direct(root, 1, `direct1-${r}`);
      const one = await batch(root, redis, 1, `batch1-${r}`);
      const directTwo = await direct(root, 2, `direct2-${r}`);
      const two = await batch(root, redis, 2, `batch2-${r}`);
      const row: Row = {
        loadAverage1m: load,
        directOneVideosPerMinute: directOne,
        directTwoVideosPerMinute: directTwo,
        directSpeedup: directTwo / directOne,
        oneWorkerVideosPerMinute: one.videosPerMinute,
        twoWorkersVideosPerMinute: two.videosPerMinute,
        speedup: two.videosPerMinute / one.videosPerMinute,
        directSecondsPerVideo: 60 / directOne,
        queueOverheadSecondsPerJob: one.queueOverheadSeconds,
        queueOverheadPercent: (100 * one.queueOverheadSeconds * directOne) / 60,
        workerCpuSecondsPerJob: one.workerCpuSeconds,
      };
      log(`  ${JSON.stringify(row)}`);
      rows.push(row);
    }
  } finally {
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
  if (json) {
    process.stdout.write(JSON.stringify({ videos: VIDEOS, frames: 36, rows }, null, 2) + "\n");
    return;
  }
  console.log(`${VIDEOS} videos × 36 frames (128×128), weights/online-ytvis.safetensors, GIF + results.json`);
  console.log(
    "load | direct v/min 1 / 2 processes (×) | batch v/min 1 / 2 workers (×) | queue overhead s/job (% of a video) | worker CPU s/job",
  );
  for (const r of rows)
    console.log(
      [
        r.loadAverage1m.toFixed(1),
        `${r.directOneVideosPerMinute.toFixed(2)} / ${r.directTwoVideosPerMinute.toFixed(2)} (${r.directSpeedup.toFixed(2)}×)`,
        `${r.oneWorkerVideosPerMinute.toFixed(2)} / ${r.twoWorkersVideosPerMinute.toFixed(2)} (${r.speedup.toFixed(2)}×)`,
        `${r.queueOverheadSecondsPerJob.toFixed(3)} (${r.queueOverheadPercent.toFixed(2)} %)`,
        r.workerCpuSecondsPerJob.toFixed(3),
      ].join(" | "),
    );
}

const directAt = args.indexOf("--direct");
if (directAt >= 0)
  await directChild(args[directAt + 1], args[directAt + 2], args[directAt + 3].split(",").map(Number));
else await main();
