/**
 * Parity with torchvision: the same weights and input (generated on both sides from an integer hash,
 * see scripts/nn_golden.py) must give C2–C5 within 1e-4 of PyTorch. Weights go through a torchvision
 * layout safetensors file and loadTorchvisionResnet, the path real checkpoints take.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backboneGroups, createResnet, RESNET_CONFIGS, ResNet } from "../src/nn/resnet.js";
import { loadSafetensors, loadTorchvisionResnet } from "../src/nn/safetensors.js";
import { saveSafetensors } from "../src/nn/safetensors-file.js";
import { initRuntime } from "../src/runtime/backend.js";

function fnv1a(name: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(name, "utf8")) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** The hash of scripts/nn_golden.py: uniform [0, 1) values, bit-exact with numpy. */
function hashUniform(count: number, seed: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let x = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[i] = x / 4294967296;
  }
  return out;
}

function valueRange(name: string, shape: number[]): [number, number] {
  if (name === "input") return [-2, 2];
  if (name.endsWith("running_var")) return [0.5, 1.5];
  if (name.endsWith("running_mean") || name.endsWith("bias")) return [-0.1, 0.1];
  if (shape.length === 1) return [0.5, 1.0];
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const bound = Math.sqrt(3 / fanIn);
  return [-bound, bound];
}

/** A tensor in PyTorch layout filled by the shared formula. */
function hashedTensor(name: string, shape: number[]): tf.Tensor {
  const [lo, hi] = valueRange(name, shape);
  const count = shape.reduce((a, b) => a * b, 1);
  const u = hashUniform(count, fnv1a(name));
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = lo + (hi - lo) * u[i];
  return tf.tensor(values, shape);
}

/** A torchvision-layout state dict for `model` (OIHW conv weights, num_batches_tracked counters). */
function torchvisionStateDict(model: ResNet): Map<string, tf.Tensor> {
  const state = new Map<string, tf.Tensor>();
  for (const [name, tensor] of model.stateDict()) {
    const s = tensor.shape;
    const torchShape = s.length === 4 ? [s[3], s[2], s[0], s[1]] : s;
    state.set(name, hashedTensor(name, torchShape));
    if (name.endsWith("running_var")) {
      state.set(name.replace("running_var", "num_batches_tracked"), tf.scalar(0, "int32"));
    }
  }
  return state;
}

let dir: string;
let golden: Map<string, tf.Tensor>;
const torchvisionKeys: Record<string, [string, number[]][]> = JSON.parse(
  readFileSync("test/golden/nn-resnet-keys.json", "utf8"),
);

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  dir = mkdtempSync(join(tmpdir(), "vidseg-resnet-"));
  golden = (await loadSafetensors("test/golden/nn-resnet.safetensors")).tensors;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cases: ["resnet18" | "resnet50", number, number][] = [
  ["resnet18", 64, 48],
  ["resnet50", 32, 48],
];

describe("ResNet parity with torchvision (wasm, forward)", () => {
  for (const [arch, height, width] of cases) {
    it(`${arch}: C2–C5 within 1e-4 of PyTorch`, async () => {
      const model = createResnet(arch);
      // The state dict carries torchvision's names and (after OIHW → HWIO) shapes, fc aside.
      const ours = [...model.stateDict()].map(([name, t]) => {
        const s = t.shape;
        return [name, s.length === 4 ? [s[3], s[2], s[0], s[1]] : s];
      });
      const theirs = torchvisionKeys[arch].filter(
        ([name]) => !name.startsWith("fc.") && !name.endsWith("num_batches_tracked"),
      );
      expect(new Map(ours as [string, number[]][])).toEqual(new Map(theirs));
      const file = join(dir, `${arch}.safetensors`);
      const state = torchvisionStateDict(model);
      await saveSafetensors(file, state);
      state.forEach((t) => t.dispose());
      await loadTorchvisionResnet(model, file);
      const before = tf.memory().numTensors;
      const input = tf.tidy(() => hashedTensor("input", [1, 3, height, width]).transpose([0, 2, 3, 1]));
      const features = model.forward(input as tf.Tensor4D);
      const diffs: Record<string, number> = {};
      for (const level of ["res2", "res3", "res4", "res5"] as const) {
        const expected = golden.get(`${arch}.${level}`)!;
        expect(features[level].shape).toEqual(expected.shape);
        diffs[level] = tf.tidy(() => tf.max(tf.abs(tf.sub(features[level], expected))).dataSync()[0]);
      }
      console.log(`${arch} max |diff|`, diffs);
      for (const diff of Object.values(diffs)) expect(diff).toBeLessThan(1e-4);
      input.dispose();
      Object.values(features).forEach((t) => t.dispose());
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }

  it("has torchvision's parameter count with the classifier and regular BN", () => {
    const r18 = createResnet("resnet18", { numClasses: 1000, norm: "BN" });
    // torchvision resnet18: 11,689,512 parameters (BN weight/bias included).
    expect(r18.parameterCount()).toBe(11_689_512);
    expect(r18.namedParameters().has("fc.weight")).toBe(true);
    expect(r18.namedBuffers().has("layer4.1.bn2.running_var")).toBe(true);
    expect(r18.namedParameters().has("layer4.1.bn2.weight")).toBe(true);
    r18.dispose();
    const small = new ResNet(RESNET_CONFIGS.resnetSmall);
    expect(small.outChannels).toEqual([16, 32, 64, 128]);
    small.dispose();
  });

  it("GN backbone: GroupNorm everywhere (trainable, no running statistics), output invariant to input scale", () => {
    expect([16, 32, 64, 128, 256, 2048].map(backboneGroups)).toEqual([4, 8, 16, 32, 32, 32]);
    const model = createResnet("resnetSmall", { norm: "GN" });
    expect(model.namedBuffers().size).toBe(0);
    expect(model.namedParameters().has("layer2.0.downsample.1.weight")).toBe(true);
    expect(model.namedParameters().get("layer4.1.bn2.bias")!.shape).toEqual([128]);
    // The stem conv has no bias and GroupNorm removes any scale, so c·x and x give the same features.
    const x = tf.randomNormal([1, 64, 64, 3], 0, 1, "float32", 7) as tf.Tensor4D;
    const scaled = tf.mul(x, 10) as tf.Tensor4D;
    const a = model.forward(x);
    const b = model.forward(scaled);
    for (const key of ["res2", "res5"] as const) {
      const diff = tf.max(tf.abs(tf.sub(a[key], b[key]))).dataSync()[0];
      const scale = tf.max(tf.abs(a[key])).dataSync()[0];
      expect(scale).toBeGreaterThan(0.1);
      expect(diff / scale).toBeLessThan(1e-3);
    }
    tf.dispose([x, scaled, ...Object.values(a), ...Object.values(b)]);
    model.dispose();
  });

  it("rejects a state dict with a wrong shape, naming the file and tensor", async () => {
    const model = createResnet("resnetSmall");
    const state = torchvisionStateDict(model);
    state.set("layer1.0.conv1.weight", tf.zeros([16, 16, 1, 1]));
    const file = join(dir, "bad.safetensors");
    await saveSafetensors(file, state);
    await expect(loadTorchvisionResnet(model, file)).rejects.toThrow(
      /bad\.safetensors: layer1\.0\.conv1\.weight: shape mismatch/,
    );
    model.dispose();
  });
});
