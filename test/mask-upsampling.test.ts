/**
 * Mask upsampling from the model's 1/4-resolution logits to the frame: the bilinear reference and the
 * edge-aware (joint bilateral) upsampling guided by the frame's colours.
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { cellColours, guidedUpsampleMask, upsampleMask } from "../src/processing/postprocess.js";

/** A size×size frame: red left of column `edge` (exclusive), grey to the right. */
function splitFrame(size: number, edge: number) {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      data.set(x < edge ? [220, 40, 40] : [100, 100, 100], 3 * (y * size + x));
    }
  }
  return { width: size, height: size, data };
}

describe("mask upsampling", () => {
  it("cellColours averages the pixels whose centres fall in each cell", () => {
    const frame = splitFrame(8, 3); // 2×2 cells of 4×4 pixels: the left cells hold 3 red and 1 grey column
    const cells = cellColours(frame, 2, 2);
    const left = [(3 * 220 + 100) / 4, (3 * 40 + 100) / 4, (3 * 40 + 100) / 4];
    expect(Array.from(cells)).toEqual([...left, 100, 100, 100, ...left, 100, 100, 100]);
  });

  it("guided: the mask edge follows the frame's edge inside a cell; bilinear follows the grid", () => {
    // 32×32 frame, 8×8 logits (cells of 4 px). The object covers columns 0–12: cells 0–2 whole and one
    // column of cell 3, whose logit is negative (mostly background), as the model predicts it.
    const size = 32;
    const edge = 13;
    const frame = splitFrame(size, edge);
    const logits = new Float32Array(64);
    for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) logits[i * 8 + j] = j <= 2 ? 5 : -5;
    const truth = Uint8Array.from({ length: size * size }, (_, p) => (p % size < edge ? 1 : 0));
    const guided = guidedUpsampleMask(logits, 0, 8, 8, frame, cellColours(frame, 8, 8));
    expect(Array.from(guided)).toEqual(Array.from(truth));
    // Bilinear puts the edge halfway between the centres of cells 2 and 3 (x = 11.5): column 12 is lost.
    const bilinear = upsampleMask(logits, 0, 8, 8, size, size);
    expect(bilinear[12]).toBe(0);
    expect(bilinear[11]).toBe(1);
  });

  it("guided equals bilinear wherever the 4×4 neighbouring logits agree in sign", () => {
    const rng = new Rng(3);
    const h = 16;
    const w = 16;
    const size = 64;
    const data = Uint8Array.from({ length: size * size * 3 }, () => rng.int(256));
    const frame = { width: size, height: size, data };
    // A blob of positive logits with random magnitudes, negative elsewhere.
    const logits = Float32Array.from({ length: h * w }, (_, k) => {
      const i = Math.floor(k / w);
      const j = k % w;
      const inside = (i - 7.5) ** 2 + (j - 7.5) ** 2 < 20;
      return (inside ? 1 : -1) * (0.5 + rng.uniform() * 4);
    });
    const guided = guidedUpsampleMask(logits, 0, h, w, frame, cellColours(frame, h, w));
    const bilinear = upsampleMask(logits, 0, h, w, size, size);
    let agreeing = 0;
    for (let y = 0; y < size; y++) {
      const i0 = Math.min(h - 1, Math.floor(Math.max(0, ((y + 0.5) * h) / size - 0.5)));
      for (let x = 0; x < size; x++) {
        const j0 = Math.min(w - 1, Math.floor(Math.max(0, ((x + 0.5) * w) / size - 0.5)));
        const signs = new Set<boolean>();
        for (let i = Math.max(0, i0 - 1); i <= Math.min(h - 1, i0 + 2); i++)
          for (let j = Math.max(0, j0 - 1); j <= Math.min(w - 1, j0 + 2); j++)
            signs.add(logits[i * w + j] > 0);
        if (signs.size === 1) {
          agreeing++;
          expect(guided[y * size + x]).toBe(bilinear[y * size + x]);
        }
      }
    }
    expect(agreeing).toBeGreaterThan(size * size * 0.3);
  });
});
