import { expect } from "vitest";

/** Deterministic uniform numbers in [0, 1) (mulberry32), so every run checks the same random cases. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** ‖actual − expected‖ / ‖expected‖ (lengths must agree). */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < actual.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

/** A frame of smooth colour blobs (so that resizing is not all aliasing), seeded. */
export function blobFrame(width: number, height: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const blobs = Array.from({ length: 4 }, () => ({
    x: random() * width,
    y: random() * height,
    r: 6 + random() * 14,
    c: [random() * 255, random() * 255, random() * 255],
  }));
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const colour = [90, 100, 110];
      for (const b of blobs) if ((x - b.x) ** 2 + (y - b.y) ** 2 < b.r ** 2) colour.splice(0, 3, ...b.c);
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.round(colour[c] + 20 * random());
    }
  }
  return data;
}

/** The largest |a[i] − b[i]| (the arrays must have one length). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
