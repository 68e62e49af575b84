/** `vidseg synth vis|refer`: flags → the synth jobs (src/jobs/synth.ts). */
import type { Command } from "commander";
import type { ReferSplitStats, Split, SynthJobOptions, SynthOverrides } from "../data.js";
import { action, choiceOption, numberOption, printJson, progressBar } from "./common.js";

/** Synthetic presets (src/synth/options.ts), for the help text. */
const PRESETS = ["tiny", "ytvis", "ovis", "long"];
/** Occlusion label thresholds (src/synth/stats.ts), for the help text. */
const SLIGHT_OCCLUSION_FROM = 0.05;
const SEVERE_OCCLUSION_FROM = 0.5;

/** Raw option strings as commander hands them over (numbers are parsed, with clear errors, below). */
interface SynthCliOptions {
  preset: string;
  seed: string;
  out: string;
  split: string;
  videos?: string;
  trainVideos?: string;
  frames?: string;
  size?: string;
  objects?: string;
  speed?: string;
  occlusion?: string;
  occluders?: string;
  distractors?: string;
  exits?: string;
  late?: string;
  skew?: string;
  shake?: string;
  format?: string;
  preview?: boolean;
  quiet?: boolean;
  json?: boolean;
  refDavis?: boolean;
  stills?: boolean;
  clipLength?: string;
}

function splitsOption(text: string): Split[] {
  const choice = choiceOption(text, "--split", ["train", "valid", "both"] as const);
  return choice === "both" ? ["train", "valid"] : [choice];
}

/** The knobs shared by `synth vis` and `synth refer`, parsed into overrides of the preset. */
function overridesFrom(
  options: SynthCliOptions,
  parseSize: (text: string) => { width: number; height: number },
): SynthOverrides {
  const size = options.size === undefined ? undefined : parseSize(options.size);
  return {
    videos: numberOption(options.videos, "--videos"),
    trainVideos: numberOption(options.trainVideos, "--train-videos"),
    frames: numberOption(options.frames, "--frames"),
    width: size?.width,
    height: size?.height,
    objects: numberOption(options.objects, "--objects"),
    speed: numberOption(options.speed, "--speed"),
    occlusion: numberOption(options.occlusion, "--occlusion"),
    occluders: numberOption(options.occluders, "--occluders"),
    distractors: numberOption(options.distractors, "--distractors"),
    exits: numberOption(options.exits, "--exits"),
    late: numberOption(options.late, "--late"),
    skew: numberOption(options.skew, "--skew"),
    shake: numberOption(options.shake, "--shake"),
    format: options.format,
  };
}

function addGeneratorOptions(command: Command): Command {
  return command
    .requiredOption("--preset <name>", `preset: ${PRESETS.join(", ")}`)
    .requiredOption("--out <dir>", "output folder")
    .option("--seed <n>", "random seed (integer in [0, 2^32))", "0")
    .option("--split <name>", "train, valid or both", "both")
    .option("--videos <n>", "videos per split")
    .option("--train-videos <n>", "videos of the train split (after --videos)")
    .option("--frames <n>", "frames per video")
    .option("--size <WxH>", "frame size, e.g. 128x128")
    .option("--objects <n>", "objects per video (default: the preset's range)")
    .option("--speed <x>", "speed multiplier (0 = still objects)")
    .option("--occlusion <p>", "probability that an object is planned to cross an earlier one (0..1)")
    .option(
      "--occluders <p>",
      "probability that a crossing is by a larger object in front: a full occlusion (0..1)",
    )
    .option("--distractors <p>", "probability that an object is a look-alike crossing its twin (0..1)")
    .option("--exits <p>", "probability that an object leaves the image and comes back (0..1)")
    .option("--late <p>", "probability that an object appears mid-video (0..1)")
    .option("--skew <x>", "train class-frequency skew: category k drawn ∝ (k+1)^-x (0 = balanced)")
    .option("--shake <px>", "camera shake amplitude in pixels")
    .option("--format <ext>", "frame format: jpg or png")
    .option("--preview", "also write a contact sheet and a GIF of a few videos with their GT")
    .option("--quiet", "no progress display")
    .option("--json", "print the statistics as one JSON document on stdout");
}

const VIS_HELP = `
Layout written (YouTube-VIS, with OVIS occlusion labels):
  <out>/<split>/JPEGImages/<video>/<frame>.jpg   frames (or .png with --format png)
  <out>/<split>.json                              annotations; valid keeps its GT
  <out>/stats.json                                statistics per split
  <out>/preview/<split>-sheet.png, <split>.gif    with --preview

Every knob and the seed are recorded in the annotation file's info.synth. The GT masks are the
visible pixels after depth-ordered occlusion. Per-frame occlusion labels come from the share of an
instance's in-image pixels hidden by nearer objects: < ${SLIGHT_OCCLUSION_FROM * 100}% no_occlusion, < ${SEVERE_OCCLUSION_FROM * 100}% slight_occlusion,
otherwise severe_occlusion; null where the instance has no pixel in the image. The train split's
classes are long-tailed (--skew); the valid split's are balanced.

Presets: tiny (unit tests: 64x64, 8 frames), ytvis (easy: 128x128, 36 frames, 1-4 objects),
ovis (occlusion-heavy: 128x128, 48 frames, 4-6 objects, full occlusions by solid occluders, look-alikes crossing, exits and returns),
long (1 video of 1500 frames, written frame by frame with bounded memory).`;

