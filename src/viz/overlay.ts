/**
 * Draws instance masks over a frame: each id gets a stable colour (the same id has the same colour in
 * every frame and every video), a translucent fill, a solid outline, and an optional text label.
 */
import { GLYPH_HEIGHT, textWidth } from "./font.js";
import { drawText, type Rgb, type RgbImage } from "./image.js";

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
  /** Text per instance (same indexing as colours), drawn at the top-left of its mask. */
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
  const boxes = colours.map(() => ({ x0: Infinity, y0: Infinity }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const id = ids[p];
      if (id === 0) continue;
      const box = boxes[id];
      if (x < box.x0) box.x0 = x;
      if (y < box.y0) box.y0 = y;
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
  for (let id = 1; id < colours.length; id++) {
    const text = texts[id];
    const box = boxes[id];
    if (!text || box.x0 === Infinity) continue;
    const x = Math.max(scale, Math.min(width - textWidth(text, scale) - scale, box.x0));
    const y = Math.max(
      scale,
      Math.min(height - (GLYPH_HEIGHT + 1) * scale, box.y0 - (GLYPH_HEIGHT + 2) * scale),
    );
    drawText(image, text, x, y, [255, 255, 255], { scale, background: darken(colours[id]) });
  }
  return image;
}

function darken(c: Rgb): Rgb {
  return [Math.round(c[0] * 0.45), Math.round(c[1] * 0.45), Math.round(c[2] * 0.45)];
}
