/** Contact sheets: a grid of equally sized tiles, with optional row captions. */
import { GLYPH_HEIGHT } from "./font.js";
import { blankImage, drawText, paste, type Rgb, type RgbImage } from "./image.js";

export interface ContactSheetOptions {
  /** Pixels between tiles and around the sheet (default 4). */
  gap?: number;
  background?: Rgb;
  /** One caption per row, drawn above it. */
  captions?: readonly string[];
  textScale?: number;
}

/** Lays out rows of tiles (rows may differ in length; tiles may differ in size: cells fit the largest). */
export function contactSheet(
  rows: readonly (readonly RgbImage[])[],
  options: ContactSheetOptions = {},
): RgbImage {
  const gap = options.gap ?? 4;
  const scale = options.textScale ?? 1;
  const captionHeight = options.captions ? (GLYPH_HEIGHT + 3) * scale : 0;
  const tiles = rows.flat();
  const cellW = Math.max(1, ...tiles.map((t) => t.width));
  const cellH = Math.max(1, ...tiles.map((t) => t.height));
  const columns = Math.max(1, ...rows.map((r) => r.length));
  const width = gap + columns * (cellW + gap);
  const height = gap + rows.length * (captionHeight + cellH + gap);
  const sheet = blankImage(width, height, options.background ?? [24, 24, 24]);
  rows.forEach((row, r) => {
    const top = gap + r * (captionHeight + cellH + gap);
    const caption = options.captions?.[r];
    if (caption) drawText(sheet, caption, gap, top + scale, [230, 230, 230], { scale });
    row.forEach((tile, c) => paste(sheet, tile, gap + c * (cellW + gap), top + captionHeight));
  });
  return sheet;
}
