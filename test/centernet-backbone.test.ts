/**
 * The frozen pretrained backbone (CenterNet MobileNetV3, COCO): it loads offline from the repository's
 * weights/backbones/, its four maps match an independent float64 numpy evaluation of the graph
 * (scripts/centernet_golden.py → test/golden/centernet-mbv3.json) on the wasm and cpu backends, and a
 * segmenter built on it trains its own parameters only, holds no backbone weights in its state dict,
 * leaks no tensor and round-trips through a model file.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VidsegError } from "../src/core/errors.js";
import { presetConfig, resolveVisConfig } from "../src/models/config.js";
import type { CriterionTarget } from "../src/models/criterion.js";
import { disposeOfflineOutput, OFFLINE_HEAD_PRESETS, OfflineVisModel } from "../src/models/vis/offline.js";
import { saveOfflineModelFile } from "./helpers/models.js";
import { readModelFile } from "../src/models/model-file.js";
import { instantiateModel } from "../src/models/registry.js";
import { onlineLoss } from "../src/models/vis/online.js";
import { saveModelFile } from "../src/train/checkpoint.js";
import { disposeSegmenterOutput, FrameSegmenter } from "../src/models/segmenter.js";
import { createBackbone } from "../src/nn/backbone.js";
import { CENTERNET_MBV3 } from "../src/nn/centernet-backbone.js";
import { seedParameters } from "../src/nn/init.js";
import { loadSafetensors } from "../src/nn/safetensors.js";
import { readVendoredGraphModel } from "../src/nn/vendored-weights.js";
import { initRuntime } from "../src/runtime/backend.js";
import { AdamW } from "../src/train/optim.js";

interface GoldenMap {
  name: string;
  shape: number[];
  mean: number;
  channel_means: number[];
  slice: number[];
}
const golden = JSON.parse(readFileSync("test/golden/centernet-mbv3.json", "utf8")) as {
  input: { height: number; width: number };
  maps: GoldenMap[];
};

const tmp = mkdtempSync(join(tmpdir(), "vidseg-centernet-"));
beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The golden input: integer pixels v = (x·(3 + 2c) + y·(5 + c) + 7·((x·y) mod 11)) mod 256, as 0..1 RGB. */
function syntheticImage(height: number, width: number): tf.Tensor4D {
  const pixels = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        pixels[(y * width + x) * 3 + c] = ((x * (3 + 2 * c) + y * (5 + c) + 7 * ((x * y) % 11)) % 256) / 255;
      }
    }
  }
  return tf.tensor4d(pixels, [1, height, width, 3]);
}

/** |actual − expected| ≤ 1e-4 · max(1, |expected|) for every entry (float32 vs float64, 15 blocks deep). */
function expectClose(actual: ArrayLike<number>, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  }
  expect(worst).toBeLessThan(1e-4);
}

/** One box instance (class 0) per image, masks at the input resolution. */
function boxTargets(count: number, size: number): CriterionTarget[] {
  return Array.from({ length: count }, (_, i) => {
    const mask = new Float32Array(size * size);
    for (let y = 8 + 4 * i; y < 40 + 4 * i; y++) for (let x = 16; x < 48; x++) mask[y * size + x] = 1;
    return { labels: [0], ids: [1], masks: tf.tensor3d(mask, [1, size, size]) };
  });
}

function centernetConfig() {
  const config = presetConfig("tiny");
  config.model.backbone = "centernet-mbv3";
  config.model.numClasses = 2;
  config.model.cropSize = 0;
  return config;
}

