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
import { resolveInside } from "../core/paths.js";
import { JsonChecker } from "./json-check.js";
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

// Video names, expression ids and frame names come from the meta files: each path built from them must
// stay inside its folder (they are also checked when the meta is read).

export function imagePath(splitRoot: string, video: string, frame: string): string {
  return resolveInside(join(splitRoot, "JPEGImages"), join(video, `${frame}.jpg`), undefined, "video");
}

export function objectMaskPath(splitRoot: string, video: string, frame: string): string {
  return resolveInside(join(splitRoot, "Annotations"), join(video, `${frame}.png`), undefined, "video");
}

/** A prediction (or per-expression ground truth): `<root>/Annotations/<video>/<exp_id>/<frame>.png`. */
export function expressionMaskPath(root: string, video: string, expId: string, frame: string): string {
  return resolveInside(join(root, "Annotations"), join(video, expId, `${frame}.png`), undefined, "video");
}

/** Where a Ref-YouTube-VOS split's files are. */
export interface ReferSplitPaths {
  /** The split folder. */
  splitRoot: string;
  /** `<split>/meta_expressions.json`. */
  annotationFile: string;
  /** `<split>/JPEGImages`. */
  imagesDir: string;
}

/**
 * The split folder a path stands for: `<path>` itself when it holds meta_expressions.json, else
 * `<path>/<split>` (a root holding several splits). A clear error when neither has one.
 */
export function resolveReferSplit(path: string, split?: string): ReferSplitPaths {
  const candidates = existsSync(metaExpressionsPath(path)) || split === undefined ? [path] : [];
  if (split !== undefined) candidates.push(join(path, split));
  const splitRoot = candidates.find((dir) => existsSync(metaExpressionsPath(dir)));
  if (splitRoot === undefined) {
    throw new VidsegError(
      `no Ref-YouTube-VOS split (looked for ${candidates.map(metaExpressionsPath).join(", ")})`,
      path,
    );
  }
  const imagesDir = join(splitRoot, "JPEGImages");
  if (!existsSync(imagesDir)) throw new VidsegError("no frames folder in the split", imagesDir);
  return { splitRoot, annotationFile: metaExpressionsPath(splitRoot), imagesDir };
}

// ---------------------------------------------------------------------------------------------------
// JSON validation helpers (shared with the MeViS reader)

// ---------------------------------------------------------------------------------------------------
// meta_expressions.json

/** Validates a parsed `meta_expressions.json`; errors name the file and the JSON path. */
export function parseRefMetaExpressions(json: unknown, file = "meta_expressions.json"): RefMetaExpressions {
  const v = new JsonChecker(file);
  const root = v.object(json, "$");
  const videosJson = v.object(root.videos, "$.videos");
  const videos: Record<string, RefVideo> = {};
  for (const [video, videoJson] of Object.entries(videosJson)) {
    const at = `$.videos[${JSON.stringify(video)}]`;
    v.pathName(video, at);
    const entry = v.object(videoJson, at);
    const frames = v.stringArray(entry.frames, `${at}.frames`);
    const seen = new Set<string>();
    for (const [k, frame] of frames.entries()) {
      v.pathName(frame, `${at}.frames[${k}]`);
      check(!seen.has(frame), `frame "${frame}" is listed twice`, file, `${at}.frames[${k}]`);
      seen.add(frame);
    }
    const expressionsJson = v.object(entry.expressions, `${at}.expressions`);
    const expressions: Record<string, RefExpression> = {};
    for (const [expId, expJson] of Object.entries(expressionsJson)) {
      const expAt = `${at}.expressions[${JSON.stringify(expId)}]`;
      v.pathName(expId, expAt);
      const expression = v.object(expJson, expAt);
      expressions[expId] = {
        exp: v.string(expression.exp, `${expAt}.exp`),
        obj_id: String(v.integerId(expression.obj_id, `${expAt}.obj_id`, 0)),
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
  const v = new JsonChecker(file);
  const root = v.object(json, "$");
  const videosJson = v.object(root.videos, "$.videos");
  const videos: RefMeta["videos"] = {};
  for (const [video, videoJson] of Object.entries(videosJson)) {
    const at = `$.videos[${JSON.stringify(video)}]`;
    v.pathName(video, at);
    const objectsJson = v.object(v.object(videoJson, at).objects, `${at}.objects`);
    const objects: Record<string, RefObjectMeta> = {};
    for (const [objId, objJson] of Object.entries(objectsJson)) {
      const objAt = `${at}.objects[${JSON.stringify(objId)}]`;
      String(v.integerId(objId, objAt, 0));
      const object = v.object(objJson, objAt);
      objects[objId] = { category: v.string(object.category, `${objAt}.category`) };
      if (object.frames !== undefined) {
        objects[objId].frames = v.stringArray(object.frames, `${objAt}.frames`);
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
    const mask = await readIndexedPng(file, size && { ...size, what: "the video" });
    size ??= { width: mask.width, height: mask.height };
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
