/**
 * DAVIS-2017 folder layout, and a results folder, with validating readers and atomic writers.
 *
 *   <root>/ImageSets/2017/{train,val}.txt              one sequence name per line
 *   <root>/JPEGImages/480p/<seq>/<frame>.jpg
 *   <root>/Annotations/480p/<seq>/<frame>.png          semi-supervised GT (palette: 0 bg, k object k, 255 void)
 *   <root>/Annotations_unsupervised/480p/<seq>/<frame>.png
 *   <results>/<seq>/<frame>.png                         predictions, palette PNGs
 *
 * As in the official evaluator, the frames of a sequence are its GT mask files in sorted order, and a
 * sequence needs at least one image and a mask for every image.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { check, VidsegError } from "../core/errors.js";
import { readTextFile, writeFileAtomic } from "../core/fs.js";
import { checkRelativePath, resolveInside } from "../core/paths.js";
import { readIndexedPng, writeIndexedPng, type LabelMap } from "./png.js";

export type DavisTask = "semi-supervised" | "unsupervised";

export const DAVIS_TASKS: readonly DavisTask[] = ["semi-supervised", "unsupervised"];

/** Palette index of void pixels in DAVIS masks. */
export const DAVIS_VOID_LABEL = 255;

export const DAVIS_RESOLUTION = "480p";

export function imageSetPath(root: string, set: string, year = "2017"): string {
  return join(root, "ImageSets", year, `${set}.txt`);
}

export function annotationsFolder(task: DavisTask): string {
  return task === "semi-supervised" ? "Annotations" : "Annotations_unsupervised";
}

/** `<root>/JPEGImages/480p/<sequence>` (the sequence name must stay inside that folder). */
export function davisImageFolder(root: string, sequence: string): string {
  return resolveInside(join(root, "JPEGImages", DAVIS_RESOLUTION), sequence, undefined, "sequence");
}

/** `<root>/<Annotations folder>/480p/<sequence>`. */
export function davisMaskFolder(root: string, task: DavisTask, sequence: string): string {
  return resolveInside(
    join(root, annotationsFolder(task), DAVIS_RESOLUTION),
    sequence,
    undefined,
    "sequence",
  );
}

export function davisImagePath(root: string, sequence: string, frame: string): string {
  return resolveInside(davisImageFolder(root, sequence), `${frame}.jpg`, undefined, "frame");
}

export function davisMaskPath(root: string, task: DavisTask, sequence: string, frame: string): string {
  return resolveInside(davisMaskFolder(root, task, sequence), `${frame}.png`, undefined, "frame");
}

export function resultMaskPath(resultsDir: string, sequence: string, frame: string): string {
  return resolveInside(resultsDir, join(sequence, `${frame}.png`), undefined, "sequence");
}

/**
 * Reads `ImageSets/2017/<set>.txt`: sequence names, trimmed, blank lines and repeats dropped. A name that
 * would lead outside the sequence folders (`..`, absolute) is an error naming its line.
 */
export async function readImageSet(root: string, set: string): Promise<string[]> {
  const file = imageSetPath(root, set);
  if (!existsSync(file)) throw new VidsegError(`image set "${set}" not found`, file);
  const names: string[] = [];
  (await readTextFile(file)).split("\n").forEach((line, k) => {
    const name = line.trim();
    if (name === "") return;
    checkRelativePath(name, file, `line ${k + 1}`);
    names.push(name);
  });
  return [...new Set(names)];
}

export async function writeImageSet(root: string, set: string, sequences: readonly string[]): Promise<void> {
  await writeFileAtomic(imageSetPath(root, set), sequences.map((s) => s + "\n").join(""));
}

async function listFiles(dir: string, extension: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(extension))
    .map((e) => e.name)
    .sort();
}

/** Frame id of a mask file as the official evaluator derives it: the name's dot-separated parts but the last, joined. */
function frameIdOf(fileName: string): string {
  return fileName.split(".").slice(0, -1).join("");
}

export interface DavisSequenceFrames {
  sequence: string;
  /** Frame ids (from the GT mask file names, sorted). */
  frames: string[];
  /** GT mask files, one per frame. */
  maskFiles: string[];
  /** JPEG files, sorted. */
  imageFiles: string[];
}

