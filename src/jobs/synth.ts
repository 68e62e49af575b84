/**
 * The synth jobs (`vidseg synth vis|refer`): generate a synthetic benchmark in the real formats, its
 * statistics (stats.json) and, optionally, previews.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { VidsegError } from "../core/errors.js";
import { readJson, writeJsonAtomic } from "../core/fs.js";
import { resolveOptions, totalVideos, type SynthOverrides } from "../synth/options.js";
import { writePreview, writeReferPreview } from "../synth/preview.js";
import { generateReferDataset, type ReferSplitStats } from "../synth/refer.js";
import type { SplitStats } from "../synth/stats.js";
import { generateVisDataset, type Split } from "../synth/vis.js";
import type { JobProgress } from "./progress.js";

export interface SynthJobOptions {
  /** tiny, ytvis, ovis or long. */
  preset: string;
  seed: number;
  out: string;
  /** Default: both. */
  splits?: Split[];
  /** Knobs that override the preset's. */
  overrides?: SynthOverrides;
  /** Also write a contact sheet and a GIF per split. */
  preview?: boolean;
  /** Called after every video. */
  onProgress?: (progress: JobProgress) => void;
}

export interface SynthVisResult {
  stats: Partial<Record<Split, SplitStats>>;
  /** Preview files written. */
  previews: string[];
}

export interface SynthReferResult {
  stats: Partial<Record<Split, ReferSplitStats>>;
  previews: string[];
}

/** Progress after each of `total` videos. */
function videoProgress(total: number, onProgress: SynthJobOptions["onProgress"]) {
  const started = performance.now();
  return (done: number) => {
    const seconds = (performance.now() - started) / 1000;
    onProgress?.({ done, total, rate: seconds > 0 ? done / seconds : 0, unit: "videos" });
  };
}

/** A video instance segmentation benchmark (YouTube-VIS / OVIS layout). */
export async function synthVis(options: SynthJobOptions): Promise<SynthVisResult> {
  const settings = resolveOptions(options.preset, options.seed, options.overrides);
  const splits = options.splits ?? ["train", "valid"];
  const result = await generateVisDataset(settings, options.out, {
    splits,
    onVideo: videoProgress(totalVideos(settings, splits), options.onProgress),
  });
  const previews: string[] = [];
  if (options.preview)
    for (const split of splits)
      previews.push(...(await writePreview(options.out, split, result.datasets[split]!)));
  return { stats: result.stats, previews };
}

/** `<root>/synth.json` of a referring benchmark made by {@link synthRefer}. */
export const SYNTH_REFER_INFO_FILE = "synth.json";

export interface SynthReferInfo {
  generator: "vidseg synth refer";
  preset: string;
  seed: number;
  /** Pseudo-videos from stills. */
  stills?: boolean;
}

/**
 * What a referring data root is, for a model file's `trainedOn`: a `vidseg synth refer` benchmark when
 * `<root>/synth.json` says so (or the split folder's parent's), else `undefined`.
 */
export async function readSynthReferInfo(root: string): Promise<SynthReferInfo | undefined> {
  for (const dir of [root, dirname(root)]) {
    const file = join(dir, SYNTH_REFER_INFO_FILE);
    if (!existsSync(file)) continue;
    const json = (await readJson(file)) as Partial<SynthReferInfo> | null;
    if (json && json.generator === "vidseg synth refer" && typeof json.preset === "string")
      return {
        generator: json.generator,
        preset: json.preset,
        seed: Number(json.seed),
        stills: json.stills === true,
      };
  }
  return undefined;
}

/**
 * A referring benchmark (Ref-YouTube-VOS layout, optionally the Ref-DAVIS17 form too), or with `stills`
 * pseudo-videos of `clipLength` frames made from still images by random affine motion.
 */
export async function synthRefer(
  options: SynthJobOptions & { refDavis?: boolean; stills?: { clipLength: number } },
): Promise<SynthReferResult> {
  const settings = resolveOptions(options.preset, options.seed, options.overrides);
  const clipLength = options.stills?.clipLength;
  if (clipLength !== undefined && !(Number.isInteger(clipLength) && clipLength >= 1 && clipLength <= 1000))
    throw new VidsegError(`must be an integer in [1, 1000], got ${clipLength}`, undefined, "--clip-length");
  if (settings.format !== "jpg") {
    throw new VidsegError("the Ref-YouTube-VOS layout stores JPEG frames only", undefined, "--format");
  }
  const splits = options.splits ?? ["train", "valid"];
  const stats = await generateReferDataset(settings, options.out, {
    splits,
    refDavis: options.refDavis,
    stills: options.stills,
    progress: videoProgress(totalVideos(settings, splits), options.onProgress),
  });
  await writeJsonAtomic(join(options.out, "stats.json"), stats.splits, 2);
  // The Ref-YouTube-VOS files have no info field (as the YouTube-VIS JSON's `info.synth`): say it here,
  // so that a model trained on this root records that it saw synthetic data only.
  const info: SynthReferInfo = {
    generator: "vidseg synth refer",
    preset: options.preset,
    seed: options.seed,
    ...(options.stills ? { stills: true } : {}),
  };
  await writeJsonAtomic(join(options.out, SYNTH_REFER_INFO_FILE), info, 2);
  const previews: string[] = [];
  if (options.preview)
    for (const split of splits) previews.push(...(await writeReferPreview(options.out, split)));
  return { stats: stats.splits, previews };
}
