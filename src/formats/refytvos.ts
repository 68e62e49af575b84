/**
 * Ref-YouTube-VOS, and Ref-DAVIS17 in its Ref-YouTube-VOS form: a typed model, validating readers and
 * atomic writers.
 *
 * Layout of one split folder (e.g. `train/`, `valid/`):
 *   meta_expressions.json             {videos: {<video>: {expressions: {<exp_id>: {exp, obj_id}}, frames}}}
 *   meta.json (optional)              {videos: {<video>: {objects: {<obj_id>: {category, frames?}}}}}
 *   JPEGImages/<video>/<frame>.jpg
 *   Annotations/<video>/<frame>.png   palette masks, pixel value = object id (0 background)
 * Predictions for the referring task are binary PNGs `Annotations/<video>/<exp_id>/<frame>.png`.
 *
 * Ref-DAVIS17 (as converted by the Ref-YouTube-VOS tooling) has 4 expressions per object, listed
 * object by object in the order annotator 1 first-frame, annotator 1 full-video, annotator 2
 * first-frame, annotator 2 full-video; its masks are DAVIS `Annotations_unsupervised`.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { check, VidsegError } from "../core/errors.js";
import { readJson, writeJsonAtomic } from "../core/fs.js";
import { readIndexedPng, writeIndexedPng, type LabelMap } from "./png.js";

export interface RefExpression {
  /** The referring sentence. */
  exp: string;
  /** The referred object's id (the pixel value in the video's masks), as a decimal string. */
  obj_id: string;
}

export interface RefVideo {
  /** Expression id (a decimal string, from "0") → expression. */
  expressions: Record<string, RefExpression>;
  /** Frame names without extension, in temporal order. */
  frames: string[];
}

/** `meta_expressions.json`. */
export interface RefMetaExpressions {
  videos: Record<string, RefVideo>;
}

export interface RefObjectMeta {
  category: string;
  frames?: string[];
}

/** `meta.json` (object categories; Ref-YouTube-VOS train also lists each object's frames). */
export interface RefMeta {
  videos: Record<string, { objects: Record<string, RefObjectMeta> }>;
}

// ---------------------------------------------------------------------------------------------------
// Paths

export function metaExpressionsPath(splitRoot: string): string {
  return join(splitRoot, "meta_expressions.json");
}

export function imagePath(splitRoot: string, video: string, frame: string): string {
  return join(splitRoot, "JPEGImages", video, `${frame}.jpg`);
}

export function objectMaskPath(splitRoot: string, video: string, frame: string): string {
  return join(splitRoot, "Annotations", video, `${frame}.png`);
}

/** A prediction (or per-expression ground truth): `<root>/Annotations/<video>/<exp_id>/<frame>.png`. */
export function expressionMaskPath(root: string, video: string, expId: string, frame: string): string {
  return join(root, "Annotations", video, expId, `${frame}.png`);
}

// ---------------------------------------------------------------------------------------------------
// JSON validation helpers (shared with the MeViS reader)

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function expectObject(value: unknown, file: string, where: string): Record<string, unknown> {
  check(isObject(value), `expected an object, got ${describe(value)}`, file, where);
  return value;
}

export function expectString(value: unknown, file: string, where: string): string {
  check(typeof value === "string", `expected a string, got ${describe(value)}`, file, where);
  return value;
}

export function expectStringArray(value: unknown, file: string, where: string): string[] {
  check(Array.isArray(value), `expected an array of strings, got ${describe(value)}`, file, where);
  value.forEach((item, k) => expectString(item, file, `${where}[${k}]`));
  return value as string[];
}