describe("CenterNet MobileNetV3 backbone", () => {
  it.each(["wasm", "cpu"])(
    "loads from weights/backbones/ and matches the numpy reference on a fixed image (%s)",
    async (backend) => {
      await tf.setBackend(backend);
      try {
        const backbone = createBackbone("centernet-mbv3");
        expect(backbone.namedParameters({ includeFrozen: true }).size).toBe(0);
        expect(backbone.stateDict().size).toBe(0);
        const image = syntheticImage(golden.input.height, golden.input.width);
        const { res2, res3, res4, res5 } = backbone.features(image);
        [res2, res3, res4, res5].forEach((map, level) => {
          const expected = golden.maps[level];
          expect(expected.name).toBe(CENTERNET_MBV3.outputs[level]);
          expect(map.shape).toEqual(expected.shape);
          expect(map.shape[3]).toBe(backbone.outChannels[level]);
          expectClose(
            tf.tidy(() => tf.mean(map, [0, 1, 2]).dataSync()),
            expected.channel_means,
          );
          const [, h, w] = map.shape;
          const centre = tf.tidy(() =>
            map.slice([0, Math.floor(h / 2) - 1, Math.floor(w / 2) - 1, 0], [1, 2, 2, 8]).dataSync(),
          );
          expectClose(centre, expected.slice);
        });
        tf.dispose([image, res2, res3, res4, res5]);
      } finally {
        await tf.setBackend("wasm");
      }
    },
  );

  it("rejects a vendored file whose hash differs from the pinned one, naming the file", () => {
    const files = {
      ...CENTERNET_MBV3.files,
      weights: { ...CENTERNET_MBV3.files.weights, sha256: "0".repeat(64) },
    };
    expect(() => readVendoredGraphModel(CENTERNET_MBV3.name, files)).toThrow(VidsegError);
    expect(() => readVendoredGraphModel(CENTERNET_MBV3.name, files)).toThrow(
      /centernet\.bin: SHA-256 1b635a15/,
    );
  });

  it("is frozen: a zero gradient, and no activations kept for the backward pass", () => {
    const backbone = createBackbone("centernet-mbv3");
    const images = tf.randomUniform([2, 128, 128, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    const grad = tf.grad((x: tf.Tensor) => {
      const f = backbone.features(x as tf.Tensor4D);
      return tf.addN([f.res2.sum(), f.res3.sum(), f.res4.sum(), f.res5.sum()]);
    })(images);
    expect(tf.tidy(() => tf.max(tf.abs(grad)).dataSync()[0])).toBe(0);
    // Inside a gradient scope the graph's ops are not recorded: what stays allocated is about the maps
    // themselves (packed once, then split), not the graph's activations (55 MB here when recorded).
    const mapBytes = 4 * 2 * (32 * 32 * 72 + 16 * 16 * 96 + 8 * 8 * 88 + 4 * 4 * 120);
    let held = 0;
    const probe = tf.variable(tf.scalar(1));
    const { value, grads } = tf.variableGrads(() => {
      const before = tf.memory().numBytes;
      const f = backbone.features(images);
      held = tf.memory().numBytes - before;
      return tf.mul(
        tf.addN([f.res2.mean(), f.res3.mean(), f.res4.mean(), f.res5.mean()]),
        probe,
      ) as tf.Scalar;
    }, [probe]);
    expect(held).toBeLessThanOrEqual(2 * mapBytes + 4096);
    tf.dispose([images, grad, value, probe, ...Object.values(grads)]);
  });
});

describe("segmenter with the centernet-mbv3 backbone", () => {
  it("is a config option; a wrong name is rejected naming the field", () => {
    expect(resolveVisConfig({ preset: "tiny", model: { backbone: "centernet-mbv3" } }).model.backbone).toBe(
      "centernet-mbv3",
    );
    expect(() => resolveVisConfig({ model: { backbone: "centernet" } }, "c.json")).toThrow(
      /c\.json: model\.backbone: must be one of .*"centernet-mbv3"/,
    );
  });

  it("trains its own parameters only (backbone unchanged) with no tensor leak", () => {
    const config = centernetConfig();
    seedParameters(3);
    const model = new FrameSegmenter(config.model);
    const params = model.namedParameters();
    expect([...model.stateDict().keys()].filter((name) => name.startsWith("backbone."))).toEqual([]);
    const optimizer = new AdamW(params, { lr: 1e-3, weightDecay: 0 });
    const images = tf.randomUniform([2, 64, 64, 3], 0, 1, "float32", 7) as tf.Tensor4D;
    const targets = boxTargets(2, 64);
    const probe = syntheticImage(64, 64);
    const backboneBefore = tf.tidy(() => Array.from(model.backbone.features(probe).res5.dataSync()));
    let before = 0;
    for (let step = 0; step < 3; step++) {
      const { value, grads } = tf.variableGrads(
        () => onlineLoss(model, images, targets, config.criterion, () => 0.5).loss,
        [...params.values()],
      );
      const named = new Map([...params].map(([name, v]) => [name, grads[v.name]] as const));
      // The pixel decoder's lateral conv on the stride-4 map (72 CenterNet channels) gets a gradient.
      const lateral = named.get("pixel_decoder.adapter_1.weight")!;
      expect(lateral.shape).toEqual([1, 1, 72, config.model.hiddenDim]);
      expect(tf.tidy(() => tf.max(tf.abs(lateral)).dataSync()[0])).toBeGreaterThan(0);
      optimizer.step(named);
      tf.dispose([value, ...Object.values(grads)]);
      if (step === 0) before = tf.memory().numTensors; // after the moments were created
    }
    expect(tf.memory().numTensors).toBe(before);
    const backboneAfter = tf.tidy(() => Array.from(model.backbone.features(probe).res5.dataSync()));
    expect(backboneAfter).toEqual(backboneBefore);
    optimizer.dispose();
    model.dispose();
    tf.dispose([images, probe, ...targets.map((t) => t.masks)]);
  });

  it("a model file holds no backbone weights and reloads to identical outputs", async () => {
    const config = centernetConfig();
    seedParameters(9);
    const model = new FrameSegmenter(config.model);
    const file = join(tmp, "model.safetensors");
    const info = { kind: "online", config, categoryIds: [1, 2], categoryNames: ["a", "b"] };
    await saveModelFile(file, model.stateDict(), info);
    const stored = await loadSafetensors(file);
    expect([...stored.tensors.keys()].sort()).toEqual([...model.stateDict().keys()].sort());
    expect([...stored.tensors.keys()].some((name) => name.startsWith("backbone."))).toBe(false);
    const storedValues = [...stored.tensors.values()].reduce((sum, t) => sum + t.size, 0);
    expect(statSync(file).size).toBeLessThan(4 * storedValues + 64 * 1024); // the header, not 4 MB of graph
    tf.dispose([...stored.tensors.values()]);

    const modelFile = await readModelFile(file);
    expect(modelFile.info.config.model.backbone).toBe("centernet-mbv3");
    const loaded = instantiateModel(modelFile, "online");
    tf.dispose([...modelFile.weights.values()]);
    const images = tf.randomUniform([1, 64, 64, 3], 0, 1, "float32", 11) as tf.Tensor4D;
    const a = model.eval().forward(images);
    const b = loaded.forward(images);
    for (const key of ["predLogits", "predMasks", "queryEmbed", "maskFeatures"] as const) {
      expect(Array.from(b[key].dataSync())).toEqual(Array.from(a[key].dataSync()));
    }
    disposeSegmenterOutput(a);
    disposeSegmenterOutput(b);
    images.dispose();
    model.dispose();
    loaded.dispose();
  });

  it("serves the offline model too: its file holds no backbone weights and reloads to identical outputs", async () => {
    seedParameters(4);
    const model = new OfflineVisModel({
      segmenter: centernetConfig().model,
      head: OFFLINE_HEAD_PRESETS.tiny,
    });
    expect([...model.stateDict().keys()].some((name) => name.startsWith("segmenter.backbone."))).toBe(false);
    const file = join(tmp, "offline.safetensors");
    await saveOfflineModelFile(file, model, [3, 7]);
    const modelFile = await readModelFile(file);
    const loaded = { model: instantiateModel(modelFile, "offline") };
    tf.dispose([...modelFile.weights.values()]);
    expect(loaded.model.config.segmenter.backbone).toBe("centernet-mbv3");
    const frames = tf.randomUniform([3, 64, 64, 3], 0, 1, "float32", 12) as tf.Tensor4D;
    const a = model.eval().forward(frames, 3);
    const b = loaded.model.forward(frames, 3);
    expect(Array.from(b.video.predLogits.dataSync())).toEqual(Array.from(a.video.predLogits.dataSync()));
    expect(Array.from(b.videoMasks[0].dataSync())).toEqual(Array.from(a.videoMasks[0].dataSync()));
    disposeOfflineOutput(a);
    disposeOfflineOutput(b);
    frames.dispose();
    model.dispose();
    loaded.model.dispose();
  });
});
