/**
 * The export-onnx job (`vidseg export onnx`): a model file (or run folder, or checkpoint) → ONNX,
 * every file written atomically. An online model: `<out>` (the per-frame segmenter) and, when the
 * model has a crop classifier, `<out stem>.crop.onnx` beside it (src/export/onnx-segmenter.ts). A
 * referring model: `<out>` (the frame graph) and `<out stem>.{text,target,decode}.onnx` beside it
 * (src/export/onnx-refer.ts).
 */
import { VidsegError } from "../core/errors.js";
import { writeFileAtomic } from "../core/fs.js";
import { exportReferModel } from "../export/onnx-refer.js";
import { exportOnlineSegmenter, type OnnxExportOptions } from "../export/onnx-segmenter.js";
import { disposeModelFile, readModelFile } from "../models/model-file.js";
import { cropClassifierFile, isOnnxPath, referGraphFile, type ReferGraphPart } from "../models/onnx-file.js";
import { ReferModel } from "../models/refer/model.js";
import { instantiateModel } from "../models/registry.js";
import { initRuntime } from "../runtime/backend.js";

export interface ExportOnnxOptions extends OnnxExportOptions {
  /** Model file, run folder or training checkpoint of an online or referring model. */
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
  const info = modelFile.info;
  if (info.kind !== "online" && info.kind !== "refer") {
    disposeModelFile(modelFile);
    throw new VidsegError(
      `holds a model of kind "${info.kind}"; online and referring models export to ONNX`,
      modelFile.file,
      "__metadata__.info.kind",
    );
  }
  const model =
    info.kind === "refer" ? instantiateModel(modelFile, "refer") : instantiateModel(modelFile, "online");
  disposeModelFile(modelFile);
  try {
    let opset: number;
    const files: { path: string; bytes: Uint8Array }[] = [];
    if (model instanceof ReferModel) {
      const graphs = exportReferModel(model, info, options);
      opset = graphs.opset;
      files.push({ path: options.out, bytes: graphs.frame });
      for (const [part, bytes] of Object.entries(graphs.parts))
        files.push({ path: referGraphFile(options.out, part as ReferGraphPart), bytes });
    } else {
      const graphs = exportOnlineSegmenter(model, info, options);
      opset = graphs.opset;
      files.push({ path: options.out, bytes: graphs.segmenter });
      if (graphs.cropClassifier)
        files.push({ path: cropClassifierFile(options.out), bytes: graphs.cropClassifier });
    }
    for (const file of files) await writeFileAtomic(file.path, file.bytes);
    return {
      files: files.map(({ path, bytes }) => ({ path, bytes: bytes.length })),
      inputSize: options.size ?? info.config.model.inputSize,
      opset,
    };
  } finally {
    model.dispose();
  }
}
