/**
 * Speed of the synthetic generators, in videos per second at 128×128 × 36 frames (the ytvis preset:
 * 1–4 objects): VIS (YouTube-VIS layout) and referring (Ref-YouTube-VOS layout: palette masks and
 * checked expressions), with VIS on the crowded ovis preset (128×128 × 48 frames, 4–6 objects), and the
 * memory of the long preset (one video of 1500 frames, written frame by frame).
 *
 *   npm run bench:synth [-- --videos N] [-- --json]
 *
 * Everything counts: scene planning, rendering, RLE encoding, JPEG encoding, atomic file writes and the
 * annotation JSON. The output goes to a fresh folder in the system temp dir, removed afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { resolveOptions } from "../src/synth/options.js";
import { generateReferDataset } from "../src/synth/refer.js";
import { generateVisDataset } from "../src/synth/vis.js";

const args = process.argv.slice(2);
const videosArg = args.indexOf("--videos");
const videos = videosArg >= 0 ? Number(args[videosArg + 1]) : 60;
const json = args.includes("--json");

interface Row {
  preset: string;
  size: string;
  frames: number;
  videos: number;
  seconds: number;
  videosPerSecond: number;
  framesPerSecond: number;
  peakRssMiB: number;
}

async function measure(
  preset: string,
  count: number,
  frames?: number,
  generator: "vis" | "refer" = "vis",
): Promise<Row> {
  const options = resolveOptions(preset, 1, { videos: count, ...(frames ? { frames } : {}) });
  const out = mkdtempSync(join(tmpdir(), "vidseg-bench-synth-"));
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const start = performance.now();
  if (generator === "vis") await generateVisDataset(options, out, { splits: ["train"] });
  else await generateReferDataset(options, out, { splits: ["train"] });
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  rmSync(out, { recursive: true, force: true });
  return {
    preset: generator === "vis" ? preset : `${preset} (refer)`,
    size: `${options.width}x${options.height}`,
    frames: options.frames,
    videos: count,
    seconds: Math.round(seconds * 1000) / 1000,
    videosPerSecond: Math.round((count / seconds) * 100) / 100,
    framesPerSecond: Math.round(((count * options.frames) / seconds) * 10) / 10,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
  };
}

await measure("tiny", 2); // warm-up: JIT, sharp's thread pool
const rows = [
  await measure("ytvis", videos),
  await measure("ytvis", videos, undefined, "refer"),
  await measure("ovis", Math.max(1, Math.round(videos / 4))),
  await measure("long", 1),
];
if (json) {
  process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
} else {
  for (const r of rows) {
    process.stdout.write(
      `${r.preset.padEnd(15)} ${r.size} × ${r.frames} frames: ${r.videos} videos in ${r.seconds.toFixed(2)} s = ` +
        `${r.videosPerSecond.toFixed(2)} videos/s (${r.framesPerSecond.toFixed(0)} frames/s), peak RSS ${r.peakRssMiB} MiB\n`,
    );
  }
}
