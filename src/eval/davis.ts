/**
 * DAVIS-2017 J (region) and F (boundary) evaluation, number for number what the official
 * davis2017-evaluation computes (semi-supervised and unsupervised tasks), quirks included:
 * - void (255 in GT) is read before 255 is turned into background; the unsupervised task (so Ref-DAVIS17
 *   too) masks both label maps by ¬void, which leaves void pixels out of J's intersection and union and
 *   out of both boundaries of F; the semi-supervised task passes no void map, so there void is background;
 * - GT objects are 1..max(label in the first GT frame); predicted objects are 1..max(label over the
 *   scored frames of the prediction);
 * - J = |S∧G| / |S∨G|, 1 when the union is empty;
 * - F: one-pixel boundaries (seg2bmap), each dilated by a disk of radius ceil(0.008·‖(H, W)‖), with
 *   the reference's empty cases;
 * - semi-supervised: first and last frames dropped; more predicted objects than GT objects is an error,
 *   fewer are padded with empty masks (and scored);
 * - unsupervised: at most 20 proposals, padded with empty ones up to the GT count; all frames; one
 *   proposal per object by linear sum assignment on −(mean J + mean F)/2; as in the reference, the
 *   k-th per-object entry of a sequence is the k-th matched pair in ascending proposal order;
 * - per object: Mean = nanmean, Recall = mean(v > 0.5), Decay over 4 temporal bins;
 * - global stats pool all objects of all sequences.
 * Sums use NumPy's pairwise summation so that means agree to the last bit (this matters for ties in the
 * assignment).
 *
 * The boundary match (|B ∧ dilate(B')|) is computed without dilating images: a boundary pixel matches
 * when some pixel of the other boundary lies in the disk around it, tested through per-row distances
 * to the nearest boundary pixel.
 */
import { check, VidsegError } from "../core/errors.js";
import {
  DAVIS_VOID_LABEL,
  imageSize,
  listSequenceFrames,
  readImageSet,
  readMasks,
  resultMaskPath,
  type DavisTask,
} from "../formats/davis.js";
import type { LabelMap } from "../formats/png.js";
import { linearSumAssignment } from "../math/hungarian.js";
import { numpyMean, numpyNanMean } from "../math/numpy.js";

export const DAVIS_MAX_PROPOSALS = 20;
/** Boundary tolerance as a fraction of the image diagonal. */
export const DAVIS_BOUND_TH = 0.008;

export const DAVIS_GLOBAL_STATS = [
  "J&F-Mean",
  "J-Mean",
  "J-Recall",
  "J-Decay",
  "F-Mean",
  "F-Recall",
  "F-Decay",
] as const;
export const DAVIS_OBJECT_STATS = ["J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"] as const;

export type DavisGlobalStats = Record<(typeof DAVIS_GLOBAL_STATS)[number], number>;
export type DavisObjectStats = Record<(typeof DAVIS_OBJECT_STATS)[number], number>;

export interface DavisResult {
  global: DavisGlobalStats;
  /** Key `<sequence>_<k>`, k from 1, in sequence order then object order. */
  per_object: Record<string, DavisObjectStats>;
}

/** Per-frame J and F of one scored object of one sequence. */
export interface ObjectSeries {
  name: string;
  j: Float64Array;
  f: Float64Array;
}

// ---------------------------------------------------------------------------------------------------
// NumPy-compatible reductions

/** np.round (half to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Mean, Recall and Decay of per-frame values, as the reference's db_statistics. */
export function dbStatistics(values: Float64Array): { mean: number; recall: number; decay: number } {
  const n = values.length;
  const mean = numpyNanMean(values);
  let above = 0;
  for (const v of values) if (v > 0.5) above++;
  const recall = above / n;
  // Bin edges: round(linspace(1, N, 5) + 1e-10) - 1, cast to uint8 as the reference does.
  const step = (n - 1) / 4;
  const ids: number[] = [];
  for (let k = 0; k < 5; k++) {
    const point = k === 4 ? n : k * step + 1;
    ids.push((((roundHalfEven(point + 1e-10) - 1) % 256) + 256) % 256);
  }
  const bin = (k: number) => values.subarray(Math.min(ids[k]!, n), Math.min(ids[k + 1]! + 1, n));
  const decay = numpyNanMean(bin(0)) - numpyNanMean(bin(3));
  return { mean, recall, decay };
}

