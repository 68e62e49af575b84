import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Module, ModuleList } from "../src/nn/module.js";
import { VidsegError } from "../src/core/errors.js";

class Leaf extends Module {
  readonly weight: tf.Variable;
  readonly runningMean: tf.Variable;
  constructor(size: number) {
    super();
    this.weight = this.addParameter("weight", tf.fill([size, 2], 1));
    this.runningMean = this.addBuffer("running_mean", tf.zeros([size]));
  }
}

class Tree extends Module {
  readonly stem = this.addModule("stem", new Leaf(3));
  readonly blocks = this.addModule("blocks", new ModuleList([new Leaf(1), new Leaf(2)]));
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("Module", () => {
  it("names parameters and buffers with dotted torchvision-style paths", () => {
    const tree = new Tree();
    expect([...tree.namedParameters().keys()]).toEqual(["stem.weight", "blocks.0.weight", "blocks.1.weight"]);
    expect([...tree.namedBuffers().keys()]).toEqual([
      "stem.running_mean",
      "blocks.0.running_mean",
      "blocks.1.running_mean",
    ]);
    expect(tree.parameterCount()).toBe(12);
    expect(tree.stateDict().size).toBe(6);
    tree.dispose();
  });

  it("freezing removes parameters from namedParameters but keeps them in the state dict", () => {
    const tree = new Tree();
    tree.blocks.setTrainable(false);
    expect([...tree.namedParameters().keys()]).toEqual(["stem.weight"]);
    expect(tree.namedParameters({ includeFrozen: true }).size).toBe(3);
    expect(tree.stateDict().size).toBe(6);
    tree.dispose();
  });

  it("loads a state dict in place and round-trips values", () => {
    const a = new Tree();
    const b = new Tree();
    const weight = a.stem.weight;
    const values = new Map<string, tf.Tensor>();
    for (const [name, tensor] of a.stateDict())
      values.set(name, tf.randomNormal(tensor.shape, 0, 1, "float32", 7));
    a.loadStateDict(values);
    expect(a.stem.weight).toBe(weight);
    b.loadStateDict(a.stateDict());
    for (const [name, tensor] of b.stateDict()) {
      expect(Array.from(tensor.dataSync())).toEqual(Array.from(values.get(name)!.dataSync()));
    }
    a.dispose();
    b.dispose();
  });

  it("rejects missing, unexpected and mis-shaped entries with a VidsegError naming them", () => {
    const tree = new Tree();
    const full = new Map(tree.stateDict());
    const missing = new Map(full);
    missing.delete("blocks.1.weight");
    expect(() => tree.loadStateDict(missing, { file: "w.safetensors" })).toThrow(
      /w\.safetensors: missing name blocks\.1\.weight/,
    );
    expect(tree.loadStateDict(missing, { strict: false }).missing).toEqual(["blocks.1.weight"]);
    const extra = new Map(full).set("head.bias", tf.zeros([1]));
    expect(() => tree.loadStateDict(extra)).toThrow(/unexpected name head\.bias/);
    const wrong = new Map(full).set("stem.weight", tf.zeros([2, 3]));
    expect(() => tree.loadStateDict(wrong)).toThrow(VidsegError);
    expect(() => tree.loadStateDict(wrong)).toThrow(
      /stem\.weight: shape mismatch: expected \[3,2\], got \[2,3\]/,
    );
    tree.dispose();
  });

  it("switches train/eval mode recursively", () => {
    const tree = new Tree();
    expect(tree.blocks.at(1).training).toBe(true);
    tree.eval();
    expect([...tree.namedModules().values()].every((m) => !m.training)).toBe(true);
    tree.dispose();
  });
});
