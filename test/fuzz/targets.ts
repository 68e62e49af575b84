/**
 * Fuzz targets: every parser and reader of untrusted input, each with an input arbitrary (edits of a
 * valid document or file, so that inputs reach deep) and a check that applies the oracle:
 *
 *   the input either gives valid numbers (VIS stats in [0, 1] or −1, DAVIS and referring J/F in their
 *   ranges), or is rejected with one VidsegError whose one-line message names the file;
 *
 * anything else (another exception, a message without the file, a global changed) is a FuzzFailure.
 * Time and memory bounds are the runner's (test/fuzz/run.ts).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { escapeControlCharacters, VidsegError } from "../../src/core/errors.js";
import { parseJson } from "../../src/core/json.js";
import { evaluateDavis } from "../../src/eval/davis.js";
import { evaluatePerExpression, groupScores } from "../../src/eval/refer.js";
import { readExpressionGroups } from "../../src/formats/expression-groups.js";
import { evaluateYtvis } from "../../src/eval/ytvis.js";
import { writeDavisImage, writeDavisMask, writeImageSet, writeResultMask } from "../../src/formats/davis.js";
import { readMevisMaskDict, readMevisMetaExpressions, mevisExpressionMask } from "../../src/formats/mevis.js";
import { decodeIndexedPng, encodeIndexedPng } from "../../src/formats/png.js";
import { readRefMetaExpressions } from "../../src/formats/refytvos.js";
import { annotationFromMasks, readResults, readYtvis, resultFromMasks } from "../../src/formats/ytvis.js";
import { openVideo } from "../../src/infer/sources.js";
import {
  area,
  countsFromString,
  countsToString,
  decode,
  encode,
  fromCoco,
  fromSegmentation,
  toCoco,
} from "../../src/mask/rle.js";
import { presetConfig, resolveVisConfig, validateVisConfig } from "../../src/models/config.js";
import {
  decodeCheckpoint,
  decodeModelFile,
  disposeCheckpoint,
  disposeModelFile,
  encodeCheckpoint,
  encodeModelFile,
} from "../../src/models/model-file.js";
import { decodeSafetensors, encodeSafetensors } from "../../src/nn/safetensors.js";
import { DataType, OnnxGraph } from "../../src/export/onnx-graph.js";
import {
  ONNX_FORMAT,
  ONNX_METADATA_KEY,
  ONNX_REFER_FORMAT,
  readOnnxMetadata,
  readOnnxReferMetadata,
} from "../../src/models/onnx-file.js";
import {
  applyByteEdits,
  applyJsonEdits,
  applyTextEdits,
  byteEdits,
  jsonEdits,
  jsonText,
  textEdits,
  type Json,
} from "./mutate.js";

/** The oracle was broken: the message says how, the input is the case to keep. */
export class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

export type Outcome = "accepted" | "rejected";

export interface FuzzTarget<I = unknown> {
  name: string;
  /** What it covers, for the report. */
  what: string;
  input: fc.Arbitrary<I>;
  /** Applies the oracle to one input; `dir` is an empty scratch folder of its own. */
  check(input: I, dir: string): Promise<Outcome>;
  /** False where a tool it needs (ffmpeg) is missing. */
  available?: () => boolean;
}

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort().join(",");

/**
 * The oracle: `run` either returns a value that `valid` accepts, or throws one VidsegError whose
 * message names one of `files` on one line. Object.prototype must be unchanged either way.
 */
