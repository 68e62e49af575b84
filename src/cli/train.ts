import type { Command } from "commander";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { VidsegError } from "../core/errors.js";
import { writeFileAtomic } from "../core/fs.js";
import { evaluateYtvis } from "../eval/ytvis.js";
import type { YtvisDataset, YtvisResult } from "../formats/ytvis.js";
import { OfflineSegmenter, toYtvisResults } from "../infer/offline-segmenter.js";
import { OnlineSegmenter } from "../infer/online-segmenter.js";
import { openYtvisSplit, type YtvisSplitVideo } from "../infer/sources.js";
import { loadVisConfig } from "../models/config.js";
import type { OfflineVisModel } from "../models/offline.js";
import type { VisModelInfo } from "../models/online.js";
import type { FrameSegmenter } from "../models/segmenter.js";
import { initRuntime } from "../runtime/backend.js";
import { resolveHeadOptions, trainOfflineVis } from "../train/offline-vis.js";
import { trainOnlineVis } from "../train/online-vis.js";
import { resolveVisSplit } from "../train/vis-data.js";
import { action, printJson } from "./common.js";

/** The options of `vidseg train vis`, as commander passes them (strings). */
export interface TrainVisOptions {
  model: string;
  data: string;
  config: string;
  out: string;
  resume?: boolean;
  seed: string;
  steps?: string;
  backboneWeights?: string;
  init?: string;
  valSplit: string;
  valEvery?: string;
  valVideos?: string;
  checkpointEvery: string;
  json?: boolean;
  /** Progress display (default: on stderr); false in tests. */
  progress?: false;
}

/** What `vidseg train vis` prints (with --json) and returns. */
export interface TrainVisSummary {
  model_kind: "online" | "offline";
  step: number;
  last_loss: number;
  model: string | null;
  checkpoint: string;
  plot: string;
}

/** `vidseg train vis`: trains the online or the offline VIS model on a YouTube-VIS-layout root. */
export function registerTrain(parent: Command): void {
  const trainCommand = parent.command("train").description("train a model");
  trainCommand
    .command("vis")
    .description("train a video instance segmentation model (logs, checkpoints, resume, validation AP)")
    .option(
      "--model <kind>",
      "online (MinVIS-style, trained on frames) or offline (VITA-style, trained on clips)",
      "online",
    )
    .requiredOption("--data <root>", "YouTube-VIS-layout root: <root>/train.json + <root>/train/JPEGImages")
    .option("--config <preset|file>", "tiny, cpu-small, r50, or a JSON config file", "cpu-small")
    .requiredOption("--out <dir>", "run folder: log.jsonl, checkpoints/, model.safetensors, plot.html")
    .option("--resume", "continue from the newest checkpoint in --out")
    .option("--seed <n>", "seed of the weights, data order and sampling", "0")
    .option("--steps <n>", "override the config's total steps")
    .option("--backbone-weights <file>", "torchvision ResNet weights (safetensors) for the backbone")
    .option(
      "--init <model file>",
      "offline only: start the frame segmenter from a trained online model file (its architecture and categories; give it again with --resume)",
    )
    .option("--val-split <name>", "split evaluated during training (skipped when absent)", "valid")
    .option("--val-every <n>", "validate every n steps (and at the end)")
    .option("--val-videos <n>", "evaluate only the first n validation videos")
    .option("--checkpoint-every <n>", "checkpoint every n steps", "500")
    .option("--json", "print the final result as JSON on stdout")
    .action(
      action(async (options: TrainVisOptions) => {
        const summary = await trainVis(options);
        if (options.json) printJson(summary);
        else
          process.stderr.write(
            `trained ${summary.step} steps; model: ${summary.model}; plot: ${summary.plot}\n`,
          );
      }),
    );
}

