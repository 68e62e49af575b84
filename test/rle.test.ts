import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  area,
  countsFromString,
  countsToString,
  decode,
  decodeCountsInto,
  encode,
  fromBbox,
  fromCoco,
  fromPolygon,
  fromSegmentation,
  iou,
  MAX_RUN_LENGTH,
  measureCountsString,
  merge,
  sumRunList,
  toBbox,
  toCoco,
  tubeIou,
  type Rle,
} from "../src/mask/rle.js";

/** Golden values from the official pycocotools mask API (`scripts/vis_reference.py rle`). */
interface RleGolden {
  masks: {
    h: number;
    w: number;
    mask: string;
    counts: number[];
    string: string;
    area: number;
    bbox: number[];
  }[];
  big: { h: number; w: number; counts: number[]; string: string; area: number; bbox: number[] }[];
  merges: { h: number; w: number; strings: string[]; union: string; intersection: string }[];
  ious: { h: number; w: number; dts: string[]; gts: string[]; iscrowd: number[]; iou: number[][] }[];
  polygons: { h: number; w: number; polygons: number[][]; parts: string[]; merged: string }[];
  boxes: { h: number; w: number; bbox: number[]; string: string }[];
}

const golden = JSON.parse(readFileSync(new URL("./golden/rle.json", import.meta.url), "utf8")) as RleGolden;
const fromString = (s: string, h: number, w: number): Rle => ({ h, w, counts: countsFromString(s) });

describe("COCO RLE, hand-checked", () => {
  it("encodes the examples of pycocotools' mask.py (column-major runs, zeros first)", () => {
    // M = [0 0 1 1 1 0 1] → [2 3 1 1]; M = [1 1 1 1 1 1 0] → [0 6 1] (a 7×1 column).
    expect(encode([0, 0, 1, 1, 1, 0, 1], 7, 1).counts).toEqual([2, 3, 1, 1]);
    expect(encode([1, 1, 1, 1, 1, 1, 0], 7, 1).counts).toEqual([0, 6, 1]);
  });

  it("walks the mask column by column", () => {
    // 2×3 row-major [[1,0,0],[1,1,0]]: columns (1,1), (0,1), (0,0) → 0-run 0, 1-run 2, 0-run 1, 1-run 1, 0-run 2.
    const rle = encode([1, 0, 0, 1, 1, 0], 2, 3);
    expect(rle.counts).toEqual([0, 2, 1, 1, 2]);
    expect(area(rle)).toBe(3);
    expect(toBbox(rle)).toEqual([0, 0, 2, 2]);
    expect(decode(rle)).toEqual(Uint8Array.from([1, 0, 0, 1, 1, 0]));
  });

  it("writes known strings: deltas from i > 2, 5 bits a char, sign bit 0x10", () => {
    // [2,3,1,1]: 2→'2', 3→'3', 1→'1', 1−3 = −2 → (−2 & 31) = 30 = 0x1e, shift → −1, sign set so stop → '0'+30 = 'N'.
    expect(countsToString([2, 3, 1, 1])).toBe("231N");
    expect(countsFromString("231N")).toEqual([2, 3, 1, 1]);
    // 100 = 0b11_00100: low 5 bits 4 | 0x20 (more) → 36 → 'T', then 3 → '3'.
    expect(countsToString([100])).toBe("T3");
  });

  it("rejects malformed counts with the JSON path", () => {
    expect(() => countsFromString("2 3", "annotations[0].segmentations[1].counts")).toThrow(
      /annotations\[0\]\.segmentations\[1\]\.counts.*malformed RLE counts/,
    );
    expect(() => fromCoco({ size: [2, 2], counts: "5" }, "seg")).toThrow(/runs cover 5 pixels/);
  });
});

