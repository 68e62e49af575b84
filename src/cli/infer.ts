/** `vidseg infer vis`: flags → the infer-vis job (src/jobs/infer-vis.ts). */
import type { Command } from "commander";
import { action, choiceOption, numberOption, printJson, progressBar, warn } from "./common.js";

interface InferCliOptions {
  checkpoint: string;
  input: string;
  out: string;
  model?: string;
  split?: string;
  images?: string;
  png?: boolean;
  animation: string;
  fps?: string;
  maxFrames?: string;
  scoreThreshold?: string;
  topK?: string;
  maskUpsampling?: string;
  frameMaskIou?: string;
  softNmsIou?: string;
  minSimilarity?: string;
  momentum?: string;
  maxGap?: string;
  boxIouWeight?: string;
  threads?: string;
  quiet?: boolean;
  json?: boolean;
  strict?: boolean;
}

const INFER_HELP = `
Input:
  a video file (decoded by the system's ffmpeg), a folder of .jpg/.png frames (natural name order),
  or a YouTube-VIS split: its annotation JSON (frames in <split>/JPEGImages next to it, or --images),
  a split folder holding JPEGImages/ and instances.json, or a root holding <split>.json (--split).

Written to --out:
  results.json                       YouTube-VIS results (one video: video_id 1; a split: its ids)
  Annotations/<video>/<frame>.png    with --png: indexed PNGs, palette index = track id (max 255)
  overlay.gif | overlay.mp4          one video: masks with one colour per track id, "id class score"
  overlays/<video>.gif | .mp4        a split: one animation per video

Animation: by default an MP4 when ffmpeg with libx264 is present (longest side up to 640 px); without
ffmpeg a GIF only for videos of up to 150 frames (up to 320 px; a GIF of a long video runs to tens of
MB), else none, and the summary says why. Small videos are enlarged to at least 256 px.

Memory stays bounded on long videos: frames are streamed and the animation is encoded frame by frame.
A video that ends before its stated length is reported on stderr (--strict: an error).`;

interface InferReferCliOptions {
  checkpoint: string;
  out: string;
  split?: string;
  refDavis?: string;
  input?: string;
  text: string[];
  animation: string;
  fps?: string;
  maxFrames?: string;
  threads?: string;
  quiet?: boolean;
  json?: boolean;
}

const INFER_REFER_HELP = `
Input, one of:
  --split <dir>            a Ref-YouTube-VOS split folder (meta_expressions.json, JPEGImages/), or a root
                           holding valid/: every expression of every video
  --ref-davis <dir>        a Ref-DAVIS17 split in that layout (4 expressions per object; vidseg synth refer
                           --ref-davis writes <out>/ref-davis/valid), or a root holding valid/
  --input <video|folder>   a video file (decoded by the system's ffmpeg) or a folder of .jpg/.png frames,
                           with one --text per expression (several follow the same stream at once)

Written to --out (binary 0/1 palette PNGs, what vidseg eval refer --protocol ref-youtube-vos reads):
  Annotations/<video>/<exp_id>/<frame>.png   a split
  Annotations/<name>/<k>/<frame>.png         an input: expression k of the --text list (from 0)
  expressions.json                           an input: [{id, text, unknownWords}]
  overlay.mp4 | overlay.gif                  an input: every expression's mask in its colour, the
                                             expressions written along the bottom (--animation)
  anno_<k>/<video>/<frame>.png               --ref-davis: expression set k = 0..3 (every object's k-th),
                                             the objects' probabilities merged (argmax; background where
                                             all are below 0.5), what --protocol ref-davis reads

Each expression has its own bounded memory: memory and time per frame stay constant on long videos.`;

