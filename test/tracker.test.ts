import { describe, expect, it } from "vitest";
import { VidsegError } from "../src/core/errors.js";
import { associate, boxIou, Tracker, type QueryOutput, type TrackerOptions } from "../src/infer/tracker.js";
import { maskBoxes, type FramePrediction } from "../src/processing/postprocess.js";
import { decode, encode, fromCoco } from "../src/mask/rle.js";
import { mulberry32 } from "./helpers/random.js";

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function unit(v: number[]): Float32Array {
  const norm = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / norm);
}

function randomUnit(random: () => number, dim: number): Float32Array {
  return unit(Array.from({ length: dim }, () => gaussian(random)));
}

function dot(a: Float32Array, b: Float32Array): number {
  return a.reduce((sum, x, i) => sum + x * b[i], 0);
}

/** A noisy, re-normalised observation of a prototype. */
function observe(random: () => number, prototype: Float32Array, sigma: number): Float32Array {
  return unit(Array.from(prototype, (x) => x + sigma * gaussian(random)));
}

/** Class probabilities peaked on one class. */
function probs(numClasses: number, classIndex: number, peak = 0.8): Float32Array {
  const p = new Float32Array(numClasses).fill((1 - peak) / (numClasses - 1));
  p[classIndex] = peak;
  return p;
}

/** An H×W mask with a filled rectangle. */
function boxMask(h: number, w: number, x0: number, y0: number, bw: number, bh: number): Uint8Array {
  const mask = new Uint8Array(h * w);
  for (let y = y0; y < Math.min(h, y0 + bh); y++)
    for (let x = Math.max(0, x0); x < Math.min(w, x0 + bw); x++) mask[y * w + x] = 1;
  return mask;
}

describe("associate (Hungarian on cosine similarity)", () => {
  it("finds the assignment maximising total similarity where greedy matching fails", () => {
    // Similarities: c0–t0 0.7, c0–t1 0.65, c1–t0 0.68, c1–t1 0 (below minSimilarity). Greedy takes the
    // best pair c0–t0 and leaves c1 unmatched; the optimum is c0–t1 + c1–t0.
    const t0 = unit([1, 0, 0]);
    const t1 = unit([0, 1, 0]);
    const c0 = unit([0.7, 0.65, Math.sqrt(1 - 0.49 - 0.4225)]);
    const c1 = unit([0.68, 0, Math.sqrt(1 - 0.68 * 0.68)]);
    expect(dot(c0, t0)).toBeCloseTo(0.7, 6);
    expect(dot(c0, t0)).toBeGreaterThan(Math.max(dot(c0, t1), dot(c1, t0), dot(c1, t1)));
    const { trackOf, similarity } = associate([c0, c1], [t0, t1], 0.5);
    expect(trackOf).toEqual([1, 0]);
    expect(similarity[0]).toBeCloseTo(dot(c0, t1), 6);
    expect(similarity[1]).toBeCloseTo(dot(c1, t0), 6);
  });

  it("leaves candidates unmatched below minSimilarity, and handles rectangular and empty inputs", () => {
    const a = unit([1, 0]);
    const b = unit([0, 1]);
    const nearA = unit([1, 0.1]);
    expect(associate([nearA, b], [a], 0.5).trackOf).toEqual([0, -1]);
    expect(associate([nearA], [b, a], 0.5).trackOf).toEqual([1]);
    expect(associate([b], [a], 0.5).trackOf).toEqual([-1]);
    expect(associate([], [a], 0.5).trackOf).toEqual([]);
    expect(associate([a], [], 0.5).trackOf).toEqual([-1]);
  });
});

