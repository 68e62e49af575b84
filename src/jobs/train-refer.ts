/**
 * The train-refer job (`vidseg train refer`): trains the referring model (YOFO) on the train split of
 * a Ref-YouTube-VOS-layout root (or on a split folder), validating on its valid split — every
 * expression streamed through ReferringSegmenter as `vidseg infer refer` runs it, scored with the
 * per-expression J and F of `vidseg eval refer --protocol ref-youtube-vos` — and writes the run
 * folder: log.jsonl, checkpoints/, model.safetensors, plot.html.
 */
import { basename, join, resolve } from "node:path";
import { check } from "../core/errors.js";
import { averageExpressions, scoreExpression } from "../eval/refer.js";
import { readIndexedPng } from "../formats/png.js";
import {
  imagePath,
  objectMaskPath,
  readRefMetaExpressions,
  resolveReferSplit,
  type ReferSplitPaths,
} from "../formats/refytvos.js";
import { ReferringSegmenter } from "../infer/referring-segmenter.js";
import { imageFrames } from "../infer/sources.js";
import type { ModelInfo, TrainedOn } from "../models/model-file.js";
import type { ReferModel } from "../models/refer/model.js";
import { initRuntime } from "../runtime/backend.js";
import { trainModel } from "../train/run.js";
import { segmentExpressions } from "./infer-refer.js";
import { readSynthReferInfo } from "./synth.js";
import {
  runConfig,
  runSettings,
  runSummary,
  type TrainRunOptions,
  type TrainRunSummary,
} from "./train-run.js";

export interface TrainReferOptions extends TrainRunOptions {
  /** A Ref-YouTube-VOS-layout root holding `train/` (and `valid/`), or a split folder. */
  data: string;
  /**
   * Pseudo-videos (`vidseg synth refer --stills`): a root holding `train/`, or a split folder, mixed
   * into the batches at the config's refer.pseudoRatio.
   */
  pseudo?: string;
  /** A trained referring model to continue (its architecture and weights; give it again with --resume). */
  init?: string;
  /** A model file whose backbone the model starts from, frozen (give it again with --resume). */
  backboneFrom?: string;
}

/** What the job returns (and `vidseg train refer --json` prints). */
export type TrainReferSummary = TrainRunSummary;

/** Trains (see the module comment). */
export async function trainRefer(options: TrainReferOptions): Promise<TrainReferSummary> {
  await initRuntime();
  const config = await runConfig(options);
  const train = resolveReferSplit(options.data, "train");
  const pseudo = options.pseudo === undefined ? undefined : resolveReferSplit(options.pseudo, "train");
  let valid: ReferSplitPaths | undefined;
  try {
    if (options.valSplit !== false)
      valid = resolveReferSplit(join(options.data, options.valSplit ?? "valid"));
  } catch {
    valid = undefined;
  }
  const result = await trainModel("refer", {
    ...runSettings(options),
    config,
    data: { annotationFile: train.annotationFile, imagesDir: train.imagesDir },
    pseudo: pseudo && { annotationFile: pseudo.annotationFile, imagesDir: pseudo.imagesDir },
    init: options.init,
    backboneFrom: options.backboneFrom,
    trainedOn: await describeReferData(train, options.data, options.pseudo),
    validate: valid && ((model, info) => validateRefer(model, info, valid, options.valVideos)),
  });
  return runSummary(result, options);
}

/** What the training data is, for the model file: a `vidseg synth refer` root says so in its synth.json. */
async function describeReferData(
  train: ReferSplitPaths,
  root: string,
  pseudoRoot?: string,
): Promise<TrainedOn> {
  const synth = await readSynthReferInfo(resolve(root));
  const pseudo = pseudoRoot === undefined ? undefined : await readSynthReferInfo(resolve(pseudoRoot));
  const data = synth
    ? `synthetic ${synth.preset} preset (vidseg synth refer), seed ${synth.seed}`
    : `${basename(resolve(root))} (Ref-YouTube-VOS layout, ${basename(train.splitRoot)} split)`;
  const extra =
    pseudoRoot === undefined
      ? ""
      : pseudo
        ? ` + pseudo-videos from stills (vidseg synth refer --stills, ${pseudo.preset} preset, seed ${pseudo.seed})`
        : ` + pseudo-videos ${basename(resolve(pseudoRoot))}`;
  return {
    data: data + extra,
    synthetic: synth !== undefined && (pseudoRoot === undefined || pseudo !== undefined),
  };
}

/**
 * J, F and J&F of a model on a Ref-YouTube-VOS split with ground truth (its first `maxVideos`
 * videos): each expression streamed from its first frame, its masks scored against its object's
 * (pixels equal to obj_id), J and F averaged over expressions — the numbers `vidseg infer refer` +
 * `vidseg eval refer --protocol ref-youtube-vos` give on the same videos.
 */
export async function validateRefer(
  model: ReferModel,
  info: ModelInfo,
  split: ReferSplitPaths,
  maxVideos?: number,
): Promise<{ J: number; F: number; "J&F": number }> {
  const meta = await readRefMetaExpressions(split.annotationFile);
  const segmenter = new ReferringSegmenter(model, info, { syntheticInput: true });
  const scores: { J: number; F: number }[] = [];
  try {
    for (const [video, entry] of Object.entries(meta.videos).slice(0, maxVideos)) {
      const expressions = Object.values(entry.expressions);
      if (expressions.length === 0 || entry.frames.length === 0) continue;
      const frames = await imageFrames(
        entry.frames.map((frame) => imagePath(split.splitRoot, video, frame)),
        { name: `${split.splitRoot}: video ${video}` },
      );
      const predictions: Uint8Array[][] = expressions.map(() => []);
      const truths: Uint8Array[][] = expressions.map(() => []);
      let t = 0;
      await segmentExpressions(
        segmenter,
        frames,
        expressions.map((e) => e.exp),
        async (frame, results) => {
          const file = objectMaskPath(split.splitRoot, video, entry.frames[t++]);
          const labels = await readIndexedPng(file);
          check(
            labels.width === frame.width && labels.height === frame.height,
            `mask is ${labels.width}×${labels.height} but the frame is ${frame.width}×${frame.height}`,
            file,
          );
          for (const [k, result] of results.entries()) {
            const objId = Number(expressions[k].obj_id);
            predictions[k].push(result.mask);
            truths[k].push(Uint8Array.from(labels.data, (v) => (v === objId ? 1 : 0)));
          }
        },
      );
      for (let k = 0; k < expressions.length; k++) {
        scores.push(scoreExpression(predictions[k], truths[k], frames.width, frames.height));
      }
    }
  } finally {
    segmenter.close();
  }
  return averageExpressions(scores);
}
