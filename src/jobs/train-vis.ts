/**
 * The train-vis job (`vidseg train vis`): trains the online or the offline VIS model, or distils an
 * offline teacher into an online student (`distillFrom`), on a YouTube-VIS-layout root, validating on
 * its valid split (YouTube-VIS AP of the streaming or clip-window inference that `vidseg infer vis`
 * runs), and writes the run folder: log.jsonl, checkpoints/, model.safetensors, plot.html.
 */
import { basename, resolve } from "node:path";
import { VidsegError } from "../core/errors.js";
import { evaluateYtvis } from "../eval/ytvis.js";
import { readYtvis, type YtvisDataset, type YtvisResult } from "../formats/ytvis.js";
import { resolveVisSplit } from "../formats/ytvis-layout.js";
import { OfflineSegmenter, storedOptions, toYtvisResults } from "../infer/offline-segmenter.js";
import { OnlineSegmenter } from "../infer/online-segmenter.js";
import { openYtvisSplit, type YtvisSplitVideo } from "../infer/sources.js";
import { validateVisConfig, type DistillConfig } from "../models/config.js";
import type { ModelInfo, TrainedOn } from "../models/model-file.js";
import type { ModelKindName, ModelOf } from "../models/registry.js";
import { initRuntime } from "../runtime/backend.js";
import { trainModel } from "../train/run.js";
import {
  runConfig,
  runSettings,
  runSummary,
  type TrainRunOptions,
  type TrainRunSummary,
} from "./train-run.js";

export interface TrainVisOptions extends TrainRunOptions {
  /** The model kind. Default "online". */
  model?: ModelKindName;
  /** YouTube-VIS-layout root: <root>/train.json + <root>/train/JPEGImages (+ the valid split). */
  data: string;
  /**
   * An online model file the model starts from: the offline model's frame segmenter, or the distilled
   * student.
   */
  init?: string;
  /** Distillation (online model only): the offline teacher's model file. */
  distillFrom?: string;
  /** Overrides of the config's `distill` section (the CLI's --kd-* flags). */
  distill?: DistillOverrides;
}

/** The distillation settings a command line sets; `fairAug` is α and turns the augmentation on. */
export type DistillOverrides = Partial<
  Pick<DistillConfig, "kdWeight" | "kdFilter" | "kdLoss" | "kdClassKl" | "kdLayers">
> & { fairAug?: number };

/** What the job returns (and `vidseg train vis --json` prints). */
export interface TrainVisSummary extends TrainRunSummary {
  model_kind: ModelKindName;
}

/** Trains (see the module comment). */
export async function trainVis(options: TrainVisOptions): Promise<TrainVisSummary> {
  const kind = options.model ?? "online";
  if (kind !== "online" && kind !== "offline") {
    throw new VidsegError(
      `unknown model "${String(kind)}" (expected online or offline)`,
      undefined,
      "--model",
    );
  }
  const distill = options.distillFrom !== undefined;
  if (distill && kind !== "online")
    throw new VidsegError(
      "the distilled student is an online model (--model online)",
      undefined,
      "--distill-from",
    );
  if (options.distill && Object.keys(options.distill).length > 0 && !distill)
    throw new VidsegError("distillation settings need a teacher", undefined, "--distill-from");
  await initRuntime();
  const config = await runConfig(options);
  if (options.distill) {
    const { fairAug, ...settings } = options.distill;
    Object.assign(config.distill, settings);
    if (fairAug !== undefined) Object.assign(config.distill.fairAug, { enabled: true, alpha: fairAug });
    validateVisConfig(config);
  }
  const data = resolveVisSplit(options.data, "train");
  const validation =
    options.valSplit === false
      ? undefined
      : await openValidation(options.data, options.valSplit ?? "valid", options.valVideos);
  const common = {
    ...runSettings(options),
    config,
    data,
    init: options.init,
    teacher: options.distillFrom,
    trainedOn: await describeData(data.annotationFile, options.data),
  };
  const result =
    kind === "online"
      ? await trainModel(distill ? "distill" : "online", {
          ...common,
          validate: validation && ((model, info) => validation.evaluate(onlineResults(model, info))),
        })
      : await trainModel("offline", {
          ...common,
          validate: validation && ((model, info) => validation.evaluate(offlineResults(model, info))),
        });
  return { model_kind: kind, ...runSummary(result, options) };
}

/** What the training data is, for the model file: a `vidseg synth` benchmark says so in its info. */
async function describeData(annotationFile: string, root: string): Promise<TrainedOn> {
  const info = (await readYtvis(annotationFile)).info as
    { synth?: { preset?: string; seed?: number }; description?: string } | undefined;
  if (info?.synth) {
    const { preset, seed } = info.synth;
    return {
      data: `synthetic ${preset ?? ""} preset (vidseg synth vis), seed ${seed ?? "?"}`.replace("  ", " "),
      synthetic: true,
    };
  }
  return { data: info?.description ?? basename(resolve(root)), synthetic: false };
}

/** Produces the results of a set of validation videos. */
type ResultsFor = (videos: YtvisSplitVideo[]) => Promise<YtvisResult[]>;

/** The online model's validation results: streaming, as `vidseg infer vis` runs it. */
function onlineResults(model: ModelOf<"online">, info: ModelInfo): ResultsFor {
  return async (videos) => {
    const online = new OnlineSegmenter(model, info, { collectResults: true, syntheticInput: true });
    const results: YtvisResult[] = [];
    for (const { video, frames } of videos)
      results.push(...(await online.segmentVideo(await frames(), video.id)));
    return results;
  };
}

/** The offline model's validation results: whole videos in the config's clip windows. */
function offlineResults(model: ModelOf<"offline">, info: ModelInfo): ResultsFor {
  return async (videos) => {
    // OfflineSegmenter puts the model in eval mode; the trainer puts it back in training mode after.
    const segmenter = new OfflineSegmenter(model, storedOptions(info));
    const results: YtvisResult[] = [];
    for (const { video, frames } of videos)
      results.push(...toYtvisResults(await segmenter.segmentVideo(await frames()), video.id));
    return results;
  };
}

/**
 * The validation split (its first n videos), if the root has it, and how to score a model's results on
 * it: YouTube-VIS AP, AP50, AP75, AR1, AR10.
 */
async function openValidation(
  root: string,
  split: string,
  maxVideos: number | undefined,
): Promise<{ evaluate: (resultsFor: ResultsFor) => Promise<Record<string, number>> } | undefined> {
  let paths;
  try {
    paths = resolveVisSplit(root, split);
  } catch {
    return undefined;
  }
  const { dataset, videos } = await openYtvisSplit(paths.annotationFile, paths.imagesDir);
  const chosen = videos.slice(0, maxVideos ?? videos.length);
  const ids = new Set(chosen.map((v) => v.video.id));
  const gt: YtvisDataset = {
    ...dataset,
    videos: dataset.videos.filter((v) => ids.has(v.id)),
    annotations: dataset.annotations.filter((a) => ids.has(a.video_id)),
  };
  return {
    evaluate: async (resultsFor) => {
      const { stats } = evaluateYtvis(gt, await resultsFor(chosen));
      return { AP: stats.AP, AP50: stats.AP50, AP75: stats.AP75, AR1: stats.AR1, AR10: stats.AR10 };
    },
  };
}