// ---------------------------------------------------------------------------------------------------
// Frame measures

/** Boundary tolerance in pixels for an H×W image. */
export function boundaryRadius(height: number, width: number): number {
  return Math.ceil(DAVIS_BOUND_TH * Math.sqrt(height * height + width * width));
}

/** Half-widths of the disk rows: w[d] = largest w with w² + d² ≤ r² (skimage.morphology.disk). */
function diskHalfWidths(r: number): Int32Array {
  const widths = new Int32Array(r + 1);
  for (let d = 0; d <= r; d++) {
    let w = Math.floor(Math.sqrt(r * r - d * d));
    while (w * w + d * d > r * r) w--;
    while ((w + 1) * (w + 1) + d * d <= r * r) w++;
    widths[d] = w;
  }
  return widths;
}

/** The seg2bmap boundary of one label: its pixels and, once needed, a near-lookup structure. */
class Boundary {
  pixels: Int32Array = new Int32Array(16);
  count = 0;
  minX = Infinity;
  maxX = -Infinity;
  minY = Infinity;
  maxY = -Infinity;
  private rowDistance?: Uint16Array;
  private gridX0 = 0;
  private gridWidth = 0;

  add(index: number, x: number, y: number): void {
    if (this.count === this.pixels.length) {
      const grown = new Int32Array(this.pixels.length * 2);
      grown.set(this.pixels);
      this.pixels = grown;
    }
    this.pixels[this.count++] = index;
    if (x < this.minX) this.minX = x;
    if (x > this.maxX) this.maxX = x;
    if (y < this.minY) this.minY = y;
    if (y > this.maxY) this.maxY = y;
  }

  /**
   * Builds, over the boundary's rows and its columns widened by r, the horizontal distance from each
   * cell to the nearest boundary pixel of the same row (capped at r + 1).
   */
  private prepare(width: number, r: number): void {
    const x0 = Math.max(0, this.minX - r);
    const x1 = Math.min(width - 1, this.maxX + r);
    const gridWidth = x1 - x0 + 1;
    const rows = this.maxY - this.minY + 1;
    const cap = r + 1;
    const grid = new Uint16Array(rows * gridWidth).fill(cap);
    for (let k = 0; k < this.count; k++) {
      const index = this.pixels[k]!;
      const y = Math.floor(index / width);
      grid[(y - this.minY) * gridWidth + (index - y * width) - x0] = 0;
    }
    for (let row = 0; row < rows; row++) {
      const base = row * gridWidth;
      let last = cap;
      for (let c = 0; c < gridWidth; c++) {
        if (grid[base + c] === 0) last = 0;
        else if (last < cap) grid[base + c] = ++last;
      }
      last = cap;
      for (let c = gridWidth - 1; c >= 0; c--) {
        const value = grid[base + c]!;
        if (value === 0) last = 0;
        else if (last < cap) {
          last++;
          if (last < value) grid[base + c] = last;
        }
      }
    }
    this.rowDistance = grid;
    this.gridX0 = x0;
    this.gridWidth = gridWidth;
  }

  /** How many of `other`'s pixels lie within distance r of this boundary (|other ∧ dilate(this)|). */
  countNear(other: Boundary, width: number, r: number, halfWidths: Int32Array): number {
    if (this.count === 0 || other.count === 0) return 0;
    if (
      other.maxX < this.minX - r ||
      other.minX > this.maxX + r ||
      other.maxY < this.minY - r ||
      other.minY > this.maxY + r
    ) {
      return 0;
    }
    if (this.rowDistance === undefined) this.prepare(width, r);
    const grid = this.rowDistance!;
    const x0 = this.gridX0;
    const gridWidth = this.gridWidth;
    let matched = 0;
    for (let k = 0; k < other.count; k++) {
      const index = other.pixels[k]!;
      const y = Math.floor(index / width);
      const x = index - y * width;
      const c = x - x0;
      if (c < 0 || c >= gridWidth) continue;
      const dyFrom = Math.max(-r, this.minY - y);
      const dyTo = Math.min(r, this.maxY - y);
      for (let dy = dyFrom; dy <= dyTo; dy++) {
        if (grid[(y + dy - this.minY) * gridWidth + c]! <= halfWidths[dy < 0 ? -dy : dy]!) {
          matched++;
          break;
        }
      }
    }
    return matched;
  }
}

