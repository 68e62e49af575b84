import * as tf from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  constantLr,
  cosineLr,
  polyLr,
  scheduleFromConfig,
  stepLr,
  withWarmup,
} from "../src/train/schedule.js";
import { AdamW, clipByGlobalNorm, globalNorm, isNormOrBias, type GradMap } from "../src/train/optim.js";
import { resolveVisConfig } from "../src/models/config.js";
import { visOptimizer } from "../src/train/run.js";

interface Golden {
  config: {
    lr: number;
    betas: [number, number];
    eps: number;
    weight_decay: number;
    max_norm: number;
    groups: { name: string; lr_scale: number; weight_decay: number }[];
  };
  shapes: Record<string, number[]>;
  initial: Record<string, number[]>;
  steps: { lr: number; grads: Record<string, number[] | null>; grad_norm: number }[];
  final: Record<string, number[]>;
  exp_avg: Record<string, number[]>;
  exp_avg_sq: Record<string, number[]>;
  step_count: Record<string, number>;
}

const golden = JSON.parse(readFileSync("test/golden/adamw.json", "utf8")) as Golden;

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

function makeParams(): Map<string, tf.Variable> {
  return new Map(
    Object.entries(golden.initial).map(([name, values]) => [
      name,
      tf.variable(tf.tensor(values, golden.shapes[name]), true, `optim-test/${name}/${Math.random()}`),
    ]),
  );
}

function makeOptimizer(params: Map<string, tf.Variable>): AdamW {
  const { config } = golden;
  return new AdamW(params, {
    lr: config.lr,
    betas: config.betas,
    eps: config.eps,
    weightDecay: config.weight_decay,
    groups: [
      { name: "backbone", match: (name) => name.startsWith("backbone."), lrScale: 0.1 },
      { name: "no_decay", match: isNormOrBias, weightDecay: 0 },
    ],
  });
}

function runGoldenSteps(optimizer: AdamW, steps: Golden["steps"]): number[] {
  const norms: number[] = [];
  for (const step of steps) {
    const grads: GradMap = new Map();
    for (const [name, values] of Object.entries(step.grads)) {
      if (values) grads.set(name, tf.tensor(values, golden.shapes[name]));
    }
    const { grads: clipped, norm } = clipByGlobalNorm(grads, golden.config.max_norm);
    norms.push(norm.dataSync()[0]);
    optimizer.step(clipped, step.lr);
    tf.dispose([...grads.values(), ...clipped.values(), norm]);
  }
  return norms;
}

