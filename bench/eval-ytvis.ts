/**
 * Speed of the YouTube-VIS evaluator on a YouTube-VIS-2021-val-sized problem: 450 videos of 30 frames at
 * 720×1280, 40 categories, 1–4 GT tracks and 10 detections per video, RLE masks.
 *
 *   npm run bench:eval [-- --out DIR]
 *
 * The problem is generated deterministically (ellipses moving over the frames; detections are shifted,
 * rescaled copies of GT tracks, some with the wrong category, plus random ones), written to DIR (default:
 * a folder in the system temp dir, kept so that the official evaluator can be timed on the same files:
 * `python3 scripts/vis_reference.py eval --gt DIR/gt.json --results DIR/results.json`), then read,
 * validated and evaluated. Prints the seconds of each step.
 */
import { statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Rng } from "../src/core/rng.js";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import {
  readResults,
  readYtvis,
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

async function main(): Promise<void> {
  const outIndex = process.argv.indexOf("--out");
  const dir = outIndex > 0 ? process.argv[outIndex + 1] : join(tmpdir(), "vidseg-bench-eval-ytvis");
  const gtFile = join(dir, "gt.json");
  const resultsFile = join(dir, "results.json");

  let t0 = performance.now();
  const { gt, results } = generate(2021);
  await writeYtvis(gtFile, gt);
  await writeResults(resultsFile, results);
  const mb = (file: string) => (statSync(file).size / 1e6).toFixed(1);
  console.log(
    `generated ${gt.videos.length} videos × ${FRAMES} frames at ${HEIGHT}×${WIDTH}, ${gt.annotations.length} GT tracks, ` +
      `${results.length} detections (${mb(gtFile)} MB + ${mb(resultsFile)} MB) in ${seconds(t0)} s → ${dir}`,
  );

  t0 = performance.now();
  const gtRead = await readYtvis(gtFile);
  const resultsRead = await readResults(resultsFile, gtRead);
  const load = seconds(t0);
  t0 = performance.now();
  const { stats } = evaluateYtvis(gtRead, resultsRead);
  const evaluate = seconds(t0);
  console.log(`load + validate: ${load} s`);
  console.log(`evaluate:        ${evaluate} s`);
  console.log(`total:           ${(Number(load) + Number(evaluate)).toFixed(2)} s`);
  console.log(`AP ${stats.AP.toFixed(4)}  AP50 ${stats.AP50.toFixed(4)}  AR100 ${stats.AR100.toFixed(4)}`);
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(2);
}

await main();
