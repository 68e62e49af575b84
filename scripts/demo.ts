/**
 * `npm run demo [-- --out <dir>]`: the main demo of video instance segmentation.
 *
 * 1. generates a short synthetic video with its ground truth (`synth vis` preset ytvis, one valid video,
 *    a fixed seed);
 * 2. streams it frame by frame through the shipped online model (weights/online-ytvis.safetensors,
 *    trained by `vidseg train vis --config cpu-small`; see BENCHMARKS.md);
 * 3. writes the overlay animation (one colour per track id, "id class score" labels), a contact sheet of
 *    a few frames, the results JSON and the per-frame indexed PNGs;
 * 4. evaluates the results against the ground truth and prints the YouTube-VIS AP table.
 *
 * Options: --out <dir> (default demo-output), --checkpoint <model file> (default the shipped weights),
 * --seed <n> (default 3). `--preset ovis` runs the distillation demo instead (scripts/demo-ookd.ts).
 */
import { existsSync } from "node:fs";
import { rename, rmdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  contactSheet,
  evaluateYtvis,
  generateVisDataset,
  inferVis,
  overlayMasks,
  readRgb,
  readIndexedPng,
  readResults,
  resolveSynthOptions,
  scaleImage,
  summaryLines,
  VidsegError,
  writePng,
  type RgbImage,
} from "../src/index.js";
import { argument, show } from "./demo-args.js";
import { ookdDemo } from "./demo-ookd.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SHIPPED_WEIGHTS = join(ROOT, "weights", "online-ytvis.safetensors");
/** Frames shown on the contact sheet (evenly spaced). */
const SHEET_FRAMES = 6;

/** Evenly spaced frames of the video with the written PNG masks drawn over them, enlarged 2×. */
async function sheetOf(imagesDir: string, pngDir: string, fileNames: readonly string[]): Promise<RgbImage> {
  const picks = Array.from({ length: SHEET_FRAMES }, (_, k) =>
    Math.round((k * (fileNames.length - 1)) / (SHEET_FRAMES - 1)),
  );
  const tiles: RgbImage[] = [];
  for (const t of picks) {
    const file = fileNames[t];
    const frame = await readRgb(join(imagesDir, file));
    const labels = await readIndexedPng(join(pngDir, file.replace(/\.[^.]+$/, ".png")));
    tiles.push(scaleImage(overlayMasks(frame, labels), 2));
  }
  return contactSheet([tiles], { captions: [`frames ${picks.join(", ")}: colour = track id`] });
}

async function main(): Promise<void> {
  const preset = argument("preset", "ytvis");
  if (preset === "ovis") return ookdDemo();
  if (preset !== "ytvis")
    throw new VidsegError(`expected ytvis or ovis, got "${preset}"`, undefined, "--preset");
  const out = resolve(argument("out", "demo-output"));
  const checkpoint = argument("checkpoint", SHIPPED_WEIGHTS);
  const seed = Number(argument("seed", "3"));
  if (!existsSync(checkpoint)) {
    throw new VidsegError(
      checkpoint === SHIPPED_WEIGHTS
        ? "the shipped weights are missing; they are trained with `npx vidseg train vis --config cpu-small` " +
            "(see BENCHMARKS.md) and copied there, or pass --checkpoint <model file>"
        : "model file not found",
      show(checkpoint),
    );
  }

  // 1. A short synthetic video with its ground truth.
  const dataDir = join(out, "video");
  const synth = resolveSynthOptions("ytvis", seed, { videos: 1 });
  process.stdout.write(
    `generating a synthetic video (${synth.frames} frames, ${synth.width}×${synth.height}, seed ${seed})…\n`,
  );
  const { datasets } = await generateVisDataset(synth, dataDir, { splits: ["valid"] });
  const gt = datasets.valid!;

  // 2–3. Stream it through the online model; results, PNGs and the overlay animation.
  process.stdout.write(`segmenting it frame by frame with ${show(checkpoint)}…\n`);
  const summary = await inferVis({
    checkpoint,
    input: join(dataDir, "valid.json"),
    out,
    model: "online",
    png: true,
    animation: "gif",
    fps: 8,
  });
  const animation = join(out, "overlay.gif");
  // A split's animations go to overlays/<video>.gif; the demo has one video, shown at the top.
  await rename(summary.videos[0].animation!, animation);
  await rmdir(dirname(summary.videos[0].animation!)).catch(() => undefined);
  const sheet = join(out, "overlay-sheet.png");
  const video = gt.videos[0];
  await writePng(
    sheet,
    await sheetOf(join(dataDir, "valid", "JPEGImages"), join(out, "Annotations"), video.file_names),
  );

  // 4. The AP table.
  const results = await readResults(summary.results, gt);
  const evaluation = evaluateYtvis(gt, results);
  const objects = gt.annotations.length;
  process.stdout.write(
    [
      "",
      `YouTube-VIS evaluation of ${results.length} predicted tracks against ${objects} ground-truth objects:`,
      ...summaryLines(evaluation),
      "",
      `${summary.frames} frames at ${summary.framesPerSecond.toFixed(1)} frames/s (model and drawing)`,
      `written to ${show(out)}/:`,
      `  overlay animation   ${show(animation)}`,
      `  contact sheet       ${show(sheet)}`,
      `  results (YT-VIS)    ${show(summary.results)}`,
      `  ground truth        ${show(join(dataDir, "valid.json"))}  (frames in ${show(join(dataDir, "valid", "JPEGImages"))}/)`,
      `  indexed PNG masks   ${show(join(summary.annotations!, summary.videos[0].name))}/`,
      "",
    ].join("\n"),
  );
}

main().catch((error: unknown) => {
  if (error instanceof VidsegError) {
    process.stderr.write(`demo: error: ${error.message}\n`);
    process.exitCode = 1;
    return;
  }
  throw error;
});
