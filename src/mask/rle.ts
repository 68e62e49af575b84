/**
 * COCO run-length encoding, byte-compatible with pycocotools (`common/maskApi.c`).
 *
 * A mask of height h and width w is scanned in column-major order; `counts` alternates runs of 0s and
 * 1s, starting with a (possibly empty) run of 0s. Masks in vidseg are row-major `Uint8Array`s (any
 * non-zero byte is foreground); the encoder walks them column by column.
 */
import { VidsegError } from "../core/errors.js";
import { showValue } from "../core/json.js";

/** A decoded RLE: the run lengths of a column-major h×w mask. */
export interface Rle {
  readonly h: number;
  readonly w: number;
  readonly counts: readonly number[];
}

/** The JSON form used by COCO / YouTube-VIS: `counts` compressed (string) or uncompressed (numbers). */
export interface CocoRle {
  size: [number, number];
  counts: string | number[];
}

/** A box as COCO writes it: [x, y, width, height]. */
export type Bbox = [number, number, number, number];

/** Encodes a row-major binary mask (non-zero = foreground). */
export function encode(mask: ArrayLike<number>, h: number, w: number): Rle {
  if (mask.length !== h * w) {
    throw new VidsegError(`mask has ${mask.length} pixels, expected ${h}×${w} = ${h * w}`);
  }
  const counts: number[] = [];
  let previous = 0;
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0, i = x; y < h; y++, i += w) {
      const value = mask[i] ? 1 : 0;
      if (value !== previous) {
        counts.push(run);
        run = 0;
        previous = value;
      }
      run++;
    }
  }
  counts.push(run);
  return { h, w, counts };
}

/** Decodes to a row-major 0/1 mask. */
export function decode(rle: Rle): Uint8Array {
  const { h, w } = rle;
  const mask = new Uint8Array(h * w);
  let p = 0; // column-major position
  let value = 0;
  for (const run of rle.counts) {
    if (value) {
      for (let k = p; k < p + run; k++) {
        const x = Math.floor(k / h);
        mask[(k - x * h) * w + x] = 1;
      }
    }
    p += run;
    value ^= 1;
  }
  return mask;
}

