/**
 * `vidseg batch` end to end on Debian's redis-server (started here on a free loopback port, without
 * persistence): worker processes of the CLI take a manifest of tiny synthetic videos and write, for
 * each, the same bytes as the infer-vis job run in one process; a worker killed with SIGKILL mid-job
 * loses nothing; resubmitting runs nothing twice; bad lines and missing inputs fail at once, listed;
 * a transient failure is retried after a backoff; a Redis restart is survived.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  batchStatus,
  submitBatch,
  type BatchStatus,
  type SubmitOptions,
  type SubmitSummary,
} from "../src/batch/queue.js";
import { inferVis } from "../src/jobs/infer-vis.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { runCli } from "./helpers/cli.js";
import { folderFiles } from "./helpers/files.js";
import { writeRandomOnlineModel } from "./helpers/models.js";
import { hasRedisServer, startRedis, type TestRedis } from "./helpers/redis.js";

const VIDEOS = 20;
const FRAMES = 3;
const LONG_FRAMES = 48;
const root = mkdtempSync(join(tmpdir(), "vidseg-batch-"));
const QUEUE = "test";
let redis: TestRedis;
const workers: TestWorker[] = [];

const cli = (...args: string[]) =>
  [process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args]] as const;

/** The flags naming this test's queue, its Redis and the root. */
const queueFlags = () => ["--queue", QUEUE, "--redis", redis.url, "--root", root];

/** A `vidseg batch work` process and the lines it has printed, with when. */
class TestWorker {
  readonly process: ChildProcess;
  readonly lines: { at: number; text: string }[] = [];
  private partial = "";
  private waiters: { pattern: RegExp; resolve: (line: { at: number; text: string }) => void }[] = [];

  constructor(readonly name: string) {
    const [command, args] = cli(
      "batch",
      "work",
      ...queueFlags(),
      "--lock-duration",
      "3000",
      "--stalled-interval",
      "1000",
      // Every frame's progress, so that "midway" exists however fast the machine runs the job.
      "--progress-every",
      "0",
    );
    this.process = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.process.stderr!.setEncoding("utf8").on("data", (text: string) => {
      const parts = (this.partial + text).split("\n");
      this.partial = parts.pop()!;
      for (const line of parts) {
        const entry = { at: Date.now(), text: line };
        this.lines.push(entry);
        this.waiters = this.waiters.filter(({ pattern, resolve }) => {
          if (pattern.test(line)) resolve(entry);
          return !pattern.test(line);
        });
      }
    });
    workers.push(this);
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** The first line matching `pattern`, now or later. */
  waitFor(pattern: RegExp): Promise<{ at: number; text: string }> {
    const line = this.lines.find((entry) => pattern.test(entry.text));
    if (line) return Promise.resolve(line);
    return new Promise((resolve) => this.waiters.push({ pattern, resolve }));
  }

  count(pattern: RegExp): number {
    return this.lines.filter((entry) => pattern.test(entry.text)).length;
  }

  stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      this.process.once("exit", () => resolve());
      this.process.kill(signal);
    });
  }
}

/** The first line matching `pattern` on any live worker, and that worker. */
const anyWorker = (pattern: RegExp) =>
  Promise.race(
    workers
      .filter((worker) => worker.alive)
      .map(async (worker) => ({ worker, ...(await worker.waitFor(pattern)) })),
  );

/** Runs `vidseg batch …` in this process (as the CLI would); its stdout, stderr and exit code. */
const runBatch = (...args: string[]) => runCli(["batch", ...args]);

/** `vidseg batch submit --json`. */
async function submitWithCli(manifest: string): Promise<SubmitSummary> {
  const run = await runBatch("submit", "--manifest", join(root, manifest), ...queueFlags(), "--json");
  expect(run).toMatchObject({ stderr: "", exitCode: 0 });
  return JSON.parse(run.stdout) as SubmitSummary;
}

/** The same through the library. */
const submit = (manifest: string, options: Partial<SubmitOptions> = {}) =>
  submitBatch({ manifest: join(root, manifest), queue: QUEUE, redis: redis.url, root, ...options });

