/**
 * ONNX export (src/export) and the onnxruntime path (src/infer/onnx-network.ts): the same frames through
 * TensorFlow.js and through onnxruntime-node give logits, mask logits, embeddings and crop logits within
 * 1e-4 (a tiny random model at three opsets, and the shipped weights), identical tracks through
 * OnlineSegmenter, the metadata the graph carries, and one-line errors for files that are not exports.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIDSEG_VERSION } from "../src/core/version.js";
import { DataType, OnnxGraph } from "../src/export/onnx-graph.js";
import { backbone } from "../src/export/onnx-modules.js";
import { exportOnlineSegmenter } from "../src/export/onnx-segmenter.js";
import { OnlineSegmenter, type FrameResult } from "../src/infer/online-segmenter.js";
import { exportOnnx } from "../src/jobs/export-onnx.js";
import { disposeModelFile, readModelFile, type ModelInfo } from "../src/models/model-file.js";
import { ONNX_NAMES, readOnnxMetadata } from "../src/models/onnx-file.js";
import { instantiateModel } from "../src/models/registry.js";
import type { FrameSegmenter } from "../src/models/segmenter.js";
import { preprocessFrames } from "../src/processing/preprocess.js";
import { initRuntime } from "../src/runtime/backend.js";
import { writeRandomOnlineModel } from "./helpers/models.js";
import { blobFrame, maxAbsDiff, mulberry32 } from "./helpers/random.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-onnx-"));
const TOLERANCE = 1e-4;

interface Loaded {
  segmenter: FrameSegmenter;
  info: ModelInfo;
}

async function load(file: string): Promise<Loaded> {
  const model = await readModelFile(file);
  try {
    return { segmenter: instantiateModel(model, "online"), info: model.info };
  } finally {
    disposeModelFile(model);
  }
}

/** Every output of the exported graphs against the TensorFlow.js modules on one frame. */
async function parity(
  { segmenter }: Loaded,
  graphs: { segmenter: Uint8Array; cropClassifier?: Uint8Array },
  frame: { width: number; height: number; data: Uint8Array },
): Promise<Record<string, number>> {
  const session = await ort.InferenceSession.create(graphs.segmenter, { intraOpNumThreads: 1 });
  const outputs = await session.run({
    [ONNX_NAMES.frame]: new ort.Tensor("uint8", frame.data, [1, frame.height, frame.width, 3]),
  });
  const input = preprocessFrames([frame], segmenter.config.inputSize);
  const expected = segmenter.forward(input);
  const diffs: Record<string, number> = {
    logits: maxAbsDiff(outputs[ONNX_NAMES.predLogits].data as Float32Array, expected.predLogits.dataSync()),
    masks: maxAbsDiff(outputs[ONNX_NAMES.predMasks].data as Float32Array, expected.predMasks.dataSync()),
    embeddings: maxAbsDiff(
      outputs[ONNX_NAMES.queryEmbed].data as Float32Array,
      expected.queryEmbed.dataSync(),
    ),
  };
  expect(outputs[ONNX_NAMES.predMasks].dims).toEqual(expected.predMasks.shape);
  if (segmenter.cropClassifier) {
    const crop = await ort.InferenceSession.create(graphs.cropClassifier!, { intraOpNumThreads: 1 });
    const boxes: [number, number, number, number][] = [
      [0.1, 0.2, 0.6, 0.7],
      [0, 0, 1, 1],
      [0.35, 0.05, 0.9, 0.5],
    ];
    const crops = await crop.run({
      [ONNX_NAMES.image]: outputs[ONNX_NAMES.image],
      [ONNX_NAMES.cropBoxes]: new ort.Tensor("float32", Float32Array.from(boxes.flat()), [boxes.length, 4]),
    });
    const logits = segmenter.cropClassifier.forward(input, boxes, [0, 0, 0]);
    diffs.cropLogits = maxAbsDiff(crops[ONNX_NAMES.cropLogits].data as Float32Array, logits.dataSync());
    logits.dispose();
    await crop.release();
  }
  input.dispose();
  for (const tensor of [
    expected.predLogits,
    expected.predMasks,
    expected.queryEmbed,
    expected.queryFeatures,
  ]) {
    tensor.dispose();
  }
  expected.maskFeatures.dispose();
  expected.aux.forEach((a) => [a.predLogits, a.predMasks, a.queryFeatures].forEach((t) => t.dispose()));
  await session.release();
  return diffs;
}