export async function oracle<T>(
  files: readonly string[],
  run: () => Promise<T> | T,
  valid: (value: T) => void,
): Promise<Outcome> {
  let outcome: Outcome;
  try {
    const value = await run();
    valid(value);
    outcome = "accepted";
  } catch (error) {
    if (error instanceof FuzzFailure) throw error;
    if (!(error instanceof VidsegError))
      throw new FuzzFailure(`not a VidsegError: ${(error as Error)?.stack ?? String(error)}`);
    if (error.message.includes("\n")) throw new FuzzFailure(`error of several lines: ${error.message}`);
    // The message names the file as VidsegError writes it: control characters escaped.
    if (files.length > 0 && !files.some((file) => error.message.includes(escapeControlCharacters(file))))
      throw new FuzzFailure(`error names none of ${files.join(", ")}: ${error.message}`);
    outcome = "rejected";
  }
  if (Object.getOwnPropertyNames(Object.prototype).sort().join(",") !== PROTOTYPE_NAMES)
    throw new FuzzFailure("Object.prototype was changed");
  return outcome;
}

function expectStat(name: string, value: unknown, min: number, max: number, nan = false): void {
  if (typeof value !== "number" || (Number.isNaN(value) ? !nan : value < min || value > max))
    throw new FuzzFailure(`${name} = ${String(value)} is outside [${min}, ${max}]`);
}

/** VIS stats: each −1 (undefined) or in [0, 1]. */
function expectVisStats(stats: Record<string, number>): void {
  for (const [name, value] of Object.entries(stats)) {
    if (value !== -1) expectStat(name, value, 0, 1);
  }
}

// ---------------------------------------------------------------------------------------------------
// YouTube-VIS / OVIS GT and results

function maskOf(h: number, w: number, from: number, to: number): Uint8Array {
  const mask = new Uint8Array(h * w);
  mask.fill(1, from, to);
  return mask;
}

function baseGt(occlusion: boolean): Json {
  const [h, w, frames] = [6, 8, 3];
  const track = (id: number, videoId: number, categoryId: number, from: number) => {
    const annotation = annotationFromMasks({
      id,
      videoId,
      categoryId,
      height: h,
      width: w,
      masks: [maskOf(h, w, from, from + 9), null, maskOf(h, w, from + 2, from + 20)],
      ...(occlusion ? { occlusion: ["no_occlusion", null, "severe_occlusion"] as const } : {}),
    });
    return JSON.parse(JSON.stringify(annotation)) as Json & Record<string, Json>;
  };
  const polygonTrack = track(3, 2, 2, 5);
  polygonTrack.segmentations = [[[1, 1, 6, 1, 6, 4, 1, 4]], null, [[0.5, 0.5, 7.5, 0.5, 4, 5.5]]];
  const uncompressed = track(4, 2, 1, 11);
  uncompressed.segmentations = [{ size: [h, w], counts: [11, 9, 28] }, null, null];
  return {
    info: { description: "fuzz" },
    videos: [1, 2].map((id) => ({
      id,
      width: w,
      height: h,
      length: frames,
      file_names: ["a", "b", "c"].map((f) => `v${id}/${f}.jpg`),
    })),
    categories: [
      { id: 1, name: "cat", supercategory: "animal" },
      { id: 2, name: "dog" },
    ],
    annotations: [track(1, 1, 1, 0), track(2, 1, 2, 24), polygonTrack, uncompressed],
  };
}

function baseResults(): Json {
  const [h, w] = [6, 8];
  return [
    [1, 1, 0.9, 0],
    [1, 2, 0.4, 20],
    [2, 2, 0.7, 6],
    [2, 1, 0.2, 30],
  ].map(([videoId, categoryId, score, from]) => {
    const result = resultFromMasks({
      videoId,
      categoryId,
      score,
      height: h,
      width: w,
      masks: [maskOf(h, w, from, from + 10), maskOf(h, w, from + 1, from + 8), null],
    });
    return JSON.parse(JSON.stringify(result)) as Json;
  });
}

interface VisInput {
  gt: Parameters<typeof applyJsonEdits>[1];
  gtText: Parameters<typeof applyTextEdits>[1];
  results: Parameters<typeof applyJsonEdits>[1];
  resultsText: Parameters<typeof applyTextEdits>[1];
}

const visInput: fc.Arbitrary<VisInput> = fc.record({
  gt: jsonEdits,
  gtText: fc.oneof(fc.constant([]), textEdits),
  results: jsonEdits,
  resultsText: fc.oneof(fc.constant([]), textEdits),
});

