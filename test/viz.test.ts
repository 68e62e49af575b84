import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { textWidth } from "../src/viz/font.js";
import { encodeGif } from "../src/viz/gif.js";
import { blankImage, drawText, readRgb, scaleImage, writePng, type RgbImage } from "../src/viz/image.js";
import { idColour, layoutLabels, overlayMasks, type LabelRect } from "../src/viz/overlay.js";
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

  it("places labels whole inside the frame, clear of each other", () => {
    const inside = (r: LabelRect, width: number, height: number) =>
      r.x >= 0 && r.y >= 0 && r.x + r.width <= width && r.y + r.height <= height;
    const overlap = (a: LabelRect, b: LabelRect) =>
      a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    const text = "1 square 0.91"; // 13 characters: 51 px of text + 2 px of margin at scale 1
    const [right, corner, full] = layoutLabels(
      [
        { text, box: { x0: 90, y0: 20, x1: 99, y1: 30 } }, // at the right border
        { text, box: { x0: 0, y0: 0, x1: 10, y1: 5 } }, // top-left corner: no room above
        { text, box: { x0: 60, y0: 0, x1: 99, y1: 49 } }, // full height: no room above or below
      ],
      100,
      50,
    );
    expect(right).toEqual({ x: 47, y: 13, width: 53, height: 7, text }); // above, pushed left
    expect(corner).toEqual({ x: 0, y: 6, width: 53, height: 7, text }); // below
    // Inside its box's top would touch the corner label: the nearest free slot, under the first label.
    expect(full).toMatchObject({ x: 47, y: 20 });
    // Touching boxes: the second label goes below its box instead of over the first label.
    const [a, b] = layoutLabels(
      [
        { text, box: { x0: 10, y0: 20, x1: 29, y1: 40 } },
        { text, box: { x0: 30, y0: 20, x1: 49, y1: 40 } },
      ],
      100,
      50,
    );
    expect([a.x, a.y, b.x, b.y]).toEqual([10, 13, 30, 41]);
    expect(overlap(a, b)).toBe(false);
    // At scale 2, many labels in a small frame: all inside, none overlapping, while there is room.
    const crowd = layoutLabels(
      Array.from({ length: 6 }, (_, i) => ({
        text: `${i + 1} triangle 0.5`,
        box: { x0: 20 * i, y0: 30, x1: 20 * i + 19, y1: 50 },
      })),
      200,
      120,
      2,
    );
    for (const [i, r] of crowd.entries()) {
      expect(inside(r, 200, 120)).toBe(true);
      for (const other of crowd.slice(0, i)) expect(overlap(r, other)).toBe(false);
    }
    // A label wider than the frame is shortened to fit.
    const [narrow] = layoutLabels([{ text, box: { x0: 0, y0: 10, x1: 5, y1: 15 } }], 30, 30);
    expect(narrow).toEqual({ x: 0, y: 3, width: 29, height: 7, text: "1 squar" });
  });

  it("draws each label inside the rectangle the layout gives, on its mask's darkened colour", () => {
    const [width, height] = [60, 30];
    const box = (x0: number, y0: number, x1: number, y1: number) =>
      Uint8Array.from({ length: width * height }, (_, p) => {
        const [x, y] = [p % width, Math.floor(p / width)];
        return x >= x0 && x <= x1 && y >= y0 && y <= y1 ? 1 : 0;
      });
    const masks = [box(0, 0, 9, 9), box(50, 10, 59, 29)]; // touching the top-left and right borders
    const labels = ["1 a", "22 b"];
    const frame = blankImage(width, height, [100, 100, 100]);
    const plain = overlayMasks(frame, masks);
    const out = overlayMasks(frame, masks, { labels });
    // Later masks are labelled first (they are drawn on top).
    const rects = layoutLabels(
      [
        { text: "22 b", box: { x0: 50, y0: 10, x1: 59, y1: 29 } },
        { text: "1 a", box: { x0: 0, y0: 0, x1: 9, y1: 9 } },
      ],
      width,
      height,
    );
    expect(rects.map((r) => [r.x, r.y])).toEqual([
      [43, 3], // above its box, pushed left of the border
      [0, 10], // below its box: no room above
    ]);
    const inRect = (x: number, y: number) =>
      rects.findIndex((r) => x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const r = inRect(x, y);
        if (r < 0) expect(pixel(out, x, y)).toEqual(pixel(plain, x, y));
        else if (pixel(out, x, y)[0] !== 255)
          expect(pixel(out, x, y)).toEqual(idColour(2 - r).map((v) => Math.round(v * 0.45)));
      }
    }
    // The margins are background, the text white.
    expect(pixel(out, 43, 3)).toEqual(idColour(2).map((v) => Math.round(v * 0.45)));
    expect(pixel(out, 0, 16)).toEqual(idColour(1).map((v) => Math.round(v * 0.45)));
    expect(pixel(out, 44, 4)).toEqual([255, 255, 255]); // top-left pixel of "2"
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
