/**
 * Affine warps of a frame and its label map together, and the smooth random motions that turn a still
 * image into a short pseudo-video (as YOFO did with RefCOCO: random affine transforms of stills).
 *
 * A warp maps source pixel positions to target positions (pixel centres at x + 0.5, y + 0.5); each target
 * pixel is sampled from the source position the inverse map gives. Labels are always sampled nearest
 * (ids must not blend); the image nearest or bilinear. Pixels that come from outside the source are
 * the fill colour and label 0, so a mask stays exactly where its object's pixels went.
 */
import type { Rng } from "../core/rng.js";

/** x' = a·x + b·y + c, y' = d·x + e·y + f. */
export interface Affine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

export const IDENTITY: Affine = { a: 1, b: 0, c: 0, d: 0, e: 1, f: 0 };

/** Scaling by `scale` and rotating by `angle` (radians) about (cx, cy), then moving by (tx, ty). */
export function similarity(
  cx: number,
  cy: number,
  scale: number,
  angle: number,
  tx: number,
  ty: number,
): Affine {
  const cos = scale * Math.cos(angle);
  const sin = scale * Math.sin(angle);
  return {
    a: cos,
    b: -sin,
    c: cx + tx - cos * cx + sin * cy,
    d: sin,
    e: cos,
    f: cy + ty - sin * cx - cos * cy,
  };
}

export function invertAffine(m: Affine): Affine {
  const det = m.a * m.e - m.b * m.d;
  if (det === 0) throw new Error("a singular affine map has no inverse");
  const a = m.e / det;
  const b = -m.b / det;
  const d = -m.d / det;
  const e = m.a / det;
  return { a, b, c: -(a * m.c + b * m.f), d, e, f: -(d * m.c + e * m.f) };
}

/** Calls `visit(p, sx, sy)` for every target pixel p with the source position of its centre. */
function forEachSource(
  width: number,
  height: number,
  warp: Affine,
  visit: (p: number, sx: number, sy: number) => void,
): void {
  const inv = invertAffine(warp);
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      const tx = x + 0.5;
      const ty = y + 0.5;
      visit(p, inv.a * tx + inv.b * ty + inv.c, inv.d * tx + inv.e * ty + inv.f);
    }
  }
}

/** The source pixel index of a position (nearest: the pixel that contains it), or -1 outside. */
function nearestPixel(sx: number, sy: number, width: number, height: number): number {
  const x = Math.floor(sx);
  const y = Math.floor(sy);
  return x >= 0 && x < width && y >= 0 && y < height ? y * width + x : -1;
}

/** A label map warped by `warp` (nearest; 0 where the source is outside). */
export function warpLabels(labels: Uint8Array, width: number, height: number, warp: Affine): Uint8Array {
  const out = new Uint8Array(width * height);
  forEachSource(width, height, warp, (p, sx, sy) => {
    const q = nearestPixel(sx, sy, width, height);
    out[p] = q < 0 ? 0 : labels[q];
  });
  return out;
}

/**
 * An RGB image (interleaved, 3 bytes a pixel) warped by `warp`: "nearest" takes the pixel that contains
 * the source position (as {@link warpLabels} does), "bilinear" blends the four around it; `fill` where
 * the source position is outside the image.
 */
export function warpImage(
  rgb: ArrayLike<number>,
  width: number,
  height: number,
  warp: Affine,
  options: { fill: readonly [number, number, number]; sampling: "nearest" | "bilinear" },
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(width * height * 3);
  const { fill } = options;
  forEachSource(width, height, warp, (p, sx, sy) => {
    if (options.sampling === "nearest" || nearestPixel(sx, sy, width, height) < 0) {
      const q = nearestPixel(sx, sy, width, height);
      for (let k = 0; k < 3; k++) out[p * 3 + k] = q < 0 ? fill[k] : rgb[q * 3 + k];
      return;
    }
    // Bilinear between the pixel centres around the position, clamped at the border.
    const fx = sx - 0.5;
    const fy = sy - 0.5;
    const x0 = Math.floor(fx);
    const y0 = Math.floor(fy);
    const wx = fx - x0;
    const wy = fy - y0;
    const cx0 = Math.max(0, Math.min(width - 1, x0));
    const cx1 = Math.max(0, Math.min(width - 1, x0 + 1));
    const cy0 = Math.max(0, Math.min(height - 1, y0));
    const cy1 = Math.max(0, Math.min(height - 1, y0 + 1));
    for (let k = 0; k < 3; k++) {
      const top = rgb[(cy0 * width + cx0) * 3 + k] * (1 - wx) + rgb[(cy0 * width + cx1) * 3 + k] * wx;
      const bottom = rgb[(cy1 * width + cx0) * 3 + k] * (1 - wx) + rgb[(cy1 * width + cx1) * 3 + k] * wx;
      out[p * 3 + k] = Math.round(top * (1 - wy) + bottom * wy);
    }
  });
  return out;
}

/** How far a pseudo-video may move from its still, by its last frame. */
export const PSEUDO_MOTION = {
  /** Largest shift, as a fraction of the frame's side. */
  shift: 0.12,
  /** Scale in [1 − this, 1 + this]. */
  zoom: 0.15,
  /** Largest rotation, radians (10°). */
  rotation: (10 * Math.PI) / 180,
} as const;

/**
 * A smooth random motion of `frames` frames: the identity at frame 0 (the still itself, on which the
 * expressions were checked), then shift, zoom and rotation about the centre eased (smoothstep) towards
 * random end values within {@link PSEUDO_MOTION}.
 */
export function pseudoMotion(rng: Rng, frames: number, width: number, height: number): Affine[] {
  const uniform = (limit: number) => (2 * rng.uniform() - 1) * limit;
  const end = {
    tx: uniform(PSEUDO_MOTION.shift) * width,
    ty: uniform(PSEUDO_MOTION.shift) * height,
    scale: 1 + uniform(PSEUDO_MOTION.zoom),
    angle: uniform(PSEUDO_MOTION.rotation),
  };
  return Array.from({ length: frames }, (_, t) => {
    const u = frames > 1 ? t / (frames - 1) : 0;
    const s = u * u * (3 - 2 * u);
    return similarity(width / 2, height / 2, 1 + s * (end.scale - 1), s * end.angle, s * end.tx, s * end.ty);
  });
}