function visTarget(name: string, occlusion: boolean): FuzzTarget<VisInput> {
  const gtBase = baseGt(occlusion);
  const resultsBase = baseResults();
  return {
    name,
    what: `${occlusion ? "OVIS" : "YouTube-VIS"} GT and results readers, then the evaluator`,
    input: visInput,
    async check(input, dir) {
      const gtFile = join(dir, "gt.json");
      const resultsFile = join(dir, "results.json");
      writeFileSync(gtFile, applyTextEdits(jsonText(applyJsonEdits(gtBase, input.gt)), input.gtText));
      writeFileSync(
        resultsFile,
        applyTextEdits(jsonText(applyJsonEdits(resultsBase, input.results)), input.resultsText),
      );
      return oracle(
        [gtFile, resultsFile],
        async () => {
          const gt = await readYtvis(gtFile);
          const results = await readResults(resultsFile, gt);
          return evaluateYtvis(gt, results, { occlusion, gtFile, resultsFile }).stats;
        },
        (stats) => expectVisStats(stats as unknown as Record<string, number>),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// RLE codec and polygons (in memory: errors name no file, so none is required)

const RLE_ALPHABET = Array.from({ length: 64 }, (_, k) => String.fromCharCode(48 + k));

interface RleInput {
  counts: string;
  h: number;
  w: number;
}

const rleTarget: FuzzTarget<RleInput> = {
  name: "rle",
  what: "compressed RLE strings: decode, then encode/decode round trips (the codec read-only)",
  input: fc.oneof(
    // Any string over the alphabet (long continuation groups included), or any string at all.
    fc.record({
      counts: fc.oneof(
        fc.array(fc.constantFrom(...RLE_ALPHABET), { maxLength: 40 }).map((chars) => chars.join("")),
        fc.string({ maxLength: 20 }),
      ),
      h: fc.integer({ min: 0, max: 40 }),
      w: fc.integer({ min: 0, max: 40 }),
    }),
    // The string of a real mask, edited.
    fc
      .record({
        h: fc.integer({ min: 1, max: 30 }),
        w: fc.integer({ min: 1, max: 30 }),
        density: fc.double({ min: 0, max: 1, noNaN: true }),
        seed: fc.nat(),
        edits: fc.oneof(fc.constant([]), textEdits),
      })
      .map(({ h, w, density, seed, edits }) => {
        let state = seed;
        const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
        const mask = Uint8Array.from({ length: h * w }, () => (random() < density ? 1 : 0));
        return { counts: applyTextEdits(countsToString(encode(mask, h, w).counts), edits), h, w };
      }),
  ),
  async check({ counts, h, w }) {
    return oracle(
      [],
      () => fromCoco({ size: [h, w], counts }, "counts"),
      (rle) => {
        if (!rle.counts.every((c) => Number.isSafeInteger(c) && c >= 0))
          throw new FuzzFailure(`decoded runs are not counts: ${JSON.stringify(rle.counts)}`);
        const mask = decode(rle);
        if (mask.length !== h * w) throw new FuzzFailure(`decoded ${mask.length} pixels for ${h}×${w}`);
        const ones = mask.reduce((a, b) => a + b, 0);
        if (area(rle) !== ones) throw new FuzzFailure(`area ${area(rle)} but ${ones} pixels set`);
        // The canonical encoding of the mask round-trips through its string exactly.
        const canonical = encode(mask, h, w);
        const back = countsFromString(countsToString(canonical.counts));
        if (JSON.stringify(back) !== JSON.stringify(canonical.counts))
          throw new FuzzFailure(`string round trip changed ${JSON.stringify(canonical.counts)}`);
        if (countsToString(fromCoco(toCoco(canonical)).counts) !== countsToString(canonical.counts))
          throw new FuzzFailure("toCoco/fromCoco changed the runs");
      },
    );
  },
};

interface PolygonInput {
  polygons: number[][];
  h: number;
  w: number;
}

const coordinate = fc.oneof(
  fc.double({ min: -50, max: 80, noNaN: true }),
  fc.integer({ min: -5, max: 60 }),
  fc.constantFrom(4e8, -4e8, 1e12, -1e12, 2 ** 31, 0.5, 59.5),
);

const polygonTarget: FuzzTarget<PolygonInput> = {
  name: "polygons",
  what: "polygon and box rasterisation (frPoly/frBbox), any coordinates",
  input: fc.record({
    polygons: fc.array(fc.array(coordinate, { minLength: 4, maxLength: 16 }), { minLength: 1, maxLength: 3 }),
    h: fc.integer({ min: 1, max: 60 }),
    w: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.constantFrom(2 ** 20, 2 ** 31 - 1)),
  }),
  async check({ polygons, h, w }) {
    const parts = polygons.map((p) => (p.length % 2 === 1 ? p.slice(1) : p));
    return oracle(
      [],
      () => fromSegmentation(parts, h, w, "segmentation"),
      (rle) => {
        const total = rle.counts.reduce((a, b) => a + b, 0);
        if (total !== h * w) throw new FuzzFailure(`runs cover ${total} pixels of ${h}×${w}`);
        const a = area(rle);
        if (!(a >= 0 && a <= h * w)) throw new FuzzFailure(`area ${a}`);
      },
    );
  },
};

// ---------------------------------------------------------------------------------------------------
// Indexed PNG

/** Valid palette PNGs to edit: a 7×5 mask of several labels, a 1×1 and a 16×2 one. */
const PNG_BASES = [
  { width: 7, height: 5, data: Uint8Array.from({ length: 35 }, (_, i) => i % 4) },
  { width: 1, height: 1, data: Uint8Array.of(255) },
  { width: 16, height: 2, data: Uint8Array.from({ length: 32 }, (_, i) => (i * 37) % 256) },
].map((labels) => encodeIndexedPng(labels));

const pngTarget: FuzzTarget<{ base: number; edits: Parameters<typeof applyByteEdits>[1]; expect: boolean }> =
  {
    name: "png",
    what: "indexed PNG masks: header checks (size, depth, bombs), then decoding",
    input: fc.record({ base: fc.nat({ max: 2 }), edits: byteEdits, expect: fc.boolean() }),
    async check({ base, edits, expect }, dir) {
      const file = join(dir, "mask.png");
      const bytes = applyByteEdits(PNG_BASES[base], edits);
      return oracle(
        [file],
        () => decodeIndexedPng(bytes, file, expect ? { width: 7, height: 5 } : undefined),
        (labels) => {
          if (labels.data.length !== labels.width * labels.height)
            throw new FuzzFailure(`${labels.data.length} pixels for ${labels.width}×${labels.height}`);
          if (expect && (labels.width !== 7 || labels.height !== 5))
            throw new FuzzFailure("size not checked");
        },
      );
    },
  };

// ---------------------------------------------------------------------------------------------------
// DAVIS folders

interface DavisInput {
  imageSet: Parameters<typeof applyTextEdits>[1];
  /** Which mask file to corrupt (GT or result, frame), and how. */
  file: number;
  edits: Parameters<typeof applyByteEdits>[1];
  unsupervised: boolean;
}

const davisTarget: FuzzTarget<DavisInput> = {
  name: "davis",
  what: "DAVIS-2017 folders (ImageSets, palette PNGs of GT and results), then J&F",
  input: fc.record({
    imageSet: fc.oneof(fc.constant([]), textEdits),
    file: fc.nat({ max: 5 }),
    edits: byteEdits,
    unsupervised: fc.boolean(),
  }),
  async check(input, dir) {
    const root = join(dir, "DAVIS");
    const results = join(dir, "results");
    const task = input.unsupervised ? "unsupervised" : "semi-supervised";
    const [w, h] = [8, 6];
    await writeImageSet(root, "val", ["seq"]);
    writeFileSync(join(root, "ImageSets", "2017", "val.txt"), applyTextEdits("seq\n", input.imageSet));
    const frames = ["00000", "00001", "00002"];
    const written: string[] = [];
    for (const [t, frame] of frames.entries()) {
      await writeDavisImage(root, "seq", frame, new Uint8Array(w * h * 3).fill(80), w, h);
      const gt = Uint8Array.from({ length: w * h }, (_, i) =>
        i % w < 3 ? 1 : i % w > 5 ? 2 : i === 20 ? 255 : 0,
      );
      const pred = Uint8Array.from({ length: w * h }, (_, i) => (i % w < 3 + t ? 1 : i % w > 6 ? 2 : 0));
      await writeDavisMask(root, task, "seq", frame, { width: w, height: h, data: gt });
      await writeResultMask(results, "seq", frame, { width: w, height: h, data: pred });
      written.push(
        join(
          root,
          task === "unsupervised" ? "Annotations_unsupervised" : "Annotations",
          "480p",
          "seq",
          `${frame}.png`,
        ),
        join(results, "seq", `${frame}.png`),
      );
    }
    const target = written[input.file % written.length];
    const { readFileSync } = await import("node:fs");
    writeFileSync(target, applyByteEdits(readFileSync(target), input.edits));
    return oracle(
      [root, results],
      () => evaluateDavis({ davisRoot: root, resultsDir: results, task, set: "val" }),
      (result) => {
        for (const [name, value] of Object.entries(result.global)) {
          expectStat(name, value, name.includes("Decay") ? -1 : 0, 1, true);
        }
      },
    );
  },
};

// ---------------------------------------------------------------------------------------------------
// Ref-YouTube-VOS and MeViS meta

interface ReferInput {
  meta: Parameters<typeof applyJsonEdits>[1];
  masks: Parameters<typeof applyJsonEdits>[1];
  text: Parameters<typeof applyTextEdits>[1];
}

const referTarget: FuzzTarget<ReferInput> = {
  name: "refer",
  what: "Ref-YouTube-VOS meta_expressions, MeViS meta and mask_dict, then MeViS J&F",
  input: fc.record({ meta: jsonEdits, masks: jsonEdits, text: fc.oneof(fc.constant([]), textEdits) }),
  async check(input, dir) {
    const [h, w] = [6, 8];
    const rle = (from: number) =>
      JSON.parse(JSON.stringify(toCoco(encode(maskOf(h, w, from, from + 12), h, w)))) as Json;
    const meta: Json = {
      videos: {
        v1: {
          expressions: {
            "0": { exp: "the cat", obj_id: [1], anno_id: ["10"] },
            "1": { exp: "both", obj_id: ["1", 2], anno_id: [10, "11"] },
          },
          frames: ["00000", "00001"],
        },
      },
    };
    const masks: Json = { "10": [rle(0), null], "11": [rle(20), rle(25)] };
    const metaFile = join(dir, "meta_expressions.json");
    const maskFile = join(dir, "mask_dict.json");
    writeFileSync(metaFile, applyTextEdits(jsonText(applyJsonEdits(meta, input.meta)), input.text));
    writeFileSync(maskFile, jsonText(applyJsonEdits(masks, input.masks)));
    const results = join(dir, "results");
    for (const expId of ["0", "1"])
      for (const frame of ["00000", "00001"]) {
        mkdirSync(join(results, "v1", expId), { recursive: true });
        writeFileSync(
          join(results, "v1", expId, `${frame}.png`),
          encodeIndexedPng({ width: w, height: h, data: maskOf(h, w, 3, 30) }),
        );
      }
    // The Ref-YouTube-VOS reader on the same meta (its obj_id is one id: lists are errors there).
    const refOutcome = await oracle(
      [metaFile],
      () => readRefMetaExpressions(metaFile),
      () => undefined,
    );
    const mevisOutcome = await oracle(
      [metaFile, maskFile, results],
      async () => {
        const parsed = await readMevisMetaExpressions(metaFile);
        const dict = await readMevisMaskDict(maskFile);
        for (const video of Object.values(parsed.videos))
          for (const expression of Object.values(video.expressions))
            for (let t = 0; t < Math.min(video.frames.length, 4); t++)
              mevisExpressionMask(dict, expression.anno_id ?? [], t, h, w, maskFile);
        return evaluatePerExpression({
          protocol: "mevis",
          metaFile,
          maskDictFile: maskFile,
          resultsDir: results,
        });
      },
      (result) => {
        for (const key of ["J", "F", "J&F"] as const) expectStat(key, result[key], 0, 1, true);
      },
    );
    return refOutcome === "accepted" || mevisOutcome === "accepted" ? "accepted" : "rejected";
  },
};

// ---------------------------------------------------------------------------------------------------
// Expression groups (`vidseg eval refer --groups`)

const expressionGroupsTarget: FuzzTarget<{
  edits: Parameters<typeof applyJsonEdits>[1];
  text: Parameters<typeof applyTextEdits>[1];
}> = {
  name: "expression-groups",
  what: "expression groups files, then the per-group J&F of fixed per-expression scores",
  input: fc.record({ edits: jsonEdits, text: fc.oneof(fc.constant([]), textEdits) }),
  async check(input, dir) {
    const file = join(dir, "expression_groups.json");
    const base: Json = {
      videos: { v1: { "0": ["motion-only", "colour"], "1": ["colour"] }, v2: { "0": [] } },
    };
    writeFileSync(file, applyTextEdits(jsonText(applyJsonEdits(base, input.edits)), input.text));
    const scores = { v1_0: { J: 0.25, F: 0.5 }, v1_1: { J: 1, F: 1 }, v2_0: { J: 0, F: 0 } };
    return oracle(
      [file],
      async () => groupScores(scores, await readExpressionGroups(file), file),
      (groups) => {
        for (const group of Object.values(groups)) {
          for (const key of ["J", "F", "J&F"] as const) expectStat(key, group[key], 0, 1, false);
          if (!Number.isInteger(group.expressions) || group.expressions < 1)
            throw new FuzzFailure(`a group of ${group.expressions} expressions`);
        }
      },
    );
  },
};

// ---------------------------------------------------------------------------------------------------
// safetensors, model files and checkpoints

interface ModelFileInput {
  kind: "model" | "checkpoint" | "safetensors";
  header: Parameters<typeof applyJsonEdits>[1];
  info: Parameters<typeof applyJsonEdits>[1];
  bytes: Parameters<typeof applyByteEdits>[1];
}

/** A safetensors file rebuilt from an edited header (lengths kept consistent), then byte edits. */
function rebuildSafetensors(bytes: Uint8Array, editHeader: (header: Json) => Json): Uint8Array {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Json;
  const text = new TextEncoder().encode(jsonText(editHeader(header)));
  const out = new Uint8Array(8 + text.length + bytes.length - 8 - length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + length), 8 + text.length);
  return out;
}

let modelBases: Record<ModelFileInput["kind"], Uint8Array> | undefined;

function modelFileBases(): Record<ModelFileInput["kind"], Uint8Array> {
  if (modelBases) return modelBases;
  const weights = new Map<string, tf.Tensor>([
    ["a.weight", tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3])],
    ["a.count", tf.tensor1d([7, 8], "int32")],
  ]);
  const config = presetConfig("tiny");
  const info = { kind: "online", config, categoryIds: [1, 2, 3, 4], categoryNames: ["a", "b", "c", "d"] };
  modelBases = {
    model: encodeModelFile(weights, info),
    checkpoint: encodeCheckpoint({
      step: 3,
      weights,
      config: { modelInfo: info, seed: 0 },
      rng: [1, 2, 3, 4],
    }),
    safetensors: encodeSafetensors(weights, { note: "x" }),
  };
  tf.dispose([...weights.values()]);
  return modelBases;
}

