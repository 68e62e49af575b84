import type { Command } from "commander";
import { action, choiceOption, numberOption, printJson, warn } from "./common.js";

/** What every training command takes, as commander passes it (strings). */
interface RunCliOptions {
  data: string;
  config: string;
  out: string;
  resume?: boolean;
  seed: string;
  steps?: string;
  backboneWeights?: string;
  valSplit: string;
  valEvery?: string;
  valVideos?: string;
  checkpointEvery: string;
  workers?: string;
  json?: boolean;
  quiet?: boolean;
}

/** The options of `vidseg train vis` beyond the shared ones. */
interface TrainVisCliOptions extends RunCliOptions {
  model: string;
  init?: string;
  distillFrom?: string;
  kdWeight?: string;
  kdFilter?: string;
  kdLoss?: string;
  kdClassKl?: string;
  kdLayers?: string;
  fairAug?: string;
}

/** The flags every training command has: data, config, run folder, resume, seed, validation, output. */
function addRunOptions(command: Command, dataHelp: string, configHelp: string): Command {
  return command
    .requiredOption("--data <root>", dataHelp)
    .option("--config <preset|file>", configHelp, "cpu-small")
    .requiredOption("--out <dir>", "run folder: log.jsonl, checkpoints/, model.safetensors, plot.html")
    .option("--resume", "continue from the newest checkpoint in --out")
    .option("--seed <n>", "seed of the weights, data order and sampling", "0")
    .option("--steps <n>", "override the config's total steps")
    .option("--backbone-weights <file>", "torchvision ResNet weights (safetensors) for the backbone")
    .option("--val-split <name>", "split evaluated during training (skipped when absent)", "valid")
    .option("--val-every <n>", "validate every n steps (and at the end)")
    .option("--val-videos <n>", "evaluate only the first n validation videos")
    .option("--checkpoint-every <n>", "checkpoint every n steps", "500")
    .option(
      "--workers <n>",
      "data-parallel worker threads, each computing its share of every batch (default: the cores, capped by the pairs of frames or clips in a batch)",
    )
    .option("--quiet", "no progress display")
    .option("--json", "print the final result as JSON on stdout");
}

/** The shared flags parsed into the jobs' options. */
function runOptions(cli: RunCliOptions) {
  return {
    data: cli.data,
    config: cli.config,
    out: cli.out,
    resume: cli.resume,
    seed: numberOption(cli.seed, "--seed", { integer: true, min: 0 }),
    steps: numberOption(cli.steps, "--steps", { integer: true, min: 1 }),
    backboneWeights: cli.backboneWeights,
    valSplit: cli.valSplit,
    valEvery: numberOption(cli.valEvery, "--val-every", { integer: true, min: 1 }),
    valVideos: numberOption(cli.valVideos, "--val-videos", { integer: true, min: 1 }),
    checkpointEvery: numberOption(cli.checkpointEvery, "--checkpoint-every", { integer: true, min: 0 }),
    workers: numberOption(cli.workers, "--workers", { integer: true, min: 1 }),
    progress: cli.quiet || cli.json ? (false as const) : undefined,
  };
}

/** A finished run: JSON on stdout, or one line on stderr. */
function reportTrained(
  cli: RunCliOptions,
  summary: { step: number; model: string | null; plot: string },
): void {
  if (cli.json) printJson(summary);
  else
    process.stderr.write(`trained ${summary.step} steps; model: ${summary.model}; plot: ${summary.plot}\n`);
}

