/**
 * Indexed (palette) PNG masks, as DAVIS and Ref-YouTube-VOS store them: each pixel is a palette index
 * (0 background, k object k, 255 void). Decoding returns the indices, never an RGB expansion.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { decode, encode } from "fast-png";
import { VidsegError } from "../core/errors.js";
import { writeFileAtomic } from "../core/fs.js";

/** A row-major label map: one palette index per pixel. */
export interface LabelMap {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The DAVIS palette (the PASCAL VOC colour map): index i gets the colour built from i's bits. */
export function davisPalette(): [number, number, number][] {
  const palette: [number, number, number][] = [];
  for (let i = 0; i < 256; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let c = i;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    palette.push([r, g, b]);
  }
  return palette;
}

/** Decodes an indexed PNG; a PNG that is not indexed is an error naming the file. */
export function decodeIndexedPng(bytes: Uint8Array, file = "<png>"): LabelMap {
  let png;
  try {
    png = decode(bytes);
  } catch (error) {
    throw new VidsegError(`not a readable PNG (${(error as Error).message})`, file);
  }
  if (!png.palette || png.channels !== 1) {
    throw new VidsegError(
      `PNG is not indexed (palette) but has ${png.channels} channel(s): masks must be palette PNGs`,
      file,
    );
  }
  let data: Uint8Array;
  if (png.depth === 8) data = png.data as Uint8Array;
  else {
    // Unpack 1/2/4-bit indices, rows padded to whole bytes.
    const depth = png.depth;
    const perByte = 8 / depth;
    const stride = Math.ceil(png.width / perByte);
    const mask = (1 << depth) - 1;
    data = new Uint8Array(png.width * png.height);
    for (let y = 0; y < png.height; y++) {
      for (let x = 0; x < png.width; x++) {
        const byte = png.data[y * stride + Math.floor(x / perByte)];
        data[y * png.width + x] = (byte >> (8 - depth * ((x % perByte) + 1))) & mask;
      }
    }
  }
  return { width: png.width, height: png.height, data };
}

export function encodeIndexedPng(labels: LabelMap, palette = davisPalette()): Uint8Array {
  if (labels.data.length !== labels.width * labels.height) {
    throw new VidsegError(
      `label map has ${labels.data.length} pixels, expected ${labels.width}×${labels.height}`,
    );
  }
  return encode({
    width: labels.width,
    height: labels.height,
    data: labels.data,
    depth: 8,
    channels: 1,
    palette,
  });
}

export async function readIndexedPng(file: string): Promise<LabelMap> {
  if (!existsSync(file)) throw new VidsegError("missing frame: file not found", file);
  return decodeIndexedPng(await readFile(file), file);
}

/** Writes an indexed PNG atomically. */
export async function writeIndexedPng(
  file: string,
  labels: LabelMap,
  palette = davisPalette(),
): Promise<void> {
  await writeFileAtomic(file, encodeIndexedPng(labels, palette));
}
