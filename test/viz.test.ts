import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { textWidth } from "../src/viz/font.js";
import { encodeGif } from "../src/viz/gif.js";
import { blankImage, drawText, readRgb, scaleImage, writePng, type RgbImage } from "../src/viz/image.js";
import { idColour, overlayMasks } from "../src/viz/overlay.js";
import { contactSheet } from "../src/viz/sheet.js";

function pixel(image: RgbImage, x: number, y: number): number[] {
  const o = (y * image.width + x) * 3;
  return [image.data[o], image.data[o + 1], image.data[o + 2]];
}

describe("viz", () => {
  it("gives every id a stable colour, distinct from its neighbours; background is black", () => {
    expect(idColour(0)).toEqual([0, 0, 0]);
    expect(idColour(7)).toEqual(idColour(7));
    const colours = Array.from({ length: 20 }, (_, i) => idColour(i + 1).join(","));
    expect(new Set(colours).size).toBe(20);
    for (let id = 1; id < 20; id++) {
      const [a, b] = [idColour(id), idColour(id + 1)];
      expect(Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2])).toBeGreaterThan(100);
    }
  });

  it("overlays masks: translucent fill inside, full colour on the outline, untouched outside", () => {
    const frame = blankImage(10, 10, [100, 100, 100]);
    const mask = new Uint8Array(100);
    for (let y = 2; y < 7; y++) for (let x = 2; x < 7; x++) mask[y * 10 + x] = 1;
    const colour = [200, 0, 0] as const;
    const out = overlayMasks(frame, [mask], { colours: [colour], alpha: 0.5 });
    expect(pixel(out, 4, 4)).toEqual([150, 50, 50]); // inside: half and half
    expect(pixel(out, 2, 4)).toEqual([200, 0, 0]); // outline
    expect(pixel(out, 8, 8)).toEqual([100, 100, 100]); // outside
    expect(pixel(frame, 4, 4)).toEqual([100, 100, 100]); // the input is not modified
    // A label map gives the same picture as the equivalent mask list.
    const labelled = overlayMasks(frame, { data: mask }, { colours: [undefined, colour], alpha: 0.5 });
    expect(Buffer.from(labelled.data)).toEqual(Buffer.from(out.data));
  });

  it("draws bitmap text and lays out contact sheets", () => {
    expect(textWidth("AB", 2)).toBe(14);
    const image = blankImage(12, 7);
    drawText(image, "1", 1, 1);
    // "1" is rows 010/110/010/010/111.
    expect(pixel(image, 2, 1)).toEqual([255, 255, 255]);
    expect(pixel(image, 1, 1)).toEqual([0, 0, 0]);
    expect(pixel(image, 1, 5)).toEqual([255, 255, 255]);
    const tile = blankImage(5, 4, [9, 9, 9]);
    const sheet = contactSheet([[tile, tile, tile], [tile]], { gap: 2 });
    expect([sheet.width, sheet.height]).toEqual([2 + 3 * 7, 2 + 2 * 6]);
    expect(pixel(sheet, 2, 2)).toEqual([9, 9, 9]);
    expect(pixel(sheet, 2, 8)).toEqual([9, 9, 9]); // second row, first tile
    expect(pixel(sheet, 9, 8)).toEqual([24, 24, 24]); // the second row has one tile only
    expect(scaleImage(tile, 3).width).toBe(15);
  });

  it("writes PNGs losslessly and GIFs deterministically", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-viz-"));
    const image = overlayMasks(blankImage(8, 8, [30, 60, 90]), [
      Uint8Array.from({ length: 64 }, (_, p) => p % 3),
    ]);
    await writePng(join(dir, "a.png"), image);
    const back = await readRgb(join(dir, "a.png"));
    expect(Buffer.from(back.data)).toEqual(Buffer.from(image.data));

    const frames = [blankImage(8, 8, [255, 0, 0]), blankImage(8, 8, [0, 0, 255])];
    const gif = encodeGif(frames, 4);
    expect(Buffer.from(gif.subarray(0, 6)).toString("latin1")).toBe("GIF89a");
    expect(Buffer.from(encodeGif(frames, 4))).toEqual(Buffer.from(gif));
    const meta = await sharp(Buffer.from(gif), { pages: -1 }).metadata();
    expect([meta.pages, meta.width, meta.pageHeight, meta.delay]).toEqual([2, 8, 8, [250, 250]]);
    expect(readFileSync(join(dir, "a.png")).subarray(1, 4).toString()).toBe("PNG");
  });
});
