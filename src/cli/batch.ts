/** `vidseg batch submit|work|status`: flags → the batch runner (src/batch/) on a BullMQ queue. */
import type { Command } from "commander";
import { action, numberOption, printJson } from "./common.js";

const REDIS_HELP =
  "Redis URL (default: $VIDSEG_REDIS_URL, else redis://127.0.0.1:6379); a password goes in $VIDSEG_REDIS_PASSWORD, never here";
const ROOT_HELP =
  "folder the manifest's paths are relative to; no path may leave it (default: current folder)";

const MANIFEST_HELP = `
Manifest: JSON Lines, one job a line, every path relative to --root:
  {"id": "v001", "task": "infer-vis", "input": "videos/v001.mp4", "out": "seg/v001",
   "options": {"checkpoint": "models/online.safetensors", "png": true}}
  {"id": "v001-eval", "task": "eval", "input": "seg/v001/results.json", "out": "eval/v001",
   "options": {"gt": "data/valid.json", "metric": "ytvis"}}
Tasks: infer-vis (the options of \`vidseg infer vis\`, camelCase), infer-refer (checkpoint,
texts: a list of expressions followed through a video or frame folder; without texts the input is a
Ref-YouTube-VOS split; fps, maxFrames), eval (gt, metric ytvis|ovis, perCategory; writes out/eval.json).
Jobs are idempotent by id: submitting a manifest again queues only the jobs not in the queue yet.
A line that is not a valid job is queued as a job that fails at once with its error.`;

interface QueueCli {
  queue: string;
  redis?: string;
}

/** The --redis URL, refused when it carries a password. */
async function redisOption(cli: QueueCli): Promise<string | undefined> {
  if (cli.redis === undefined) return undefined;
  const { checkCommandLineRedisUrl } = await import("../index.js");
  checkCommandLineRedisUrl(cli.redis);
  return cli.redis;
}

interface SubmitCli extends QueueCli {
  manifest: string;
  root?: string;
  attempts?: string;
  backoff?: string;
  retryFailed?: boolean;
  json?: boolean;
}

interface WorkCli extends QueueCli {
  root?: string;
  concurrency?: string;
  lockDuration?: string;
  stalledInterval?: string;
  progressEvery?: string;
  untilEmpty?: boolean;
  quiet?: boolean;
}

interface StatusCli extends QueueCli {
  json?: boolean;
}

export function registerBatch(program: Command): void {
  const batch = program
    .command("batch")
    .description("run many jobs on a BullMQ queue (Redis) with workers on any number of machines");

  batch
    .command("submit")
    .description("queue the jobs of a manifest (JSON Lines); jobs already queued or done are skipped")
    .requiredOption("--manifest <file>", "JSON Lines manifest, one job a line")
    .requiredOption("--queue <name>", "queue name")
    .option("--redis <url>", REDIS_HELP)
    .option("--root <dir>", ROOT_HELP)
    .option("--attempts <n>", "attempts per job for failures other than bad input (default 3)")
    .option("--backoff <ms>", "delay before the first retry, doubled at each retry (default 2000)")
    .option("--retry-failed", "queue the manifest's failed jobs again")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText("after", MANIFEST_HELP)
    .action(
      action(async (cli: SubmitCli) => {
        const attempts = numberOption(cli.attempts, "--attempts", { integer: true, min: 1 });
        const backoffMs = numberOption(cli.backoff, "--backoff", { min: 0 });
        const redis = await redisOption(cli);
        const { submitBatch, submitSummaryText } = await import("../index.js");
        const summary = await submitBatch({
          manifest: cli.manifest,
          queue: cli.queue,
          redis,
          root: cli.root,
          attempts,
          backoffMs,
          retryFailed: cli.retryFailed,
        });
        if (cli.json) printJson(summary);
        else process.stdout.write(submitSummaryText(summary).join("\n") + "\n");
      }),
    );

  batch
    .command("work")
    .description("run a worker: takes the queue's jobs, each in a child process, until stopped")
    .requiredOption("--queue <name>", "queue name")
    .option("--redis <url>", REDIS_HELP)
    .option("--root <dir>", ROOT_HELP)
    .option("--concurrency <n>", "jobs at once, one child process each (default 1; run one per core)")
    .option(
      "--lock-duration <ms>",
      "a job whose worker stops renewing its lock for this long is retried elsewhere (default 30000)",
    )
    .option("--stalled-interval <ms>", "how often to look for such jobs (default 30000)")
    .option("--progress-every <ms>", "a job reports its progress at most this often (default 500)")
    .option("--until-empty", "stop once nothing is waiting, running or waiting to be retried")
    .option("--quiet", "print only errors")
    .action(
      action(async (cli: WorkCli) => {
        const concurrency = numberOption(cli.concurrency, "--concurrency", { integer: true, min: 1 });
        const lockDurationMs = numberOption(cli.lockDuration, "--lock-duration", { integer: true, min: 1 });
        const stalledIntervalMs = numberOption(cli.stalledInterval, "--stalled-interval", {
          integer: true,
          min: 1,
        });
        const progressEveryMs = numberOption(cli.progressEvery, "--progress-every", {
          integer: true,
          min: 0,
        });
        const redis = await redisOption(cli);
        const { startBatchWorker, progressText } = await import("../index.js");
        const say = (line: string) => process.stderr.write(`${line}\n`);
        const log = cli.quiet ? () => {} : say;
        const worker = await startBatchWorker({
          queue: cli.queue,
          redis,
          root: cli.root,
          concurrency,
          lockDurationMs,
          stalledIntervalMs,
          progressEveryMs,
          untilEmpty: cli.untilEmpty,
          onEvent: (event) => {
            switch (event.type) {
              case "ready":
                return log(
                  `worker ${process.pid} ready: queue ${event.queue} at ${event.redis}, root ${event.root}, ${event.concurrency} at once`,
                );
              case "started":
                return log(`job ${event.id} started (${event.task}, attempt ${event.attempt})`);
              case "progress":
                return log(`job ${event.id}: ${progressText(event.progress)}`);
              case "completed":
                return log(`job ${event.id} completed in ${event.seconds.toFixed(1)} s`);
              case "failed":
                return say(
                  `job ${event.id} failed (attempt ${event.attempt}): ${event.error}${event.willRetry ? " (will retry)" : ""}`,
                );
              case "stalled":
                return log(`job ${event.id} stalled (its worker stopped): queued again`);
              case "connection":
                return say(`redis: ${event.message}`);
              case "stopped":
                return log(
                  `worker ${process.pid} stopped: ${event.completed} jobs completed, ${event.failed} failed; this process used ${event.cpuSeconds.toFixed(2)} s of CPU (the jobs ran in child processes)`,
                );
            }
          },
        });
        let stopping = false;
        const stop = () => {
          if (stopping) {
            void worker.close(true);
            return;
          }
          stopping = true;
          log("stopping: finishing the running jobs (signal again to leave them to other workers)");
          void worker.close();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
        await worker.closed;
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }),
    );

  batch
    .command("status")
    .description("counts, throughput, ETA, running jobs and failed jobs with their errors")
    .requiredOption("--queue <name>", "queue name")
    .option("--redis <url>", REDIS_HELP)
    .option("--json", "print one JSON document: waiting, active, delayed, completed, failed, … ")
    .action(
      action(async (cli: StatusCli) => {
        const redis = await redisOption(cli);
        const { batchStatus, batchStatusText } = await import("../index.js");
        const status = await batchStatus({ queue: cli.queue, redis });
        if (cli.json) printJson(status);
        else process.stdout.write(batchStatusText(status).join("\n") + "\n");
      }),
    );
}