/** The command's work: trains, writes plot.html, returns the summary. */
export async function trainVis(options: TrainVisOptions): Promise<TrainVisSummary> {
  if (options.model !== "online" && options.model !== "offline") {
    throw new VidsegError(
      `unknown model "${options.model}" (expected online or offline)`,
      undefined,
      "--model",
    );
  }
  if (options.init !== undefined && options.model !== "offline") {
    throw new VidsegError("only the offline model starts from an online model", undefined, "--init");
  }
  const integer = (value: string | undefined, flag: string): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new VidsegError(`must be a non-negative integer`, undefined, flag);
    return n;
  };
  await initRuntime();
  const config = await loadVisConfig(options.config);
  // A head field misspelt in a config file is named with the file before anything runs.
  if (options.model === "offline") resolveHeadOptions(config, options.config);
  const steps = integer(options.steps, "--steps");
  if (steps !== undefined) config.optim.totalSteps = steps;
  const common = {
    config,
    data: resolveVisSplit(options.data, "train"),
    runDir: options.out,
    resume: options.resume,
    seed: integer(options.seed, "--seed"),
    backboneWeights: options.backboneWeights,
    validateEvery: integer(options.valEvery, "--val-every"),
    checkpointEvery: integer(options.checkpointEvery, "--checkpoint-every"),
    progress: options.progress,
  };
  const validation = await openValidation(
    options.data,
    options.valSplit,
    integer(options.valVideos, "--val-videos"),
  );
  let result;
  if (options.model === "online") {
    result = await trainOnlineVis({
      ...common,
      validate: validation && ((segmenter, info) => validation.evaluate(onlineResults(segmenter, info))),
    });
    result.segmenter.dispose();
  } else {
    result = await trainOfflineVis({
      ...common,
      init: options.init,
      validate: validation && ((model, info) => validation.evaluate(offlineResults(model, info))),
    });
    result.model.dispose();
  }
  await writePlot(options.out);
  return {
    model_kind: options.model,
    step: result.step,
    last_loss: result.lastLoss,
    model: result.modelFile ?? null,
    checkpoint: result.checkpoint,
    plot: join(options.out, "plot.html"),
  };
}

/** Produces the results of a set of validation videos. */
type ResultsFor = (videos: YtvisSplitVideo[]) => Promise<YtvisResult[]>;

/** The online model's validation results: streaming, as `vidseg infer vis` runs it. */
function onlineResults(segmenter: FrameSegmenter, info: VisModelInfo): ResultsFor {
  return async (videos) => {
    const online = new OnlineSegmenter(segmenter, info, { collectResults: true });
    const results: YtvisResult[] = [];
    for (const { video, frames } of videos)
      results.push(...(await online.segmentVideo(await frames(), video.id)));
    return results;
  };
}

/** The offline model's validation results: whole videos in the config's clip windows. */
function offlineResults(model: OfflineVisModel, info: VisModelInfo): ResultsFor {
  return async (videos) => {
    const { offline, inference } = info.config;
    // OfflineSegmenter puts the model in eval mode; the trainer puts it back in training mode after.
    const segmenter = new OfflineSegmenter(model, {
      clipLength: offline.inferenceClipLength,
      clipOverlap: offline.inferenceClipOverlap,
      topK: inference.topK,
      categoryIds: info.categoryIds,
    });
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

/** plot.html: the training loss and validation AP from log.jsonl as inline SVG (no dependencies). */
async function writePlot(runDir: string): Promise<void> {
  const logPath = join(runDir, "log.jsonl");
  if (!existsSync(logPath)) return;
  const loss: [number, number][] = [];
  const ap: [number, number][] = [];
  for (const line of (await readFile(logPath, "utf8")).split("\n")) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as { type?: string; step?: number; loss?: number; AP?: number };
    if (entry.type === "train" && entry.step !== undefined && entry.loss !== undefined)
      loss.push([entry.step, entry.loss]);
    if (entry.type === "val" && entry.step !== undefined && entry.AP !== undefined)
      ap.push([entry.step, entry.AP]);
  }
  const chart = (title: string, points: [number, number][], colour: string): string => {
    if (points.length === 0) return `<p>${title}: no data</p>`;
    const [w, h, pad] = [640, 240, 40];
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
    const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys, 1e-9)];
    const px = (x: number) => pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad);
    const py = (y: number) => h - pad - ((y - y0) / (y1 - y0)) * (h - 2 * pad);
    const path = points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    return (
      `<h2>${title}</h2><svg width="${w}" height="${h}" style="border:1px solid #ccc">` +
      `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${path}"/>` +
      `<text x="4" y="14" font-size="11">${y1.toPrecision(3)}</text><text x="4" y="${h - pad}" font-size="11">${y0.toPrecision(3)}</text>` +
      `<text x="${pad}" y="${h - 8}" font-size="11">step ${x0}</text><text x="${w - pad - 60}" y="${h - 8}" font-size="11">step ${x1}</text></svg>`
    );
  };
  const html =
    `<!doctype html><meta charset="utf-8"><title>vidseg training</title><body style="font-family:sans-serif">` +
    chart("training loss", loss, "#c03") +
    chart("validation AP", ap, "#06c") +
    `</body>\n`;
  await writeFileAtomic(join(runDir, "plot.html"), html);
}