describe("AdamW against torch.optim.AdamW", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("matches torch after 6 steps with groups, weight decay, clipping and a missing gradient", () => {
    const params = makeParams();
    const optimizer = makeOptimizer(params);
    expect(optimizer.groupOf("backbone.conv.weight")).toEqual({
      name: "backbone",
      lrScale: 0.1,
      weightDecay: 0.05,
    });
    expect(optimizer.groupOf("head.linear.bias")).toEqual({ name: "no_decay", lrScale: 1, weightDecay: 0 });
    expect(optimizer.groupOf("head.linear.weight")).toEqual({
      name: "default",
      lrScale: 1,
      weightDecay: 0.05,
    });

    const norms = runGoldenSteps(optimizer, golden.steps);
    for (let i = 0; i < norms.length; i++) {
      expect(Math.abs(norms[i] - golden.steps[i].grad_norm)).toBeLessThan(1e-5 * golden.steps[i].grad_norm);
    }
    for (const [name, param] of params) {
      expect(maxAbsDiff(param.dataSync(), golden.final[name])).toBeLessThan(1e-6);
    }
    const state = optimizer.getState();
    expect(state.steps).toEqual(golden.step_count);
    for (const name of params.keys()) {
      expect(maxAbsDiff(state.tensors.get(`exp_avg.${name}`)!.dataSync(), golden.exp_avg[name])).toBeLessThan(
        1e-6,
      );
      expect(
        maxAbsDiff(state.tensors.get(`exp_avg_sq.${name}`)!.dataSync(), golden.exp_avg_sq[name]),
      ).toBeLessThan(1e-6);
    }
    optimizer.dispose();
    tf.dispose([...params.values()]);
  });

  it("continues exactly after its state is exported and imported into a fresh optimiser", () => {
    const paramsA = makeParams();
    const optimizerA = makeOptimizer(paramsA);
    runGoldenSteps(optimizerA, golden.steps.slice(0, 3));

    // Snapshot everything, as a checkpoint would, then continue in a brand-new optimiser.
    const snapshot = optimizerA.getState();
    const copies = new Map([...snapshot.tensors].map(([key, t]) => [key, t.clone()]));
    const paramsB = new Map(
      [...paramsA].map(([name, p]) => [
        name,
        tf.variable(p.clone(), true, `optim-test-b/${name}/${Math.random()}`),
      ]),
    );
    const optimizerB = makeOptimizer(paramsB);
    optimizerB.setState({ steps: { ...snapshot.steps }, tensors: copies });
    tf.dispose([...copies.values()]);

    runGoldenSteps(optimizerA, golden.steps.slice(3));
    runGoldenSteps(optimizerB, golden.steps.slice(3));
    for (const [name, param] of paramsB) {
      expect(Array.from(param.dataSync())).toEqual(Array.from(paramsA.get(name)!.dataSync()));
      expect(maxAbsDiff(param.dataSync(), golden.final[name])).toBeLessThan(1e-6);
    }
    optimizerA.dispose();
    optimizerB.dispose();
    tf.dispose([...paramsA.values(), ...paramsB.values()]);
  });

  it("rejects state that does not fit the parameters", () => {
    const params = makeParams();
    const optimizer = makeOptimizer(params);
    const wrong = tf.zeros([5]);
    expect(() =>
      optimizer.setState(
        { steps: { "head.linear.bias": 1 }, tensors: new Map([["exp_avg.head.linear.bias", wrong]]) },
        "ckpt.safetensors",
      ),
    ).toThrow(/ckpt\.safetensors: exp_avg\.head\.linear\.bias: shape \[5\] does not match parameter \[4\]/);
    expect(() => optimizer.setState({ steps: { nope: 1 }, tensors: new Map() })).toThrow(
      /unknown parameter "nope"/,
    );
    expect(() => new AdamW(params, { betas: [1, 0.999] })).toThrow(/betas/);
    tf.dispose([wrong, ...params.values()]);
    optimizer.dispose();
  });

  it("clips only when the global norm exceeds the limit", () => {
    const grads: GradMap = new Map([
      ["a", tf.tensor([3, 0])],
      ["b", tf.tensor([[4]])],
    ]);
    expect(globalNorm(grads.values()).dataSync()[0]).toBeCloseTo(5, 6);
    const big = clipByGlobalNorm(grads, 1);
    expect(big.norm.dataSync()[0]).toBeCloseTo(5, 6);
    expect(Array.from(big.grads.get("a")!.dataSync())).toEqual([expect.closeTo(0.6, 6), 0]);
    const small = clipByGlobalNorm(grads, 10);
    expect(Array.from(small.grads.get("b")!.dataSync())).toEqual([4]);
    tf.dispose([...grads.values(), ...big.grads.values(), ...small.grads.values(), big.norm, small.norm]);
  });

  it("leaks no tensors per step", () => {
    const params = makeParams();
    const optimizer = makeOptimizer(params);
    runGoldenSteps(optimizer, golden.steps.slice(0, 1));
    const before = tf.memory().numTensors;
    runGoldenSteps(optimizer, golden.steps.slice(1));
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    tf.dispose([...params.values()]);
  });
});