/**
 * seg2bmap boundaries of labels 1..labelCount of a label map: a pixel is on label k's boundary when
 * (pixel == k) differs from (neighbour == k) for one of its neighbours, the neighbours being right,
 * lower and lower-right; on the last row only the right one, on the last column only the lower one,
 * and none for the bottom-right corner.
 */
function labelBoundaries(labels: Uint8Array, width: number, height: number, labelCount: number): Boundary[] {
  const boundaries = Array.from({ length: labelCount + 1 }, () => new Boundary());
  // Marks pixel (x, y) as a boundary pixel of `a` and of every differing neighbour label.
  const markAll = (index: number, x: number, y: number, a: number, r: number, d: number, g: number) => {
    if (a !== 0 && a <= labelCount) boundaries[a]!.add(index, x, y);
    if (r !== a && r !== 0 && r <= labelCount) boundaries[r]!.add(index, x, y);
    if (d !== a && d !== r && d !== 0 && d <= labelCount) boundaries[d]!.add(index, x, y);
    if (g !== a && g !== r && g !== d && g !== 0 && g <= labelCount) boundaries[g]!.add(index, x, y);
  };
  for (let y = 0; y < height - 1; y++) {
    const row = y * width;
    for (let x = 0; x < width - 1; x++) {
      const index = row + x;
      const a = labels[index]!;
      const r = labels[index + 1]!;
      const d = labels[index + width]!;
      const g = labels[index + width + 1]!;
      if (a !== r || a !== d || a !== g) markAll(index, x, y, a, r, d, g);
    }
    // Last column: the lower neighbour only.
    const index = row + width - 1;
    const a = labels[index]!;
    const d = labels[index + width]!;
    if (a !== d) markAll(index, width - 1, y, a, a, d, a);
  }
  // Last row: the right neighbour only (the bottom-right corner is never a boundary pixel).
  const row = (height - 1) * width;
  for (let x = 0; x < width - 1; x++) {
    const a = labels[row + x]!;
    const r = labels[row + x + 1]!;
    if (a !== r) markAll(row + x, x, height - 1, a, r, a, a);
  }
  return boundaries;
}

/** F from the boundary sizes and matched counts, with the reference's empty cases. */
function fFromCounts(predCount: number, gtCount: number, predMatched: number, gtMatched: number): number {
  let precision: number;
  let recall: number;
  if (predCount === 0 && gtCount > 0) {
    precision = 1;
    recall = 0;
  } else if (predCount > 0 && gtCount === 0) {
    precision = 0;
    recall = 1;
  } else if (predCount === 0 && gtCount === 0) {
    precision = 1;
    recall = 1;
  } else {
    precision = predMatched / predCount;
    recall = gtMatched / gtCount;
  }
  return precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
}

/**
 * J and F of every (predicted label p in 1..predCount) × (GT label g in 1..gtCount) pair on one frame.
 * Labels outside 1..count are background. `diagonalOnly` restricts the work to the pairs p = g (the
 * semi-supervised task); results are indexed [(p-1) * gtCount + (g-1)].
 */
