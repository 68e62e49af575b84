/** `vidseg tune vis`: flags → the tune-vis job (src/jobs/tune-vis.ts). */
import type { Command } from "commander";
import { action, numberOption, printJson, progressBar } from "./common.js";

interface TuneCliOptions {
  checkpoint: string;
  input: string;
  out: string;
  split?: string;
  images?: string;
  minSimilarity?: string;
  momentum?: string;
  maxGap?: string;
  boxIouWeight?: string;
  quiet?: boolean;
  json?: boolean;
}

const TUNE_HELP = `
Chooses the online tracker's association settings (minimum embedding similarity, memory momentum,
frames a track may be unseen, weight of the box cue) on a split with GT (a tuning split: not the one the
model is scored on afterwards). The network runs once per frame; every grid point's tracker follows the
same outputs, so the grid costs about one inference pass. The file's own settings are always on the grid,
and win ties.

Written to --out:
  model.safetensors   the model, same tensors, with the chosen inference.minSimilarity, .momentum,
                      .maxGap and .boxIouWeight
                      (what vidseg infer vis, the API and the demo then use by default)
  tuning.json         every grid point: AP, AP50, AP75, AR10, identity switches per GT track
  results.json        the chosen settings' results on the split`;

/** A comma-separated list of numbers, each checked like `numberOption`. */
function numberList(
  text: string | undefined,
  flag: string,
  rule: Parameters<typeof numberOption>[2],
): number[] | undefined {
  if (text === undefined) return undefined;
  return text.split(",").map((part) => numberOption(part, flag, rule)!);
}

export function registerTune(program: Command): void {
  const tune = program.command("tune").description("choose a model's inference settings on a split");
  tune
    .command("vis")
    .description("choose the online tracker's association settings on a split and store them in the model")
    .requiredOption("--checkpoint <path>", "online model file, run folder or training checkpoint")
    .requiredOption(
      "--input <path>",
      "YouTube-VIS / OVIS split with GT: annotation JSON, split folder or root (--split)",
    )
    .requiredOption("--out <dir>", "output folder")
    .option("--split <name>", "split of a YouTube-VIS root (default valid)")
    .option("--images <dir>", "frames folder of an annotation JSON")
    .option("--min-similarity <list>", "values of the tracker's minimum similarity", "0.3,0.4,0.5,0.6,0.7")
    .option("--momentum <list>", "values of the tracker's memory momentum", "0,0.5,0.7,0.9")
    .option("--max-gap <list>", "values of the frames a track may be unseen and still continue", "10")
    .option(
      "--box-iou-weight <list>",
      "values of the box cue's weight (affinity = cosine similarity + w × box IoU with the track)",
      "0,0.5",
    )
    .option("--quiet", "no progress display")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText("after", TUNE_HELP)
    .action(
      action(async (cli: TuneCliOptions) => {
        const options = {
          checkpoint: cli.checkpoint,
          input: cli.input,
          out: cli.out,
          split: cli.split,
          images: cli.images,
          minSimilarity: numberList(cli.minSimilarity, "--min-similarity", { min: -1, max: 1 }),
          momentum: numberList(cli.momentum, "--momentum", { min: 0, below: 1 }),
          maxGap: numberList(cli.maxGap, "--max-gap", { integer: true, min: 0 }),
          boxIouWeight: numberList(cli.boxIouWeight, "--box-iou-weight", { min: 0 }),
        };
        const { tuneVis, tuneVisSummaryText, Progress } = await import("../index.js");
        const bar = progressBar(Progress, "tune vis", cli.quiet || cli.json);
        try {
          const summary = await tuneVis({ ...options, onProgress: bar.onProgress });
          bar.stop();
          if (cli.json) printJson(summary);
          else process.stdout.write(tuneVisSummaryText(summary).join("\n") + "\n");
        } finally {
          bar.stop();
        }
      }),
    );
}
