/**
 * Speed of `vidseg eval ytvis` against the official evaluator, on a YouTube-VIS-2021-val-sized problem:
 * 450 videos of 30 frames at 720×1280, 40 categories, 1–4 GT tracks and 10 detections per video, RLE
 * masks.
 *
 *   npm run build && npm run bench:eval [-- --out DIR] [--repeats N] [--regenerate]
 *
 * The problem is generated deterministically (ellipses moving over the frames; detections are shifted,
 * rescaled copies of GT tracks, some with the wrong category, plus random ones) and written to DIR
 * (default: a folder in the system temp dir, reused while its stamp matches). Then, side by side and
 * interleaved, N times each (default 3; medians reported):
 *   - `vidseg eval ytvis` end to end (`node dist/cli/main.js eval ytvis --gt … --results … --json`; from
 *     the sources with tsx if dist/ is missing, which adds the TypeScript compile to every start);
 *   - the official evaluator end to end (`python3 scripts/vis_reference.py eval`, interpreter start and
 *     imports included), when the official code is built under .refs/ (see that script's header);
 *   - in process: `evaluateYtvisFiles` on 1 thread and on one thread per core (the CLI's default when
 *     the machine is not already busy: load average below the cores).
 * The stats of both evaluators are compared (max abs difference). CPU seconds (user + sys) come from
 * /usr/bin/time where present.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Rng } from "../src/core/rng.js";
import { evaluateYtvisFiles } from "../src/eval/ytvis-files.js";
import {
  writeResults,
  writeYtvis,
  type YtvisAnnotation,
  type YtvisDataset,
  type YtvisResult,
} from "../src/formats/ytvis.js";
import { countsToString, toBbox, type Bbox, type CocoRle } from "../src/mask/rle.js";

const VIDEOS = 450;
const CATEGORIES = 40;
const FRAMES = 30;
const HEIGHT = 720;
const WIDTH = 1280;
const DETECTIONS_PER_VIDEO = 10;

interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

/** The RLE of a filled ellipse, built column by column without a pixel mask. */
function ellipseRle({ cx, cy, rx, ry }: Ellipse): { rle: CocoRle; area: number; bbox: Bbox } {
  const counts: number[] = [];
  let zeros = 0;
  let area = 0;
  for (let x = 0; x < WIDTH; x++) {
    const dx = (x + 0.5 - cx) / rx;
    const half = dx * dx < 1 ? ry * Math.sqrt(1 - dx * dx) : -1;
    const top = Math.max(0, Math.ceil(cy - half - 0.5));
    const bottom = Math.min(HEIGHT, Math.floor(cy + half - 0.5) + 1);
    if (half < 0 || bottom <= top) {
      zeros += HEIGHT;
      continue;
    }
    counts.push(zeros + top, bottom - top);
    area += bottom - top;
    zeros = HEIGHT - bottom;
  }
  counts.push(zeros);
  const rle = { h: HEIGHT, w: WIDTH, counts };
  return { rle: { size: [HEIGHT, WIDTH], counts: countsToString(counts) }, area, bbox: toBbox(rle) };
}

/** An ellipse track: a start shape moving linearly, present from `first` to `last` (inclusive). */
interface TrackShape {
  start: Ellipse;
  velocity: Ellipse;
  first: number;
  last: number;
}

function randomTrack(rng: Rng): TrackShape {
  const first = rng.bernoulli(0.7) ? 0 : rng.int(FRAMES / 2);
  const last = rng.bernoulli(0.7) ? FRAMES - 1 : first + rng.int(FRAMES - first);
  return {
    start: {
      cx: rng.range(0, WIDTH),
      cy: rng.range(0, HEIGHT),
      rx: rng.range(20, 300),
      ry: rng.range(20, 250),
    },
    velocity: { cx: rng.range(-8, 8), cy: rng.range(-5, 5), rx: rng.range(-1, 1), ry: rng.range(-1, 1) },
    first,
    last,
  };
}

function ellipseAt(track: TrackShape, f: number): Ellipse {
  const { start, velocity } = track;
  return {
    cx: start.cx + velocity.cx * f,
    cy: start.cy + velocity.cy * f,
    rx: Math.max(4, start.rx + velocity.rx * f),
    ry: Math.max(4, start.ry + velocity.ry * f),
  };
}