export function framePairMeasures(
  pred: Uint8Array,
  gt: Uint8Array,
  width: number,
  height: number,
  predCount: number,
  gtCount: number,
  diagonalOnly = false,
): { j: Float64Array; f: Float64Array } {
  const stride = gtCount + 1;
  // Pixel counts per (predicted label, GT label); labels outside 1..count are background.
  const predIndex = new Int32Array(256);
  const gtIndex = new Int32Array(256);
  for (let v = 1; v <= predCount; v++) predIndex[v] = v * stride;
  for (let v = 1; v <= gtCount; v++) gtIndex[v] = v;
  const joint = new Int32Array((predCount + 1) * stride);
  for (let i = 0; i < pred.length; i++) joint[predIndex[pred[i]!]! + gtIndex[gt[i]!]!]++;
  const predArea = new Float64Array(predCount + 1);
  const gtArea = new Float64Array(gtCount + 1);
  for (let p = 0; p <= predCount; p++) {
    for (let g = 0; g <= gtCount; g++) {
      predArea[p] += joint[p * stride + g]!;
      gtArea[g] += joint[p * stride + g]!;
    }
  }
  const r = boundaryRadius(height, width);
  const halfWidths = diskHalfWidths(r);
  const predBoundaries = labelBoundaries(pred, width, height, predCount);
  const gtBoundaries = labelBoundaries(gt, width, height, gtCount);
  const j = new Float64Array(predCount * gtCount);
  const f = new Float64Array(predCount * gtCount);
  for (let p = 1; p <= predCount; p++) {
    for (let g = 1; g <= gtCount; g++) {
      if (diagonalOnly && p !== g) continue;
      const k = (p - 1) * gtCount + (g - 1);
      const inter = joint[p * stride + g]!;
      const union = predArea[p]! + gtArea[g]! - inter;
      j[k] = union === 0 ? 1 : inter / union;
      const pb = predBoundaries[p]!;
      const gb = gtBoundaries[g]!;
      f[k] = fFromCounts(
        pb.count,
        gb.count,
        gb.countNear(pb, width, r, halfWidths),
        pb.countNear(gb, width, r, halfWidths),
      );
    }
  }
  return { j, f };
}

/** J of two binary masks (nonzero = foreground): 1 when both are empty. */
export function jaccard(pred: Uint8Array, gt: Uint8Array): number {
  check(pred.length === gt.length, `mask sizes differ (${pred.length} vs ${gt.length} pixels)`);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0;
    const g = gt[i] !== 0;
    if (p && g) inter++;
    if (p || g) union++;
  }
  return union === 0 ? 1 : inter / union;
}

function binarize(mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask[i] ? 1 : 0;
  return out;
}

/** F (boundary measure) of two binary H×W masks (nonzero = foreground). */
export function boundaryF(pred: Uint8Array, gt: Uint8Array, width: number, height: number): number {
  check(
    pred.length === width * height && gt.length === width * height,
    `mask sizes differ from ${width}×${height}`,
  );
  return framePairMeasures(binarize(pred), binarize(gt), width, height, 1, 1).f[0]!;
}

/** J and F of two binary masks in one pass (the per-expression referring protocol uses this). */
export function binaryJF(
  pred: Uint8Array,
  gt: Uint8Array,
  width: number,
  height: number,
): { j: number; f: number } {
  const { j, f } = framePairMeasures(binarize(pred), binarize(gt), width, height, 1, 1);
  return { j: j[0]!, f: f[0]! };
}

// ---------------------------------------------------------------------------------------------------
// Sequences

function maxLabel(masks: readonly LabelMap[]): number {
  let max = 0;
  for (const mask of masks) {
    const data = mask.data;
    for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
  }
  return max;
}

/** GT labels with void (255) turned into background, as the reference reads them. */
function gtLabels(mask: LabelMap): Uint8Array {
  const data = new Uint8Array(mask.data);
  for (let i = 0; i < data.length; i++) if (data[i] === DAVIS_VOID_LABEL) data[i] = 0;
  return data;
}

/** The void map of a GT frame (255), or null when it has no void pixel. */
function voidMap(mask: LabelMap): Uint8Array | null {
  let found = false;
  const map = new Uint8Array(mask.data.length);
  for (let i = 0; i < map.length; i++) {
    if (mask.data[i] === DAVIS_VOID_LABEL) {
      map[i] = 1;
      found = true;
    }
  }
  return found ? map : null;
}

/** Labels times ¬void: void pixels become background (a copy; `labels` is left as it is). */
function withoutVoid(labels: Uint8Array, voidPixels: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels);
  for (let i = 0; i < out.length; i++) if (voidPixels[i]) out[i] = 0;
  return out;
}

/**
 * Scores one sequence. `gt` holds every GT frame (all listed frames of the sequence); `pred` holds the
 * predictions of the scored frames (all frames for unsupervised, frames 1..T-2 for semi-supervised).
 * Returns one series per GT object, named `<sequence>_<k>`.
 */
