/**
 * Renders a scene frame by frame. Objects are painted far to near into one label map, and every pixel's
 * colour comes from the object that owns it in that map, so the GT masks (label == id) are exactly the
 * visible pixels of the image. Lighting and sensor noise change brightness only, never ownership.
 */
import { hash4 } from "./hash.js";
import { insideShape, textureFactor } from "./shapes.js";
import type { Scene } from "./scene.js";

export interface RenderedFrame {
  index: number;
  /** Row-major RGB, width × height × 3. */
  rgb: Uint8ClampedArray;
  /** Row-major object ids (0 = background), width × height. */
  labels: Uint8Array;
  /** Per object id: pixels of the whole object inside the frame (as if nothing hid it). */
  fullArea: Int32Array;
  /** Per object id: pixels actually visible (its label-map pixels). */
  visibleArea: Int32Array;
}

const NOISE_AMPLITUDE = 10;

/** The background as a float RGB image covering the frame plus the camera-shake margin. */
export function renderBackground(scene: Scene, margin: number): { data: Float32Array; stride: number } {
  const { background: bg } = scene;
  const bw = scene.width + 2 * margin;
  const bh = scene.height + 2 * margin;
  const data = new Float32Array(bw * bh * 3);
  for (let y = 0; y < bh; y++) {
    const gy = y / bg.cell;
    const iy = Math.floor(gy);
    let fy = gy - iy;
    fy = fy * fy * (3 - 2 * fy);
    for (let x = 0; x < bw; x++) {
      const gx = x / bg.cell;
      const ix = Math.floor(gx);
      let fx = gx - ix;
      fx = fx * fx * (3 - 2 * fx);
      const g = bg.grid;
      const row0 = iy * bg.gridW;
      const row1 = row0 + bg.gridW;
      const top = g[row0 + ix] * (1 - fx) + g[row0 + ix + 1] * fx;
      const bottom = g[row1 + ix] * (1 - fx) + g[row1 + ix + 1] * fx;
      const blotch = top * (1 - fy) + bottom * fy;
      let wave = 0;
      for (const [kx, ky, phase, amplitude] of bg.waves)
        wave += amplitude * Math.sin(kx * x + ky * y + phase);
      const o = (y * bw + x) * 3;
      for (let c = 0; c < 3; c++) data[o + c] = bg.base[c] + blotch * bg.tint[c] + wave;
    }
  }
  return { data, stride: bw };
}

/** Renders frames one at a time (bounded memory for long videos). */
export class SceneRenderer {
  private readonly background: { data: Float32Array; stride: number };
  private readonly margin: number;
  private readonly work: Float32Array;
  private readonly order: Scene["objects"];

  constructor(readonly scene: Scene) {
    let amplitude = 0;
    for (let t = 0; t < scene.frames; t++) {
      amplitude = Math.max(amplitude, Math.abs(scene.shakeX[t]), Math.abs(scene.shakeY[t]));
    }
    this.margin = amplitude;
    this.background = renderBackground(scene, amplitude);
    this.work = new Float32Array(scene.width * scene.height * 3);
    this.order = [...scene.objects].sort((a, b) => a.depth - b.depth || a.id - b.id);
  }

  render(t: number): RenderedFrame {
    const { scene, work, margin } = this;
    const W = scene.width;
    const H = scene.height;
    const ids = scene.objects.length + 1;
    const labels = new Uint8Array(W * H);
    const fullArea = new Int32Array(ids);
    const visibleArea = new Int32Array(ids);
    const sx = scene.shakeX[t];
    const sy = scene.shakeY[t];

    const bg = this.background;
    for (let y = 0; y < H; y++) {
      const src = ((y + margin - sy) * bg.stride + margin - sx) * 3;
      work.set(bg.data.subarray(src, src + W * 3), y * W * 3);
    }

    for (const object of this.order) {
      if (t < object.start || t >= object.end) continue;
      const r = object.radius * object.scale[t];
      const ax = r * Math.sqrt(object.aspect);
      const ay = r / Math.sqrt(object.aspect);
      const reach = 1.15 * Math.max(ax, ay);
      const cx = object.x[t] + sx;
      const cy = object.y[t] + sy;
      const cos = Math.cos(object.angle[t]);
      const sin = Math.sin(object.angle[t]);
      const x0 = Math.max(0, Math.floor(cx - reach));
      const x1 = Math.min(W - 1, Math.ceil(cx + reach));
      const y0 = Math.max(0, Math.floor(cy - reach));
      const y1 = Math.min(H - 1, Math.ceil(cy + reach));
      const [cr, cg, cb] = object.rgb;
      let inside = 0;
      for (let y = y0; y <= y1; y++) {
        const dy = y + 0.5 - cy;
        for (let x = x0; x <= x1; x++) {
          const dx = x + 0.5 - cx;
          const u = (dx * cos + dy * sin) / ax;
          const v = (-dx * sin + dy * cos) / ay;
          if (!insideShape(object.category, u, v)) continue;
          inside++;
          const p = y * W + x;
          labels[p] = object.id;
          const f = textureFactor(object.texture, u, v);
          work[p * 3] = cr * f;
          work[p * 3 + 1] = cg * f;
          work[p * 3 + 2] = cb * f;
        }
      }
      fullArea[object.id] = inside;
    }

    const rgb = new Uint8ClampedArray(W * H * 3);
    const light = scene.light[t];
    const seed = scene.seed;
    for (let p = 0; p < W * H; p++) {
      visibleArea[labels[p]]++;
      const noise = ((hash4(p, t, seed, 0) & 1023) / 1023 - 0.5) * 2 * NOISE_AMPLITUDE;
      const o = p * 3;
      rgb[o] = work[o] * light + noise;
      rgb[o + 1] = work[o + 1] * light + noise;
      rgb[o + 2] = work[o + 2] * light + noise;
    }
    visibleArea[0] = 0;
    return { index: t, rgb, labels, fullArea, visibleArea };
  }
}
