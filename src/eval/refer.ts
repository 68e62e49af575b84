/**
 * Referring video object segmentation protocols.
 *
 * Ref-DAVIS17: each object has 4 expressions (annotator 1/2 × first-frame/full-video); for each of the 4
 * expression sets every object is segmented from its expression, the per-object probabilities are merged
 * per frame (argmax over objects, background where all are below 0.5; `mergeObjectProbabilities`), the
 * label maps are written as indexed PNGs to `<results>/anno_<k>/<sequence>/<frame>.png`, and each set is
 * scored with the DAVIS unsupervised task; the 4 runs are averaged.
 *
 * Ref-YouTube-VOS / MeViS local splits: each expression is scored with the DAVIS J and F over all its
 * frames against its ground truth (Ref-YouTube-VOS: the Annotations PNG equal to obj_id; MeViS: the union
 * of its objects' RLE masks), J and F being the means over frames; a video without a predictions folder
 * scores 0; J, F and J&F average over expressions (as MeViS' eval_mevis.py does).
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { check, VidsegError } from "../core/errors.js";
import { readExpressionGroups, type ExpressionGroups } from "../formats/expression-groups.js";
import { readIndexedPng } from "../formats/png.js";
import {
  mevisExpressionMask,
  readMevisMaskDict,
  readMevisMetaExpressions,
  type MevisMaskDict,
} from "../formats/mevis.js";
import { objectMaskPath, readRefMetaExpressions } from "../formats/refytvos.js";
import { numpyMean } from "../math/numpy.js";
import {
  binaryJF,
  DAVIS_GLOBAL_STATS,
  evaluateDavis,
  type DavisGlobalStats,
  type DavisResult,
} from "./davis.js";

export const REFER_PROTOCOLS = ["ref-davis", "ref-youtube-vos", "mevis"] as const;
export type ReferProtocol = (typeof REFER_PROTOCOLS)[number];

/** Number of expression sets in Ref-DAVIS17. */
export const REF_DAVIS_RUNS = 4;

/** Folder of the k-th Ref-DAVIS17 expression set's predictions. */
export function refDavisRunDir(resultsDir: string, k: number): string {
  return join(resultsDir, `anno_${k}`);
}

/**
 * Merges per-object foreground probabilities of one frame into a label map: each pixel gets the label of
 * the most probable object, or 0 (background) when no object reaches 0.5. As torch.argmax over
 * [0.5 (background), p_1, …, p_n]: the first maximum wins, so 0.5 exactly stays background and ties
 * between objects go to the earlier one.
 */
export function mergeObjectProbabilities(
  probabilities: readonly ArrayLike<number>[],
  labels: readonly number[] = probabilities.map((_, k) => k + 1),
): Uint8Array {
  check(
    labels.length === probabilities.length,
    `${labels.length} labels for ${probabilities.length} objects`,
  );
  for (const label of labels) {
    check(Number.isInteger(label) && label >= 1 && label <= 255, `object label ${label} is not in 1..255`);
  }
  const size = probabilities.length === 0 ? 0 : probabilities[0]!.length;
  for (const [k, p] of probabilities.entries()) {
    check(p.length === size, `object ${k} has ${p.length} probabilities, object 0 has ${size}`);
  }
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    let best = 0.5;
    let label = 0;
    for (let k = 0; k < probabilities.length; k++) {
      const p = probabilities[k]![i]!;
      if (p > best) {
        best = p;
        label = labels[k]!;
      }
    }
    out[i] = label;
  }
  return out;
}

export interface RefDavisResult {
  "J&F": number;
  J: number;
  F: number;
  /** Each global stat averaged over the runs. */
  global: DavisGlobalStats;
  runs: (DavisResult & { name: string })[];
}