const REFER_HELP = `
Layout written (Ref-YouTube-VOS):
  <out>/<split>/meta_expressions.json, meta.json
  <out>/<split>/JPEGImages/<video>/<frame>.jpg
  <out>/<split>/Annotations/<video>/<frame>.png   palette masks, pixel value = object id
  <out>/<split>/expression_groups.json            each expression's groups (attributes the checker reads,
                                                  uses-motion, motion-only): \`vidseg eval refer --groups\`
  <out>/ref-davis/...                             with --ref-davis (Ref-DAVIS17 form + DAVIS folder)
  <out>/stats.json                                expression statistics per split
  <out>/preview/<split>-refer-sheet.png, .gif     with --preview

Scenes, presets and knobs are those of \`synth vis\`. Every expression names exactly one object of its
video (a checker verifies that no other object satisfies it); some only motion over time resolves.

--stills writes pseudo-videos in the same layout (YOFO's auxiliary training data, \`vidseg train refer
--pseudo\`): per video one frame of a scene at a random time, its objects described from that frame
alone (category, colour, size, position: no motion words), then moved with its masks by a smooth
random affine motion (shift up to 12 %, zoom ±15 %, rotation ±10°, from the still at frame 0) over
--clip-length frames.`;

function referStatsLines(split: string, s: ReferSplitStats): string[] {
  const entries = (record: Record<string, number>) =>
    Object.entries(record)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
  return [
    `${split}: ${s.videos} videos, ${s.objects} objects (${s.described} described, ${s.undescribable} not ` +
      `describable, ${s.neverVisible} never visible), ${s.expressions} expressions`,
    `  expressions per object: ${entries(s.expressionsPerObject)}`,
    `  length in words: ${entries(s.lengthHistogram)}`,
    `  attributes: ${entries(s.attributeMix)}`,
    `  motion-only objects ${s.motionOnlyObjects} (${s.motionOnlyExpressions} expressions)` +
      (s.refDavis ? `; Ref-DAVIS17: ${s.refDavis.videos} videos, ${s.refDavis.objects} objects` : ""),
  ];
}

type DataApi = typeof import("../data.js");

/**
 * The action of a generator command: flags → job options, the job with a progress bar, then the
 * statistics (one line group per split) or, with --json, one document.
 */
function generatorAction<S>(
  label: string,
  run: (
    api: DataApi,
    options: SynthJobOptions,
    cli: SynthCliOptions,
  ) => Promise<{ stats: Partial<Record<Split, S>>; previews: string[] }>,
  lines: (api: DataApi, split: string, stats: S) => string[],
) {
  return action(async (cli: SynthCliOptions) => {
    const api = await import("../data.js");
    const splits = splitsOption(cli.split);
    const bar = progressBar(api.Progress, label, cli.quiet || cli.json);
    let result;
    try {
      const options: SynthJobOptions = {
        preset: cli.preset,
        seed: numberOption(cli.seed, "--seed")!,
        out: cli.out,
        splits,
        overrides: overridesFrom(cli, api.parseSize),
        preview: cli.preview,
        onProgress: bar.onProgress,
      };
      result = await run(api, options, cli);
    } finally {
      bar.stop();
    }
    if (cli.json) {
      printJson(result);
      return;
    }
    const out: string[] = [];
    for (const split of splits) out.push(...lines(api, split, result.stats[split]!));
    out.push(`wrote ${cli.out} (statistics in stats.json)`);
    for (const path of result.previews) out.push(`preview: ${path}`);
    process.stdout.write(out.join("\n") + "\n");
  });
}

/** `vidseg synth vis` and `vidseg synth refer`. */
export function registerSynth(parent: Command): void {
  const synth = parent
    .command("synth")
    .description("generate synthetic benchmarks in the real dataset formats");
  addGeneratorOptions(
    synth
      .command("vis")
      .description("generate a video instance segmentation benchmark (YouTube-VIS / OVIS format)"),
  )
    .addHelpText("after", VIS_HELP)
    .action(
      generatorAction(
        "synth vis",
        (api, options) => api.synthVis(options),
        (api, split, stats) => api.statsLines(split, stats),
      ),
    );

  addGeneratorOptions(
    synth
      .command("refer")
      .description("generate a referring video segmentation benchmark (Ref-YouTube-VOS format)"),
  )
    .option("--ref-davis", "also write the Ref-DAVIS17 form")
    .option(
      "--stills",
      "pseudo-videos: each video a still (static descriptions only) moved by a smooth random affine motion",
    )
    .option("--clip-length <n>", "with --stills: frames per pseudo-video", "5")
    .addHelpText("after", REFER_HELP)
    .action(
      generatorAction(
        "synth refer",
        (api, options, cli) =>
          api.synthRefer({
            ...options,
            refDavis: cli.refDavis,
            stills: cli.stills
              ? { clipLength: numberOption(cli.clipLength, "--clip-length", { integer: true, min: 1 })! }
              : undefined,
          }),
        (_api, split, stats) => referStatsLines(split, stats),
      ),
    );
}
