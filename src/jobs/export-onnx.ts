/**
 * The export-onnx job (`vidseg export onnx`): an online model file (or run folder, or checkpoint) →
 * `<out>` (the per-frame segmenter) and, when the model has a crop classifier, `<out stem>.crop.onnx`
 * beside it; both written atomically. See src/export/onnx-segmenter.ts for the graphs.
 */
import { VidsegError } from "../core/errors.js";
import { writeFileAtomic } from "../core/fs.js";
import { exportOnlineSegmenter, type OnnxExportOptions } from "../export/onnx-segmenter.js";
import { disposeModelFile, readModelFile } from "../models/model-file.js";
import { cropClassifierFile, isOnnxPath } from "../models/onnx-file.js";
import { instantiateModel } from "../models/registry.js";
import { initRuntime } from "../runtime/backend.js";

export interface ExportOnnxOptions extends OnnxExportOptions {
  /** Model file, run folder or training checkpoint of an online model. */
  checkpoint: string;
  /** The segmenter's file; must end in .onnx. */
  out: string;
}

export interface ExportOnnxSummary {
  /** The files written, segmenter first. */
  files: { path: string; bytes: number }[];
  inputSize: [number, number];
  opset: number;
}

export async function exportOnnx(options: ExportOnnxOptions): Promise<ExportOnnxSummary> {
  if (!isOnnxPath(options.out)) throw new VidsegError("must end in .onnx", options.out);
  await initRuntime();
  const modelFile = await readModelFile(options.checkpoint);
  if (modelFile.info.kind !== "online") {
    disposeModelFile(modelFile);
    throw new VidsegError(
      `holds a model of kind "${modelFile.info.kind}"; only online models export to ONNX so far`,
      modelFile.file,
      "__metadata__.info.kind",
    );
  }
  const info = modelFile.info;
  const segmenter = instantiateModel(modelFile, "online");
  disposeModelFile(modelFile);
  try {
    const graphs = exportOnlineSegmenter(segmenter, info, options);
    const files = [{ path: options.out, bytes: graphs.segmenter }];
    if (graphs.cropClassifier)
      files.push({ path: cropClassifierFile(options.out), bytes: graphs.cropClassifier });
    for (const file of files) await writeFileAtomic(file.path, file.bytes);
    return {
      files: files.map(({ path, bytes }) => ({ path, bytes: bytes.length })),
      inputSize: options.size ?? info.config.model.inputSize,
      opset: graphs.opset,
    };
  } finally {
    segmenter.dispose();
  }
}
