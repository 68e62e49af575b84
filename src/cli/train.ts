import type { Command } from "commander";
import { action, choiceOption, numberOption, printJson } from "./common.js";

/** The options of `vidseg train vis`, as commander passes them (strings). */
interface TrainVisCliOptions {
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
  workers?: string;
  json?: boolean;
  quiet?: boolean;
}

/** `vidseg train vis`: flags → the train-vis job. */
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
    .option(
      "--workers <n>",
      "data-parallel worker threads, each computing its share of every batch (default: the cores, capped by the pairs of frames or clips in a batch)",
    )
    .option("--quiet", "no progress display")
    .option("--json", "print the final result as JSON on stdout")
    .action(
      action(async (cli: TrainVisCliOptions) => {
        const options = {
          model: choiceOption(cli.model, "--model", ["online", "offline"] as const),
          data: cli.data,
          config: cli.config,
          out: cli.out,
          resume: cli.resume,
          seed: numberOption(cli.seed, "--seed", { integer: true, min: 0 }),
          steps: numberOption(cli.steps, "--steps", { integer: true, min: 1 }),
          backboneWeights: cli.backboneWeights,
          init: cli.init,
          valSplit: cli.valSplit,
          valEvery: numberOption(cli.valEvery, "--val-every", { integer: true, min: 1 }),
          valVideos: numberOption(cli.valVideos, "--val-videos", { integer: true, min: 1 }),
          checkpointEvery: numberOption(cli.checkpointEvery, "--checkpoint-every", { integer: true, min: 0 }),
          workers: numberOption(cli.workers, "--workers", { integer: true, min: 1 }),
          progress: cli.quiet || cli.json ? (false as const) : undefined,
        };
        const { trainVis } = await import("../index.js");
        const summary = await trainVis(options);
        if (cli.json) printJson(summary);
        else
          process.stderr.write(
            `trained ${summary.step} steps; model: ${summary.model}; plot: ${summary.plot}\n`,
          );
      }),
    );
}