/** The compressed string form (`rleToString`): LEB128-like, 6 bits a char, ASCII 48–111, deltas from i > 2. */
export function countsToString(counts: readonly number[]): string {
  let out = "";
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f; // low 5 bits of the two's complement value
      x = Math.floor(x / 32); // arithmetic shift right by 5
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

// The compressed string form, read (`rleFrString`) ------------------------------------------------

/**
 * Largest run length: pycocotools stores counts as C `uint` (32 bits), so a 50000×50000 mask's run of
 * 2.2e9 is valid, and nothing above 2^32 − 1 can be.
 */
export const MAX_RUN_LENGTH = 0xffffffff;

/**
 * Most 5-bit groups in one number of the string form. A delta of two uint32 counts needs at most 7;
 * longer numbers (up to 13) are read exactly and accepted when their value fits, as pycocotools would
 * read them; anything longer is rejected.
 */
export const MAX_GROUPS = 13;

/** Where a string is, for error messages; a function when building the path costs more than reading. */
export type Where = string | (() => string);

/** The runs of the last decoded string; grown on demand and reused, so decoding allocates nothing. */
let scratch = new Uint32Array(4096);

/** What the last `decodeCounts` found besides the runs (its callers copy what they need). */
const decoded: CountsSummary = { total: 0, area: 0, first: -1, last: -1 };

/**
 * THE reader of the compressed string form, under one rule: characters '0'..'o', at most `MAX_GROUPS`
 * groups a number, and every run (after adding back the count two before it, for runs past the third)
 * an integer in [0, 2^32 − 1], as pycocotools' uint counts. Writes the runs to `out` from `offset`, which
 * must have room for `s.length` of them (a run takes at least one character), leaves their sum, area
 * and foreground span in `decoded`, and returns their number. Any break of the rule is one VidsegError
 * naming `file` and `where`.
 *
 * This is the evaluator's hot loop: numbers of up to 6 groups (30 bits, every run below 2^30) are read
 * with int32 shifts; longer ones go to `readLongNumber`.
 */
function decodeCounts(
  s: string,
  out: Uint32Array,
  offset: number,
  where: Where,
  file: string | undefined,
): number {
  const n = s.length;
  let m = 0;
  let p = 0;
  let previous = 0; // run m − 1
  let beforePrevious = 0; // run m − 2
  let total = 0;
  let area = 0;
  let first = -1;
  let last = -1;
  while (p < n) {
    const start = p;
    let value = 0;
    let shift = 0;
    let c: number;
    do {
      c = s.charCodeAt(p++) - 48; // NaN past the end, which ends the number (checked below)
      if ((c & ~63) !== 0) throw badCharacter(s, p - 1, where, file);
      value |= (c & 0x1f) << shift;
      shift += 5;
    } while (c & 0x20 && shift < 30);
    if (p > n) throw malformed("string ends inside a number", where, file);
    if (c & 0x20) {
      value = readLongNumber(s, start, m, where, file);
      p = longNumberEnd;
    } else if (c & 0x10) value -= 1 << shift; // sign extension
    const run = m > 2 ? value + beforePrevious : value;
    if (!(run >= 0 && run <= MAX_RUN_LENGTH)) {
      throw run < 0 ? malformed(`negative run length at run ${m}`, where, file) : overflow(m, where, file);
    }
    out[offset + m] = run;
    if (m & 1 && run > 0) {
      if (first < 0) first = total;
      last = total + run;
      area += run;
    }
    total += run;
    m++;
    beforePrevious = previous;
    previous = run;
  }
  decoded.total = total;
  decoded.area = area;
  decoded.first = first;
  decoded.last = last;
  return m;
}

/** Decodes into `scratch`, grown first if needed. */
function decodeIntoScratch(s: string, where: Where, file: string | undefined): number {
  if (scratch.length < s.length) scratch = new Uint32Array(Math.max(s.length, 2 * scratch.length));
  return decodeCounts(s, scratch, 0, where, file);
}

/** 32^k, to read 5-bit groups without bit shifts (which would truncate to 32 bits). */
const GROUP_SCALE = Array.from({ length: 8 }, (_, k) => 2 ** (5 * k));
const LOW_BITS = 2 ** 30;
/** Where the last `readLongNumber` stopped. */
let longNumberEnd = 0;

/** A number of 7 to `MAX_GROUPS` groups from `start`, read exactly (as low + high · 2^30). */
function readLongNumber(
  s: string,
  start: number,
  run: number,
  where: Where,
  file: string | undefined,
): number {
  let low = 0;
  let high = 0;
  let k = 0;
  let p = start;
  let c: number;
  do {
    if (p >= s.length) throw malformed("string ends inside a number", where, file);
    c = s.charCodeAt(p) - 48;
    if ((c & ~63) !== 0) throw badCharacter(s, p, where, file);
    if (k < 6) low += (c & 0x1f) * GROUP_SCALE[k];
    else if (k < MAX_GROUPS) high += (c & 0x1f) * GROUP_SCALE[k - 6];
    else
      throw malformed(
        `the number at character ${start} is longer than ${MAX_GROUPS} 5-bit groups`,
        where,
        file,
      );
    p++;
    k++;
  } while (c & 0x20);
  if (c & 0x10) high -= GROUP_SCALE[k - 6]; // sign extension (k ≥ 7 here)
  // |high| ≥ 8 means |value| > 2^32, out of range whatever it is added to.
  if (high < -8 || high > 8) throw overflow(run, where, file);
  longNumberEnd = p;
  return high * LOW_BITS + low;
}

function badCharacter(s: string, p: number, where: Where, file: string | undefined): VidsegError {
  return malformed(`character ${JSON.stringify(s[p])} at ${p} is not in '0'..'o'`, where, file);
}

function malformed(what: string, where: Where, file: string | undefined): VidsegError {
  return new VidsegError(`malformed RLE counts: ${what}`, file, typeof where === "string" ? where : where());
}

function overflow(run: number, where: Where, file: string | undefined): VidsegError {
  return malformed(
    `run ${run} exceeds ${MAX_RUN_LENGTH}, the largest count pycocotools can hold (uint32)`,
    where,
    file,
  );
}

/** Parses the compressed string form (`rleFrString`) into run lengths; errors name `file` and `where`. */
export function countsFromString(s: string, where = "counts", file?: string): number[] {
  return Array.from(scratch.subarray(0, decodeIntoScratch(s, where, file)));
}

/** What `measureCountsString` finds: pixels covered, foreground area and its column-major span. */
export interface CountsSummary {
  /** Sum of all runs (h·w for a well-formed RLE). */
  total: number;
  /** Foreground pixels (sum of the odd runs). */
  area: number;
  /** Column-major index of the first foreground pixel, -1 when empty. */
  first: number;
  /** One past the column-major index of the last foreground pixel, -1 when empty. */
  last: number;
}

/** Reads the compressed string form and sums it up without keeping the runs (validation, areas). */
export function measureCountsString(s: string, where = "counts", file?: string): CountsSummary {
  decodeIntoScratch(s, where, file);
  return { ...decoded };
}

/**
 * Decodes the string form into `out` from `offset` (room for `s.length` runs is needed: a run takes at
 * least one character), for callers that keep many frames' runs in one buffer; returns their number
 * and, in `summary` when given, what `measureCountsString` would.
 */
export function decodeCountsInto(
  s: string,
  out: Uint32Array,
  offset: number,
  where: Where = "counts",
  file?: string,
  summary?: CountsSummary,
): number {
  if (offset + s.length > out.length) throw new RangeError("decodeCountsInto: no room for the runs");
  const m = decodeCounts(s, out, offset, where, file);
  if (summary) Object.assign(summary, decoded);
  return m;
}

/** Pixels, area and foreground span of the first `m` runs. */
export function measureRuns(runs: ArrayLike<number>, m = runs.length): CountsSummary {
  let total = 0;
  let area = 0;
  let first = -1;
  let last = -1;
  for (let j = 0; j < m; j++) {
    const run = runs[j];
    if (j & 1 && run > 0) {
      if (first < 0) first = total;
      last = total + run;
      area += run;
    }
    total += run;
  }
  return { total, area, first, last };
}

/**
 * Checks the uncompressed form's list of runs (pycocotools reads it as uint32: each an integer in
 * [0, 2^32 − 1]) and returns their sum. Errors name `file` and `where[j]`.
 */
export function sumRunList(counts: readonly unknown[], where = "counts", file?: string): number {
  let total = 0;
  counts.forEach((run, j) => {
    if (typeof run !== "number" || !Number.isInteger(run) || run < 0 || run > MAX_RUN_LENGTH) {
      const shown = typeof run === "number" && !Number.isFinite(run) ? String(run) : showValue(run);
      throw new VidsegError(
        `malformed RLE counts: ${shown} is not a run length (an integer in [0, ${MAX_RUN_LENGTH}])`,
        file,
        `${where}[${j}]`,
      );
    }
    total += run;
  });
  return total;
}

/**
 * Converts the JSON form to an Rle, checking that the runs cover exactly h×w pixels. `where` names the
 * JSON path for error messages.
 */
export function fromCoco(coco: CocoRle, where = "segmentation", file?: string): Rle {
  if (!coco || !Array.isArray(coco.size) || coco.size.length !== 2) {
    throw new VidsegError("RLE needs a 'size' of [height, width]", file, where);
  }
  const [h, w] = coco.size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) {
    throw new VidsegError(`RLE size ${showValue(coco.size)} is not two non-negative integers`, file, where);
  }
  let counts: number[];
  let total = 0;
  if (typeof coco.counts === "string") {
    counts = countsFromString(coco.counts, `${where}.counts`, file);
    for (const c of counts) total += c;
  } else if (Array.isArray(coco.counts)) {
    total = sumRunList(coco.counts, `${where}.counts`, file);
    counts = coco.counts;
  } else {
    throw new VidsegError("RLE 'counts' must be a string or a list of run lengths", file, where);
  }
  if (total !== h * w) {
    throw new VidsegError(
      `malformed RLE counts: runs cover ${total} pixels but size ${h}×${w} has ${h * w}`,
      file,
      `${where}.counts`,
    );
  }
  return { h, w, counts };
}