const modelFileTarget: FuzzTarget<ModelFileInput> = {
  name: "model-file",
  what: "safetensors headers and data, model files (info and config) and checkpoints (state)",
  input: fc.record({
    kind: fc.constantFrom<ModelFileInput["kind"]>("model", "checkpoint", "safetensors"),
    header: jsonEdits,
    info: jsonEdits,
    bytes: fc.oneof(fc.constant([]), byteEdits),
  }),
  async check(input, dir) {
    const file = join(dir, `${input.kind}.safetensors`);
    const base = modelFileBases()[input.kind];
    const edited = rebuildSafetensors(base, (header) => {
      const metadata = (header as Record<string, Record<string, string>>).__metadata__;
      // The embedded JSON documents (info, state) are edited as documents, not as escaped strings.
      for (const key of ["info", "state"])
        if (metadata?.[key])
          metadata[key] = jsonText(applyJsonEdits(JSON.parse(metadata[key]) as Json, input.info));
      return applyJsonEdits(header, input.header);
    });
    const bytes = applyByteEdits(edited, input.bytes);
    writeFileSync(file, bytes);
    return oracle(
      [file],
      () => {
        if (input.kind === "safetensors") {
          const content = decodeSafetensors(bytes, file);
          tf.dispose([...content.tensors.values()]);
        } else if (input.kind === "model") {
          const model = decodeModelFile(bytes, file);
          validateVisConfig(model.info.config, file);
          disposeModelFile(model);
        } else disposeCheckpoint(decodeCheckpoint(bytes, file));
      },
      () => undefined,
    );
  },
};