describe("COCO RLE against pycocotools goldens", () => {
  it("encode, decode, strings, area and toBbox of small masks", () => {
    for (const g of golden.masks) {
      const mask = Uint8Array.from(g.mask, (c) => Number(c));
      const rle = encode(mask, g.h, g.w);
      expect(rle.counts).toEqual(g.counts);
      expect(countsToString(rle.counts)).toBe(g.string);
      expect(countsFromString(g.string)).toEqual(g.counts);
      expect(toCoco(rle)).toEqual({ size: [g.h, g.w], counts: g.string });
      expect(decode(rle)).toEqual(mask);
      expect(area(rle)).toBe(g.area);
      expect(toBbox(rle)).toEqual(g.bbox);
    }
  });

  it("strings, area and toBbox of large masks (multi-character numbers, negative deltas)", () => {
    for (const g of golden.big) {
      expect(countsToString(g.counts)).toBe(g.string);
      expect(countsFromString(g.string)).toEqual(g.counts);
      const rle = { h: g.h, w: g.w, counts: g.counts };
      expect(area(rle)).toBe(g.area);
      expect(toBbox(rle)).toEqual(g.bbox);
    }
  });

  it("measureCountsString: pixels, area and foreground span without decoding", () => {
    for (const g of [...golden.masks, ...golden.big]) {
      const summary = measureCountsString(g.string);
      expect(summary.total).toBe(g.h * g.w);
      expect(summary.area).toBe(g.area);
      // First and one-past-last foreground pixel in column-major order, from the runs.
      let position = 0;
      let first = -1;
      let last = -1;
      g.counts.forEach((run, j) => {
        if (j % 2 === 1 && run > 0) {
          if (first < 0) first = position;
          last = position + run;
        }
        position += run;
      });
      expect([summary.first, summary.last]).toEqual([first, last]);
    }
    expect(() => measureCountsString("0P", "x.counts")).toThrow(
      /x\.counts: malformed RLE counts: string ends/,
    );
    expect(() => measureCountsString("2N", "x.counts")).toThrow(/malformed RLE counts/);
  });

  it("merge: union and intersection of 2–3 masks", () => {
    for (const g of golden.merges) {
      const rles = g.strings.map((s) => fromString(s, g.h, g.w));
      expect(countsToString(merge(rles, false).counts)).toBe(g.union);
      expect(countsToString(merge(rles, true).counts)).toBe(g.intersection);
    }
  });

  it("iou, crowd and empty GTs included", () => {
    for (const g of golden.ious) {
      const dts = g.dts.map((s) => fromString(s, g.h, g.w));
      const gts = g.gts.map((s) => fromString(s, g.h, g.w));
      expect(
        iou(
          dts,
          gts,
          g.iscrowd.map((c) => c === 1),
        ),
      ).toEqual(g.iou);
    }
  });

  it("frPoly: outside the image, several parts, degenerate polygons", () => {
    for (const g of golden.polygons) {
      g.polygons.forEach((poly, i) =>
        expect(countsToString(fromPolygon(poly, g.h, g.w).counts)).toBe(g.parts[i]),
      );
      expect(countsToString(fromSegmentation(g.polygons, g.h, g.w).counts)).toBe(g.merged);
    }
  });

  it("frBbox, fractional and out-of-image boxes included", () => {
    for (const g of golden.boxes) expect(countsToString(fromBbox(g.bbox, g.h, g.w).counts)).toBe(g.string);
  });

  it("round-trips random masks through the string form", () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 50; trial++) {
      const h = 1 + Math.floor(random() * 20);
      const w = 1 + Math.floor(random() * 20);
      const density = random();
      const mask = Uint8Array.from({ length: h * w }, () => (random() < density ? 1 : 0));
      const rle = encode(mask, h, w);
      const back = fromCoco(toCoco(rle));
      expect(back.counts).toEqual(rle.counts);
      expect(decode(back)).toEqual(mask);
      expect(area(rle)).toBe(mask.reduce((a, b) => a + b, 0));
    }
  });
});

/**
 * The rule, written independently with BigInt: 5-bit groups low first, '0'..'o', at most 13 a number,
 * sign-extended, runs past the third relative to the run two before, each in [0, 2^32 − 1].
 */
function referenceDecode(s: string): number[] | "error" {
  const runs: bigint[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0n;
    let k = 0n;
    let c = 0;
    do {
      if (p >= s.length || k >= 13n) return "error";
      c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) return "error";
      x |= BigInt(c & 0x1f) << (5n * k);
      p++;
      k++;
    } while (c & 0x20);
    if (c & 0x10) x -= 1n << (5n * k);
    if (runs.length > 2) x += runs[runs.length - 2];
    if (x < 0n || x > 0xffffffffn) return "error";
    runs.push(x);
  }
  return runs.map(Number);
}