function writeManifest(name: string, lines: (Record<string, unknown> | string)[]): void {
  const text = lines.map((line) => (typeof line === "string" ? line : JSON.stringify(line))).join("\n");
  writeFileSync(join(root, name), text + "\n");
}

const videoDir = (name: string) => `data/valid/JPEGImages/${name}`;
const videoName = (i: number) => `valid_${String(i).padStart(5, "0")}`;
/** Job options: PNGs for all, the animation for every tenth video (it costs the most). */
const jobOptions = (i: number) => ({
  checkpoint: "model.safetensors",
  png: true,
  animation: i % 10 === 0 ? "gif" : "none",
});

/** The outputs of `vidseg infer vis` run in this process for a video, computed once. */
const expected = new Map<string, Map<string, Buffer>>();
async function expectedFiles(video: string, options: Record<string, unknown>): Promise<Map<string, Buffer>> {
  const key = JSON.stringify([video, options]);
  if (!expected.has(key)) {
    const out = join(root, "expected", String(expected.size));
    await inferVis({
      ...options,
      checkpoint: join(root, "model.safetensors"),
      input: join(root, video),
      out,
    });
    expected.set(key, folderFiles(out));
  }
  return expected.get(key)!;
}

async function status(): Promise<BatchStatus> {
  return batchStatus({ queue: QUEUE, redis: redis.url });
}