// ---------------------------------------------------------------------------------------------------
// Exported ONNX models (their vidseg metadata)

/** A one-node graph carrying an exported model's metadata document. */
function onnxWithMetadata(metadata: Json): Uint8Array {
  const g = new OnnxGraph(17);
  const x = g.input({ name: "frame", type: DataType.UINT8, dims: [1, "height", "width", 3] });
  g.output(x, { name: "out", type: DataType.UINT8, dims: [1, "height", "width", 3] });
  return g.toBytes("fuzz", { [ONNX_METADATA_KEY]: jsonText(metadata) }, "0");
}

const onnxTarget: FuzzTarget<{
  edits: Parameters<typeof applyJsonEdits>[1];
  bytes: Parameters<typeof applyByteEdits>[1];
  refer: boolean;
}> = {
  name: "onnx",
  what: "exported ONNX models, online and referring: the protobuf and the vidseg metadata (info, preprocessing, outputs)",
  input: fc.record({ edits: jsonEdits, bytes: fc.oneof(fc.constant([]), byteEdits), refer: fc.boolean() }),
  async check(input, dir) {
    const file = join(dir, "model.onnx");
    const config = presetConfig("tiny");
    if (input.refer) {
      const refer: Json = {
        format: ONNX_REFER_FORMAT,
        vidsegVersion: "0.1.0",
        info: { kind: "refer", config, categoryIds: [], vocabulary: ["red", "the"] } as unknown as Json,
        preprocessing: { input: "RGB uint8 [1, H, W, 3]", scale: 1 / 255, inputSize: [64, 64] },
        lambda: 1,
        featureSize: [8, 8],
        maskSize: [16, 16],
      };
      const bytes = applyByteEdits(onnxWithMetadata(applyJsonEdits(refer, input.edits)), input.bytes);
      writeFileSync(file, bytes);
      return oracle(
        [file],
        () => readOnnxReferMetadata(bytes, file),
        (metadata) => validateVisConfig(metadata.info.config, file),
      );
    }
    const base: Json = {
      format: ONNX_FORMAT,
      vidsegVersion: "0.1.0",
      info: {
        kind: "online",
        config,
        categoryIds: [1, 2, 3, 4],
        categoryNames: ["a", "b", "c", "d"],
      } as unknown as Json,
      preprocessing: { input: "RGB uint8 [1, H, W, 3]", scale: 1 / 255, inputSize: [64, 64] },
      outputs: { maskStride: 4, numQueries: 8, numClasses: 4, embeddingDim: 32 },
      cropClassifier: { cropSize: 32 },
    };
    const bytes = applyByteEdits(onnxWithMetadata(applyJsonEdits(base, input.edits)), input.bytes);
    writeFileSync(file, bytes);
    return oracle(
      [file],
      () => readOnnxMetadata(bytes, file),
      (metadata) => validateVisConfig(metadata.info.config, file),
    );
  },
};