/** `vidseg train vis` and `vidseg train refer`: flags → the train-vis and train-refer jobs. */
export function registerTrain(parent: Command): void {
  const trainCommand = parent.command("train").description("train a model");
  addRunOptions(
    trainCommand
      .command("vis")
      .description("train a video instance segmentation model (logs, checkpoints, resume, validation AP)"),
    "YouTube-VIS-layout root: <root>/train.json + <root>/train/JPEGImages",
    "tiny, cpu-small, r50, or a JSON config file",
  )
    .option(
      "--model <kind>",
      "online (MinVIS-style, trained on frames) or offline (VITA-style, trained on clips)",
      "online",
    )
    .option(
      "--init <model file>",
      "start from a trained model file (its architecture and weights; give it again with --resume): an online model for the online model, the offline model's segmenter or the distilled student; an offline model to continue it",
    )
    .option(
      "--distill-from <teacher file>",
      "online only: distil this offline model into the online student on clips (OOKD; give it again with --resume)",
    )
    .option("--kd-weight <λ>", "distillation: total loss = student loss + λ·KD (config distill.kdWeight)")
    .option("--kd-filter <kind>", "distillation: qfa, none (Hungarian on embeddings) or position")
    .option("--kd-loss <kind>", "distillation: mse or cosine (1 − cos)")
    .option("--kd-class-kl <T>", "distillation: KL on class distributions at temperature T (0 = off)")
    .option("--kd-layers <which>", "distillation: last or all decoder layers")
    .option("--fair-aug <α>", "distillation: class-fair tube pasting, tubes drawn ∝ 1/frequency^α")
    .action(
      action(async (cli: TrainVisCliOptions) => {
        const options = {
          ...runOptions(cli),
          model: choiceOption(cli.model, "--model", ["online", "offline"] as const),
          init: cli.init,
          distillFrom: cli.distillFrom,
          distill: definedOnly({
            kdWeight: numberOption(cli.kdWeight, "--kd-weight", { min: 0 }),
            kdFilter: optionalChoice(cli.kdFilter, "--kd-filter", ["qfa", "none", "position"] as const),
            kdLoss: optionalChoice(cli.kdLoss, "--kd-loss", ["mse", "cosine"] as const),
            kdClassKl: numberOption(cli.kdClassKl, "--kd-class-kl", { min: 0 }),
            kdLayers: optionalChoice(cli.kdLayers, "--kd-layers", ["last", "all"] as const),
            fairAug: numberOption(cli.fairAug, "--fair-aug", { min: 0 }),
          }),
        };
        const { trainVis } = await import("../index.js");
        reportTrained(cli, await trainVis({ ...options, onWarning: warn }));
      }),
    );
  addRunOptions(
    trainCommand
      .command("refer")
      .description(
        "train the referring model (YOFO: feature mining + meta-transfer memory; logs, checkpoints, resume, validation J&F)",
      ),
    "Ref-YouTube-VOS-layout root holding train/ (and valid/): meta_expressions.json, JPEGImages, Annotations",
    "tiny, cpu-small, r50, or a JSON config file (its refer section)",
  )
    .option(
      "--pseudo <root>",
      "pseudo-videos from stills (`vidseg synth refer --stills`; a root holding train/, or a split folder) mixed into the batches: the config's refer.pseudoRatio is the share of clips drawn from them",
    )
    .option(
      "--init <model file>",
      "continue a trained referring model: its architecture and weights, this run's loss, clips and schedule (its vocabulary must be the data's; give it again with --resume)",
    )
    .option(
      "--backbone-from <model file>",
      "start from the backbone of a trained vidseg model (e.g. the online VIS model), frozen; its backbone must be the config's (give it again with --resume)",
    )
    .action(
      action(async (cli: RunCliOptions & { pseudo?: string; init?: string; backboneFrom?: string }) => {
        const options = {
          ...runOptions(cli),
          pseudo: cli.pseudo,
          init: cli.init,
          backboneFrom: cli.backboneFrom,
        };
        const { trainRefer } = await import("../index.js");
        reportTrained(cli, await trainRefer(options));
      }),
    );
}

function optionalChoice<T extends string>(text: string | undefined, flag: string, choices: readonly T[]) {
  return text === undefined ? undefined : choiceOption(text, flag, choices);
}

/** The object without its undefined fields. */
function definedOnly<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
