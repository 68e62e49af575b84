/**
 * The referring model's ONNX export (src/export/onnx-refer.ts) and its onnxruntime path
 * (src/infer/onnx-refer-network.ts): the same frames and expressions through TensorFlow.js and through
 * onnxruntime-node give mask logits within 1e-4 on every frame while the memory fills and evicts (the
 * θ solver is the one TypeScript implementation for both), on small seeded models (ResNet and
 * centernet-mbv3 backbones); `ReferringSegmenter.createFromPath("m.onnx")` needs nothing but the
 * exported files; `vidseg export onnx` and `vidseg infer refer --checkpoint m.onnx` work; the wrong kind
 * of export, or a graph missing beside it, is one error naming the file.
 */
import * as tf from "@tensorflow/tfjs";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportReferModel } from "../src/export/onnx-refer.js";
import { readIndexedPng } from "../src/formats/png.js";
import { OnlineSegmenter } from "../src/infer/online-segmenter.js";
import { OnnxReferNetwork } from "../src/infer/onnx-refer-network.js";
import { TfjsReferNetwork, TransferState } from "../src/infer/refer-network.js";
import { ReferringSegmenter } from "../src/infer/referring-segmenter.js";
import { exportOnnx } from "../src/jobs/export-onnx.js";
import { inferRefer } from "../src/jobs/infer-refer.js";
import type { VisConfig } from "../src/models/config.js";
import type { ModelInfo } from "../src/models/model-file.js";
import { readOnnxReferMetadata } from "../src/models/onnx-file.js";
import type { ReferModel } from "../src/models/refer/model.js";
import { WordTokenizer } from "../src/models/refer/tokenizer.js";
import { initRuntime } from "../src/runtime/backend.js";
import { writePng } from "../src/viz/image.js";
import {
  randomReferModel,
  REFER_VOCABULARY,
  writeRandomOnlineModel,
  writeRandomReferModel,
} from "./helpers/models.js";
import { blobFrame, maxAbsDiff } from "./helpers/random.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-onnx-refer-"));
const TOLERANCE = 1e-4;
const EXPRESSIONS = ["the red square moving left", "the small blue circle"];

/** Frames of a short stream (pairs of repeated frames, as a slow video), at a size other than the model's. */
const frames = Array.from({ length: 7 }, (_, t) => ({
  width: 76,
  height: 60,
  data: blobFrame(76, 60, 40 + (t >> 1)),
}));

/**
 * Every frame's mask logits for each expression through both runtimes (network level, each with its
 * own memory per expression); returns the largest difference per frame.
 */
async function parity(model: ReferModel, info: ModelInfo, opset?: number): Promise<number[]> {
  const graphs = exportReferModel(model, info, { opset });
  const onnx = await OnnxReferNetwork.create(
    ort,
    graphs.frame,
    "model.onnx",
    (part) => Promise.resolve(graphs.parts[part]),
    { threads: 1 },
  );
  const tfjs = new TfjsReferNetwork(model, info, false);
  const tokenizer = new WordTokenizer(REFER_VOCABULARY);
  const targets = await Promise.all(
    EXPRESSIONS.map(async (text) => {
      const ids = tokenizer.encode(text).ids;
      return {
        tfjs: { text: tfjs.sync.encodeText(ids), state: new TransferState() },
        onnx: { text: await onnx.encodeText(ids), state: new TransferState() },
      };
    }),
  );
  const diffs: number[] = [];
  for (const frame of frames) {
    const [tfFrame, onnxFrame] = [tfjs.sync.encodeFrame(frame), await onnx.encodeFrame(frame)];
    let worst = 0;
    for (const target of targets) {
      const expected = tfjs.sync.segment(tfFrame, target.tfjs.text, target.tfjs.state);
      const actual = await onnx.segment(onnxFrame, target.onnx.text, target.onnx.state);
      expect([actual.height, actual.width]).toEqual([expected.height, expected.width]);
      // Not all of one sign: the test compares masks, not a constant.
      expect(Math.max(...expected.logits)).toBeGreaterThan(Math.min(...expected.logits) + 0.05);
      worst = Math.max(worst, maxAbsDiff(actual.logits, expected.logits));
    }
    diffs.push(worst);
    tfFrame.dispose();
    onnxFrame.dispose();
  }
  for (const target of targets) {
    if (info.config.refer.metaTransfer) {
      expect(target.onnx.state.memory!.size).toBe(info.config.refer.memorySlots);
      expect(target.onnx.state.memory!.frames).toEqual(target.tfjs.state.memory!.frames);
    }
    target.tfjs.state.reset();
    target.onnx.state.reset();
    target.tfjs.text.dispose();
  }
  onnx.close();
  return diffs;
}