beforeAll(async () => {
  await initRuntime();
  await writeRandomOnlineModel(join(root, "tiny.safetensors"), 3, {
    data: "random weights",
    synthetic: true,
  });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("ONNX export of a tiny random model", () => {
  it("gives TensorFlow.js's outputs within 1e-4 at opsets 17, 18 and 20, at the model's size and resized", async () => {
    const model = await load(join(root, "tiny.safetensors"));
    try {
      for (const opset of [17, 18, 20]) {
        const graphs = exportOnlineSegmenter(model.segmenter, model.info, { opset });
        for (const [width, height] of [
          [64, 64],
          [90, 50],
        ]) {
          const diffs = await parity(model, graphs, {
            width,
            height,
            data: blobFrame(width, height, opset + width),
          });
          expect(Object.keys(diffs)).toEqual(["logits", "masks", "embeddings", "cropLogits"]);
          for (const [name, diff] of Object.entries(diffs)) {
            expect(diff, `opset ${opset}, ${width}×${height}: ${name}`).toBeLessThan(TOLERANCE);
          }
        }
      }
    } finally {
      model.segmenter.dispose();
    }
  });

  it("streams through OnlineSegmenter on onnxruntime with the TensorFlow.js path's tracks", async () => {
    const summary = await exportOnnx({
      checkpoint: join(root, "tiny.safetensors"),
      out: join(root, "tiny.onnx"),
    });
    expect(summary.files.map((f) => f.path)).toEqual([join(root, "tiny.onnx"), join(root, "tiny.crop.onnx")]);
    const options = { syntheticInput: true, collectResults: true };
    const tfjs = await OnlineSegmenter.createFromPath(join(root, "tiny.safetensors"), options);
    const onnx = await OnlineSegmenter.createFromPath(join(root, "tiny.onnx"), {
      ...options,
      onnx: { threads: 1 },
    });
    expect(onnx.network.runtime).toBe("onnxruntime");
    expect(() => onnx.segmentForVideo({ width: 8, height: 8, data: new Uint8Array(192) })).toThrow(
      /asynchronous/,
    );
    onnx.reset();
    const expected: FrameResult[] = [];
    const actual: FrameResult[] = [];
    for (let t = 0; t < 6; t++) {
      const frame = { width: 80, height: 72, data: blobFrame(80, 72, 100 + (t >> 1)) };
      expected.push(tfjs.segmentForVideo(frame, t * 40));
      actual.push(await onnx.segmentForVideoAsync(frame, t * 40));
    }
    const summarise = (results: FrameResult[]) =>
      results.map((r) => r.instances.map((i) => [i.trackId, i.categoryId, i.label]));
    expect(summarise(actual)).toEqual(summarise(expected));
    expect(actual.flatMap((r) => r.instances).length).toBeGreaterThan(0);
    actual.forEach((result, t) =>
      result.instances.forEach((instance, k) => {
        const other = expected[t].instances[k];
        expect(Math.abs(instance.score - other.score)).toBeLessThan(1e-4);
        // Pixels whose upsampled logit is within float noise of 0 may differ, nothing else.
        const differing = instance.mask.reduce((n, v, i) => n + (v !== other.mask[i] ? 1 : 0), 0);
        expect(differing).toBeLessThanOrEqual(2);
      }),
    );
    const [tfResults, onnxResults] = [tfjs.finish(1), onnx.finish(1)];
    expect(onnxResults.map((r) => [r.category_id, r.segmentations.length])).toEqual(
      tfResults.map((r) => [r.category_id, r.segmentations.length]),
    );
    tfjs.close();
    onnx.close();
  });

  it("refuses files that are not vidseg exports, an --out without .onnx, bad sizes and opsets, in one line", async () => {
    const garbage = join(root, "garbage.onnx");
    writeFileSync(garbage, new Uint8Array([1, 2, 3, 250, 251]));
    await expect(OnlineSegmenter.createFromPath(garbage)).rejects.toThrow(/garbage\.onnx: not an ONNX model/);
    const model = await load(join(root, "tiny.safetensors"));
    const bytes = exportOnlineSegmenter(model.segmenter, model.info).segmenter;
    model.segmenter.dispose();
    const text = Buffer.from(bytes).toString("latin1").replace('"vidseg-onnx-vis"', '"vidseg-onnx-xyz"');
    const wrong = join(root, "wrong.onnx");
    writeFileSync(wrong, Buffer.from(text, "latin1"));
    await expect(OnlineSegmenter.createFromPath(wrong)).rejects.toThrow(
      /wrong\.onnx: metadata_props\.vidseg\.format: format must be "vidseg-onnx-vis"/,
    );
    await expect(
      exportOnnx({ checkpoint: join(root, "tiny.safetensors"), out: join(root, "x.bin") }),
    ).rejects.toThrow(/x\.bin: must end in \.onnx/);
    expect(() => exportOnlineSegmenter(model.segmenter, model.info, { size: [100, 64] })).toThrow(
      /multiples of 32/,
    );
    expect(() => exportOnlineSegmenter(model.segmenter, model.info, { opset: 12 })).toThrow(/opset must be/);
  });
});

describe("ONNX export of a model on the pretrained centernet-mbv3 backbone", () => {
  it("gives TensorFlow.js's outputs and feature maps within 1e-4 (the MobileNetV3 graph emitted op by op)", async () => {
    const file = join(root, "centernet.safetensors");
    await writeRandomOnlineModel(file, 4, undefined, (config) => {
      config.model.backbone = "centernet-mbv3";
      config.model.cropSize = 0;
    });
    const model = await load(file);
    try {
      const graphs = exportOnlineSegmenter(model.segmenter, model.info);
      const diffs = await parity(model, graphs, { width: 70, height: 58, data: blobFrame(70, 58, 11) });
      expect(Object.keys(diffs)).toEqual(["logits", "masks", "embeddings"]);
      for (const [name, diff] of Object.entries(diffs)) expect(diff, name).toBeLessThan(TOLERANCE);

      // The four maps themselves (0..6-valued ReLU6 / hard-swish features), at a non-square size.
      const g = new OnnxGraph(17);
      const image = g.input({ name: "image", type: DataType.FLOAT, dims: [1, 3, 64, 96] });
      backbone(g, model.segmenter.backbone, image).forEach((map, i) =>
        g.output(map, { name: `res${i + 2}`, type: DataType.FLOAT, dims: [1, "c", "h", "w"] }),
      );
      const session = await ort.InferenceSession.create(g.toBytes("backbone", {}, "test"));
      const random = mulberry32(12);
      const pixels = Float32Array.from({ length: 64 * 96 * 3 }, () => random());
      const nhwc = tf.tensor4d(pixels, [1, 64, 96, 3]);
      const nchw = tf.transpose(nhwc, [0, 3, 1, 2]);
      const outputs = await session.run({
        image: new ort.Tensor("float32", nchw.dataSync(), [1, 3, 64, 96]),
      });
      const features = model.segmenter.backbone.features(nhwc);
      for (const [i, key] of (["res2", "res3", "res4", "res5"] as const).entries()) {
        const expected = tf.transpose(features[key], [0, 3, 1, 2]);
        const actual = outputs[`res${i + 2}`];
        expect(actual.dims).toEqual(expected.shape);
        expect(tf.max(expected).dataSync()[0]).toBeGreaterThan(0.5);
        expect(maxAbsDiff(actual.data as Float32Array, expected.dataSync()), key).toBeLessThan(TOLERANCE);
        expected.dispose();
      }
      tf.dispose([nhwc, nchw, features.res2, features.res3, features.res4, features.res5]);
      await session.release();
    } finally {
      model.segmenter.dispose();
    }
  });
});

describe("ONNX export of the shipped weights", () => {
  it("matches TensorFlow.js within 1e-4 and carries the model's metadata", async () => {
    const model = await load("weights/online-ytvis.safetensors");
    try {
      const graphs = exportOnlineSegmenter(model.segmenter, model.info);
      const diffs = await parity(model, graphs, { width: 160, height: 96, data: blobFrame(160, 96, 5) });
      for (const [name, diff] of Object.entries(diffs)) expect(diff, name).toBeLessThan(TOLERANCE);
      const metadata = readOnnxMetadata(graphs.segmenter, "model.onnx");
      expect(metadata.vidsegVersion).toBe(VIDSEG_VERSION);
      expect(metadata.info.categoryNames).toEqual(model.info.categoryNames);
      expect(metadata.info.categoryIds).toEqual(model.info.categoryIds);
      expect(metadata.info.trainedOn).toEqual(model.info.trainedOn);
      expect(metadata.info.config.inference).toEqual(model.info.config.inference);
      expect(metadata.preprocessing).toMatchObject({ scale: 1 / 255, inputSize: [128, 128] });
      expect(metadata.outputs).toEqual({ maskStride: 4, numQueries: 16, numClasses: 8, embeddingDim: 64 });
      expect(metadata.cropClassifier).toEqual({ cropSize: 48 });
    } finally {
      model.segmenter.dispose();
    }
  });
});

describe("version", () => {
  it("is package.json's", () => {
    expect(VIDSEG_VERSION).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
  });
});