/** A detection of a GT track: jittered position and size, and a slightly different time span. */
function perturbed(rng: Rng, gt: TrackShape): TrackShape {
  const jitter = rng.range(0, 0.3);
  return {
    start: {
      cx: gt.start.cx + rng.normal(0, jitter * gt.start.rx),
      cy: gt.start.cy + rng.normal(0, jitter * gt.start.ry),
      rx: gt.start.rx * (1 + rng.normal(0, jitter)),
      ry: gt.start.ry * (1 + rng.normal(0, jitter)),
    },
    velocity: gt.velocity,
    first: Math.max(0, gt.first - rng.int(3)),
    last: Math.min(FRAMES - 1, gt.last + rng.int(3)),
  };
}

function generate(seed: number): { gt: YtvisDataset; results: YtvisResult[] } {
  const rng = new Rng(seed);
  const gt: YtvisDataset = {
    info: { description: "vidseg benchmark: YouTube-VIS-2021-val-sized synthetic problem" },
    videos: [],
    categories: Array.from({ length: CATEGORIES }, (_, i) => ({ id: i + 1, name: `class${i + 1}` })),
    annotations: [],
  };
  const results: YtvisResult[] = [];
  for (let v = 1; v <= VIDEOS; v++) {
    gt.videos.push({
      id: v,
      width: WIDTH,
      height: HEIGHT,
      length: FRAMES,
      file_names: Array.from({ length: FRAMES }, (_, f) => `${v}/${String(f).padStart(5, "0")}.jpg`),
    });
    const tracks: { shape: TrackShape; category: number }[] = [];
    const count = 1 + rng.int(4);
    for (let t = 0; t < count; t++) {
      const shape = randomTrack(rng);
      const category = 1 + rng.int(CATEGORIES);
      tracks.push({ shape, category });
      const frames = Array.from({ length: FRAMES }, (_, f) =>
        f < shape.first || f > shape.last ? null : ellipseRle(ellipseAt(shape, f)),
      );
      const annotation: YtvisAnnotation = {
        id: gt.annotations.length + 1,
        video_id: v,
        category_id: category,
        segmentations: frames.map((frame) => frame?.rle ?? null),
        areas: frames.map((frame) => frame?.area ?? null),
        bboxes: frames.map((frame) => frame?.bbox ?? null),
        iscrowd: 0,
        height: HEIGHT,
        width: WIDTH,
        length: FRAMES,
      };
      gt.annotations.push(annotation);
    }
    for (let d = 0; d < DETECTIONS_PER_VIDEO; d++) {
      const source = d < 2 * tracks.length ? tracks[d % tracks.length] : null;
      const shape = source ? perturbed(rng, source.shape) : randomTrack(rng);
      const category = source && rng.bernoulli(0.8) ? source.category : 1 + rng.int(CATEGORIES);
      results.push({
        video_id: v,
        category_id: category,
        score: rng.uniform(),
        segmentations: Array.from({ length: FRAMES }, (_, f) =>
          f < shape.first || f > shape.last ? null : ellipseRle(ellipseAt(shape, f)).rle,
        ),
      });
    }
  }
  return { gt, results };
}

/** Changes whenever `generate` does, so that a stale problem is regenerated. */
const STAMP = { generator: 1, seed: 2021, videos: VIDEOS, frames: FRAMES, size: [HEIGHT, WIDTH] };

interface Timing {
  wall: number;
  cpu: number | null;
  stdout: string;
}

