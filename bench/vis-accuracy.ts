/**
 * The VIS accuracy benchmark, end to end through the CLI a user would type:
 *
 *   npm run bench:vis -- --preset ytvis|ovis [--model online|offline] [--config <preset|file>]
 *                        [--steps N] [--init <online model>] [--out runs/<model>-<preset>]
 *                        [--data data/<preset>] [--seed N] [--skip-train]
 *                        [--distill-from <teacher> --kd-weight λ --kd-filter F --kd-loss L
 *                         --kd-class-kl T --kd-layers W --fair-aug α]
 *
 * 1. `vidseg synth vis --preset P --seed 1 --out data/P` (skipped when the folder exists);
 * 2. `vidseg train vis --model M --data data/P --config C --out runs/M-P --val-every 1000` (resumes a run
 *    left unfinished; skipped with --skip-train; the seed and the distillation flags are passed on);
 * 3. `vidseg infer vis --checkpoint runs/M-P --input data/P --split valid --animation none` (all valid
 *    videos) → runs/M-P/valid/results.json;
 * 4. `vidseg eval ytvis` (ovis for the ovis preset: adds the occlusion-range APs) → runs/M-P/eval.json,
 *    and the table printed.
 *
 * Each command is printed before it runs; the training log (step times) and the evaluation JSON stay in
 * the run folder.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
function option(name: string, fallback?: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

const preset = option("preset", "ytvis")!;
const model = option("model", "online")!;
const config = option("config", "cpu-small")!;
const data = option("data", join("data", preset))!;
const out = option("out", join("runs", `${model}-${preset}`))!;
const steps = option("steps");
const init = option("init");
const seed = option("seed");
const distillFlags = [
  "distill-from",
  "kd-weight",
  "kd-filter",
  "kd-loss",
  "kd-class-kl",
  "kd-layers",
  "fair-aug",
].flatMap((name) => (option(name) === undefined ? [] : [`--${name}`, option(name)!]));
const evaluator = preset === "ovis" ? "ovis" : "ytvis";

/** Runs a vidseg command (printed first); returns its stdout when `capture` (then it is not shown). */
function vidseg(command: string[], capture = false): string {
  process.stdout.write(`\n$ vidseg ${command.join(" ")}\n`);
  const result = spawnSync("npx", ["tsx", "src/cli/main.ts", ...command], {
    stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"],
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (result.status !== 0) {
    process.stderr.write(`vidseg ${command[0]} ${command[1]} failed (exit ${result.status})\n`);
    process.exit(result.status ?? 1);
  }
  return result.stdout ?? "";
}

if (!existsSync(data)) vidseg(["synth", "vis", "--preset", preset, "--seed", "1", "--out", data]);
if (!args.includes("--skip-train")) {
  const resume = existsSync(join(out, "checkpoints")) ? ["--resume"] : [];
  vidseg([
    "train", "vis", "--model", model, "--data", data, "--config", config, "--out", out,
    "--val-every", "1000", "--val-videos", "20", ...(steps ? ["--steps", steps] : []),
    ...(init ? ["--init", init] : []), ...(seed ? ["--seed", seed] : []), ...distillFlags, ...resume,
  ]); // prettier-ignore
}
const inferred = join(out, "valid");
const inference = JSON.parse(
  vidseg(["infer", "vis", "--checkpoint", out, "--input", data, "--split", "valid", "--out", inferred, "--animation", "none", "--quiet", "--json"], true), // prettier-ignore
);
const evaluation = JSON.parse(
  vidseg(["eval", evaluator, "--gt", join(data, "valid.json"), "--results", join(inferred, "results.json"), "--json"], true), // prettier-ignore
);
const evalFile = join(out, "eval.json");
writeFileSync(evalFile, JSON.stringify({ inference, evaluation }, null, 2) + "\n");
for (const [name, value] of Object.entries(evaluation.stats as Record<string, number>))
  process.stdout.write(`${name.padEnd(12)} ${value.toFixed(4)}\n`);

const log = readFileSync(join(out, "log.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line));
const stepMs = log.filter((entry) => entry.type === "train").map((entry) => entry.step_ms as number);
stepMs.sort((a, b) => a - b);
process.stdout.write(
  `\n${model} model on the ${preset} preset: median training step ${stepMs[stepMs.length >> 1]?.toFixed(0)} ms ` +
    `over ${stepMs.length} logged steps; inference ${inference.framesPerSecond.toFixed(1)} frames/s ` +
    `(${inference.frames} frames, including reading frames and writing results); evaluation in ${evalFile}\n`,
);
