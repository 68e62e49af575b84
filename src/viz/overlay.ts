/**
 * Draws instance masks over a frame: each id gets a stable colour (the same id has the same colour in
 * every frame and every video), a translucent fill, a solid outline, and an optional text label.
 *
 * Labels stay whole inside the frame and do not cover each other (see `layoutLabels`).
 */
import { GLYPH_ADVANCE, GLYPH_HEIGHT, textWidth } from "./font.js";
import { drawText, type Rgb, type RgbImage } from "./draw.js";

/** A stable, well-spread colour per id (golden-ratio hues); id 0 (background) is black. */
export function idColour(id: number): Rgb {
  if (id === 0) return [0, 0, 0];
  const hue = (id * 0.618033988749895 + 0.13) % 1;
  const saturation = 0.85;
  const value = id % 2 === 0 ? 0.95 : 0.8;
  const i = Math.floor(hue * 6);
  const f = hue * 6 - i;
  const p = value * (1 - saturation);
  const q = value * (1 - f * saturation);
  const t = value * (1 - (1 - f) * saturation);
  const [r, g, b] = [
    [value, t, p],
    [q, value, p],
    [p, value, t],
    [p, q, value],
    [t, p, value],
    [value, p, q],
  ][i % 6];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** Per-instance binary masks (null = absent) or one label map of ids (0 = background). */
export type OverlayMasks = readonly (ArrayLike<number> | null)[] | { data: ArrayLike<number> };

export interface OverlayOptions {
  /** Colour per instance (array input: by position; label map: by id). Default: idColour. */
  colours?: readonly (Rgb | undefined)[];
  /** Text per instance (same indexing as colours), drawn by its mask (see `layoutLabels`). */
  labels?: readonly (string | null | undefined)[];
  /** Fill opacity, 0..1 (default 0.45). */
  alpha?: number;
  /** Draw mask outlines in full colour (default true). */
  outline?: boolean;
  /** Pixel scale of the label text (default 1). */
  textScale?: number;
}

/**
 * Returns a copy of `frame` with the masks drawn over it. With an array, instance i uses mask i,
 * colours[i] and labels[i] (default colour idColour(i + 1)); with a label map, id k uses colours[k],
 * labels[k] (default idColour(k)).
 */
export function overlayMasks(frame: RgbImage, masks: OverlayMasks, options: OverlayOptions = {}): RgbImage {
  const { width, height } = frame;
  const n = width * height;
  // Reduce both inputs to one id map (later instances drawn on top) with a colour per id.
  const ids = new Int32Array(n);
  const colours: Rgb[] = [[0, 0, 0]];
  const texts: (string | null | undefined)[] = [null];
  if (Array.isArray(masks)) {
    (masks as readonly (ArrayLike<number> | null)[]).forEach((mask, i) => {
      colours.push(options.colours?.[i] ?? idColour(i + 1));
      texts.push(options.labels?.[i]);
      if (!mask) return;
      if (mask.length !== n) throw new Error(`mask ${i} has ${mask.length} pixels, expected ${n}`);
      for (let p = 0; p < n; p++) if (mask[p]) ids[p] = i + 1;
    });
  } else {
    const data = (masks as { data: ArrayLike<number> }).data;
    if (data.length !== n) throw new Error(`label map has ${data.length} pixels, expected ${n}`);
    let maxId = 0;
    for (let p = 0; p < n; p++) {
      ids[p] = data[p];
      if (data[p] > maxId) maxId = data[p];
    }
    for (let k = 1; k <= maxId; k++) {
      colours.push(options.colours?.[k] ?? idColour(k));
      texts.push(options.labels?.[k]);
    }
  }

  const alpha = options.alpha ?? 0.45;
  const outline = options.outline ?? true;
  const out = new Uint8Array(frame.data);
  const boxes: Box[] = colours.map(() => ({ x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const id = ids[p];
      if (id === 0) continue;
      const box = boxes[id];
      if (x < box.x0) box.x0 = x;
      if (x > box.x1) box.x1 = x;
      if (y < box.y0) box.y0 = y;
      if (y > box.y1) box.y1 = y;
      const edge =
        outline &&
        (x === 0 ||
          y === 0 ||
          x === width - 1 ||
          y === height - 1 ||
          ids[p - 1] !== id ||
          ids[p + 1] !== id ||
          ids[p - width] !== id ||
          ids[p + width] !== id);
      const c = colours[id];
      const a = edge ? 1 : alpha;
      for (let ch = 0; ch < 3; ch++) out[p * 3 + ch] = Math.round(out[p * 3 + ch] * (1 - a) + c[ch] * a);
    }
  }
  const image: RgbImage = { width, height, data: out };
  const scale = options.textScale ?? 1;
  // Later ids are drawn on top: they are the more important ones, so their labels are placed first.
  const labelled: { id: number; text: string; box: Box }[] = [];
  for (let id = colours.length - 1; id >= 1; id--) {
    const text = texts[id];
    if (text && boxes[id].x0 !== Infinity) labelled.push({ id, text, box: boxes[id] });
  }
  const rects = layoutLabels(labelled, width, height, scale);
  for (let i = labelled.length - 1; i >= 0; i--) {
    const { text, x, y } = rects[i];
    drawText(image, text, x + scale, y + scale, [255, 255, 255], {
      scale,
      background: darken(colours[labelled[i].id]),
    });
  }
  return image;
}

/**
 * Writes lines of text along the bottom of an image, each on a dark box of its colour (e.g. one
 * referring expression per line in its mask's colour); lines longer than the image are cut with "..".
 */
export function drawLegend(
  image: RgbImage,
  lines: readonly { text: string; colour: Rgb }[],
  scale = 1,
): void {
  const lineHeight = (GLYPH_HEIGHT + 3) * scale;
  const maxChars = Math.max(1, Math.floor((image.width - 4 * scale) / (GLYPH_ADVANCE * scale)));
  lines.forEach(({ text, colour }, k) => {
    const fitted = text.length > maxChars ? `${text.slice(0, Math.max(0, maxChars - 2))}..` : text;
    const y = image.height - (lines.length - k) * lineHeight + scale;
    drawText(image, fitted, 2 * scale, y, [255, 255, 255], { scale, background: darken(colour) });
  });
}

/** A mask's bounding box, inclusive pixel coordinates. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Where a label goes: its background rectangle (the text sits `scale` pixels inside) and its text. */
export interface LabelRect {
  x: number;
  y: number;
  width: number;
  height: number;
  /** The label, shortened from the end when the frame is narrower than it. */
  text: string;
}

function overlaps(a: LabelRect, b: LabelRect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/**
 * Places labels greedily, in the given order (most important first), each whole inside the
 * `width`×`height` frame and, where the frame has room, clear of the labels placed before it:
 *
 * 1. the first free one of: above its box, below its box (each where the frame has room for it),
 *    inside its box's top; left-aligned with the box, pushed inside the frame at the side borders;
 * 2. else the free slot nearest to "above its box" among those touching an earlier label (beside,
 *    above or below it);
 * 3. else (a frame full of labels) above its box, overlapping.
 */
export function layoutLabels(
  labels: readonly { text: string; box: Box }[],
  width: number,
  height: number,
  scale = 1,
): LabelRect[] {
  const rectHeight = (GLYPH_HEIGHT + 2) * scale;
  const placed: LabelRect[] = [];
  for (const { text: fullText, box } of labels) {
    // Characters that fit the frame's width with the background's margins (one pixel of scale each).
    const fitting = Math.max(0, Math.floor((width - scale) / (GLYPH_ADVANCE * scale)));
    const text = fullText.slice(0, fitting);
    const rectWidth = textWidth(text, scale) + 2 * scale;
    const at = (x: number, y: number): LabelRect => ({
      x: Math.max(0, Math.min(width - rectWidth, x)),
      y: Math.max(0, Math.min(height - rectHeight, y)),
      width: rectWidth,
      height: rectHeight,
      text,
    });
    const free = (rect: LabelRect) => placed.every((other) => !overlaps(rect, other));
    const above = at(box.x0, box.y0 - rectHeight);
    const preferred = [
      ...(box.y0 - rectHeight >= 0 ? [above] : []),
      ...(box.y1 + 1 + rectHeight <= height ? [at(box.x0, box.y1 + 1)] : []),
      at(box.x0, box.y0),
    ];
    let choice = preferred.find(free);
    if (!choice) {
      const slots = placed.flatMap((other) => [
        at(above.x, other.y + other.height),
        at(above.x, other.y - rectHeight),
        at(other.x + other.width, above.y),
        at(other.x - rectWidth, above.y),
      ]);
      const distance = (r: LabelRect) => Math.hypot(r.x - above.x, r.y - above.y);
      choice = slots.filter(free).sort((a, b) => distance(a) - distance(b))[0] ?? above;
    }
    placed.push(choice);
  }
  return placed;
}

function darken(c: Rgb): Rgb {
  return [Math.round(c[0] * 0.45), Math.round(c[1] * 0.45), Math.round(c[2] * 0.45)];
}
