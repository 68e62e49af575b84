/**
 * Plain RGB images: the drawing primitives (draw.ts, re-exported here) and encoding to PNG/JPEG and
 * reading images, through sharp.
 */
import sharp from "sharp";
import { writeFileAtomic } from "../core/fs.js";
import type { RgbImage } from "../core/image.js";

export { blankImage, drawText, fillRect, paste, scaleImage, type Rgb, type RgbImage } from "./draw.js";

/** Encodes an image as PNG (lossless, deterministic). */
export async function encodePng(image: RgbImage): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

export async function writePng(path: string, image: RgbImage): Promise<void> {
  await writeFileAtomic(path, await encodePng(image));
}

/** Reads any image sharp decodes (JPEG, PNG, …) as RGB. */
export async function readRgb(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path)
    .removeAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}
