/**
 * Indexed (palette) PNG masks, as DAVIS and Ref-YouTube-VOS store them: each pixel is a palette index
 * (0 background, k object k, 255 void). Decoding returns the indices, never an RGB expansion.
 */
import { existsSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { decode, encode } from "fast-png";
import { VidsegError } from "../core/errors.js";
import { readBytes } from "../core/bytes.js";
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

/** Width × height of a label map; `what` names it in messages ("the video"). */
export interface ExpectedSize {
  width: number;
  height: number;
  what?: string;
}

/** The most pixels a mask may have (16384 × 4096): far above any video, far below a decompression bomb. */
export const MAX_MASK_PIXELS = 2 ** 26;

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** What a PNG's IHDR chunk declares, read without decoding; undefined if the bytes do not start like a PNG. */
function pngHeader(
  bytes: Uint8Array,
): { width: number; height: number; depth: number; colourType: number } | undefined {
  if (bytes.length < 26 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR") return undefined;
  return { width: view.getUint32(16), height: view.getUint32(20), depth: bytes[24], colourType: bytes[25] };
}

/**
 * The image data must not inflate to more than its declared size allows (the decoder would keep it all
 * in memory): a small file with an honest header can still hold a deflate bomb. Inflating is cheap next
 * to decoding; other zlib errors are left to the decoder to report.
 */
function checkInflatedSize(
  bytes: Uint8Array,
  header: { width: number; height: number; depth: number },
  file: string,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  for (let p = 8; p + 8 <= bytes.length;) {
    const length = view.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (type === "IDAT") parts.push(bytes.subarray(p + 8, Math.min(bytes.length, p + 8 + length)));
    if (type === "IEND") break;
    p += 12 + length;
  }
  // Rows of filter byte + samples (up to 4 channels of 16 bits), plus Adam7's extra rows and slack.
  const row = 1 + Math.ceil((header.width * Math.min(header.depth, 16) * 4) / 8);
  const limit = header.height * row + 8 * (header.height + 8) + 1024;
  try {
    inflateSync(Buffer.concat(parts), { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      throw new VidsegError(
        `PNG image data inflates to more than its declared ${header.width}×${header.height} pixels`,
        file,
      );
  }
}

/**
 * Decodes an indexed PNG; a PNG that is not indexed is an error naming the file. The size declared in
 * the header is checked before anything is decompressed: against `expected` where the caller knows the
 * frame size, and against {@link MAX_MASK_PIXELS} always, so a small file declaring a huge image costs
 * nothing.
 */
export function decodeIndexedPng(bytes: Uint8Array, file = "<png>", expected?: ExpectedSize): LabelMap {
  const header = pngHeader(bytes);
  if (header) {
    const { width, height, depth, colourType } = header;
    if (expected && (width !== expected.width || height !== expected.height))
      throw new VidsegError(
        `mask is ${width}×${height} but ${expected.what ?? "the expected size"} is ${expected.width}×${expected.height}`,
        file,
      );
    if (width * height > MAX_MASK_PIXELS)
      throw new VidsegError(
        `PNG declares ${width}×${height} pixels, more than the ${MAX_MASK_PIXELS} a mask may have`,
        file,
      );
    // PNG allows palette images of 1, 2, 4 or 8 bits per pixel only.
    if (colourType === 3 && ![1, 2, 4, 8].includes(depth))
      throw new VidsegError(
        `invalid PNG: a palette image of bit depth ${depth} (1, 2, 4 or 8 allowed)`,
        file,
      );
    checkInflatedSize(bytes, header, file);
  }
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
  if (![1, 2, 4, 8].includes(png.depth))
    throw new VidsegError(
      `invalid PNG: a palette image of bit depth ${png.depth} (1, 2, 4 or 8 allowed)`,
      file,
    );
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

/** Reads an indexed PNG (see {@link decodeIndexedPng}: with `expected`, its size is checked first). */
export async function readIndexedPng(file: string, expected?: ExpectedSize): Promise<LabelMap> {
  if (!existsSync(file)) throw new VidsegError("missing frame: file not found", file);
  return decodeIndexedPng(await readBytes(file), file, expected);
}

/** Writes an indexed PNG atomically. */
export async function writeIndexedPng(
  file: string,
  labels: LabelMap,
  palette = davisPalette(),
): Promise<void> {
  await writeFileAtomic(file, encodeIndexedPng(labels, palette));
}
