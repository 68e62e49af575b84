/** `vidseg export onnx`: flags → the export-onnx job (src/jobs/export-onnx.ts). */
import type { Command } from "commander";
import { OptionError, action, numberOption, printJson } from "./common.js";

interface ExportOnnxCliOptions {
  checkpoint: string;
  out: string;
  size?: string;
  opset?: string;
  json?: boolean;
}

const EXPORT_HELP = `
Written:
  <out>              the per-frame network: RGB bytes [1, H, W, 3] of any size in; class logits and
                     probabilities, mask logits at 1/4 of the input size and association embeddings out;
                     the model info (config, classes, what it was trained on), the vidseg version and the
                     preprocessing in its metadata ("vidseg")
  <out>.crop.onnx    the crop classifier, when the model has one (<out> without .onnx, then .crop.onnx)

Run it with OnlineSegmenter.createFromPath("model.onnx") or vidseg infer vis --checkpoint model.onnx
(onnxruntime-node), or in a browser with onnxruntime-web; the tracker runs in TypeScript beside it.`;

/** "HxW" → [H, W]. */
function sizeOption(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)x(\d+)$/i.exec(text.trim());
  const size = match ? ([Number(match[1]), Number(match[2])] as [number, number]) : undefined;
  if (!size || size.some((v) => v <= 0 || v % 32 !== 0)) {
    throw new OptionError("--size", `expected HxW with positive multiples of 32, got "${text}"`);
  }
  return size;
}

export function registerExport(program: Command): void {
  const exporter = program.command("export").description("export a model for other runtimes");
  exporter
    .command("onnx")
    .description(
      "a model's per-frame network as ONNX: the online VIS model (and its crop classifier), or the referring model (frame, text, target and decode graphs)",
    )
    .requiredOption(
      "--checkpoint <path>",
      "online or referring model file, run folder or training checkpoint",
    )
    .requiredOption("--out <file.onnx>", "the ONNX file to write")
    .option("--size <HxW>", "model input size (multiples of 32; default the model's)")
    .option("--opset <n>", "ONNX opset, 16 to 21 (default 17)")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText("after", EXPORT_HELP)
    .action(
      action(async (cli: ExportOnnxCliOptions) => {
        const options = {
          checkpoint: cli.checkpoint,
          out: cli.out,
          size: sizeOption(cli.size),
          opset: numberOption(cli.opset, "--opset", { integer: true, min: 1 }),
        };
        const { exportOnnx } = await import("../index.js");
        const summary = await exportOnnx(options);
        if (cli.json) printJson(summary);
        else {
          const [h, w] = summary.inputSize;
          for (const file of summary.files) {
            process.stdout.write(`${file.path}  ${(file.bytes / 2 ** 20).toFixed(2)} MiB\n`);
          }
          process.stdout.write(`input ${h}×${w}, opset ${summary.opset}\n`);
        }
      }),
    );
}