/** Ref-DAVIS17: the 4 expression sets, each scored with the DAVIS unsupervised task, averaged. */
export async function evaluateRefDavis(options: {
  davisRoot: string;
  resultsDir: string;
  set?: string;
}): Promise<RefDavisResult> {
  const runs: (DavisResult & { name: string })[] = [];
  for (let k = 0; k < REF_DAVIS_RUNS; k++) {
    const dir = refDavisRunDir(options.resultsDir, k);
    if (!existsSync(dir)) {
      throw new VidsegError(`missing predictions of expression set ${k} (expected anno_0 … anno_3)`, dir);
    }
    const result = await evaluateDavis({
      davisRoot: options.davisRoot,
      resultsDir: dir,
      task: "unsupervised",
      set: options.set ?? "val",
    });
    runs.push({ name: `anno_${k}`, ...result });
  }
  const global = {} as DavisGlobalStats;
  for (const stat of DAVIS_GLOBAL_STATS) global[stat] = numpyMean(runs.map((run) => run.global[stat]));
  return { "J&F": global["J&F-Mean"], J: global["J-Mean"], F: global["F-Mean"], global, runs };
}

export interface PerExpressionResult {
  J: number;
  F: number;
  "J&F": number;
  /** Key `<video>_<exp_id>`. */
  per_expression: Record<string, { J: number; F: number }>;
  /** With a groups file: each group's figures over its expressions. */
  groups?: Record<string, GroupScore>;
}

/** J, F and J&F of one group of expressions, and how many it holds. */
export interface GroupScore {
  J: number;
  F: number;
  "J&F": number;
  expressions: number;
}

/** Per-expression J and F of one expression over its frames (means over frames). */
export function scoreExpression(
  predictions: readonly Uint8Array[],
  groundTruth: readonly Uint8Array[],
  width: number,
  height: number,
): { J: number; F: number } {
  check(
    predictions.length === groundTruth.length,
    `${predictions.length} predictions for ${groundTruth.length} frames`,
  );
  const j = new Float64Array(predictions.length);
  const f = new Float64Array(predictions.length);
  for (let t = 0; t < predictions.length; t++) {
    const measures = binaryJF(predictions[t]!, groundTruth[t]!, width, height);
    j[t] = measures.j;
    f[t] = measures.f;
  }
  return { J: numpyMean(j), F: numpyMean(f) };
}

/** `<results>/Annotations` when it exists (a Ref-YouTube-VOS submission), else `<results>`. */
function predictionRoot(resultsDir: string): string {
  const nested = join(resultsDir, "Annotations");
  return existsSync(nested) && statSync(nested).isDirectory() ? nested : resultsDir;
}

export interface PerExpressionOptions {
  protocol: "ref-youtube-vos" | "mevis";
  /** Split folder (meta_expressions.json, Annotations/ or mask_dict.json); default: the folder of metaFile. */
  splitRoot?: string;
  metaFile?: string;
  maskDictFile?: string;
  resultsDir: string;
  /** An expression groups file (src/formats/expression-groups.ts): J, F and J&F per group too. */
  groupsFile?: string;
}