beforeAll(async () => {
  await initRuntime();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("ONNX export of the referring model", () => {
  it("gives TensorFlow.js's mask logits within 1e-4 on every frame as the memory fills and evicts, at opsets 17 and 20", async () => {
    const { model, info } = randomReferModel(7);
    try {
      for (const opset of [17, 20]) {
        const diffs = await parity(model, info, opset);
        expect(diffs).toHaveLength(frames.length);
        for (const [t, diff] of diffs.entries())
          expect(diff, `opset ${opset}, frame ${t}`).toBeLessThan(TOLERANCE);
      }
    } finally {
      model.dispose();
    }
  });

  it("does so on the centernet-mbv3 backbone, and without meta-transfer or the text kernel", async () => {
    for (const changes of [
      (config: VisConfig) => {
        config.model.backbone = "centernet-mbv3";
      },
      (config: VisConfig) => {
        config.refer.metaTransfer = false;
        config.refer.textKernelHead = false;
        config.refer.featureMining = false;
      },
    ]) {
      const { model, info } = randomReferModel(8, changes);
      try {
        const diffs = await parity(model, info);
        for (const [t, diff] of diffs.entries()) expect(diff, `frame ${t}`).toBeLessThan(TOLERANCE);
      } finally {
        model.dispose();
      }
    }
  });

  it("does so with the global context at 1/16 (its projection made non-zero)", async () => {
    const { model, info } = randomReferModel(9, (config) => {
      config.refer.globalContext = true;
    });
    try {
      const project = model.mining.context!.project;
      project.weight.assign(tf.randomNormal(project.weight.shape, 0, 0.3, "float32", 9));
      const diffs = await parity(model, info);
      for (const [t, diff] of diffs.entries()) expect(diff, `frame ${t}`).toBeLessThan(TOLERANCE);
    } finally {
      model.dispose();
    }
  });

  it("streams from the exported files alone through ReferringSegmenter, `vidseg export onnx` and `infer refer`", async () => {
    const file = join(root, "refer.safetensors");
    const info = await writeRandomReferModel(file, 9);
    const summary = await exportOnnx({ checkpoint: file, out: join(root, "m.onnx") });
    expect(summary.files.map((f) => f.path)).toEqual(
      ["m.onnx", "m.text.onnx", "m.target.onnx", "m.decode.onnx"].map((name) => join(root, name)),
    );
    // The same model exports to the same bytes.
    await exportOnnx({ checkpoint: file, out: join(root, "again.onnx") });
    for (const suffix of ["", ".text", ".target", ".decode"]) {
      expect(
        readFileSync(join(root, `again${suffix}.onnx`)).equals(readFileSync(join(root, `m${suffix}.onnx`))),
      ).toBe(true);
    }
    const metadata = readOnnxReferMetadata(readFileSync(join(root, "m.onnx")), "m.onnx");
    expect(metadata.info.vocabulary).toEqual(REFER_VOCABULARY);
    expect(metadata.info.config.refer).toEqual(info.config.refer);
    expect(metadata.featureSize).toEqual([8, 8]);
    expect(metadata.maskSize).toEqual([16, 16]);
    expect(metadata.lambda).toBeCloseTo(info.config.refer.initialLambda, 6);

    const tfjs = await ReferringSegmenter.createFromPath(file, { syntheticInput: true });
    const onnx = await ReferringSegmenter.createFromPath(join(root, "m.onnx"), {
      syntheticInput: true,
      onnx: { threads: 1 },
    });
    expect(onnx.network.runtime).toBe("onnxruntime");
    expect(() => onnx.model).toThrow(/onnxruntime/);
    const pairs = EXPRESSIONS.map((text) => [tfjs.track(text), onnx.track(text)] as const);
    expect(() => pairs[0][1].segmentForVideo(frames[0])).toThrow(/asynchronous/);
    for (const [t, frame] of frames.entries()) {
      for (const [expected, actual] of pairs) {
        const a = expected.segmentForVideo(frame, t * 40, { probabilities: true });
        const b = await actual.segmentForVideoAsync(frame, t * 40, { probabilities: true });
        expect(Math.abs(a.score - b.score)).toBeLessThan(1e-4);
        expect(maxAbsDiff(a.probabilities!, b.probabilities!)).toBeLessThan(1e-4);
        // Pixels whose probability is within float noise of 0.5 may differ, nothing else.
        const differing = a.mask.reduce((n, v, i) => n + (v !== b.mask[i] ? 1 : 0), 0);
        expect(differing).toBeLessThanOrEqual(2);
      }
    }
    expect(pairs[0][1].memorySize).toBe(info.config.refer.memorySlots);
    pairs[0][1].reset();
    expect(pairs[0][1].memorySize).toBe(0);
    tfjs.close();
    onnx.close();
    expect(onnx.openTargets).toBe(0);

    // `vidseg infer refer --checkpoint m.onnx` on a folder of frames: the same masks as the model file.
    const input = join(root, "frames");
    mkdirSync(input);
    for (const [t, frame] of frames.slice(0, 3).entries()) {
      await writePng(join(input, `${String(t).padStart(5, "0")}.png`), frame);
    }
    const runs = await Promise.all(
      [file, join(root, "m.onnx")].map(async (checkpoint, k) => {
        const out = join(root, `out-${k}`);
        await inferRefer({
          checkpoint,
          input,
          texts: EXPRESSIONS,
          out,
          animation: "none",
          threads: 1,
          onWarning: () => {},
        });
        return out;
      }),
    );
    const masks = (out: string) =>
      readdirSync(join(out, "Annotations"), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".png"))
        .sort();
    expect(masks(runs[1])).toEqual(masks(runs[0]));
    expect(masks(runs[0])).toHaveLength(2 * 3);
    for (const name of masks(runs[0])) {
      const [a, b] = await Promise.all(runs.map((out) => readIndexedPng(join(out, "Annotations", name))));
      expect(
        a.data.reduce((n, v, i) => n + (v !== b.data[i] ? 1 : 0), 0),
        name,
      ).toBeLessThanOrEqual(2);
    }
    expect(existsSync(join(runs[1], "expressions.json"))).toBe(true);
  });

  it("refuses, in one line naming the file, an online export, a missing graph beside it, and the reverse", async () => {
    const online = join(root, "online.safetensors");
    await writeRandomOnlineModel(online, 2);
    await exportOnnx({ checkpoint: online, out: join(root, "online.onnx") });
    await expect(ReferringSegmenter.createFromPath(join(root, "online.onnx"))).rejects.toThrow(
      /online\.onnx: metadata_props\.vidseg\.format: format must be "vidseg-onnx-refer", got an online VIS model/,
    );
    const { model, info } = randomReferModel(10);
    const graphs = exportReferModel(model, info);
    model.dispose();
    const lonely = join(root, "lonely.onnx");
    writeFileSync(lonely, graphs.frame);
    await expect(ReferringSegmenter.createFromPath(lonely)).rejects.toThrow(/lonely\.text\.onnx/);
    await expect(OnlineSegmenter.createFromPath(lonely)).rejects.toThrow(
      /lonely\.onnx: .*format must be "vidseg-onnx-vis", got a referring model/,
    );
  });
});