/** Polls the queue until nothing is waiting, running or waiting to be retried. */
async function settled(): Promise<BatchStatus> {
  for (;;) {
    const now = await status().catch(() => undefined);
    if (now && now.waiting + now.active + now.delayed === 0) return now;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe.skipIf(!hasRedisServer)(
  "vidseg batch (needs Debian's redis-server: apt-get install redis-server)",
  () => {
    beforeAll(async () => {
      redis = await startRedis();
      // The workers start (seconds) while the data is made.
      new TestWorker("A");
      new TestWorker("B");
      await initRuntime({ backend: "wasm" });
      await writeRandomOnlineModel(join(root, "model.safetensors"), 0);
      const synth = resolveOptions("tiny", 7, { videos: VIDEOS, frames: FRAMES, format: "png" });
      await generateVisDataset(synth, join(root, "data"), { splits: ["valid"] });
      const long = resolveOptions("tiny", 8, { videos: 1, frames: LONG_FRAMES, format: "png" });
      await generateVisDataset(long, join(root, "long"), { splits: ["valid"] });
    }, 60_000);

    afterAll(async () => {
      await Promise.all(workers.map((worker) => worker.stop()));
      await redis?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    it("20 videos through 2 workers: every output present, the bytes of single-process inference", async () => {
      writeManifest("jobs.jsonl", [
        ...Array.from({ length: VIDEOS }, (_, i) => ({
          id: `v${i}`,
          task: "infer-vis",
          input: videoDir(videoName(i)),
          out: `seg/v${i}`,
          options: jobOptions(i),
        })),
        '{"id": "broken", "task": "infer-vis", "input": ',
        {
          id: "missing",
          task: "infer-vis",
          input: videoDir("nope"),
          out: "seg/missing",
          options: jobOptions(1),
        },
      ]);
      expect(await submitWithCli("jobs.jsonl")).toMatchObject({ jobs: VIDEOS + 2, added: VIDEOS + 2 });
      // Single-process inference of every video meanwhile.
      const [done] = await Promise.all([
        settled(),
        (async () => {
          for (let i = 0; i < VIDEOS; i++) await expectedFiles(videoDir(videoName(i)), jobOptions(i));
        })(),
      ]);
      expect(done).toMatchObject({ completed: VIDEOS, failed: 2, waiting: 0, active: 0, delayed: 0 });
      // Both workers took jobs.
      for (const worker of workers) expect(worker.count(/completed in/)).toBeGreaterThan(0);
      for (let i = 0; i < VIDEOS; i++) {
        const files = folderFiles(join(root, "seg", `v${i}`));
        expect(files.size).toBe(FRAMES + 1 + (i % 10 === 0 ? 1 : 0));
        expect(files).toEqual(await expectedFiles(videoDir(videoName(i)), jobOptions(i)));
      }
    }, 120_000);

    it("a malformed line and a missing video: one clear failed job each, not retried", async () => {
      const { failedJobs } = await status();
      const manifest = join(root, "jobs.jsonl");
      expect(failedJobs).toHaveLength(2);
      const broken = failedJobs.find((job) => job.id.startsWith(`line-${VIDEOS + 1}-`))!;
      expect(broken.error).toMatch(new RegExp(`^${manifest}: line ${VIDEOS + 1}: malformed JSON \\(.+\\)$`));
      const missing = failedJobs.find((job) => job.id === "missing")!;
      expect(missing.error).toBe(`${join(root, videoDir("nope"))}: input not found`);
      for (const job of failedJobs) expect(job.attempts).toBe(1);

      // The CLI's status: the same counts as one JSON document, and the errors as lines.
      const json = await runBatch("status", "--queue", QUEUE, "--redis", redis.url, "--json");
      const printed = JSON.parse(json.stdout) as BatchStatus;
      expect(printed).toMatchObject({ waiting: 0, active: 0, completed: VIDEOS, failed: 2 });
      const text = await runBatch("status", "--queue", QUEUE, "--redis", redis.url);
      expect(text.stdout).toContain(`\nfailed missing (infer-vis, 1 attempt): ${missing.error}\n`);
      expect(text.stdout).toMatch(
        /^queue test: 20 completed, 0 active, 0 waiting, 0 waiting to retry, 2 failed \(22 jobs\)\n/,
      );
    }, 60_000);

    it("resubmitting the manifest runs nothing twice", async () => {
      const before = await status();
      const started = workers.map((worker) => worker.count(/ started /));
      const mtime = statSync(join(root, "seg", "v0", "results.json")).mtimeMs;
      expect(await submit("jobs.jsonl")).toMatchObject({
        jobs: VIDEOS + 2,
        added: 0,
        completed: VIDEOS,
        failed: 2,
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const after = await status();
      expect(after).toMatchObject({ completed: VIDEOS, failed: 2, waiting: 0, active: 0, delayed: 0 });
      expect(after.failedJobs).toEqual(before.failedJobs);
      expect(workers.map((worker) => worker.count(/ started /))).toEqual(started);
      expect(statSync(join(root, "seg", "v0", "results.json")).mtimeMs).toBe(mtime);
    }, 60_000);

    it("a worker killed with SIGKILL mid-job: the job completes on another, its outputs whole", async () => {
      const options = { checkpoint: "model.safetensors", png: true, animation: "none" };
      writeManifest("long.jsonl", [
        {
          id: "long",
          task: "infer-vis",
          input: "long/valid/JPEGImages/valid_00000",
          out: "seg/long",
          options,
        },
      ]);
      expect(await submit("long.jsonl")).toMatchObject({ added: 1 });
      // Whichever worker took it is killed once it has segmented a few frames.
      // Neither its first frame nor its last.
      const midway = new RegExp(`job long: (?!1/|${LONG_FRAMES}/)\\d+/${LONG_FRAMES} frames`);
      const { worker: victim } = await anyWorker(midway);
      await victim.stop("SIGKILL");
      new TestWorker("C"); // back to two workers (it starts while the job is recovered)
      const { worker: survivor } = await anyWorker(/job long completed/);
      expect(survivor).not.toBe(victim);
      expect(survivor.count(/job long stalled|job long started/)).toBeGreaterThan(0);
      expect(victim.count(/job long started/)).toBe(1);
      const done = await settled();
      expect(done).toMatchObject({ completed: VIDEOS + 1, failed: 2 });
      expect(folderFiles(join(root, "seg", "long"))).toEqual(
        await expectedFiles("long/valid/JPEGImages/valid_00000", options),
      );
      // The killed attempt's temporary folder was removed when the retry completed.
      expect(readdirSync(join(root, "seg")).filter((name) => name.startsWith("."))).toEqual([]);
    }, 120_000);

    it("a transient failure is retried after a backoff and then completes", async () => {
      // The output's parent is a file at first (writing fails, not as bad input); removed after attempt 1.
      writeFileSync(join(root, "blocked"), "");
      writeManifest("transient.jsonl", [
        {
          id: "t1",
          task: "infer-vis",
          input: videoDir(videoName(1)),
          out: "blocked/t1",
          options: jobOptions(1),
        },
      ]);
      expect(await submit("transient.jsonl", { backoffMs: 1500, attempts: 3 })).toMatchObject({ added: 1 });
      const failed = await anyWorker(/job t1 failed \(attempt 1\): .*\(will retry\)$/);
      rmSync(join(root, "blocked"));
      const retried = await anyWorker(/job t1 started \(infer-vis, attempt 2\)/);
      expect(retried.at - failed.at).toBeGreaterThanOrEqual(1000); // the 1.5 s backoff, less the log's delays
      await anyWorker(/job t1 completed/);
      const done = await settled();
      expect(done).toMatchObject({ completed: VIDEOS + 2, failed: 2 });
      expect(folderFiles(join(root, "blocked", "t1"))).toEqual(
        await expectedFiles(videoDir(videoName(1)), jobOptions(1)),
      );
    }, 60_000);

    it("Redis restarted mid-run: the workers reconnect and the batch completes", async () => {
      const ids = [2, 3, 4, 5];
      writeManifest(
        "restart.jsonl",
        ids.map((i) => ({
          id: `r${i}`,
          task: "infer-vis",
          input: videoDir(videoName(i)),
          out: `again/r${i}`,
          options: jobOptions(i),
        })),
      );
      expect(await submit("restart.jsonl")).toMatchObject({ added: ids.length });
      await anyWorker(/job r\d started/);
      await redis.restart(1500);
      const done = await settled();
      expect(done).toMatchObject({ completed: VIDEOS + 2 + ids.length, failed: 2 });
      for (const i of ids)
        expect(folderFiles(join(root, "again", `r${i}`))).toEqual(
          await expectedFiles(videoDir(videoName(i)), jobOptions(i)),
        );
      const live = workers.filter((worker) => worker.alive);
      expect(live).toHaveLength(2);
      for (const worker of live) expect(worker.count(/^redis: cannot reach Redis/)).toBeGreaterThan(0);
    }, 120_000);

    it("a password comes from the environment, never from the command line", async () => {
      const secured = await startRedis({ password: "s3cret" });
      const saved = process.env.VIDSEG_REDIS_PASSWORD;
      try {
        const onCommandLine = secured.url.replace("redis://", "redis://:s3cret@");
        expect(await runBatch("status", "--queue", QUEUE, "--redis", onCommandLine)).toEqual({
          stdout: "",
          stderr:
            "vidseg: error: --redis: a password on the command line is visible to every user of the machine: set VIDSEG_REDIS_PASSWORD (or VIDSEG_REDIS_URL) instead\n",
          exitCode: 1,
        });
        delete process.env.VIDSEG_REDIS_PASSWORD;
        const refused = await runBatch("status", "--queue", QUEUE, "--redis", secured.url);
        expect(refused.exitCode).toBe(1);
        expect(refused.stderr).toMatch(
          new RegExp(
            `^vidseg: error: Redis at ${secured.url}/? refused the credentials \\(NOAUTH.*\\); set VIDSEG_REDIS_PASSWORD\\n$`,
          ),
        );
        process.env.VIDSEG_REDIS_PASSWORD = "s3cret";
        const ok = await runBatch("status", "--queue", QUEUE, "--redis", secured.url, "--json");
        expect(ok.exitCode).toBe(0);
        expect(JSON.parse(ok.stdout)).toMatchObject({ waiting: 0, active: 0, completed: 0, failed: 0 });
      } finally {
        if (saved === undefined) delete process.env.VIDSEG_REDIS_PASSWORD;
        else process.env.VIDSEG_REDIS_PASSWORD = saved;
        await secured.stop();
      }
    });
  },
);