export function scoreSequence(
  task: DavisTask,
  sequence: string,
  gt: readonly LabelMap[],
  pred: readonly LabelMap[],
  where = sequence,
): ObjectSeries[] {
  check(gt.length > 0, "sequence has no GT frames", where);
  const gtScored = task === "semi-supervised" ? gt.slice(1, -1) : gt;
  if (task === "semi-supervised") {
    check(
      gtScored.length > 0,
      `semi-supervised needs at least 3 frames, the sequence has ${gt.length}`,
      where,
    );
  }
  check(
    pred.length === gtScored.length,
    `${pred.length} predicted frames for ${gtScored.length} scored frames`,
    where,
  );
  const { width, height } = gt[0]!;
  const objectCount = maxLabel([{ ...gt[0]!, data: gtLabels(gt[0]!) }]);
  let proposalCount = maxLabel(pred);
  if (task === "semi-supervised") {
    check(
      proposalCount <= objectCount,
      `the predictions have label ${proposalCount}, more than the ${objectCount} object(s) of the first GT frame`,
      where,
    );
  } else {
    check(
      proposalCount <= DAVIS_MAX_PROPOSALS,
      `the predictions have label ${proposalCount}, more than the ${DAVIS_MAX_PROPOSALS} proposals allowed`,
      where,
    );
  }
  // Missing objects (or proposals, up to the GT count) are empty masks, scored like the others.
  proposalCount = Math.max(proposalCount, objectCount);
  const frames = gtScored.length;
  // Per pair (proposal p, object g) and frame t: index ((p * objectCount) + g) * frames + t.
  const jAll = new Float64Array(proposalCount * objectCount * frames);
  const fAll = new Float64Array(proposalCount * objectCount * frames);
  for (let t = 0; t < frames; t++) {
    const g = gtScored[t]!;
    const p = pred[t]!;
    check(g.width === width && g.height === height, `GT frame ${t} size differs from the first frame`, where);
    check(
      p.width === width && p.height === height,
      `predicted frame ${t} is ${p.width}×${p.height}, GT is ${width}×${height}`,
      where,
    );
    // J leaves void out of intersection and union, F out of both boundaries: both are the measures of
    // the label maps times ¬void (unsupervised task only).
    const voidPixels = task === "unsupervised" ? voidMap(g) : null;
    const measures = framePairMeasures(
      voidPixels ? withoutVoid(p.data, voidPixels) : p.data,
      gtLabels(g),
      width,
      height,
      proposalCount,
      objectCount,
      task === "semi-supervised",
    );
    for (let k = 0; k < proposalCount * objectCount; k++) {
      jAll[k * frames + t] = measures.j[k]!;
      fAll[k * frames + t] = measures.f[k]!;
    }
  }
  const series = (p: number, g: number) => {
    const k = p * objectCount + g;
    return {
      j: jAll.slice(k * frames, (k + 1) * frames),
      f: fAll.slice(k * frames, (k + 1) * frames),
    };
  };
  if (task === "semi-supervised") {
    return Array.from({ length: objectCount }, (_, k) => ({ name: `${sequence}_${k + 1}`, ...series(k, k) }));
  }
  // Unsupervised: assign proposals to objects on the mean of (J + F) / 2.
  const cost: number[][] = [];
  for (let p = 0; p < proposalCount; p++) {
    const row: number[] = [];
    for (let g = 0; g < objectCount; g++) {
      const k = p * objectCount + g;
      const meanJ = numpyMean(jAll.subarray(k * frames, (k + 1) * frames));
      const meanF = numpyMean(fAll.subarray(k * frames, (k + 1) * frames));
      row.push(-((meanJ + meanF) / 2));
    }
    cost.push(row);
  }
  const { rows, cols } = linearSumAssignment(cost);
  return rows.map((p, k) => ({ name: `${sequence}_${k + 1}`, ...series(p, cols[k]!) }));
}

/** Per-object statistics and the pooled global table from scored objects, as the reference does. */
export function summarize(objects: readonly ObjectSeries[]): DavisResult {
  const per_object: Record<string, DavisObjectStats> = {};
  const jm: number[] = [];
  const jr: number[] = [];
  const jd: number[] = [];
  const fm: number[] = [];
  const fr: number[] = [];
  const fd: number[] = [];
  for (const object of objects) {
    const js = dbStatistics(object.j);
    const fs = dbStatistics(object.f);
    jm.push(js.mean);
    jr.push(js.recall);
    jd.push(js.decay);
    fm.push(fs.mean);
    fr.push(fs.recall);
    fd.push(fs.decay);
    per_object[object.name] = {
      "J-Mean": js.mean,
      "J-Recall": js.recall,
      "J-Decay": js.decay,
      "F-Mean": fs.mean,
      "F-Recall": fs.recall,
      "F-Decay": fs.decay,
    };
  }
  const jMean = numpyMean(jm);
  const fMean = numpyMean(fm);
  return {
    global: {
      "J&F-Mean": (jMean + fMean) / 2,
      "J-Mean": jMean,
      "J-Recall": numpyMean(jr),
      "J-Decay": numpyMean(jd),
      "F-Mean": fMean,
      "F-Recall": numpyMean(fr),
      "F-Decay": numpyMean(fd),
    },
    per_object,
  };
}