describe("one RLE codec, one rule (what pycocotools holds: uint32 counts)", () => {
  const where = "[3].segmentations[1].counts";
  const file = "res.json";

  it("rejects a number longer than 13 groups, naming file and field (never NaN)", () => {
    const long = "P".repeat(205) + "0"; // 206 groups of value 0
    for (const read of [countsFromString, measureCountsString]) {
      expect(() => read(long, where, file)).toThrow(
        "res.json: [3].segmentations[1].counts: malformed RLE counts: the number at character 0 is longer than 13 5-bit groups",
      );
    }
    expect(() => fromCoco({ size: [1, 1], counts: "1" + long }, "seg", file)).toThrow(
      "res.json: seg.counts: malformed RLE counts: the number at character 1 is longer than 13",
    );
  });

  it("reads long but exact numbers: 13 groups of 0, and −2 written in 13 groups", () => {
    expect(countsFromString("P".repeat(12) + "0")).toEqual([0]);
    // "231N" is [2, 3, 1, 1]; the last delta −2 spelled with 13 groups (doubles alone would round it).
    const minusTwo = "n" + "o".repeat(11) + "O";
    expect(countsFromString("231" + minusTwo)).toEqual([2, 3, 1, 1]);
  });

  it("accepts a run of 2.2e9 (a 50000×50000 mask) and rejects runs past 2^32 − 1", () => {
    const counts = [7, 2_200_000_000, 50000 * 50000 - 2_200_000_007];
    const s = countsToString(counts);
    expect(countsFromString(s)).toEqual(counts);
    const into = new Uint32Array(s.length + 2);
    expect(decodeCountsInto(s, into, 2)).toBe(counts.length);
    expect(Array.from(into.subarray(2, 2 + counts.length))).toEqual(counts);
    expect(measureCountsString(s)).toEqual({ total: 2.5e9, area: 2.2e9, first: 7, last: 2_200_000_007 });
    expect(fromCoco({ size: [50000, 50000], counts: s }).counts).toEqual(counts);
    expect(countsFromString(countsToString([MAX_RUN_LENGTH]))).toEqual([MAX_RUN_LENGTH]);
    expect(() => countsFromString(countsToString([2 ** 32]), where, file)).toThrow(
      `res.json: ${where}: malformed RLE counts: run 0 exceeds 4294967295`,
    );
    // The fourth run is its delta plus the second: 4294967295 + 1 overflows.
    expect(() => countsFromString(countsToString([1, MAX_RUN_LENGTH, 1, 2 ** 32]), where, file)).toThrow(
      /run 3 exceeds 4294967295/,
    );
    // "L" is −4: the fourth run would be 3 − 4.
    expect(() => countsFromString("231L", where, file)).toThrow(/negative run length at run 3/);
    expect(() => countsFromString("2 3", where, file)).toThrow(/character " " at 1 is not in '0'..'o'/);
  });

  it("reads strings of any number of runs (the shared buffer grows)", () => {
    const counts = Array.from({ length: 30001 }, (_, j) => 1 + ((j * 7919) % 1000));
    const s = countsToString(counts);
    const total = counts.reduce((a, b) => a + b, 0);
    expect(measureCountsString(s).total).toBe(total);
    expect(countsFromString(s)).toEqual(counts);
    const into = new Uint32Array(s.length + 2);
    expect(decodeCountsInto(s, into, 2)).toBe(counts.length);
    expect(Array.from(into.subarray(2, 2 + counts.length))).toEqual(counts);
  });

  it("the uncompressed form follows the same rule", () => {
    expect(sumRunList([1, MAX_RUN_LENGTH, 0])).toBe(1 + MAX_RUN_LENGTH);
    for (const [bad, shown] of [
      [2 ** 32, "4294967296"],
      [-1, "-1"],
      [1.5, "1.5"],
      [Infinity, "Infinity"],
      ["3", '"3"'],
      [null, "null"],
    ] as const) {
      expect(() => sumRunList([0, bad], where, file)).toThrow(
        `res.json: ${where}[1]: malformed RLE counts: ${shown} is not a run length`,
      );
    }
    expect(() => fromCoco({ size: [1, 2], counts: [1, -1, 2] }, "seg", file)).toThrow(
      "res.json: seg.counts[1]: malformed RLE counts: -1 is not a run length",
    );
  });

  it("agrees with an independent BigInt reading of the rule on random strings", () => {
    let seed = 99;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // Mostly '0'..'o', biased to continuation groups so that long numbers occur; now and then a stray char.
    const alphabet = "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmno";
    let accepted = 0;
    for (let trial = 0; trial < 5000; trial++) {
      const length = 1 + Math.floor(random() * 12);
      let s = "";
      for (let i = 0; i < length; i++) {
        const r = random();
        if (r < 0.01) s += " ";
        else if (r < 0.45)
          s += alphabet[32 + Math.floor(random() * 32)]; // continuation
        else s += alphabet[Math.floor(random() * 32)];
      }
      const expected = referenceDecode(s);
      if (expected === "error") {
        expect(() => countsFromString(s, "c", "f.json"), s).toThrow(/^f\.json: c: malformed RLE counts: /);
        continue;
      }
      accepted++;
      expect(countsFromString(s), s).toEqual(expected);
      expect(measureCountsString(s).total, s).toBe(expected.reduce((a, b) => a + b, 0));
    }
    expect(accepted).toBeGreaterThan(300);
  });
});

describe("tubeIou", () => {
  it("sums intersections and unions over the frames; a frame with one mask adds its area", () => {
    const mask = (cells: number[]) =>
      encode(
        Uint8Array.from({ length: 9 }, (_, i) => +cells.includes(i)),
        3,
        3,
      );
    // Frame 0: {0,1,2} vs {1,2,3}: 2 shared, union 4. Frame 1: only a ({4}): union 1. Frame 2: neither.
    const a = [mask([0, 1, 2]), mask([4]), null];
    const b = [mask([1, 2, 3]), null, null];
    expect(tubeIou(a, b)).toBeCloseTo(2 / 5, 12);
    expect(tubeIou(b, a)).toBeCloseTo(2 / 5, 12);
    expect(tubeIou(a, a)).toBe(1);
    expect(tubeIou([null], [null])).toBe(0);
    // A shorter list is as if padded with nulls.
    expect(tubeIou(a, [b[0]])).toBeCloseTo(2 / 5, 12);
  });
});
