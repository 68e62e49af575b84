/**
 * The batch runner's throughput and its cost per job: N synthetic ytvis-preset videos (128×128 × 36
 * frames) segmented with the shipped online model (weights/online-ytvis.safetensors, the CLI's default
 * outputs: results.json and overlay.gif)
 *
 *   - directly: the infer-vis job called N times in one process (what `vidseg infer vis` does per video);
 *   - through the queue with 1 and with 2 worker processes (`vidseg batch work`, one job at a time each).
 *
 *   npm run bench:batch [-- --videos N] [-- --repeats R] [-- --json]
 *
 * Each worker's first job also starts its child process (TensorFlow.js and the wasm runtime), a cost paid
 * once per worker, so rates are steady-state: per worker, (jobs − 1) over the time from its first job's
 * end to its last job's end. The queue's overhead per job is measured inside the runs: on one worker,
 * the time between two consecutive jobs' ends that the job itself (checks, task, rename, timed in the
 * child) does not account for: fetching the job, the lock, the messages to and from the child, marking
 * it completed. It is reported against the direct time of a 36-frame job. Redis is a throwaway
 * redis-server on a free loopback port, without persistence.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { submitBatch } from "../src/batch/queue.js";
import type { BatchJobResult } from "../src/batch/run-job.js";
import { inferVis } from "../src/jobs/infer-vis.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { startRedis, type TestRedis } from "../test/helpers/redis.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const VIDEOS = flag("--videos", 8);
const REPEATS = flag("--repeats", 1);
const json = args.includes("--json");
const log = (line: string) => process.stderr.write(line + "\n");

const root = mkdtempSync(join(tmpdir(), "vidseg-bench-batch-"));
const video = (i: number) => `data/valid/JPEGImages/valid_${String(i).padStart(5, "0")}`;
const CHECKPOINT = "model.safetensors";

interface DirectRun {
  /** Wall seconds per video, in order. */
  perVideo: number[];
  /** Mean over all but the first (which warms the runtime up). */
  steadySeconds: number;
}

/** The infer-vis job on each video in this process, as `vidseg infer vis` would run it. */
async function direct(repeat: number): Promise<DirectRun> {
  const perVideo: number[] = [];
  for (let i = 0; i < VIDEOS; i++) {
    const started = performance.now();
    await inferVis({
      checkpoint: join(root, CHECKPOINT),
      input: join(root, video(i)),
      out: join(root, `direct-${repeat}`, String(i)),
    });
    perVideo.push((performance.now() - started) / 1000);
  }
  const steady = perVideo.slice(1);
  return { perVideo, steadySeconds: steady.reduce((a, b) => a + b, 0) / steady.length };
}

interface BatchRun {
  workers: number;
  /** From submit to the last job's end, worker and child start-up included. */
  wallSeconds: number;
  videosPerMinuteWall: number;
  /** Steady state (see the module comment). */
  videosPerMinute: number;
  /** One worker: mean seconds per job between two jobs' ends that the job does not account for. */
  queueOverheadSeconds: number;
}

/** Starts `vidseg batch work --until-empty` processes, submits the videos, waits for the workers to exit. */
async function batch(redis: TestRedis, workerCount: number, repeat: number): Promise<BatchRun> {
  const queueName = `bench-${workerCount}-${repeat}`;
  const manifest = join(root, `${queueName}.jsonl`);
  writeFileSync(
    manifest,
    Array.from({ length: VIDEOS }, (_, i) =>
      JSON.stringify({
        id: `v${i}`,
        task: "infer-vis",
        input: video(i),
        out: `${queueName}/${i}`,
        options: { checkpoint: CHECKPOINT },
      }),
    ).join("\n") + "\n",
  );
  const submitted = Date.now();
  await submitBatch({ manifest, queue: queueName, redis: redis.url, root });
  const exits = Array.from({ length: workerCount }, () => {
    const worker = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "batch",
        "work",
        "--queue",
        queueName,
        "--redis",
        redis.url,
        "--root",
        root,
        "--until-empty",
        "--quiet",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    return new Promise<void>((resolve, reject) =>
      worker.once("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`)),
      ),
    );
  });
  await Promise.all(exits);

  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue<unknown, BatchJobResult>(queueName, { connection });
  const jobs = await queue.getJobs(["completed"]);
  const failed = await queue.getJobCounts("failed");
  await queue.close();
  connection.disconnect();
  if (jobs.length !== VIDEOS)
    throw new Error(`${jobs.length} of ${VIDEOS} jobs completed (${failed.failed} failed)`);

  const byWorker = new Map<string, { end: number; run: number }[]>();
  for (const job of jobs) {
    const list = byWorker.get(job.returnvalue.worker) ?? [];
    list.push({ end: job.finishedOn!, run: job.returnvalue.seconds });
    byWorker.set(job.returnvalue.worker, list);
  }
  let rate = 0;
  const gaps: number[] = [];
  for (const list of byWorker.values()) {
    list.sort((a, b) => a.end - b.end);
    if (list.length < 2) continue;
    rate += ((list.length - 1) * 60_000) / (list.at(-1)!.end - list[0].end);
    for (let k = 1; k < list.length; k++) gaps.push((list[k].end - list[k - 1].end) / 1000 - list[k].run);
  }
  const last = Math.max(...jobs.map((job) => job.finishedOn!));
  const wallSeconds = (last - submitted) / 1000;
  return {
    workers: workerCount,
    wallSeconds,
    videosPerMinuteWall: (VIDEOS * 60) / wallSeconds,
    videosPerMinute: rate,
    queueOverheadSeconds: gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN,
  };
}