/**
 * Lists a sequence's frames. Errors: no images; fewer GT masks than images (a missing frame, named by
 * the first image without a mask).
 */
export async function listSequenceFrames(
  root: string,
  task: DavisTask,
  sequence: string,
): Promise<DavisSequenceFrames> {
  const imageDir = davisImageFolder(root, sequence);
  const maskDir = davisMaskFolder(root, task, sequence);
  const images = await listFiles(imageDir, ".jpg");
  if (images.length === 0) throw new VidsegError(`no images for sequence "${sequence}"`, imageDir);
  const masks = await listFiles(maskDir, ".png");
  if (masks.length < images.length) {
    const maskIds = new Set(masks.map(frameIdOf));
    const missing = images.find((name) => !maskIds.has(frameIdOf(name))) ?? images[masks.length]!;
    throw new VidsegError(
      `missing frame: ${images.length} images but ${masks.length} GT masks (no mask for ${missing})`,
      join(maskDir, `${frameIdOf(missing)}.png`),
    );
  }
  return {
    sequence,
    frames: masks.map(frameIdOf),
    maskFiles: masks.map((name) => join(maskDir, name)),
    imageFiles: images.map((name) => join(imageDir, name)),
  };
}

/** Width and height of a JPEG (or any image sharp reads), with a clear error. */
export async function imageSize(file: string): Promise<{ width: number; height: number }> {
  if (!existsSync(file)) throw new VidsegError("missing frame: file not found", file);
  try {
    const { default: sharp } = await import("sharp"); // loaded on use: `vidseg eval ytvis` never needs it
    const meta = await sharp(file).metadata();
    return { width: meta.width!, height: meta.height! };
  } catch (error) {
    throw new VidsegError(`not a readable image (${(error as Error).message})`, file);
  }
}

/** Reads palette masks, checking that each exists and has the expected size. */
export async function readMasks(
  files: readonly string[],
  expected: { width: number; height: number },
  what = "the video",
): Promise<LabelMap[]> {
  const masks: LabelMap[] = [];
  for (const file of files) masks.push(await readIndexedPng(file, { ...expected, what }));
  return masks;
}

/** A sequence's GT masks, checked against its first image's size. */
export async function readSequenceGt(
  root: string,
  task: DavisTask,
  sequence: string,
): Promise<{ frames: string[]; masks: LabelMap[] }> {
  const listing = await listSequenceFrames(root, task, sequence);
  const size = await imageSize(listing.imageFiles[0]!);
  const masks = await readMasks(listing.maskFiles, size);
  return { frames: listing.frames, masks };
}

/** Reads a results folder's masks for the given frames of a sequence (missing frame = error). */
export async function readResultMasks(
  resultsDir: string,
  sequence: string,
  frames: readonly string[],
  expected: { width: number; height: number },
): Promise<LabelMap[]> {
  return readMasks(
    frames.map((frame) => resultMaskPath(resultsDir, sequence, frame)),
    expected,
    "the GT mask",
  );
}

/** Writes one GT mask (palette PNG) atomically. */
export async function writeDavisMask(
  root: string,
  task: DavisTask,
  sequence: string,
  frame: string,
  labels: LabelMap,
): Promise<void> {
  await writeIndexedPng(davisMaskPath(root, task, sequence, frame), labels);
}

/** Writes one frame image as JPEG atomically, from interleaved RGB bytes. */
export async function writeDavisImage(
  root: string,
  sequence: string,
  frame: string,
  rgb: Uint8Array,
  width: number,
  height: number,
  quality = 90,
): Promise<void> {
  check(
    rgb.length === width * height * 3,
    `RGB buffer has ${rgb.length} bytes, expected ${width}×${height}×3`,
  );
  const { default: sharp } = await import("sharp");
  const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
  await writeFileAtomic(davisImagePath(root, sequence, frame), jpeg);
}

/** Writes one predicted mask to a results folder atomically. */
export async function writeResultMask(
  resultsDir: string,
  sequence: string,
  frame: string,
  labels: LabelMap,
): Promise<void> {
  await writeIndexedPng(resultMaskPath(resultsDir, sequence, frame), labels);
}