// ---------------------------------------------------------------------------------------------------
// Config files

const configTarget: FuzzTarget<{
  edits: Parameters<typeof applyJsonEdits>[1];
  text: Parameters<typeof applyTextEdits>[1];
}> = {
  name: "config",
  what: "config files (presets, sections, fields; prototype keys)",
  input: fc.record({ edits: jsonEdits, text: fc.oneof(fc.constant([]), textEdits) }),
  async check(input, dir) {
    const file = join(dir, "config.json");
    const base: Json = {
      preset: "tiny",
      model: { hiddenDim: 32, inputSize: [64, 64] },
      optim: { lr: 0.001, totalSteps: 5 },
      offline: { head: { hiddenDim: 32 } },
    };
    const text = applyTextEdits(jsonText(applyJsonEdits(base, input.edits)), input.text);
    writeFileSync(file, text);
    return oracle(
      [file],
      () => resolveVisConfig(parseJson(text, file), file),
      (config) => validateVisConfig(config, file),
    );
  },
};

// ---------------------------------------------------------------------------------------------------
// Video files (ffmpeg)

const hasFfmpeg = (() => {
  let known: boolean | undefined;
  return () =>
    (known ??=
      spawnSync("ffmpeg", ["-version"]).status === 0 && spawnSync("ffprobe", ["-version"]).status === 0);
})();