/** The compressed JSON form, as pycocotools' `encode` returns it. */
export function toCoco(rle: Rle): CocoRle {
  return { size: [rle.h, rle.w], counts: countsToString(rle.counts) };
}

/** Number of foreground pixels. */
export function area(rle: Rle): number {
  let a = 0;
  for (let j = 1; j < rle.counts.length; j += 2) a += rle.counts[j];
  return a;
}

/** Tight box [x, y, w, h], with `rleToBbox`'s quirks (odd trailing run ignored; a run across columns spans all rows). */
export function toBbox(rle: Rle): Bbox {
  const { h, w } = rle;
  const m = Math.floor(rle.counts.length / 2) * 2;
  if (m === 0) return [0, 0, 0, 0];
  let xs = w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let cc = 0;
  let xp = 0;
  for (let j = 0; j < m; j++) {
    cc += rle.counts[j];
    const t = (cc - (j % 2)) >>> 0; // uint arithmetic, as in C
    const y = t % h;
    const x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = Math.min(xs, x);
    xe = Math.max(xe, x);
    ys = Math.min(ys, y);
    ye = Math.max(ye, y);
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/**
 * Union (default) or intersection of several RLEs (`rleMerge`). Masks of different sizes give an empty
 * 0×0 RLE, as in pycocotools.
 */
export function merge(rles: readonly Rle[], intersect = false): Rle {
  if (rles.length === 0) return { h: 0, w: 0, counts: [] };
  const { h, w } = rles[0];
  if (rles.length === 1) return { h, w, counts: [...rles[0].counts] };
  let counts = [...rles[0].counts];
  for (let i = 1; i < rles.length; i++) {
    const A = counts;
    const B = rles[i].counts;
    if (rles[i].h !== h || rles[i].w !== w) return { h: 0, w: 0, counts: [] };
    const out: number[] = [];
    let ca = A[0];
    let cb = B[0];
    let v = false;
    let va = false;
    let vb = false;
    let a = 1;
    let b = 1;
    let cc = 0;
    let ct = 1;
    while (ct > 0) {
      const c = Math.min(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < A.length) {
        ca = A[a++];
        va = !va;
      }
      ct += ca;
      cb -= c;
      if (!cb && b < B.length) {
        cb = B[b++];
        vb = !vb;
      }
      ct += cb;
      const vp: boolean = v;
      v = intersect ? va && vb : va || vb;
      if (v !== vp || ct === 0) {
        out.push(cc);
        cc = 0;
      }
    }
    counts = out;
  }
  return { h, w, counts };
}

/** IoU of two boxes, `bbIou` (crowd: divide by the detection's area). */
export function bboxIou(dt: Bbox, gt: Bbox, crowd = false): number {
  const w = Math.min(dt[2] + dt[0], gt[2] + gt[0]) - Math.max(dt[0], gt[0]);
  if (w <= 0) return 0;
  const h = Math.min(dt[3] + dt[1], gt[3] + gt[1]) - Math.max(dt[1], gt[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = dt[2] * dt[3];
  return i / (crowd ? da : da + gt[2] * gt[3] - i);
}

/**
 * IoU matrix `o[d][g]` of detections and GTs (`rleIou`): boxes first, 0 where they do not overlap, -1 for
 * a size mismatch, and for crowd GTs the intersection over the detection's area.
 */
export function iou(dts: readonly Rle[], gts: readonly Rle[], iscrowd: readonly boolean[] = []): number[][] {
  const db = dts.map(toBbox);
  const gb = gts.map(toBbox);
  return dts.map((dt, d) =>
    gts.map((gt, g) => {
      const crowd = iscrowd[g] ?? false;
      if (bboxIou(db[d], gb[g], crowd) <= 0) return 0;
      if (dt.h !== gt.h || dt.w !== gt.w) return -1;
      const i = area(merge([dt, gt], true));
      if (i === 0) return 0;
      const u = crowd ? area(dt) : area(merge([dt, gt], false));
      return i / u;
    }),
  );
}

/**
 * Spatio-temporal IoU of two per-frame mask lists, the YouTube-VIS evaluator's rule: intersections and
 * unions summed over the frames, a frame where one list has no mask (null) adding only the other's area.
 * 0 when both are empty everywhere.
 */
export function tubeIou(a: readonly (Rle | null)[], b: readonly (Rle | null)[]): number {
  let intersection = 0;
  let union = 0;
  for (let f = 0; f < Math.max(a.length, b.length); f++) {
    const x = a[f] ?? null;
    const y = b[f] ?? null;
    if (x && y) {
      const shared = area(merge([x, y], true));
      intersection += shared;
      union += area(x) + area(y) - shared;
    } else if (x) union += area(x);
    else if (y) union += area(y);
  }
  return union === 0 ? 0 : intersection / union;
}

/**
 * Rasterises one polygon [x0, y0, x1, y1, …] (`rleFrPoly`), bit for bit: coordinates are scaled by 5,
 * edges walked on the scaled lattice, and the crossings of pixel-centre columns turned back into runs.
 *
 * maskApi.c stores every lattice point of every edge, so its time and memory grow with the coordinates
 * (a polygon at 4e8 makes billions of points). Only the points around a pixel-centre column inside the
 * image can make a crossing, so this walks just those: per edge, the lattice steps whose x lies within
 * the image's scaled columns, found directly (x-major edges) or by bisection on the monotone rounded x
 * (y-major edges). The crossings, and so the runs, are those of the dense walk; the work per edge is
 * bounded by the image width (times a logarithm), whatever the coordinates.
 */
export function fromPolygon(xy: readonly number[], h: number, w: number): Rle {
  // maskApi.c computes positions as unsigned 32-bit h·w: beyond that they wrap.
  if (h * w > 2 ** 32 - 1)
    throw new VidsegError(`a ${h}×${w} mask has more than 2^32 − 1 pixels, more than COCO RLE can address`);
  const scale = 5;
  const k = Math.floor(xy.length / 2);
  const x: number[] = [];
  const y: number[] = [];
  for (let j = 0; j < k; j++) x.push(cInt(scale * xy[2 * j] + 0.5));
  for (let j = 0; j < k; j++) y.push(cInt(scale * xy[2 * j + 1] + 0.5));
  x.push(x[0]);
  y.push(y[0]);
  // Scaled x of the lattice points that can sit next to a pixel-centre column (5c + 2, c in [0, w)).
  const lowU = 0;
  const highU = scale * w + 1;
  const a: number[] = [];
  // One pair of consecutive lattice points (u0, v0) → (u1, v1) of maskApi.c's walk.
  const crossing = (u0: number, v0: number, u1: number, v1: number) => {
    if (u1 === u0) return;
    let xd = u1 < u0 ? u1 : u1 - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) return;
    let yd = v1 < v0 ? v1 : v0;
    yd = (yd + 0.5) / scale - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    a.push((xd * h + yd) >>> 0);
  };
  let previous: [number, number] | undefined; // the last point of the previous edge
  // Pixel-column steps walked: each may make a run, so this bounds the mask's size in memory.
  let steps = 0;
  const spend = (count: number) => {
    steps += count;
    if (steps > MAX_POLYGON_STEPS)
      throw new VidsegError(
        `polygon crosses more than ${MAX_POLYGON_STEPS} pixel columns of its ${h}×${w} image; too complex to rasterise`,
      );
  };
  for (let j = 0; j < k; j++) {
    let xs = x[j];
    let xe = x[j + 1];
    let ys = y[j];
    let ye = y[j + 1];
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      [xs, xe] = [xe, xs];
      [ys, ye] = [ye, ys];
    }
    const xMajor = dx >= dy;
    const s = xMajor ? (ye - ys) / dx : (xe - xs) / dy;
    const n = xMajor ? dx : dy;
    // The lattice point at parameter t (the walk visits t = 0..n, in reverse when flipped).
    const pointU = (t: number) => (xMajor ? t + xs : cInt(xs + s * t + 0.5));
    const pointV = (t: number) => (xMajor ? cInt(ys + s * t + 0.5) : t + ys);
    const first = flip ? n : 0;
    if (previous) crossing(previous[0], previous[1], pointU(first), pointV(first));
    previous = [pointU(n - first), pointV(n - first)];
    if (n === 0) continue;
    if (xMajor) {
      // u = t + xs: the pairs with u in [lowU, highU], each point computed once.
      const t0 = Math.max(0, lowU - xs);
      const t1 = Math.min(n - 1, highU - xs);
      spend(Math.max(0, t1 - t0 + 1));
      let u0 = t0 + xs;
      let v0 = cInt(ys + s * t0 + 0.5);
      for (let t = t0 + 1; t <= t1 + 1; t++) {
        const u1 = t + xs;
        const v1 = cInt(ys + s * t + 0.5);
        if (flip) crossing(u1, v1, u0, v0);
        else crossing(u0, v0, u1, v1);
        u0 = u1;
        v0 = v1;
      }
    } else {
      // u = cInt(xs + s·t + 0.5) is monotone in t: jump from each change of u to the next (galloping,
      // then bisection), starting where u enters [lowU, highU], so steep edges cost nothing.
      const rising = pointU(n) >= pointU(0);
      let t = Math.max(0, firstWhere(0, n, (q) => (rising ? pointU(q) >= lowU : pointU(q) <= highU)) - 1);
      let u = pointU(t);
      while (t < n && (rising ? u <= highU : u >= lowU)) {
        spend(1);
        // The last t' ≥ t with this u; the pair (t', t' + 1) is where u changes.
        let last = t;
        let next = pointU(t + 1);
        if (next === u) {
          let step = 2;
          while (t + step <= n && pointU(t + step) === u) step *= 2;
          last = firstWhere(t + step / 2, Math.min(n, t + step), (q) => pointU(q) !== u) - 1;
          if (last >= n) break;
          next = pointU(last + 1);
        }
        if (flip) crossing(next, ys + last + 1, u, ys + last);
        else crossing(u, ys + last, next, ys + last + 1);
        t = last + 1;
        u = next;
      }
    }
  }
  a.push((h * w) >>> 0);
  a.sort((p, q) => p - q);
  let p = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j];
    a[j] -= p;
    p = t;
  }
  const b: number[] = [a[0]];
  for (let j = 1; j < a.length;) {
    if (a[j] > 0) b.push(a[j++]);
    else {
      j++;
      if (j < a.length) b[b.length - 1] += a[j++];
    }
  }
  return { h, w, counts: b };
}