/** Runs a command, timing it (CPU from /usr/bin/time when present). */
function timed(command: string[]): Timing {
  const time = existsSync("/usr/bin/time") ? ["/usr/bin/time", "-f", "cpu %U %S"] : [];
  const t0 = performance.now();
  const run = spawnSync(
    time[0] ?? command[0],
    [...time.slice(1), ...(time.length ? command : command.slice(1))],
    {
      encoding: "utf8",
      maxBuffer: 1 << 26,
    },
  );
  const wall = (performance.now() - t0) / 1000;
  if (run.status !== 0) throw new Error(`${command.join(" ")} failed:\n${run.stderr}`);
  const cpuLine = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(run.stderr);
  return { wall, cpu: cpuLine ? Number(cpuLine[1]) + Number(cpuLine[2]) : null, stdout: run.stdout };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function report(name: string, timings: Timing[]): number {
  const wall = median(timings.map((t) => t.wall));
  const cpus = timings.flatMap((t) => (t.cpu === null ? [] : [t.cpu]));
  const runs = timings.map((t) => t.wall.toFixed(2)).join(", ");
  console.log(
    `${name.padEnd(44)} ${wall.toFixed(2)} s wall (runs ${runs})` +
      (cpus.length ? `, ${median(cpus).toFixed(2)} s CPU` : ""),
  );
  return wall;
}

async function main(): Promise<void> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const dir = arg("--out") ?? join(tmpdir(), "vidseg-bench-eval-ytvis");
  const repeats = Number(arg("--repeats") ?? 3);
  const gtFile = join(dir, "gt.json");
  const resultsFile = join(dir, "results.json");
  const stampFile = join(dir, "stamp.json");
  const mb = (file: string) => (statSync(file).size / 1e6).toFixed(1);

  const stamp = JSON.stringify(STAMP);
  const fresh = existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && existsSync(resultsFile);
  if (!fresh || process.argv.includes("--regenerate")) {
    const t0 = performance.now();
    const { gt, results } = generate(STAMP.seed);
    await writeYtvis(gtFile, gt);
    await writeResults(resultsFile, results);
    writeFileSync(stampFile, stamp);
    console.log(`generated in ${seconds(t0)} s`);
  }
  console.log(
    `problem: ${VIDEOS} videos × ${FRAMES} frames at ${HEIGHT}×${WIDTH}, ${mb(gtFile)} MB of GT + ` +
      `${mb(resultsFile)} MB of results → ${dir}`,
  );
  console.log(
    `machine: ${availableParallelism()} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}, ` +
      `load average ${loadavg()[0].toFixed(2)} at the start`,
  );

  const cli = existsSync("dist/cli/main.js")
    ? ["node", "dist/cli/main.js"]
    : [process.execPath, "--import", "tsx", "src/cli/main.ts"];
  const ours = [...cli, "eval", "ytvis", "--gt", gtFile, "--results", resultsFile, "--json"];
  const refs = process.env.VIDSEG_REFS ?? ".refs";
  const official = existsSync(join(refs, "pycocotools", "ytvoseval.py"))
    ? ["/usr/bin/python3", "scripts/vis_reference.py", "eval", "--gt", gtFile, "--results", resultsFile]
    : null;
  if (!official) console.log(`official evaluator: not found under ${refs}/ (see scripts/vis_reference.py)`);

  const oursRuns: Timing[] = [];
  const officialRuns: Timing[] = [];
  for (let r = 0; r < repeats; r++) {
    oursRuns.push(timed(ours));
    if (official) officialRuns.push(timed(official));
  }
  const inProcess = async (threads?: number) => {
    const t0 = performance.now();
    await evaluateYtvisFiles({ gtFile, resultsFile, threads });
    return (performance.now() - t0) / 1000;
  };
  const oneThread: number[] = [];
  const allThreads: number[] = [];
  for (let r = 0; r < repeats; r++) {
    oneThread.push(await inProcess(1));
    allThreads.push(await inProcess(availableParallelism()));
  }

  console.log(`\nmedians of ${repeats} runs each:`);
  const oursWall = report(`vidseg eval ytvis (${cli.slice(0, 2).join(" ")} …)`, oursRuns);
  console.log(
    `${"in process, evaluateYtvisFiles, 1 thread".padEnd(44)} ${median(oneThread).toFixed(2)} s wall`,
  );
  console.log(
    `${`in process, evaluateYtvisFiles, ${availableParallelism()} threads`.padEnd(44)} ` +
      `${median(allThreads).toFixed(2)} s wall`,
  );
  const stats = JSON.parse(oursRuns[0].stdout).stats as Record<string, number>;
  console.log(`AP ${stats.AP.toFixed(4)}  AP50 ${stats.AP50.toFixed(4)}  AR100 ${stats.AR100.toFixed(4)}`);
  if (official) {
    const officialWall = report("official YTVOSeval (python3 scripts/vis_reference.py eval)", officialRuns);
    const theirs = JSON.parse(officialRuns[0].stdout).stats as Record<string, number>;
    const diff = Math.max(...Object.keys(theirs).map((k) => Math.abs(theirs[k] - stats[k])));
    console.log(`max abs difference of the 12 stats: ${diff}`);
    console.log(`vidseg / official, end to end: ${(oursWall / officialWall).toFixed(2)}×`);
  }
  console.log(`load average ${loadavg()[0].toFixed(2)} at the end`);
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(2);
}

await main();
