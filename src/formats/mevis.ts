/**
 * MeViS: a typed model, validating readers and atomic writers.
 *
 * Layout of one split folder (`train/`, `valid_u/`, `valid/`):
 *   meta_expressions.json  {videos: {<video>: {expressions: {<exp_id>: {exp, obj_id: [..], anno_id: [..]}},
 *                                              frames: [..]}}}
 *   mask_dict.json         {<anno_id>: [one COCO RLE {size: [h, w], counts} or null per frame]}
 *   JPEGImages/<video>/<frame>.jpg
 * An expression may refer to several objects (motion expressions); its mask is the union of its
 * objects' masks. `anno_id` indexes mask_dict.json; the online `valid` split has no anno_id / masks.
 * Predictions are binary PNGs `<results>/<video>/<exp_id>/<frame>.png`.
 */
import { check, VidsegError } from "../core/errors.js";
import { readJson, writeJsonAtomic } from "../core/fs.js";
import { decode, fromCoco, type CocoRle } from "../mask/rle.js";
import { JsonChecker, showValue } from "./json-check.js";

export interface MevisExpression {
  exp: string;
  /** Object ids within the video. */
  obj_id: number[];
  /** Keys of mask_dict.json, one per object (absent in the online split). */
  anno_id?: string[];
}

export interface MevisVideo {
  expressions: Record<string, MevisExpression>;
  frames: string[];
}

export interface MevisMetaExpressions {
  videos: Record<string, MevisVideo>;
}

/** anno_id → per-frame RLE (null where the object is absent). */
export type MevisMaskDict = Record<string, (CocoRle | null)[]>;

/** A list of integer ids, each written as a number or its decimal string. */
function idList(v: JsonChecker, value: unknown, where: string): (number | string)[] {
  return v.array(value, where).map((item, k) => v.integerId(item, `${where}[${k}]`));
}

export function parseMevisMetaExpressions(
  json: unknown,
  file = "meta_expressions.json",
): MevisMetaExpressions {
  const v = new JsonChecker(file);
  const root = v.object(json, "$");
  const videosJson = v.object(root.videos, "$.videos");
  const videos: Record<string, MevisVideo> = {};
  for (const [video, videoJson] of Object.entries(videosJson)) {
    const at = `$.videos[${JSON.stringify(video)}]`;
    v.pathName(video, at);
    const entry = v.object(videoJson, at);
    const frames = v.stringArray(entry.frames, `${at}.frames`);
    frames.forEach((frame, k) => v.pathName(frame, `${at}.frames[${k}]`));
    const expressionsJson = v.object(entry.expressions, `${at}.expressions`);
    const expressions: Record<string, MevisExpression> = {};
    for (const [expId, expJson] of Object.entries(expressionsJson)) {
      const expAt = `${at}.expressions[${JSON.stringify(expId)}]`;
      v.pathName(expId, expAt);
      const expression = v.object(expJson, expAt);
      const parsed: MevisExpression = {
        exp: v.string(expression.exp, `${expAt}.exp`),
        obj_id: idList(v, expression.obj_id, `${expAt}.obj_id`).map(Number),
      };
      if (expression.anno_id !== undefined) {
        parsed.anno_id = idList(v, expression.anno_id, `${expAt}.anno_id`).map(String);
      }
      expressions[expId] = parsed;
    }
    videos[video] = { expressions, frames };
  }
  return { videos };
}

export async function readMevisMetaExpressions(file: string): Promise<MevisMetaExpressions> {
  return parseMevisMetaExpressions(await readJson(file), file);
}

export async function writeMevisMetaExpressions(file: string, meta: MevisMetaExpressions): Promise<void> {
  await writeJsonAtomic(file, meta);
}

/** Validates mask_dict.json's structure (RLE contents are checked when decoded). */
export function parseMevisMaskDict(json: unknown, file = "mask_dict.json"): MevisMaskDict {
  const v = new JsonChecker(file);
  const root = v.object(json, "$");
  for (const [annoId, frames] of Object.entries(root)) {
    const at = `$[${JSON.stringify(annoId)}]`;
    check(Array.isArray(frames), `expected a list of per-frame RLEs, got ${showValue(frames)}`, file, at);
    frames.forEach((rle, k) =>
      check(
        rle === null || (typeof rle === "object" && !Array.isArray(rle)),
        `expected an RLE object or null, got ${showValue(rle)}`,
        file,
        `${at}[${k}]`,
      ),
    );
  }
  return root as MevisMaskDict;
}

export async function readMevisMaskDict(file: string): Promise<MevisMaskDict> {
  return parseMevisMaskDict(await readJson(file), file);
}

export async function writeMevisMaskDict(file: string, masks: MevisMaskDict): Promise<void> {
  await writeJsonAtomic(file, masks);
}

/**
 * The ground-truth mask of an expression on one frame: the union of its objects' masks (row-major 0/1),
 * checked against the expected size. An object absent on the frame (null / empty entry) adds nothing.
 */
export function mevisExpressionMask(
  masks: MevisMaskDict,
  annoIds: readonly string[],
  frameIndex: number,
  height: number,
  width: number,
  file = "mask_dict.json",
): Uint8Array {
  const union = new Uint8Array(height * width);
  for (const annoId of annoIds) {
    const frames = Object.hasOwn(masks, annoId) ? masks[annoId] : undefined;
    if (frames === undefined) throw new VidsegError(`anno_id ${annoId} is not in the mask dictionary`, file);
    const where = `$[${JSON.stringify(annoId)}][${frameIndex}]`;
    check(
      frameIndex < frames.length,
      `has ${frames.length} frames, frame ${frameIndex} is needed`,
      file,
      where,
    );
    const coco = frames[frameIndex];
    if (!coco) continue;
    const rle = fromCoco(coco, where, file);
    check(
      rle.h === height && rle.w === width,
      `mask is ${rle.w}×${rle.h} but the video is ${width}×${height}`,
      file,
      where,
    );
    const mask = decode(rle);
    for (let i = 0; i < mask.length; i++) if (mask[i]) union[i] = 1;
  }
  return union;
}
