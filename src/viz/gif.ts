/** Animated GIFs of frame sequences (one global palette, so colours do not flicker between frames). */
import * as gifencModule from "gifenc";
import { writeFileAtomic } from "../core/fs.js";
import type { RgbImage } from "./image.js";

type Gifenc = typeof gifencModule.default;
// gifenc ships CommonJS ("main") and ESM ("module") builds: Node's loader hands the CommonJS exports over
// as `default`, bundlers that prefer "module" (vitest) give named exports. Accept both.
export const gifenc: Gifenc =
  typeof (gifencModule.default as Partial<Gifenc> | undefined)?.quantize === "function"
    ? gifencModule.default
    : (gifencModule as unknown as Gifenc);

/** RGB → RGBA (opaque), the layout gifenc quantises. */
export function toRgba(image: RgbImage): Uint8Array {
  const rgba = new Uint8Array(image.width * image.height * 4);
  for (let p = 0, q = 0; p < image.width * image.height; p++, q += 3) {
    rgba[p * 4] = image.data[q];
    rgba[p * 4 + 1] = image.data[q + 1];
    rgba[p * 4 + 2] = image.data[q + 2];
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}

/** Encodes frames (all the same size) as a looping GIF at `fps` frames per second. */
export function encodeGif(frames: readonly RgbImage[], fps = 8): Uint8Array {
  if (frames.length === 0) throw new Error("encodeGif: no frames");
  const { width, height } = frames[0];
  for (const f of frames) {
    if (f.width !== width || f.height !== height) throw new Error("encodeGif: frames differ in size");
  }
  const rgba = frames.map(toRgba);
  // Palette from a sample of up to 16 evenly spaced frames.
  const step = Math.max(1, Math.floor(frames.length / 16));
  const sample: Uint8Array[] = [];
  for (let i = 0; i < rgba.length; i += step) sample.push(rgba[i]);
  const joined = new Uint8Array(sample.reduce((s, a) => s + a.length, 0));
  let offset = 0;
  for (const a of sample) {
    joined.set(a, offset);
    offset += a.length;
  }
  const palette = gifenc.quantize(joined, 256);
  const encoder = gifenc.GIFEncoder();
  const delay = Math.round(1000 / fps);
  rgba.forEach((data, i) => {
    const index = gifenc.applyPalette(data, palette);
    encoder.writeFrame(index, width, height, i === 0 ? { palette, delay, repeat: 0 } : { delay });
  });
  encoder.finish();
  return encoder.bytes();
}

export async function writeGif(frames: readonly RgbImage[], path: string, fps = 8): Promise<void> {
  await writeFileAtomic(path, encodeGif(frames, fps));
}