export interface DavisEvalOptions {
  davisRoot: string;
  resultsDir: string;
  task: DavisTask;
  /** Image set name (ImageSets/2017/<set>.txt); default "val". */
  set?: string;
  /** Evaluate only these sequences (default: the whole set). */
  sequences?: readonly string[];
  /** Called after each sequence (for progress display). */
  onSequence?: (sequence: string, done: number, total: number) => void;
}

/** Evaluates a results folder against a DAVIS-2017 root, as evaluation_method.py does. */
export async function evaluateDavis(options: DavisEvalOptions): Promise<DavisResult> {
  const { davisRoot, resultsDir, task } = options;
  const sequences = options.sequences ?? (await readImageSet(davisRoot, options.set ?? "val"));
  const objects: ObjectSeries[] = [];
  for (const [done, sequence] of sequences.entries()) {
    const listing = await listSequenceFrames(davisRoot, task, sequence);
    const size = await imageSize(listing.imageFiles[0]!);
    const gt = await readMasks(listing.maskFiles, size);
    const scoredFrames = task === "semi-supervised" ? listing.frames.slice(1, -1) : listing.frames;
    if (scoredFrames.length === 0) {
      throw new VidsegError(
        `semi-supervised needs at least 3 frames, the sequence has ${listing.frames.length}`,
        listing.maskFiles[0],
      );
    }
    const pred = await readMasks(
      scoredFrames.map((frame) => resultMaskPath(resultsDir, sequence, frame)),
      size,
      "the GT mask",
    );
    objects.push(...scoreSequence(task, sequence, gt, pred, `${resultsDir}/${sequence}`));
    options.onSequence?.(sequence, done + 1, sequences.length);
  }
  return summarize(objects);
}

// ---------------------------------------------------------------------------------------------------
// CSV output (as evaluation_method.py writes it with pandas, float_format="%.3f")

/** Python's "%.3f" (and pandas' float_format): exact value rounded half to even; NaN as empty. */
export function formatFixed(value: number, digits = 3): string {
  if (Number.isNaN(value)) return "";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  const negative = value < 0 || Object.is(value, -0);
  // toFixed(100) is the exact decimal expansion for every double of magnitude ≥ 2^-47; smaller values
  // cannot be ties at 3 decimals.
  const exact = Math.abs(value).toFixed(100);
  const [whole, fraction] = exact.split(".") as [string, string];
  const scaled = BigInt(whole + fraction.slice(0, digits));
  const rest = fraction.slice(digits);
  const half = "5" + "0".repeat(rest.length - 1);
  let rounded = scaled;
  if (rest > half || (rest === half && scaled % 2n === 1n)) rounded += 1n;
  const text = rounded.toString().padStart(digits + 1, "0");
  const body = `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return (negative ? "-" : "") + body;
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The two CSV files of the official tool: `global_results-<set>.csv`, `per-sequence_results-<set>.csv`. */
export function davisCsvFiles(result: DavisResult, set: string): { name: string; content: string }[] {
  const global =
    DAVIS_GLOBAL_STATS.join(",") +
    "\n" +
    DAVIS_GLOBAL_STATS.map((k) => formatFixed(result.global[k])).join(",") +
    "\n";
  let perSequence = "Sequence,J-Mean,F-Mean\n";
  for (const [name, stats] of Object.entries(result.per_object)) {
    perSequence += `${csvField(name)},${formatFixed(stats["J-Mean"])},${formatFixed(stats["F-Mean"])}\n`;
  }
  return [
    { name: `global_results-${set}.csv`, content: global },
    { name: `per-sequence_results-${set}.csv`, content: perSequence },
  ];
}