describe("learning-rate schedules", () => {
  const close = (values: number[], expected: number[]) =>
    values.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));

  it("step decay applies gamma at each milestone (torch MultiStepLR)", () => {
    const schedule = stepLr({ lr: 0.1, milestones: [3, 5], gamma: 0.5 });
    close([0, 2, 3, 4, 5, 100].map(schedule), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
  });

  it("cosine goes from lr to minLr over totalSteps and stays there", () => {
    const schedule = cosineLr({ lr: 1, minLr: 0.1, totalSteps: 4 });
    const mid = 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4));
    close([0, 1, 2, 4, 9].map(schedule), [1, mid, 0.55, 0.1, 0.1]);
  });

  it("poly decays to zero with power 0.9", () => {
    const schedule = polyLr({ lr: 2, totalSteps: 10 });
    close([0, 5, 10].map(schedule), [2, 2 * 0.5 ** 0.9, 0]);
  });

  it("warmup ramps linearly into the inner schedule without shifting it", () => {
    const schedule = withWarmup(stepLr({ lr: 0.1, milestones: [6] }), { steps: 4, startFactor: 0.2 });
    close([0, 1, 2, 4, 5, 6].map(schedule), [0.02, 0.04, 0.06, 0.1, 0.1, 0.01]);
    const cosine = withWarmup(cosineLr({ lr: 1, totalSteps: 10 }), { steps: 2, startFactor: 0 });
    close([0, 1, 2].map(cosine), [
      0,
      0.5 * cosineLr({ lr: 1, totalSteps: 10 })(1),
      cosineLr({ lr: 1, totalSteps: 10 })(2),
    ]);
  });

  it("builds schedules from config and names the field on bad input", () => {
    const schedule = scheduleFromConfig({ name: "cosine", lr: 1e-3, minLr: 1e-5, warmupSteps: 10 }, 100);
    expect(schedule(0)).toBeCloseTo(1e-6, 15);
    expect(schedule(100)).toBeCloseTo(1e-5, 15);
    expect(constantLr(3)(1000)).toBe(3);
    expect(() => scheduleFromConfig({ name: "linear" as never, lr: 1 }, 10, "run.json")).toThrow(
      /run\.json: schedule\.name: unknown schedule "linear"/,
    );
    expect(() => scheduleFromConfig({ name: "step", lr: 1, milestones: [5, 2] }, 10, "run.json")).toThrow(
      /run\.json: schedule: milestones must be increasing/,
    );
  });
});

describe("visOptimizer groups", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("gives the config's lrScales prefixes their own groups after the backbone's", () => {
    const config = resolveVisConfig({
      optim: { backboneLrScale: 0.1, lrScales: [{ prefix: "mining.context.", scale: 10 }] },
    });
    const params = new Map(
      [
        "backbone.conv.weight",
        "mining.context.project.weight",
        "mining.context.project.bias",
        "head.weight",
      ].map((name) => [name, tf.variable(tf.zeros(name.endsWith("bias") ? [2] : [2, 2]), true, name)]),
    );
    const optimizer = visOptimizer(params, config.optim, "backbone.");
    const wd = config.optim.weightDecay;
    expect(optimizer.groupOf("backbone.conv.weight")).toEqual({
      name: "backbone",
      lrScale: 0.1,
      weightDecay: wd,
    });
    expect(optimizer.groupOf("mining.context.project.weight")).toEqual({
      name: "mining.context.",
      lrScale: 10,
      weightDecay: wd,
    });
    expect(optimizer.groupOf("mining.context.project.bias")).toEqual({
      name: "mining.context._no_decay",
      lrScale: 10,
      weightDecay: 0,
    });
    expect(optimizer.groupOf("head.weight")).toEqual({ name: "default", lrScale: 1, weightDecay: wd });
    for (const p of params.values()) p.dispose();
  });

  it("names the bad lrScales entry in one line", () => {
    const bad = (lrScales: unknown) => () => resolveVisConfig({ optim: { lrScales } }, "run.json");
    expect(bad({ "mining.": 2 })).toThrow(/run\.json: optim\.lrScales: must be a list/);
    expect(bad([{ prefix: "", scale: 2 }])).toThrow(
      /optim\.lrScales\[0\]\.prefix: must be a non-empty string/,
    );
    expect(bad([{ prefix: "a.", scale: -1 }])).toThrow(/optim\.lrScales\[0\]\.scale/);
    expect(bad([JSON.parse('{"prefix": "a.", "scale": 1, "__proto__": {"x": 1}}')])).toThrow(
      /optim\.lrScales\[0\]: must be \{prefix, scale\}/,
    );
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