let videoBase: Uint8Array | undefined;

const VIDEO_NAMES = ["clip.mp4", "-report", "concat:clip.mp4|clip.mp4", "a\nb.mp4", "%d.mp4"];

const videoTarget: FuzzTarget<{ name: number; edits: Parameters<typeof applyByteEdits>[1] }> = {
  name: "video",
  what: "the video-frame source (ffprobe + ffmpeg) on corrupted files with hostile names",
  available: hasFfmpeg,
  input: fc.record({ name: fc.nat({ max: VIDEO_NAMES.length - 1 }), edits: byteEdits }),
  async check(input, dir) {
    if (!videoBase) {
      const file = join(dir, "base.mp4");
      execFileSync("ffmpeg", [
        ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=16x16:rate=5:duration=1"],
        ...["-c:v", "mpeg4", "-f", "mp4", `file:${file}`],
      ]);
      const { readFileSync } = await import("node:fs");
      videoBase = readFileSync(file);
    }
    const file = join(dir, VIDEO_NAMES[input.name]);
    writeFileSync(file, applyByteEdits(videoBase, input.edits));
    return oracle(
      [file],
      async () => {
        const source = await openVideo(file, { maxFrames: 50 });
        let count = 0;
        for await (const frame of source) {
          if (frame.data.length !== source.width * source.height * 3)
            throw new FuzzFailure(`frame of ${frame.data.length} bytes for ${source.width}×${source.height}`);
          count++;
        }
        return count;
      },
      (count) => {
        if (count > 50) throw new FuzzFailure(`${count} frames past maxFrames 50`);
      },
    );
  },
};

export const TARGETS: readonly FuzzTarget<never>[] = [
  visTarget("ytvis", false),
  visTarget("ovis", true),
  rleTarget,
  polygonTarget,
  pngTarget,
  davisTarget,
  referTarget,
  expressionGroupsTarget,
  modelFileTarget,
  onnxTarget,
  configTarget,
  videoTarget,
] as unknown as FuzzTarget<never>[];

export function targetByName(name: string): FuzzTarget<unknown> {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`unknown fuzz target "${name}" (${TARGETS.map((t) => t.name).join(", ")})`);
  return target as FuzzTarget<unknown>;
}
