/**
 * `npm run demo -- --preset ovis` (or `npm run demo:ookd`): what offline-to-online distillation buys,
 * on one occlusion video.
 *
 * 1. generates one video of the occlusion preset (`synth vis --preset ovis`, one valid video, a fixed
 *    seed) with its ground truth;
 * 2. streams it frame by frame through the undistilled online student and through the distilled one
 *    (the same model class and cost: only the weights differ), each writing its results and overlay;
 * 3. evaluates both against the ground truth and prints their OVIS stats side by side, with identity
 *    switches per track (GT association) and the frames per second.
 *
 * Options: --student <distilled model> (default weights/ovis-student-ookd.safetensors), --baseline
 * <undistilled model> (default weights/ovis-student.safetensors), --seed <n> (default 3), --frames <n>
 * (default the preset's), --out <dir> (default demo-output/ookd).
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  evaluateYtvis,
  generateVisDataset,
  identitySwitches,
  inferVis,
  OVIS_STAT_NAMES,
  readResults,
  resolveSynthOptions,
  VidsegError,
} from "../src/index.js";
import { argument, show } from "./demo-args.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DISTILLED_WEIGHTS = join(ROOT, "weights", "ovis-student-ookd.safetensors");
export const UNDISTILLED_WEIGHTS = join(ROOT, "weights", "ovis-student.safetensors");

/** A non-negative integer option. */
function integerArgument(name: string, fallback: number): number {
  const text = argument(name, String(fallback));
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < 0)
    throw new VidsegError(`expected a non-negative integer, got "${text}"`, undefined, `--${name}`);
  return value;
}

export async function ookdDemo(): Promise<void> {
  const out = resolve(argument("out", join("demo-output", "ookd")));
  const seed = integerArgument("seed", 3);
  const frames = argument("frames", "") === "" ? undefined : integerArgument("frames", 0);
  const models = [
    { name: "undistilled", flag: "--baseline", file: argument("baseline", UNDISTILLED_WEIGHTS) },
    { name: "distilled", flag: "--student", file: argument("student", DISTILLED_WEIGHTS) },
  ];
  for (const { flag, file } of models) {
    if (existsSync(file)) continue;
    throw new VidsegError(
      file === DISTILLED_WEIGHTS || file === UNDISTILLED_WEIGHTS
        ? "the ovis students are not shipped yet (issues 11 and 12: BENCHMARKS.md, Distillation); " +
            `pass ${flag} <model file>`
        : "model file not found",
      show(file),
    );
  }

  // 1. One occlusion video with its ground truth.
  const dataDir = join(out, "video");
  const synth = resolveSynthOptions("ovis", seed, { videos: 1, ...(frames ? { frames } : {}) });
  process.stdout.write(
    `generating an occlusion video (${synth.frames} frames, ${synth.width}×${synth.height}, seed ${seed})…\n`,
  );
  const { datasets } = await generateVisDataset(synth, dataDir, { splits: ["valid"] });
  const gt = datasets.valid!;

  // 2–3. Stream it through both students, and score each.
  const scored = [];
  for (const { name, file } of models) {
    process.stdout.write(`streaming it through the ${name} student ${show(file)}…\n`);
    const summary = await inferVis({
      checkpoint: file,
      input: join(dataDir, "valid.json"),
      out: join(out, name),
      model: "online",
      animation: "gif",
      fps: 8,
    });
    const results = await readResults(summary.results, gt);
    scored.push({
      name,
      summary,
      stats: evaluateYtvis(gt, results, { occlusion: true }).stats,
      identity: identitySwitches(gt, results),
    });
  }

  const [before, after] = scored;
  const row = (label: string, a: number, b: number, digits = 3) =>
    `${label.padEnd(20)} ${a.toFixed(digits).padStart(11)} ${b.toFixed(digits).padStart(11)} ` +
    (a === -1 || b === -1 ? "–" : `${b - a >= 0 ? "+" : ""}${(b - a).toFixed(digits)}`);
  process.stdout.write(
    [
      "",
      `OVIS evaluation of the video (${gt.annotations.length} objects; -1 where a range has no object):`,
      `${"".padEnd(20)} ${"undistilled".padStart(11)} ${"distilled".padStart(11)} difference`,
      ...OVIS_STAT_NAMES.map((name) => row(name, before.stats[name], after.stats[name])),
      row("ID switches/track", before.identity.switchesPerTrack, after.identity.switchesPerTrack),
      row("GT frames matched", before.identity.matchedFraction, after.identity.matchedFraction),
      row("frames/s", before.summary.framesPerSecond, after.summary.framesPerSecond, 1),
      "",
      `identity switches: GT association by mask IoU ≥ ${before.identity.iouThreshold}, result tracks ` +
        `scoring ≥ ${before.identity.scoreThreshold}; frames/s include drawing and writing`,
      `written to ${show(out)}/: ground truth ${show(join(dataDir, "valid.json"))}, per student its ` +
        `results.json and overlays/ (${models.map((m) => show(join(out, m.name))).join(", ")})`,
      "",
    ].join("\n"),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ookdDemo().catch((error: unknown) => {
    if (error instanceof VidsegError) {
      process.stderr.write(`demo: error: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  });
}