/** Ref-YouTube-VOS / MeViS per-expression J&F on a local split with ground truth. */
export async function evaluatePerExpression(options: PerExpressionOptions): Promise<PerExpressionResult> {
  if (options.splitRoot === undefined && options.metaFile === undefined) {
    throw new VidsegError(`${options.protocol} needs a split folder or a meta_expressions.json`);
  }
  const metaFile = options.metaFile ?? join(options.splitRoot!, "meta_expressions.json");
  const splitRoot = options.splitRoot ?? dirname(metaFile);
  const root = predictionRoot(options.resultsDir);
  const per_expression: Record<string, { J: number; F: number }> = {};

  // The expressions, each with a ground-truth reader.
  type Item = {
    video: string;
    expId: string;
    frames: string[];
    gt: (t: number, h: number, w: number) => Promise<Uint8Array>;
  };
  const items: Item[] = [];
  if (options.protocol === "mevis") {
    const meta = await readMevisMetaExpressions(metaFile);
    const maskFile = options.maskDictFile ?? join(splitRoot, "mask_dict.json");
    const masks: MevisMaskDict = await readMevisMaskDict(maskFile);
    for (const [video, entry] of Object.entries(meta.videos)) {
      for (const [expId, expression] of Object.entries(entry.expressions)) {
        if (expression.anno_id === undefined) {
          throw new VidsegError(
            "expression has no anno_id: this split has no ground truth",
            metaFile,
            `$.videos[${JSON.stringify(video)}].expressions[${JSON.stringify(expId)}]`,
          );
        }
        const annoIds = expression.anno_id;
        items.push({
          video,
          expId,
          frames: entry.frames,
          gt: async (t, h, w) => mevisExpressionMask(masks, annoIds, t, h, w, maskFile),
        });
      }
    }
  } else {
    const meta = await readRefMetaExpressions(metaFile);
    for (const [video, entry] of Object.entries(meta.videos)) {
      for (const [expId, expression] of Object.entries(entry.expressions)) {
        const objId = Number(expression.obj_id);
        items.push({
          video,
          expId,
          frames: entry.frames,
          gt: async (t, h, w) => {
            const file = objectMaskPath(splitRoot, video, entry.frames[t]!);
            const labels = await readIndexedPng(file);
            check(
              labels.width === w && labels.height === h,
              `mask is ${labels.width}×${labels.height} but the prediction is ${w}×${h}`,
              file,
            );
            const mask = new Uint8Array(labels.data.length);
            for (let i = 0; i < mask.length; i++) mask[i] = labels.data[i] === objId ? 1 : 0;
            return mask;
          },
        });
      }
    }
  }

  for (const item of items) {
    const key = `${item.video}_${item.expId}`;
    if (!existsSync(join(root, item.video))) {
      per_expression[key] = { J: 0, F: 0 };
      continue;
    }
    const predictions: Uint8Array[] = [];
    const truths: Uint8Array[] = [];
    let width = 0;
    let height = 0;
    for (const [t, frame] of item.frames.entries()) {
      const file = join(root, item.video, item.expId, `${frame}.png`);
      const prediction = await readIndexedPng(file);
      if (t === 0) {
        width = prediction.width;
        height = prediction.height;
      }
      check(
        prediction.width === width && prediction.height === height,
        `mask is ${prediction.width}×${prediction.height} but the first frame is ${width}×${height}`,
        file,
      );
      predictions.push(prediction.data);
      truths.push(await item.gt(t, height, width));
    }
    per_expression[key] = scoreExpression(predictions, truths, width, height);
  }
  const result: PerExpressionResult = {
    ...averageExpressions(Object.values(per_expression)),
    per_expression,
  };
  if (options.groupsFile !== undefined) {
    const groups = await readExpressionGroups(options.groupsFile);
    result.groups = groupScores(per_expression, groups, options.groupsFile);
  }
  return result;
}

/**
 * Each group's J, F and J&F (NumPy's means over its expressions), groups in order of first appearance
 * in the file. Every expression the groups name must have been scored (a groups file of another split
 * is an error naming it); scored expressions the file does not list belong to no group.
 */
export function groupScores(
  perExpression: Readonly<Record<string, { J: number; F: number }>>,
  groups: ExpressionGroups,
  file?: string,
): Record<string, GroupScore> {
  const members = new Map<string, { J: number; F: number }[]>();
  for (const [video, expressions] of Object.entries(groups.videos)) {
    for (const [expId, names] of Object.entries(expressions)) {
      const key = `${video}_${expId}`;
      const score = Object.hasOwn(perExpression, key) ? perExpression[key] : undefined;
      if (score === undefined)
        throw new VidsegError(
          "no such expression in the scored split",
          file,
          `$.videos[${JSON.stringify(video)}][${JSON.stringify(expId)}]`,
        );
      for (const name of names) {
        const list = members.get(name) ?? [];
        list.push(score);
        members.set(name, list);
      }
    }
  }
  return Object.fromEntries(
    [...members].map(([name, scores]) => [
      name,
      { ...averageExpressions(scores), expressions: scores.length },
    ]),
  );
}

/** J and F averaged over expressions (NumPy's mean), J&F their mean. */
export function averageExpressions(scores: readonly { J: number; F: number }[]): {
  J: number;
  F: number;
  "J&F": number;
} {
  const J = numpyMean(scores.map((v) => v.J));
  const F = numpyMean(scores.map((v) => v.F));
  return { J, F, "J&F": (J + F) / 2 };
}
