/** Mask2Former's Hungarian matcher: obvious hand-built cases and a golden from the PyTorch reference. */
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { hungarianMatch, matchingCost } from "../src/models/matcher.js";
import { initRuntime } from "../src/runtime/backend.js";

beforeAll(async () => {
  await initRuntime();
});

/** A [n, size, size] stack of masks: mask k covers rows [k·band, (k+1)·band). */
function bandMasks(n: number, size: number, logit = false): tf.Tensor3D {
  const band = size / n;
  const data = new Float32Array(n * size * size);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = y >= k * band && y < (k + 1) * band;
        data[(k * size + y) * size + x] = logit ? (inside ? 8 : -8) : inside ? 1 : 0;
      }
    }
  }
  return tf.tensor3d(data, [n, size, size]);
}

function gridCoords(side: number): Float32Array {
  const coords = new Float32Array(side * side * 2);
  for (let i = 0; i < side * side; i++) {
    coords[2 * i] = ((i % side) + 0.5) / side;
    coords[2 * i + 1] = (Math.floor(i / side) + 0.5) / side;
  }
  return coords;
}

describe("hungarianMatch", () => {
  it("matches each target to the query predicting its mask (masks only)", () => {
    // Queries predict bands 0..3; targets are bands 2, 0, 3 → queries 0, 2, 3 with targets 1, 0, 2.
    const predMasks = bandMasks(4, 16, true).expandDims(0) as tf.Tensor4D;
    const all = bandMasks(4, 16);
    const targetMasks = tf.gather(all, [2, 0, 3]) as tf.Tensor3D;
    const predLogits = tf.zeros([1, 4, 3]) as tf.Tensor3D;
    const [match] = hungarianMatch(predLogits, predMasks, [{ labels: [0, 1, 0], masks: targetMasks }], {
      costClass: 0,
      pointCoords: [gridCoords(8)],
    });
    expect(match.queryIndices).toEqual([0, 2, 3]);
    expect(match.targetIndices).toEqual([1, 0, 2]);
  });

  it("uses the class cost when the masks are identical", () => {
    const predMasks = tf.zeros([1, 3, 8, 8]) as tf.Tensor4D;
    const targetMasks = tf.ones([2, 8, 8]) as tf.Tensor3D;
    // Query 0 is sure of class 2, query 2 of class 0; query 1 predicts "no object" (class 3).
    const predLogits = tf.tensor3d([
      [
        [0, 0, 9, 0],
        [0, 0, 0, 9],
        [9, 0, 0, 0],
      ],
    ]);
    const [match] = hungarianMatch(predLogits, predMasks, [{ labels: [0, 2], masks: targetMasks }], {
      rng: () => 0.5,
      numPoints: 4,
    });
    expect(match.queryIndices).toEqual([0, 2]);
    expect(match.targetIndices).toEqual([1, 0]);
  });

  it("returns empty matches for an image without targets", () => {
    const matches = hungarianMatch(
      tf.zeros([1, 3, 2]) as tf.Tensor3D,
      tf.zeros([1, 3, 4, 4]) as tf.Tensor4D,
      [{ labels: [], masks: tf.zeros([0, 4, 4]) as tf.Tensor3D }],
      { rng: Math.random },
    );
    expect(matches).toEqual([{ queryIndices: [], targetIndices: [] }]);
  });

  it("reproduces the PyTorch reference cost matrix and assignment", () => {
    const g = JSON.parse(readFileSync("test/golden/nn-matcher.json", "utf8"));
    const predLogits = tf.tensor3d(g.pred_logits);
    const predMasks = tf.tensor4d(g.pred_masks);
    const targets = g.images.map((image: { labels: number[]; masks: number[][][] }) => ({
      labels: image.labels,
      masks: tf.tensor3d(image.masks),
    }));
    const pointCoords = g.images.map((image: { coords: number[][] }) =>
      Float32Array.from(image.coords.flat()),
    );
    g.images.forEach((image: { cost: number[][] }, b: number) => {
      const logits = predLogits.slice([b, 0, 0], [1, -1, -1]).squeeze([0]) as tf.Tensor2D;
      const masks = predMasks.slice([b, 0, 0, 0], [1, -1, -1, -1]).squeeze([0]) as tf.Tensor3D;
      const cost = matchingCost(logits, masks, targets[b], pointCoords[b]);
      let worst = 0;
      cost.forEach((row, q) =>
        row.forEach((v, t) => (worst = Math.max(worst, Math.abs(v - image.cost[q][t])))),
      );
      expect(worst).toBeLessThan(1e-5);
    });
    const matches = hungarianMatch(predLogits, predMasks, targets, { pointCoords });
    matches.forEach((match, b) => {
      expect(match.queryIndices).toEqual(g.images[b].query_indices);
      expect(match.targetIndices).toEqual(g.images[b].target_indices);
    });
  });

  it("rejects labels outside the class range", () => {
    expect(() =>
      hungarianMatch(
        tf.zeros([1, 2, 3]) as tf.Tensor3D,
        tf.zeros([1, 2, 4, 4]) as tf.Tensor4D,
        [{ labels: [5], masks: tf.zeros([1, 4, 4]) as tf.Tensor3D }],
        { rng: Math.random },
      ),
    ).toThrow(/labels\[0\]: matcher: target label 5 outside \[0, 3\)/);
  });
});
