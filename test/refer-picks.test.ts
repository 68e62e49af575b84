/** bench/refer-picks.ts: which object a referring model's mask covers, per frame. */
import { describe, expect, it } from "vitest";
import { framePick, summarisePicks } from "../bench/refer-picks.js";

describe("refer picks", () => {
  // A 1×8 frame: object 1 on pixels 0–1, object 2 on 2–5, void (255) on 6, background on 7.
  const labels = Uint8Array.from([1, 1, 2, 2, 2, 2, 255, 0]);

  it("compares the share of the target's pixels covered with the most covered other object's", () => {
    const mask = Uint8Array.from([1, 0, 1, 1, 1, 0, 1, 1]);
    expect(framePick(labels, mask, 1)).toEqual({ target: 0.5, other: 0.75, objects: 2 });
    expect(framePick(labels, mask, 2)).toEqual({ target: 0.75, other: 0.5, objects: 2 });
  });

  it("skips frames without the target or without another object", () => {
    const mask = new Uint8Array(8);
    expect(framePick(labels, mask, 3)).toBeUndefined();
    expect(framePick(Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0]), mask, 1)).toBeUndefined();
  });

  it("summarises: coverage means, right picks (strictly higher) and the chance of a random pick", () => {
    const summary = summarisePicks("all", [
      { target: 1, other: 0, objects: 2 },
      { target: 0.5, other: 0.5, objects: 4 },
    ]);
    expect(summary).toEqual({
      group: "all",
      frames: 2,
      targetCoverage: 0.75,
      otherCoverage: 0.25,
      pickRate: 0.5,
      chancePickRate: 0.375,
    });
  });
});
