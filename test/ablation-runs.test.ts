import { describe, expect, it } from "vitest";
import { flagArgs, inLanes } from "../bench/ablation-runs.js";

const tick = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe("the ablation benches' lanes", () => {
  it("run every job once, in order of taking, never more than `lanes` at a time", async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const ended: number[] = [];
    await inLanes([30, 5, 5, 5, 20, 1], 2, async (ms) => {
      started.push(ms);
      most = Math.max(most, ++running);
      await tick(ms);
      running--;
      ended.push(ms);
    });
    expect(started).toEqual([30, 5, 5, 5, 20, 1]);
    expect(ended.sort((a, b) => a - b)).toEqual([1, 5, 5, 5, 20, 30]);
    expect(most).toBe(2);
  });

  it("take no job after a failure, and throw the first failure once the running jobs have ended", async () => {
    const started: string[] = [];
    const ended: string[] = [];
    const run = inLanes(["slow", "fails", "never", "never either"], 2, async (job) => {
      started.push(job);
      await tick(job === "slow" ? 30 : 1);
      if (job === "fails") throw new Error("the run of fails failed");
      ended.push(job);
    });
    await expect(run).rejects.toThrow("the run of fails failed");
    expect(started).toEqual(["slow", "fails"]);
    expect(ended).toEqual(["slow"]);
  });

  it("one lane at the least", async () => {
    const seen: number[] = [];
    await inLanes([1, 2], 0, async (job) => void seen.push(job));
    expect(seen).toEqual([1, 2]);
  });

  it("a child's flags: set values only, in order", () => {
    expect(flagArgs({ data: "d", steps: 3, split: undefined, only: "full-s2" })).toEqual([
      "--data",
      "d",
      "--steps",
      "3",
      "--only",
      "full-s2",
    ]);
  });
});
