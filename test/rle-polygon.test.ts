/**
 * frPoly bounded by the image: the rasteriser walks only the lattice points near the image's columns,
 * and must give exactly what maskApi.c's dense walk gives (the pycocotools goldens are in rle.test.ts).
 * The dense walk below is a line-by-line transcription of `rleFrPoly`, the reference for random polygons
 * inside, across and far outside the image.
 */
import { describe, expect, it } from "vitest";
import { area, decode, fromPolygon, fromSegmentation, type Rle } from "../src/mask/rle.js";
import { mulberry32 } from "./helpers/random.js";

function cInt(value: number): number {
  if (!Number.isFinite(value) || value >= 2 ** 31 || value <= -(2 ** 31) - 1) return -(2 ** 31);
  return Math.trunc(value);
}

/** maskApi.c's rleFrPoly as written: every lattice point of every edge. */
function denseFrPoly(xy: readonly number[], h: number, w: number): Rle {
  const scale = 5;
  const k = Math.floor(xy.length / 2);
  const x: number[] = [];
  const y: number[] = [];
  for (let j = 0; j < k; j++) x.push(cInt(scale * xy[2 * j] + 0.5));
  for (let j = 0; j < k; j++) y.push(cInt(scale * xy[2 * j + 1] + 0.5));
  x.push(x[0]);
  y.push(y[0]);
  const u: number[] = [];
  const v: number[] = [];
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
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u.push(t + xs);
        v.push(cInt(ys + s * t + 0.5));
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v.push(t + ys);
        u.push(cInt(xs + s * t + 0.5));
      }
    }
  }
  const a: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
    yd = (yd + 0.5) / scale - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    a.push((xd * h + yd) >>> 0);
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

describe("frPoly bounded by the image", () => {
  it("equals the dense walk on random polygons inside, across and outside the image", () => {
    const random = mulberry32(2024);
    let compared = 0;
    for (let trial = 0; trial < 2000; trial++) {
      const h = 1 + Math.floor(random() * 24);
      const w = 1 + Math.floor(random() * 24);
      const points = 3 + Math.floor(random() * 6);
      // Spread: mostly near the image (fractions, slightly outside), sometimes far outside.
      const spread = [1, 1.3, 3, 40, 100][trial % 5];
      const xy: number[] = [];
      for (let q = 0; q < points; q++) {
        const snap = random() < 0.3; // exact pixel and half-pixel coordinates, the rounding edge cases
        const coordinate = (size: number) => {
          const c = (random() * spread - (spread - 1) / 2) * size;
          return snap ? Math.round(c * 2) / 2 : c;
        };
        xy.push(coordinate(w), coordinate(h));
      }
      expect(fromPolygon(xy, h, w).counts, JSON.stringify({ h, w, xy })).toEqual(
        denseFrPoly(xy, h, w).counts,
      );
      compared++;
    }
    expect(compared).toBe(2000);
  });

  it("equals the dense walk on long, nearly vertical and nearly horizontal edges", () => {
    const cases: [number[], number, number][] = [
      [[3.3, -20000, 3.9, 20000, 7.2, 15], 20, 10],
      [[-20000, 4.1, 20000, 4.4, 6, 17.5], 20, 10],
      [[-15000, -9000, 12000, 13000, 4, 19], 25, 30],
      [[0, 0, 9.99, 0, 9.99, 9.99, 0, 9.99], 10, 10],
      [[-0.5, -0.5, 10.5, -0.5, 10.5, 10.5, -0.5, 10.5], 10, 10],
    ];
    for (const [xy, h, w] of cases)
      expect(fromPolygon(xy, h, w).counts).toEqual(denseFrPoly(xy, h, w).counts);
  });

  it("coordinates of 4e8 (a 5 KB hostile GT) rasterise at once, to the right mask", () => {
    const far = 4e8;
    const started = performance.now();
    // A square far larger than the image covers it; a triangle with two far vertices covers a wedge.
    const full = fromPolygon([-far, -far, far, -far, far, far, -far, far], 480, 640);
    expect(full.counts).toEqual([0, 480 * 640]);
    const polygons = Array.from({ length: 200 }, (_, i) => [
      -far,
      i,
      far,
      i + 0.5,
      far * (i % 2 ? 1 : -1),
      far,
    ]);
    const merged = fromSegmentation(polygons, 480, 640);
    expect(area(merged)).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(3000);
    // Beyond int32 after scaling, maskApi.c's (int) cast gives INT_MIN; the walk stays bounded there too.
    const huge = fromPolygon([1e12, 1e12, -1e12, 5, 3, -1e12], 30, 40);
    expect(decode(huge).length).toBe(1200);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("a polygon whose outline crosses millions of columns of a huge declared image is one clear error", () => {
    const started = performance.now();
    const polygon = [[0, 0, 4e8, 0.2, 4e8, 0.4]];
    expect(() => fromSegmentation(polygon, 1, 2 ** 31 - 1, "annotations[0].segmentations[2]")).toThrow(
      /annotations\[0\]\.segmentations\[2\]\[0\]: polygon crosses more than 4194304 pixel columns/,
    );
    // Past 2^32 − 1 pixels maskApi.c's unsigned positions wrap: refused, not wrapped.
    expect(() => fromSegmentation(polygon, 3, 2 ** 31 - 1)).toThrow(/more than 2\^32 − 1 pixels/);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