describe("Tracker", () => {
  const H = 12;
  const W = 24;

  it("keeps identities of two look-alike objects that cross paths and one that is occluded for several frames", () => {
    const random = mulberry32(7);
    const dim = 16;
    const protoA = randomUnit(random, dim);
    // B: 0.9 cosine to A — close, but distinguishable against noise of σ = 0.05 per dimension.
    const r = randomUnit(random, dim);
    const u = unit(Array.from(r, (x, i) => x - dot(r, protoA) * protoA[i])); // ⟂ protoA
    const protoB = unit(Array.from(protoA, (x, i) => 0.9 * x + Math.sqrt(1 - 0.81) * u[i]));
    const protoC = randomUnit(random, dim);
    expect(dot(protoA, protoB)).toBeCloseTo(0.9, 5);

    const tracker = new Tracker({ maxGap: 8, momentum: 0.7, minSimilarity: 0.5, scoreThreshold: 0.5 });
    const idOf: Record<string, Set<number>> = { A: new Set(), B: new Set(), C: new Set() };
    const frames = 40;
    for (let t = 0; t < frames; t++) {
      // A moves right, B moves left; they overlap around t = 12 (crossing paths).
      const present: { name: string; proto: Float32Array; x: number; classIndex: number }[] = [
        { name: "A", proto: protoA, x: t, classIndex: 0 },
      ];
      const bOccluded = t >= 15 && t < 22; // 7 frames, within maxGap
      if (!bOccluded) present.push({ name: "B", proto: protoB, x: 24 - t, classIndex: 0 });
      if (t >= 25) present.push({ name: "C", proto: protoC, x: 5, classIndex: 2 });
      // Query slots carry no identity: the order of the objects' queries changes from frame to frame.
      if (t % 3 === 1 || (t >= 10 && t < 15)) present.reverse();
      const queries: QueryOutput[] = present.map((object) => ({
        embedding: observe(random, object.proto, 0.05),
        classProbs: probs(3, object.classIndex),
        score: 0.9,
        mask: boxMask(H, W, object.x, 2, 4, 6),
      }));
      // Background queries: low score, never candidates.
      for (let q = 0; q < 5; q++) {
        queries.push({
          embedding: randomUnit(random, dim),
          classProbs: probs(3, 1, 0.4),
          score: 0.1,
          mask: () => new Uint8Array(H * W),
        });
      }
      const instances = tracker.update(queries, { height: H, width: W });
      expect(instances).toHaveLength(present.length);
      for (const instance of instances) idOf[present[instance.queryIndex].name].add(instance.trackId);
    }
    expect([...idOf.A]).toEqual([1]);
    expect([...idOf.B]).toEqual([2]);
    expect([...idOf.C]).toEqual([3]);
    expect(tracker.liveTrackCount).toBe(3);
  });

  it("plain previous-frame matching (momentum 0) still tracks well-separated objects", () => {
    const random = mulberry32(3);
    const protos = [randomUnit(random, 8), randomUnit(random, 8)];
    const tracker = new Tracker({ momentum: 0, mode: "stream" });
    for (let t = 0; t < 20; t++) {
      const order = t % 2 === 0 ? [0, 1] : [1, 0];
      const instances = tracker.update(
        order.map((k) => ({
          embedding: observe(random, protos[k], 0.02),
          classProbs: probs(2, k),
          score: 0.8,
          mask: new Uint8Array(0),
        })),
      );
      for (const instance of instances) expect(instance.trackId).toBe(order[instance.queryIndex] + 1);
    }
  });

  it("the box cue's boxes: a mask's positive logits, in fractions of the frame; their IoU", () => {
    // Two queries on a 4×8 logit map: query 0 positive on columns 2–5 of rows 1–2, query 1 nowhere.
    const logits = new Float32Array(2 * 4 * 8).fill(-1);
    for (const y of [1, 2]) for (let x = 2; x <= 5; x++) logits[y * 8 + x] = 0.5;
    const prediction = { numQueries: 2, maskHeight: 4, maskWidth: 8, maskLogits: logits } as FramePrediction;
    expect(Array.from(maskBoxes(prediction))).toEqual([2 / 8, 1 / 4, 6 / 8, 3 / 4, 0, 0, 0, 0]);
    expect(boxIou([0, 0, 0.5, 0.5], [0.25, 0, 0.75, 0.5])).toBeCloseTo(1 / 3, 12);
    expect(boxIou([0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5])).toBe(0); // touching
    expect(boxIou([0, 0, 0.5, 0.5], [0, 0, 0, 0])).toBe(0); // empty
  });

  it("with the box cue, an object whose embedding dips stays with the track where it is", () => {
    // Two look-alikes side by side (boxes L and R); in frame 1 the left one's embedding moves halfway to
    // the right one's (cosine 0.71 to its own track, 0.71 to the other's), the right one's too.
    const [a, b] = [unit([1, 0, 0]), unit([0, 1, 0])];
    const mid = unit([1, 1, 0]);
    const [L, R] = [
      [0, 0, 0.4, 0.4],
      [0.6, 0, 1, 0.4],
    ];
    const query = (embedding: Float32Array, box: number[]): QueryOutput => ({
      embedding,
      box,
      classProbs: probs(2, 0),
      score: 0.9,
      mask: new Uint8Array(0),
    });
    const run = (boxIouWeight: number) => {
      const tracker = new Tracker({ mode: "stream", minSimilarity: 0.9, boxIouWeight });
      tracker.update([query(a, L), query(b, R)]);
      return tracker.update([query(mid, L), query(mid, R)]).map((i) => [i.queryIndex, i.trackId]);
    };
    // Embeddings alone (0.71 < 0.9): both start new tracks. With the box cue (0.71 + 0.5 · 1 ≥ 0.9 for
    // the same place, 0.71 + 0 for the other): each continues its own.
    expect(run(0).sort()).toEqual([
      [0, 3],
      [1, 4],
    ]);
    expect(run(0.5).sort()).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });

  it("keeps a track through a gap of exactly maxGap frames and starts a new one after a longer gap", () => {
    const random = mulberry32(11);
    const proto = randomUnit(random, 8);
    const maxGap = 4;
    const run = (gap: number): number[] => {
      const tracker = new Tracker({ maxGap, mode: "stream" });
      const ids: number[] = [];
      for (let t = 0; t < 3 + gap + 3; t++) {
        const visible = t < 3 || t >= 3 + gap;
        const queries = visible
          ? [
              {
                embedding: observe(random, proto, 0.02),
                classProbs: probs(2, 0),
                score: 0.9,
                mask: new Uint8Array(0),
              },
            ]
          : [];
        for (const instance of tracker.update(queries)) ids.push(instance.trackId);
      }
      return [...new Set(ids)];
    };
    expect(run(maxGap)).toEqual([1]);
    expect(run(maxGap + 1)).toEqual([1, 2]);
  });

  it("bounds its memory over 10,000 frames of objects coming and going", () => {
    const random = mulberry32(2024);
    const dim = 32;
    const maxGap = 5;
    const topK = 10;
    const tracker = new Tracker({ maxGap, topK, maxLiveTracks: 32 });
    let active: { proto: Float32Array; until: number; classIndex: number; id?: number }[] = [];
    let objectsSeen = 0;
    const idsSeen = new Set<number>();
    let maxLive = 0;
    let maxFinished = 0;
    const mask = encode(boxMask(4, 4, 1, 1, 2, 2), 4, 4);
    for (let t = 0; t < 10_000; t++) {
      active = active.filter((object) => object.until > t);
      while (active.length < 6 && random() < 0.3) {
        // Random unit vectors in 32 dims are nearly orthogonal (|cos| ≈ 0.18), far below minSimilarity.
        active.push({
          proto: randomUnit(random, dim),
          until: t + 20 + Math.floor(random() * 200),
          classIndex: Math.floor(random() * 4),
        });
        objectsSeen++;
      }
      const queries = active.map((object) => ({
        embedding: observe(random, object.proto, 0.03),
        classProbs: probs(4, object.classIndex, 0.5 + 0.4 * random()),
        score: 0.9,
        mask,
      }));
      const instances = tracker.update(queries);
      for (const instance of instances) {
        const object = active[instance.queryIndex];
        object.id ??= instance.trackId;
        expect(instance.trackId).toBe(object.id); // one identity per object for its whole life
        idsSeen.add(instance.trackId);
      }
      maxLive = Math.max(maxLive, tracker.liveTrackCount);
      maxFinished = Math.max(maxFinished, tracker.finishedTrackCount);
    }
    expect(idsSeen.size).toBe(objectsSeen); // one track per object
    expect(objectsSeen).toBeGreaterThan(200);
    // Live: at most the 6 visible objects plus those that left less than maxGap frames ago.
    expect(maxLive).toBeLessThanOrEqual(6 + 6 * (maxGap + 1));
    expect(maxFinished).toBeLessThanOrEqual(2 * topK + 1);
    const results = tracker.finalize(1);
    expect(results).toHaveLength(topK);
    expect(results[0].segmentations).toHaveLength(10_000);
  });

  it("writes the top-k (track, category) hypotheses in the YouTube-VIS results format", () => {
    const random = mulberry32(5);
    const protos = [randomUnit(random, 8), randomUnit(random, 8)];
    const tracker = new Tracker({ categoryIds: [7, 3, 42], topK: 10 });
    const masks: (Uint8Array | null)[][] = [[], []];
    // Object 0: frames 0–5, class 2 with probability 0.8 then 0.6. Object 1: frames 2–3, class 0 (0.5).
    for (let t = 0; t < 6; t++) {
      const queries: QueryOutput[] = [];
      const m0 = boxMask(H, W, t, 1, 3, 3);
      queries.push({
        embedding: observe(random, protos[0], 0.01),
        classProbs: probs(3, 2, t < 3 ? 0.8 : 0.6),
        score: 0.9,
        mask: m0,
      });
      masks[0].push(m0);
      if (t === 2 || t === 3) {
        const m1 = boxMask(H, W, 10, 5, 4, 4);
        queries.push({
          embedding: observe(random, protos[1], 0.01),
          classProbs: probs(3, 0, 0.5),
          score: 0.6,
          mask: () => m1,
        });
        masks[1].push(m1);
      } else {
        masks[1].push(null);
      }
      tracker.update(queries, { height: H, width: W });
    }
    const results = tracker.finalize(17, 4);
    expect(JSON.parse(JSON.stringify(results))).toEqual(results); // plain JSON
    expect(results.map((r) => [r.category_id, r.score])).toEqual([
      [42, expect.closeTo(0.7, 6)], // track 1, class 2: mean(0.8, 0.8, 0.8, 0.6, 0.6, 0.6)
      [7, expect.closeTo(0.5, 6)], // track 2, class 0
      [3, 0.25], // track 2, class 1: (1 − 0.5) / 2; ties within a track go by class index
      [42, 0.25], // track 2, class 2
    ]);
    for (const result of results) {
      expect(Object.keys(result).sort()).toEqual(["category_id", "score", "segmentations", "video_id"]);
      expect(result.video_id).toBe(17);
      expect(result.segmentations).toHaveLength(6);
    }
    // Track 1's masks round-trip; track 2 is null outside frames 2–3.
    results[0].segmentations.forEach((segm, t) => expect(decode(fromCoco(segm!))).toEqual(masks[0][t]));
    results[1].segmentations.forEach((segm, t) => {
      if (masks[1][t] === null) expect(segm).toBeNull();
      else expect(decode(fromCoco(segm!))).toEqual(masks[1][t]);
      if (segm) expect(segm.size).toEqual([H, W]);
    });
    expect(typeof results[0].segmentations[0]!.counts).toBe("string");

    // One category per track.
    const oneEach = new Tracker({ categoriesPerTrack: 1 });
    oneEach.update(
      [{ embedding: protos[0], classProbs: probs(3, 1), score: 0.9, mask: boxMask(H, W, 0, 0, 2, 2) }],
      { height: H, width: W },
    );
    expect(oneEach.finalize(0).map((r) => r.category_id)).toEqual([2]);
  });

  it("aggregates class scores as a mean or a score-weighted mean", () => {
    const embedding = unit([1, 0]);
    const frames = [
      { score: 0.9, p: 0.8 },
      { score: 0.6, p: 0.2 },
    ];
    const scoreOf = (classAggregation: TrackerOptions["classAggregation"]): number => {
      const tracker = new Tracker({ classAggregation, mode: "stream" });
      let score = 0;
      for (const { score: s, p } of frames) {
        const instances = tracker.update([
          { embedding, classProbs: Float32Array.from([p, 1 - p]), score: s, mask: new Uint8Array(0) },
        ]);
        score = instances[0].score;
      }
      return score;
    };
    expect(scoreOf("mean")).toBeCloseTo(0.5, 6); // class 0: (0.8 + 0.2) / 2; class 1 ties at 0.5
    expect(scoreOf("scoreWeighted")).toBeCloseTo((0.9 * 0.8 + 0.6 * 0.2) / 1.5, 6);
  });

  it("in stream mode keeps no masks, never resolves lazy masks, and refuses to finalize", () => {
    const tracker = new Tracker({ mode: "stream" });
    let resolved = 0;
    const mask = () => {
      resolved++;
      return new Uint8Array(4);
    };
    const instances = tracker.update([
      { embedding: unit([1, 0]), classProbs: probs(2, 0), score: 0.9, mask },
    ]);
    expect(instances[0].mask).toBe(mask);
    expect(resolved).toBe(0);
    expect(() => tracker.finalize(1)).toThrow(VidsegError);
  });

  it("gates new tracks by newTrackScore, bounds live tracks, and rejects malformed queries", () => {
    const a = unit([1, 0, 0]);
    const b = unit([0, 1, 0]);
    const c = unit([0, 0, 1]);
    const q = (embedding: Float32Array, score: number): QueryOutput => ({
      embedding,
      classProbs: probs(2, 0),
      score,
      mask: new Uint8Array(0),
    });
    const gated = new Tracker({ mode: "stream", scoreThreshold: 0.3, newTrackScore: 0.7 });
    expect(gated.update([q(a, 0.5)])).toHaveLength(0); // may continue, may not start
    expect(gated.update([q(a, 0.8)]).map((i) => i.trackId)).toEqual([1]);
    expect(gated.update([q(a, 0.5)]).map((i) => i.trackId)).toEqual([1]); // continues at a lower score

    const bounded = new Tracker({ mode: "stream", maxLiveTracks: 2 });
    bounded.update([q(a, 0.9), q(b, 0.8)]);
    bounded.update([q(b, 0.8)]);
    // Full: the longest-unseen track (a) is retired to make room for c.
    expect(bounded.update([q(c, 0.9), q(b, 0.8)]).map((i) => i.trackId)).toEqual([3, 2]);
    expect(bounded.liveTrackCount).toBe(2);
    expect(bounded.update([q(a, 0.9)]).map((i) => i.trackId)).toEqual([4]);

    const tracker = new Tracker();
    tracker.update([q(a, 0.9)], { height: 1, width: 0 });
    expect(() => tracker.update([q(unit([1, 0]), 0.9)])).toThrow(
      /frame 1, query 0: embedding has 2 dims, expected 3/,
    );
    const sized = new Tracker();
    expect(() => sized.update([q(a, 0.9)])).toThrow(/needs the frame size/);
    expect(() => sized.update([{ ...q(a, 0.9), mask: new Uint8Array(5) }], { height: 2, width: 2 })).toThrow(
      /mask has 5 pixels/,
    );
  });
});