/** Most pixel-column steps of one polygon (~4.2 million crossings, about 35 MB while rasterising). */
export const MAX_POLYGON_STEPS = 2 ** 22;

/** The first t in [from, to] where `test` holds (`test` monotone: false then true), or to + 1. */
function firstWhere(from: number, to: number, test: (t: number) => boolean): number {
  let lo = from;
  let hi = to + 1;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (test(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Rasterises a box [x, y, w, h] (`rleFrBbox`, a 4-point polygon). */
export function fromBbox(bb: Bbox | readonly number[], h: number, w: number): Rle {
  const xs = bb[0];
  const xe = xs + bb[2];
  const ys = bb[1];
  const ye = ys + bb[3];
  return fromPolygon([xs, ys, xs, ye, xe, ye, xe, ys], h, w);
}

/**
 * A COCO segmentation of any form (`frPyObjects` + `merge` as in `annToRLE`): a list of polygons (union of
 * parts; a first part of exactly 4 numbers is read as a box, as pycocotools does), an uncompressed RLE or
 * a compressed RLE.
 */
export function fromSegmentation(
  segm: unknown,
  h: number,
  w: number,
  where = "segmentation",
  file?: string,
): Rle {
  if (Array.isArray(segm)) {
    if (segm.length === 0) return { h, w, counts: [h * w] };
    segm.forEach((part, i) => {
      if (!Array.isArray(part) || part.some((c) => typeof c !== "number" || !Number.isFinite(c))) {
        throw new VidsegError("polygon must be a list of numbers", file, `${where}[${i}]`);
      }
    });
    const parts = segm as number[][];
    if (parts[0].length < 4) throw new VidsegError("polygon needs at least 3 points", file, `${where}[0]`);
    const boxes = parts[0].length === 4;
    return merge(
      parts.map((part, i) => {
        try {
          return boxes ? fromBbox(part, h, w) : fromPolygon(part, h, w);
        } catch (error) {
          if (error instanceof VidsegError) throw new VidsegError(error.message, file, `${where}[${i}]`);
          throw error;
        }
      }),
    );
  }
  if (segm && typeof segm === "object" && "counts" in segm && "size" in segm) {
    return fromCoco(segm as CocoRle, where, file);
  }
  throw new VidsegError("segmentation must be polygons or an RLE {size, counts}", file, where);
}

/** C's `(int)` of a double on x86-64: truncation, and INT_MIN for NaN or out of range (cvttsd2si). */
function cInt(value: number): number {
  if (!Number.isFinite(value) || value >= 2 ** 31 || value <= -(2 ** 31) - 1) return -(2 ** 31);
  return Math.trunc(value);
}