async function main(): Promise<void> {
  copyFileSync("weights/online-ytvis.safetensors", join(root, CHECKPOINT));
  await generateVisDataset(resolveOptions("ytvis", 11, { videos: VIDEOS }), join(root, "data"), {
    splits: ["valid"],
  });
  await initRuntime();
  const redis = await startRedis();
  const runs: { load: number[]; direct: DirectRun; one: BatchRun; two: BatchRun }[] = [];
  try {
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      const load = loadavg().map((x) => Math.round(x * 10) / 10);
      log(`repeat ${repeat + 1}/${REPEATS} (load average ${load.join(", ")})`);
      const directRun = await direct(repeat);
      log(`  direct: ${directRun.steadySeconds.toFixed(2)} s per video`);
      const one = await batch(redis, 1, repeat);
      log(
        `  1 worker: ${one.videosPerMinute.toFixed(2)} videos/min, queue overhead ${one.queueOverheadSeconds.toFixed(3)} s/job`,
      );
      const two = await batch(redis, 2, repeat);
      log(`  2 workers: ${two.videosPerMinute.toFixed(2)} videos/min`);
      runs.push({ load, direct: directRun, one, two });
    }
  } finally {
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const summary = runs.map(({ load, direct: d, one, two }) => ({
    loadAverage1m: load[0],
    directSecondsPerVideo: d.steadySeconds,
    directVideosPerMinute: 60 / d.steadySeconds,
    oneWorkerVideosPerMinute: one.videosPerMinute,
    twoWorkersVideosPerMinute: two.videosPerMinute,
    speedup: two.videosPerMinute / one.videosPerMinute,
    queueOverheadSecondsPerJob: one.queueOverheadSeconds,
    queueOverheadPercent: (100 * one.queueOverheadSeconds) / d.steadySeconds,
    wallSeconds: { one: one.wallSeconds, two: two.wallSeconds },
    wallVideosPerMinute: { one: one.videosPerMinuteWall, two: two.videosPerMinuteWall },
  }));
  if (json) {
    process.stdout.write(JSON.stringify({ videos: VIDEOS, frames: 36, runs: summary }, null, 2) + "\n");
    return;
  }
  console.log(`${VIDEOS} videos × 36 frames (128×128), weights/online-ytvis.safetensors, gif + results.json`);
  console.log(
    "load | direct s/video | 1 worker v/min | 2 workers v/min | speedup | queue overhead s/job (% of a job) | wall 1 / 2 workers s",
  );
  for (const r of summary)
    console.log(
      [
        r.loadAverage1m.toFixed(1),
        r.directSecondsPerVideo.toFixed(2),
        r.oneWorkerVideosPerMinute.toFixed(2),
        r.twoWorkersVideosPerMinute.toFixed(2),
        `${r.speedup.toFixed(2)}×`,
        `${r.queueOverheadSecondsPerJob.toFixed(3)} (${r.queueOverheadPercent.toFixed(1)} %)`,
        `${r.wallSeconds.one.toFixed(1)} / ${r.wallSeconds.two.toFixed(1)}`,
      ].join(" | "),
    );
}

await main();