/** `vidseg infer vis` and `vidseg infer refer`. */
export function registerInfer(program: Command): void {
  const infer = program.command("infer").description("run a trained model");
  infer
    .command("vis")
    .description("video instance segmentation: results JSON, indexed PNGs and an overlay animation")
    .requiredOption(
      "--checkpoint <path>",
      "model file, run folder, training checkpoint, or an exported .onnx (run by onnxruntime)",
    )
    .requiredOption("--input <path>", "video file, frame folder, YouTube-VIS split or annotation JSON")
    .requiredOption("--out <dir>", "output folder")
    .option("--model <kind>", "online or offline (default: what the model file declares)")
    .option("--split <name>", "split of a YouTube-VIS root (default valid)")
    .option("--images <dir>", "frames folder of an annotation JSON")
    .option("--png", "write per-frame indexed PNGs")
    .option(
      "--animation <format>",
      "auto (MP4 with ffmpeg, else a GIF for videos up to 150 frames, else none), gif, mp4 (needs ffmpeg with libx264) or none",
      "auto",
    )
    .option(
      "--strict",
      "a video that ends before its stated length, or that ffmpeg reports errors on, is an error",
    )
    .option("--fps <n>", "frame rate (resamples videos; timestamps and animation rate)")
    .option("--max-frames <n>", "at most n frames per video")
    .option(
      "--score-threshold <p>",
      "online: smallest query score that detects (default: the model's config); offline: smallest score drawn (default 0.3)",
    )
    .option(
      "--mask-upsampling <kind>",
      "guided (default: edge-aware, by the frame's colours) or bilinear (the model's 1/4-resolution logits)",
    )
    .option(
      "--top-k <n>",
      "results kept per video (default: what the model file stores: 50, or 10 in files trained before 2026-12-06)",
    )
    .option(
      "--frame-mask-iou <iou>",
      "offline: a video query's mask in a frame becomes that of the frame query overlapping it most, if their IoU is at least this (default: the model file's, 0.3; 0: the video query's own)",
    )
    .option(
      "--soft-nms-iou <iou>",
      "offline: a result overlapping a better one of its class by more than this IoU in space-time has its score multiplied by 1 − IoU (default: the model file's, 0.3; 1: off)",
    )
    .option(
      "--min-similarity <s>",
      "online: a detection continues a track only if the cosine similarity of its embedding to the track's memory reaches this (default: the model file's, 0.5 unless `vidseg tune vis` chose another)",
    )
    .option(
      "--momentum <m>",
      "online: a track's memory becomes m · memory + (1 − m) · the new embedding (default: the model file's, 0.7 unless `vidseg tune vis` chose another; 0: the last one, as MinVIS)",
    )
    .option(
      "--max-gap <n>",
      "online: a track unseen for more than n frames (occluded, out of view) ends; a later detection starts a new one (default: the model file's, 10 unless `vidseg tune vis` chose another)",
    )
    .option(
      "--box-iou-weight <w>",
      "online: a detection's affinity to a track is the cosine similarity plus w × the IoU of its box with the track's last box (default: the model file's, 0 unless `vidseg tune vis` chose another)",
    )
    .option("--threads <n>", "onnxruntime threads for an .onnx checkpoint (default: one per core)")
    .option("--quiet", "no progress display")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText("after", INFER_HELP)
    .action(
      action(async (cli: InferCliOptions) => {
        const options = {
          checkpoint: cli.checkpoint,
          input: cli.input,
          out: cli.out,
          model:
            cli.model === undefined
              ? undefined
              : choiceOption(cli.model, "--model", ["online", "offline"] as const),
          split: cli.split,
          images: cli.images,
          png: cli.png,
          animation: choiceOption(cli.animation, "--animation", ["auto", "gif", "mp4", "none"] as const),
          strict: cli.strict,
          fps: numberOption(cli.fps, "--fps", { above: 0 }),
          maxFrames: numberOption(cli.maxFrames, "--max-frames", { integer: true, min: 0 }),
          scoreThreshold: numberOption(cli.scoreThreshold, "--score-threshold", { above: 0 }),
          topK: numberOption(cli.topK, "--top-k", { integer: true, min: 1 }),
          maskUpsampling:
            cli.maskUpsampling === undefined
              ? undefined
              : choiceOption(cli.maskUpsampling, "--mask-upsampling", ["bilinear", "guided"] as const),
          frameMaskIou: numberOption(cli.frameMaskIou, "--frame-mask-iou", { min: 0, max: 1 }),
          softNmsIou: numberOption(cli.softNmsIou, "--soft-nms-iou", { min: 0, max: 1 }),
          minSimilarity: numberOption(cli.minSimilarity, "--min-similarity", { min: -1, max: 1 }),
          momentum: numberOption(cli.momentum, "--momentum", { min: 0, below: 1 }),
          maxGap: numberOption(cli.maxGap, "--max-gap", { integer: true, min: 0 }),
          boxIouWeight: numberOption(cli.boxIouWeight, "--box-iou-weight", { min: 0 }),
          threads: numberOption(cli.threads, "--threads", { integer: true, min: 1 }),
        };
        const { inferVis, inferVisSummaryText, Progress } = await import("../index.js");
        const bar = progressBar(Progress, `infer ${options.model ?? "vis"}`, cli.quiet || cli.json);
        try {
          const summary = await inferVis({ ...options, onProgress: bar.onProgress, onWarning: warn });
          bar.stop();
          if (cli.json) printJson(summary);
          else process.stdout.write(inferVisSummaryText(summary).join("\n") + "\n");
        } finally {
          bar.stop();
        }
      }),
    );
  infer
    .command("refer")
    .description("referring segmentation: binary PNG masks per expression, streamed frame by frame")
    .requiredOption(
      "--checkpoint <path>",
      "referring model file, run folder, training checkpoint, or an exported .onnx (run by onnxruntime)",
    )
    .requiredOption("--out <dir>", "output folder")
    .option("--split <dir>", "Ref-YouTube-VOS split folder (or a root holding valid/)")
    .option("--ref-davis <dir>", "Ref-DAVIS17 split in the Ref-YouTube-VOS layout (or a root holding valid/)")
    .option("--input <path>", "video file or frame folder")
    .option(
      "--text <expression>",
      "an expression to follow in --input (repeat for several)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      "--animation <format>",
      "overlay animation of an input: auto (MP4 with ffmpeg, else GIF when short), gif, mp4 or none",
      "auto",
    )
    .option("--fps <n>", "frame rate (resamples videos; timestamps)")
    .option("--max-frames <n>", "at most n frames per video")
    .option("--threads <n>", "onnxruntime threads for an .onnx checkpoint (default: one per core)")
    .option("--quiet", "no progress display")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText("after", INFER_REFER_HELP)
    .action(
      action(async (cli: InferReferCliOptions) => {
        const options = {
          checkpoint: cli.checkpoint,
          out: cli.out,
          split: cli.split,
          refDavis: cli.refDavis,
          input: cli.input,
          texts: cli.text,
          animation: choiceOption(cli.animation, "--animation", ["auto", "gif", "mp4", "none"] as const),
          fps: numberOption(cli.fps, "--fps", { above: 0 }),
          maxFrames: numberOption(cli.maxFrames, "--max-frames", { integer: true, min: 0 }),
          threads: numberOption(cli.threads, "--threads", { integer: true, min: 1 }),
        };
        const { inferRefer, Progress } = await import("../index.js");
        const bar = progressBar(Progress, "infer refer", cli.quiet || cli.json);
        try {
          const summary = await inferRefer({ ...options, onProgress: bar.onProgress, onWarning: warn });
          bar.stop();
          if (cli.json) printJson(summary);
          else
            process.stdout.write(
              `${summary.expressions} expressions in ${summary.videos} video(s), ${summary.frames} frames ` +
                `(${summary.framesPerSecond.toFixed(1)} frames/s); masks in ${summary.annotations}\n` +
                (summary.animation
                  ? `animation: ${summary.animation}\n`
                  : summary.animationNote
                    ? `${summary.animationNote}\n`
                    : ""),
            );
        } finally {
          bar.stop();
        }
      }),
    );
}