/** An object id may be written as a string ("1") or a number (1); the model keeps the string. */
export function expectObjectId(value: unknown, file: string, where: string): string {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return String(value);
  check(
    typeof value === "string" && /^\d+$/.test(value),
    `expected an object id (a non-negative integer or its decimal string), got ${describe(value)}`,
    file,
    where,
  );
  return value;
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

// ---------------------------------------------------------------------------------------------------
// meta_expressions.json

/** Validates a parsed `meta_expressions.json`; errors name the file and the JSON path. */
export function parseRefMetaExpressions(json: unknown, file = "meta_expressions.json"): RefMetaExpressions {
  const root = expectObject(json, file, "$");
  const videosJson = expectObject(root.videos, file, "$.videos");
  const videos: Record<string, RefVideo> = {};
  for (const [video, videoJson] of Object.entries(videosJson)) {
    const at = `$.videos[${JSON.stringify(video)}]`;
    const entry = expectObject(videoJson, file, at);
    const frames = expectStringArray(entry.frames, file, `${at}.frames`);
    const seen = new Set<string>();
    for (const [k, frame] of frames.entries()) {
      check(!seen.has(frame), `frame "${frame}" is listed twice`, file, `${at}.frames[${k}]`);
      seen.add(frame);
    }
    const expressionsJson = expectObject(entry.expressions, file, `${at}.expressions`);
    const expressions: Record<string, RefExpression> = {};
    for (const [expId, expJson] of Object.entries(expressionsJson)) {
      const expAt = `${at}.expressions[${JSON.stringify(expId)}]`;
      const expression = expectObject(expJson, file, expAt);
      expressions[expId] = {
        exp: expectString(expression.exp, file, `${expAt}.exp`),
        obj_id: expectObjectId(expression.obj_id, file, `${expAt}.obj_id`),
      };
    }
    videos[video] = { expressions, frames };
  }
  return { videos };
}

export async function readRefMetaExpressions(file: string): Promise<RefMetaExpressions> {
  return parseRefMetaExpressions(await readJson(file), file);
}

/** Writes `meta_expressions.json` atomically. */
export async function writeRefMetaExpressions(file: string, meta: RefMetaExpressions): Promise<void> {
  await writeJsonAtomic(file, meta);
}

// ---------------------------------------------------------------------------------------------------
// meta.json

export function parseRefMeta(json: unknown, file = "meta.json"): RefMeta {
  const root = expectObject(json, file, "$");
  const videosJson = expectObject(root.videos, file, "$.videos");
  const videos: RefMeta["videos"] = {};
  for (const [video, videoJson] of Object.entries(videosJson)) {
    const at = `$.videos[${JSON.stringify(video)}]`;
    const objectsJson = expectObject(expectObject(videoJson, file, at).objects, file, `${at}.objects`);
    const objects: Record<string, RefObjectMeta> = {};
    for (const [objId, objJson] of Object.entries(objectsJson)) {
      const objAt = `${at}.objects[${JSON.stringify(objId)}]`;
      expectObjectId(objId, file, objAt);
      const object = expectObject(objJson, file, objAt);
      objects[objId] = { category: expectString(object.category, file, `${objAt}.category`) };
      if (object.frames !== undefined) {
        objects[objId].frames = expectStringArray(object.frames, file, `${objAt}.frames`);
      }
    }
    videos[video] = { objects };
  }
  return { videos };
}

export async function readRefMeta(file: string): Promise<RefMeta> {
  return parseRefMeta(await readJson(file), file);
}

export async function writeRefMeta(file: string, meta: RefMeta): Promise<void> {
  await writeJsonAtomic(file, meta);
}

// ---------------------------------------------------------------------------------------------------
// Masks

/** Writes one frame's object mask (pixel value = object id) as a palette PNG, atomically. */
export async function writeObjectMask(
  splitRoot: string,
  video: string,
  frame: string,
  labels: LabelMap,
): Promise<void> {
  await writeIndexedPng(objectMaskPath(splitRoot, video, frame), labels);
}

/** Writes a binary mask (nonzero = the referred object) as a 0/1 palette PNG, atomically. */
export async function writeExpressionMask(
  root: string,
  video: string,
  expId: string,
  frame: string,
  mask: LabelMap,
): Promise<void> {
  const data = new Uint8Array(mask.data.length);
  for (let k = 0; k < data.length; k++) data[k] = mask.data[k] ? 1 : 0;
  await writeIndexedPng(expressionMaskPath(root, video, expId, frame), { ...mask, data });
}

/**
 * Reads the palette masks of the given frames, checking that every frame exists and that all have the
 * same size (`expected` when given, e.g. the video's size).
 */
export async function readMaskSequence(
  files: readonly string[],
  expected?: { width: number; height: number },
): Promise<LabelMap[]> {
  const masks: LabelMap[] = [];
  let size = expected;
  for (const file of files) {
    if (!existsSync(file)) throw new VidsegError("missing frame: file not found", file);
    const mask = await readIndexedPng(file);
    if (size === undefined) size = { width: mask.width, height: mask.height };
    check(
      mask.width === size.width && mask.height === size.height,
      `mask is ${mask.width}×${mask.height} but the video is ${size.width}×${size.height}`,
      file,
    );
    masks.push(mask);
  }
  return masks;
}

/** Reads a video's object masks `Annotations/<video>/<frame>.png` for the listed frames. */
export async function readObjectMasks(
  splitRoot: string,
  video: string,
  frames: readonly string[],
  expected?: { width: number; height: number },
): Promise<LabelMap[]> {
  return readMaskSequence(
    frames.map((frame) => objectMaskPath(splitRoot, video, frame)),
    expected,
  );
}

// ---------------------------------------------------------------------------------------------------
// Ref-DAVIS17 expression sets

export interface RefExpressionRef {
  video: string;
  expId: string;
  objId: string;
}

/**
 * Splits Ref-DAVIS17 expressions into the protocol's 4 sets: the k-th expression of each object (in
 * file order) goes to set k (annotator 1 first-frame, annotator 1 full-video, annotator 2 first-frame,
 * annotator 2 full-video). An object without exactly 4 expressions is an error.
 */
export function refDavisExpressionSets(
  meta: RefMetaExpressions,
  file = "meta_expressions.json",
): RefExpressionRef[][] {
  const sets: RefExpressionRef[][] = [[], [], [], []];
  for (const [video, entry] of Object.entries(meta.videos)) {
    const perObject = new Map<string, string[]>();
    for (const [expId, expression] of Object.entries(entry.expressions)) {
      const list = perObject.get(expression.obj_id) ?? [];
      list.push(expId);
      perObject.set(expression.obj_id, list);
    }
    for (const [objId, expIds] of perObject) {
      check(
        expIds.length === 4,
        `Ref-DAVIS17 needs 4 expressions per object, object ${objId} has ${expIds.length}`,
        file,
        `$.videos[${JSON.stringify(video)}].expressions`,
      );
      expIds.forEach((expId, k) => sets[k]!.push({ video, expId, objId }));
    }
  }
  return sets;
}
