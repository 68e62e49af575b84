/**
 * Plain RGB images and the drawing primitives the overlays need: copy, nearest-neighbour scaling,
 * rectangles and bitmap text. Nothing here needs Node (the browser demo draws with it); encoding and
 * decoding files is in image.ts.
 */
import type { RgbImage } from "../core/image.js";
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from "./font.js";

export type Rgb = readonly [number, number, number];

/** A row-major RGB image (3 bytes per pixel). */
export type { RgbImage } from "../core/image.js";

export function blankImage(width: number, height: number, fill: Rgb = [0, 0, 0]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(fill, p * 3);
  return { width, height, data };
}

/** Nearest-neighbour upscaling by an integer factor (keeps mask edges crisp). */
export function scaleImage(image: RgbImage, factor: number): RgbImage {
  if (factor === 1) return image;
  const width = image.width * factor;
  const height = image.height * factor;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < width; x++) {
      const s = (sy * image.width + Math.floor(x / factor)) * 3;
      const d = (y * width + x) * 3;
      data[d] = image.data[s];
      data[d + 1] = image.data[s + 1];
      data[d + 2] = image.data[s + 2];
    }
  }
  return { width, height, data };
}

/** Copies `source` into `target` with its top-left corner at (x, y), clipped. */
export function paste(target: RgbImage, source: RgbImage, x: number, y: number): void {
  for (let sy = 0; sy < source.height; sy++) {
    const ty = y + sy;
    if (ty < 0 || ty >= target.height) continue;
    const x0 = Math.max(0, -x);
    const x1 = Math.min(source.width, target.width - x);
    if (x1 <= x0) continue;
    const s = (sy * source.width + x0) * 3;
    target.data.set(source.data.subarray(s, (sy * source.width + x1) * 3), (ty * target.width + x + x0) * 3);
  }
}

export function fillRect(image: RgbImage, x: number, y: number, w: number, h: number, colour: Rgb): void {
  for (let yy = Math.max(0, y); yy < Math.min(image.height, y + h); yy++) {
    for (let xx = Math.max(0, x); xx < Math.min(image.width, x + w); xx++)
      image.data.set(colour, (yy * image.width + xx) * 3);
  }
}

/** Draws text with its top-left corner at (x, y); `background` draws a box behind it for legibility. */
export function drawText(
  image: RgbImage,
  text: string,
  x: number,
  y: number,
  colour: Rgb = [255, 255, 255],
  options: { scale?: number; background?: Rgb } = {},
): void {
  const scale = options.scale ?? 1;
  if (options.background) {
    fillRect(
      image,
      x - scale,
      y - scale,
      textWidth(text, scale) + 2 * scale,
      (GLYPH_HEIGHT + 2) * scale,
      options.background,
    );
  }
  for (let i = 0; i < text.length; i++) {
    const rows = glyph(text[i]);
    const gx = x + i * GLYPH_ADVANCE * scale;
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (rows[row] & (1 << (GLYPH_WIDTH - 1 - col)))
          fillRect(image, gx + col * scale, y + row * scale, scale, scale, colour);
      }
    }
  }
}
