/**
 * Offline-to-online distillation (OOKD): QFA pairs the right student query with the right teacher query
 * on a scripted clip (through the real frame and video matchers), the thresholds filter, the none and
 * position variants; the KD loss and its gradients against hand-computed values; the class-fair tube
 * sampler's class frequencies; the augmented clips' pixels and GT checked against the pasted tubes;
 * and distillation runs on a synthetic split (tiny preset, a random tiny teacher): the log's KD terms,
 * exact resume, a model file with the tensors of an undistilled online model, --init, and bad input.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { resolveVisSplit } from "../src/formats/ytvis-layout.js";
import type { YtvisDataset } from "../src/formats/ytvis.js";
import { trainVis, type TrainVisOptions } from "../src/jobs/train-vis.js";
import { presetConfig, resolveVisConfig, type CriterionConfig } from "../src/models/config.js";
import { loadVisConfig } from "../src/models/config-file.js";
import { distillationLoss, KdProjection } from "../src/models/distill/kd-loss.js";
import { embeddingPairs, positionPairs, qfaPairs } from "../src/models/distill/pairs.js";
import { clipCriterion } from "../src/models/distill/student.js";
import { qfaTeacherSide } from "../src/models/distill/teacher.js";
import { disposeModelFile, readModelFile } from "../src/models/model-file.js";
import { instantiateModel } from "../src/models/registry.js";
import type { SegmenterOutput } from "../src/models/segmenter.js";
import { OfflineVisModel } from "../src/models/vis/offline.js";
import type { ClipTarget } from "../src/models/vis/video-criterion.js";
import { seedParameters } from "../src/nn/init.js";
import { loadSafetensors } from "../src/nn/safetensors.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset, synthCategories } from "../src/synth/vis.js";
import { listCheckpoints } from "../src/train/checkpoint.js";
import { FairTubeSampler, sourcePixel } from "../src/train/fair-aug.js";
import { trainModel } from "../src/train/run.js";
import { VisClipData, type VisClipDataOptions } from "../src/train/vis-data.js";
import { runCli } from "./helpers/cli.js";
import { saveOfflineModelFile } from "./helpers/models.js";
import { mulberry32 } from "./helpers/random.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-distill-"));
const teacherFile = join(root, "teacher.safetensors");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  // 3 train videos of 8 frames at 64×64, 2–3 objects each (no valid split: runs skip validation).
  await generateVisDataset(resolveOptions("tiny", 5, { videos: 3 }), root, { splits: ["train"] });
  // The teacher's quality does not matter to the machinery: a random tiny offline model.
  const config = presetConfig("tiny");
  const categories = synthCategories();
  config.model.numClasses = categories.length;
  seedParameters(11);
  const teacher = new OfflineVisModel({ segmenter: config.model, head: config.offline.head });
  await saveOfflineModelFile(
    teacherFile,
    teacher,
    categories.map((c) => c.id),
  );
  teacher.dispose();
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A scripted clip ----------------------------------------------------------------------------------

const SIZE = 16;
const FRAMES = 3;

/** A [SIZE, SIZE] 0/1 mask of a rectangle [x0, x1) × [y0, y1). */
function rect(x0: number, x1: number, y0: number, y1: number): number[] {
  return Array.from({ length: SIZE * SIZE }, (_, p) => {
    const [x, y] = [p % SIZE, Math.floor(p / SIZE)];
    return x >= x0 && x < x1 && y >= y0 && y < y1 ? 1 : 0;
  });
}
const EMPTY = rect(0, 0, 0, 0);
const LEFT = rect(0, 8, 0, SIZE); // track 0 (class 1), every frame
const CORNER = rect(12, 16, 0, 4); // track 1 (class 2), frames 0 and 1

/** Mask logits: +10 on the mask, −10 elsewhere. */
const logits = (mask: number[]) => mask.map((v) => (v ? 10 : -10));
/** Class logits over K = 3 classes + no object: 10 for `label`, 0 elsewhere. */
const classLogits = (label: number) => [0, 1, 2, 3].map((c) => (c === label ? 10 : 0));

function scriptedTarget(): ClipTarget {
  const masks = [LEFT, LEFT, LEFT, CORNER, CORNER, EMPTY].flat();
  return { labels: [1, 2], masks: tf.tensor4d(masks, [2, FRAMES, SIZE, SIZE]) };
}

/**
 * The teacher's video predictions: query 2 is track 0, query 0 is track 1 (`corner`: its mask there),
 * query 1 is nothing.
 */
function scriptedTeacher(corner: number[]) {
  const perQuery = [
    [corner, corner, EMPTY],
    [EMPTY, EMPTY, EMPTY],
    [LEFT, LEFT, LEFT],
  ];
  return {
    prediction: {
      predLogits: tf.tensor3d([[classLogits(2), classLogits(3), classLogits(1)]]),
      predMaskEmbed: tf.zeros([1, 3, 4]) as tf.Tensor3D,
    },
    videoMasks: [
      tf.tensor4d(
        perQuery.flat(2).flatMap((v) => (v ? 10 : -10)),
        [3, FRAMES, SIZE, SIZE],
      ),
    ],
  };
}

/**
 * The student's 4 queries in the clip's 3 frames: frame 0 shows track 0 with query 3 and track 1 with
 * query 1; frame 1: query 0 and query 2; frame 2: track 0 with query 1 (track 1 is absent).
 */
function scriptedStudent(): SegmenterOutput {
  const roles: Record<number, number>[] = [{ 3: 0, 1: 1 }, { 0: 0, 2: 1 }, { 1: 0 }];
  const masks = roles.flatMap((role) =>
    [0, 1, 2, 3].map((q) => (role[q] === 0 ? LEFT : role[q] === 1 ? CORNER : EMPTY)),
  );
  const classes = roles.flatMap((role) =>
    [0, 1, 2, 3].map((q) => classLogits(role[q] === undefined ? 3 : role[q] + 1)),
  );
  return {
    predLogits: tf.tensor3d(classes.flat(), [FRAMES, 4, 4]),
    predMasks: tf.tensor4d(masks.flatMap(logits), [FRAMES, 4, SIZE, SIZE]),
    queryFeatures: tf.zeros([FRAMES, 4, 2]),
    queryEmbed: tf.zeros([FRAMES, 4, 2]),
    maskFeatures: tf.zeros([FRAMES, 4, 4, 2]),
    aux: [],
  };
}

const criterionConfig: CriterionConfig = {
  ...presetConfig("tiny").criterion,
  contrastiveWeight: 0,
  deepSupervision: false,
};

describe("QFA", () => {
  const matcher = { classWeight: 2, maskWeight: 5, diceWeight: 5, numPoints: 256 };

  it("pairs each student query with the teacher query of the same GT track, frame by frame", () => {
    const target = scriptedTarget();
    const teacher = scriptedTeacher(CORNER);
    const student = scriptedStudent();
    const random = mulberry32(1);
    const side = qfaTeacherSide(teacher.prediction, teacher.videoMasks, [target], {
      matcher,
      qfa: { minMaskIou: 0, minClassProb: 0 },
      rng: random,
    });
    // The video matcher finds the scripted assignment; both masks are exact, both classes confident.
    expect(side.matches[0].match).toEqual({ queryIndices: [0, 2], targetIndices: [1, 0] });
    const confident = Math.exp(10) / (Math.exp(10) + 3);
    side.matches[0].quality.forEach((q) => {
      expect(q.maskIou).toBe(1);
      expect(q.classProb).toBeCloseTo(confident, 6);
    });
    expect(side.queryOfTrack).toEqual([[2, 0]]);
    const loss = clipCriterion(student, FRAMES, [target], criterionConfig, random);
    expect(loss.matches).toEqual([
      { queryIndices: [1, 3], targetIndices: [1, 0] },
      { queryIndices: [0, 2], targetIndices: [0, 1] },
      { queryIndices: [1], targetIndices: [0] },
    ]);
    expect(qfaPairs(loss.matches, FRAMES, side.queryOfTrack)).toEqual([
      { image: 0, studentQuery: 1, clip: 0, teacherQuery: 0 },
      { image: 0, studentQuery: 3, clip: 0, teacherQuery: 2 },
      { image: 1, studentQuery: 0, clip: 0, teacherQuery: 2 },
      { image: 1, studentQuery: 2, clip: 0, teacherQuery: 0 },
      { image: 2, studentQuery: 1, clip: 0, teacherQuery: 2 },
    ]);
    tf.dispose([loss.loss, ...Object.values(loss.terms), target.masks, ...teacher.videoMasks]);
  });

  it("drops the tracks whose teacher query fails the mask-IoU or class thresholds", () => {
    const target = scriptedTarget();
    // The teacher's query 0 covers half of track 1 in frames 0 and 1: IoU (2·8)/(2·16) = 0.5.
    const teacher = scriptedTeacher(rect(12, 14, 0, 4));
    const student = scriptedStudent();
    const random = mulberry32(2);
    const options = (minMaskIou: number, minClassProb: number) => ({
      matcher,
      qfa: { minMaskIou, minClassProb },
      rng: random,
    });
    const side = qfaTeacherSide(teacher.prediction, teacher.videoMasks, [target], options(0.6, 0));
    expect(side.matches[0].match).toEqual({ queryIndices: [0, 2], targetIndices: [1, 0] });
    expect(side.matches[0].quality[0].maskIou).toBe(0.5);
    expect(side.queryOfTrack).toEqual([[2, -1]]);
    const { matches } = clipCriterion(student, FRAMES, [target], criterionConfig, random);
    expect(qfaPairs(matches, FRAMES, side.queryOfTrack)).toEqual([
      { image: 0, studentQuery: 3, clip: 0, teacherQuery: 2 },
      { image: 1, studentQuery: 0, clip: 0, teacherQuery: 2 },
      { image: 2, studentQuery: 1, clip: 0, teacherQuery: 2 },
    ]);
    // IoU 0.5 passes 0.5; a class probability of 0.99986 fails 0.9999: nothing is distilled.
    expect(
      qfaTeacherSide(teacher.prediction, teacher.videoMasks, [target], options(0.5, 0)).queryOfTrack,
    ).toEqual([[2, 0]]);
    const strict = qfaTeacherSide(teacher.prediction, teacher.videoMasks, [target], options(0, 0.9999));
    expect(strict.queryOfTrack).toEqual([[-1, -1]]);
    expect(qfaPairs(matches, FRAMES, strict.queryOfTrack)).toEqual([]);
    tf.dispose([target.masks, ...teacher.videoMasks]);
  });

  it("the variants: position pairs i ↔ i; none pairs all queries by the embedding distance", () => {
    expect(positionPairs(4, 2, 3, 2)).toEqual(
      [0, 1, 2, 3].flatMap((image) =>
        [0, 1].map((q) => ({ image, studentQuery: q, clip: Math.floor(image / 2), teacherQuery: q })),
      ),
    );
    // Two clips of one frame; 3 student queries, 2 teacher queries: the nearest teacher query wins.
    const student = tf.tensor3d(
      [
        [
          [0, 1],
          [5, 5],
          [1, 0],
        ],
        [
          [-1, 0],
          [0, -1],
          [9, 9],
        ],
      ],
      [2, 3, 2],
    );
    const teacher = tf.tensor3d(
      [
        [
          [2, 0],
          [0, 2],
        ],
        [
          [0, -3],
          [-3, 0],
        ],
      ],
      [2, 2, 2],
    );
    for (const distance of ["mse", "cosine"] as const) {
      expect(embeddingPairs(student, teacher, 1, distance)).toEqual([
        { image: 0, studentQuery: 0, clip: 0, teacherQuery: 1 },
        { image: 0, studentQuery: 2, clip: 0, teacherQuery: 0 },
        { image: 1, studentQuery: 0, clip: 1, teacherQuery: 1 },
        { image: 1, studentQuery: 1, clip: 1, teacherQuery: 0 },
      ]);
    }
    tf.dispose([student, teacher]);
  });
});

// KD loss ------------------------------------------------------------------------------------------

describe("KD loss", () => {
  /** A projection with the given weight [out, in] and bias. */
  function projection(weight: number[][], bias: number[]): KdProjection {
    const module = new KdProjection(2, 2);
    module.loadStateDict(
      new Map<string, tf.Tensor>([
        ["proj.weight", tf.tensor2d(weight)],
        ["proj.bias", tf.tensor1d(bias)],
      ]),
    );
    return module;
  }

  /** Two pairs: image 0 query 0 ↔ clip 0 query 0, image 1 query 1 ↔ clip 0 query 1. */
  const pairs = [
    { image: 0, studentQuery: 0, clip: 0, teacherQuery: 0 },
    { image: 1, studentQuery: 1, clip: 0, teacherQuery: 1 },
  ];
  /** Student queries [2 images, 2 queries, 2]: the paired ones are s_A and s_B, the others unused. */
  const studentOf = (a: number[], b: number[]) =>
    tf.variable(tf.tensor3d([...a, 7, 7, 7, 7, ...b], [2, 2, 2]));

  /**
   * W = diag(1, 2), b = (0, 1): s_A = (1, 2) → (1, 5) vs t_A = (0, 3); s_B = (3, −1) → (3, −1) vs
   * t_B = (1, −1).
   */
  function mseCase() {
    const proj = projection(
      [
        [1, 0],
        [0, 2],
      ],
      [0, 1],
    );
    const student = studentOf([1, 2], [3, -1]);
    const teacher = {
      videoQueries: tf.tensor3d([0, 3, 1, -1], [1, 2, 2]),
      predLogits: tf.zeros([1, 2, 2]) as tf.Tensor3D,
    };
    return { proj, student, teacher };
  }

  /** Loss and gradients with respect to the student queries and the projection. */
  function lossAndGrads(
    student: tf.Variable,
    proj: KdProjection,
    teacher: { videoQueries: tf.Tensor3D; predLogits: tf.Tensor3D },
    options: { loss: "mse" | "cosine"; classKlTemperature: number },
    studentLogits = tf.zeros([2, 2, 2]) as tf.Tensor3D,
  ) {
    const variables = [student, proj.proj.weight, proj.proj.bias!];
    const { value, grads } = tf.variableGrads(
      () =>
        distillationLoss(
          [{ queryFeatures: student as unknown as tf.Tensor3D, predLogits: studentLogits, pairs }],
          teacher,
          proj,
          options,
        ).loss,
      variables,
    );
    const read = (v: tf.Variable) => Array.from(grads[v.name].dataSync());
    return {
      loss: value.dataSync()[0],
      student: read(student),
      weight: read(proj.proj.weight),
      bias: read(proj.proj.bias!),
    };
  }

  it("MSE: ((1² + 2²) + (2² + 0²)) / 4 = 2.25, with its gradients", () => {
    const { proj, student, teacher } = mseCase();
    const result = lossAndGrads(student, proj, teacher, { loss: "mse", classKlTemperature: 0 });
    expect(result.loss).toBeCloseTo(2.25, 6);
    // ∂L/∂u = 2(u − t)/(P·D) = (u − t)/2: (0.5, 1) and (1, 0); ∂L/∂W = Σ ∂L/∂u ⊗ s; ∂L/∂s = Wᵀ ∂L/∂u.
    expectClose(result.weight, [3.5, 0, 1, 2]);
    expectClose(result.bias, [1.5, 1]);
    expectClose(result.student, [0.5, 2, 0, 0, 0, 0, 1, 0]);
    proj.dispose();
    tf.dispose([student, teacher.videoQueries, teacher.predLogits]);
  });

  it("shares of a batch (data-parallel) add up: pair A alone 5/4, pair B alone 4/4, together 9/4", () => {
    const { proj, student, teacher } = mseCase();
    const studentLogits = tf.zeros([2, 2, 2]) as tf.Tensor3D;
    const share = (index: number) =>
      distillationLoss(
        [
          {
            queryFeatures: student as unknown as tf.Tensor3D,
            predLogits: studentLogits,
            pairs: [pairs[index]],
          },
        ],
        teacher,
        proj,
        { loss: "mse", classKlTemperature: 0, batchTotals: (counts) => counts.map((c) => c * 2) },
      ).loss.dataSync()[0];
    expect([share(0), share(1)]).toEqual([1.25, 1]);
    proj.dispose();
    tf.dispose([student, studentLogits, teacher.videoQueries, teacher.predLogits]);
  });

  it("1 − cos: ((1 − 24/25) + (1 − 0)) / 2 = 0.52, with its gradients; the class KL at T = 2", () => {
    const identity = projection(
      [
        [1, 0],
        [0, 1],
      ],
      [0, 0],
    );
    // u_A = (3, 4), t_A = (4, 3): cos = 24/25; u_B = (1, 0), t_B = (0, 2): cos = 0.
    const student = studentOf([3, 4], [1, 0]);
    // Teacher class logits (2 ln 3, 0) at T = 2: q = (3/4, 1/4); the student's (0, 0): p = (1/2, 1/2).
    const teacher = {
      videoQueries: tf.tensor3d([4, 3, 0, 2], [1, 2, 2]),
      predLogits: tf.tensor3d([2 * Math.log(3), 0, 2 * Math.log(3), 0], [1, 2, 2]),
    };
    const studentLogits = tf.variable(tf.zeros([2, 2, 2]));
    const cosine = lossAndGrads(student, identity, teacher, { loss: "cosine", classKlTemperature: 0 });
    expect(cosine.loss).toBeCloseTo(0.52, 6);
    // ∂(1 − cos)/∂u = −(t/(|u||t|) − (u·t)·u/(|u|³|t|)), halved (mean over 2 pairs).
    expectClose(cosine.student, [-0.0224, 0.0168, 0, 0, 0, 0, 0, -0.5]);

    // KL: T²·(¾ ln(¾/½) + ¼ ln(¼/½)) = 3 ln 1.5 − ln 2 per pair; ∂/∂(student logits) = T(p − q)/P.
    const kl = 3 * Math.log(1.5) - Math.log(2);
    const { value, grads } = tf.variableGrads(() => {
      const result = distillationLoss(
        [
          {
            queryFeatures: student as unknown as tf.Tensor3D,
            predLogits: studentLogits as tf.Tensor3D,
            pairs,
          },
        ],
        teacher,
        identity,
        { loss: "cosine", classKlTemperature: 2 },
      );
      expect(result.pairs).toBe(2);
      expect(result.classKl!.dataSync()[0]).toBeCloseTo(kl, 5);
      expect(result.feature.dataSync()[0]).toBeCloseTo(0.52, 6);
      return result.loss;
    }, [studentLogits]);
    expect(value.dataSync()[0]).toBeCloseTo(0.52 + kl, 5);
    expectClose(Array.from(grads[studentLogits.name].dataSync()), [-0.25, 0.25, 0, 0, 0, 0, -0.25, 0.25]);
    identity.dispose();
    tf.dispose([student, studentLogits, teacher.videoQueries, teacher.predLogits]);
  });

  it("no pair: zero loss; layers are averaged", () => {
    const proj = projection(
      [
        [1, 0],
        [0, 1],
      ],
      [0, 0],
    );
    const queries = tf.tensor3d([1, 0, 0, 0, 0, 0, 0, 0], [2, 2, 2]);
    const logitsOf = tf.zeros([2, 2, 2]) as tf.Tensor3D;
    const teacher = {
      videoQueries: tf.tensor3d([3, 0, 0, 0], [1, 2, 2]),
      predLogits: tf.zeros([1, 2, 2]) as tf.Tensor3D,
    };
    const options = { loss: "mse" as const, classKlTemperature: 0 };
    const none = distillationLoss(
      [{ queryFeatures: queries, predLogits: logitsOf, pairs: [] }],
      teacher,
      proj,
      options,
    );
    expect([none.loss.dataSync()[0], none.pairs]).toEqual([0, 0]);
    // One layer with pair (1,0) vs (3,0): MSE 2; a second with a zero-distance pair: the mean is 1.
    const one = [{ image: 0, studentQuery: 0, clip: 0, teacherQuery: 0 }];
    const zero = [{ image: 0, studentQuery: 1, clip: 0, teacherQuery: 1 }];
    const two = distillationLoss(
      [
        { queryFeatures: queries, predLogits: logitsOf, pairs: one },
        { queryFeatures: queries, predLogits: logitsOf, pairs: zero },
        { queryFeatures: queries, predLogits: logitsOf, pairs: [] },
      ],
      teacher,
      proj,
      options,
    );
    expect([two.loss.dataSync()[0], two.pairs]).toEqual([1, 2]);
    proj.dispose();
    tf.dispose([queries, logitsOf, teacher.videoQueries, teacher.predLogits]);
  });
});

function expectClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(value, `index ${i}`).toBeCloseTo(expected[i], 5));
}

// Class-fair sampling ------------------------------------------------------------------------------

describe("FairTubeSampler", () => {
  /** 11 tubes in 4 videos: 8 of category 10, 2 of category 20, 1 of category 30; category 40 has none. */
  function dataset(): YtvisDataset {
    const categories = [10, 20, 30, 40].map((id) => ({ id, name: `c${id}` }));
    const videos = [1, 2, 3, 4].map((id) => ({ id, width: 8, height: 8, length: 3, file_names: [] }));
    const labels = [10, 10, 10, 10, 10, 10, 10, 10, 20, 20, 30];
    const annotations = labels.map((category_id, i) => ({
      id: 100 + i,
      video_id: 1 + (i % 4),
      category_id,
      segmentations: [null, { counts: "x", size: [8, 8] }, null],
      areas: [],
      bboxes: [],
      iscrowd: 0,
      height: 8,
      width: 8,
      length: 3,
    }));
    // A crowd region is not a tube.
    annotations.push({ ...annotations[10], id: 999, iscrowd: 1 });
    return { videos, categories, annotations } as unknown as YtvisDataset;
  }
  const classOf = new Map([10, 20, 30, 40].map((id, i) => [id, i]));

  it("draws classes ∝ n_c^(1−α): α = 1 balances the classes, α = 0 follows the data", () => {
    const expected: Record<number, number[]> = {
      0: [8 / 11, 2 / 11, 1 / 11, 0],
      0.5: [Math.sqrt(8), Math.sqrt(2), 1, 0].map((m) => m / (Math.sqrt(8) + Math.sqrt(2) + 1)),
      1: [1 / 3, 1 / 3, 1 / 3, 0],
    };
    for (const [alpha, probabilities] of Object.entries(expected)) {
      const sampler = new FairTubeSampler(dataset(), classOf, Number(alpha));
      expect(sampler.tubes).toHaveLength(11);
      expect(sampler.tubes[0]).toEqual({ video: 0, annotationId: 100, label: 0, frames: [1] });
      expect(sampler.classCounts).toEqual([8, 2, 1, 0]);
      expectClose(sampler.classProbabilities(), probabilities);
      // 20 000 draws: each class's share within 4 standard deviations of its probability.
      const rng = new Rng(Number(alpha) * 10 + 1);
      const draws = 20_000;
      const counts = [0, 0, 0, 0];
      for (let i = 0; i < draws; i++) counts[sampler.tubes[sampler.draw(rng)].label] += 1;
      probabilities.forEach((p, c) => {
        const sigma = Math.sqrt((p * (1 - p)) / draws);
        expect(Math.abs(counts[c] / draws - p), `α ${alpha}, class ${c}`).toBeLessThanOrEqual(
          4 * sigma + 1e-12,
        );
      });
    }
  });
});

// Augmented clips ----------------------------------------------------------------------------------

describe("class-fair augmentation of clips", () => {
  const fairAug = {
    alpha: 1,
    tubesPerClip: 2,
    probability: 1,
    minScale: 0.6,
    maxScale: 1.2,
    minVisibleArea: 0.004,
  };
  const options = (): VisClipDataOptions => ({
    ...resolveVisSplit(root, "train"),
    inputSize: [64, 64],
    clipLength: 3,
    clipsPerBatch: 2,
    maxStride: 2,
    seed: 4,
    fairAug,
  });

  it("maps a target pixel to the source pixel under the tube's affine (nearest neighbour)", () => {
    // Scale 2 around source (4, 4) placed at (8, 8): target x shows source ⌊(x + ½ − 8)/2 + 4⌋.
    const affine = { scale: 2, source: [4, 4] as [number, number], target: [8, 8] as [number, number] };
    expect(sourcePixel(affine, 8, 8, 16, 16)).toBe(4 * 16 + 4);
    expect(sourcePixel(affine, 0, 15, 16, 16)).toBe(7 * 16 + 0);
    expect(sourcePixel(affine, 15, 1, 16, 16)).toBe(0 * 16 + 7);
    // Outside the source frame: scale ½ maps target (15, 0) to source (⌊(15.5 − 8)·2 + 4⌋, …) = (19, …).
    expect(sourcePixel({ ...affine, scale: 0.5 }, 15, 8, 16, 16)).toBe(-1);
    expect(sourcePixel({ ...affine, scale: 0.5 }, 9, 8, 16, 16)).toBe(5 * 16 + 7);
  });

  it("pasted pixels are the tubes' source pixels; GT hides what they cover and drops what vanishes", async () => {
    const data = await VisClipData.open(options());
    const rng = new Rng(6);
    const { reader } = data;
    const [width, height] = [64, 64];
    const frameSize = width * height;
    const minPixels = fairAug.minVisibleArea * frameSize;
    let pastedTubes = 0;
    let occluded = 0;
    let dropped = 0;
    for (let step = 0; step < 3; step++) {
      const batch = await data.next(rng);
      const images = batch.images.dataSync();
      for (const [b, clip] of batch.clips.entries()) {
        const videoIndex = data.dataset.videos.findIndex((v) => v.id === clip.videoId);
        const pasted = clip.pasted!;
        pastedTubes += pasted.length;
        const masks = batch.targets[b].masks.dataSync();
        expect(clip.trackIds).toHaveLength(batch.targets[b].labels.length);
        for (const [t, frame] of clip.frames.entries()) {
          const original = await reader.readFrame(videoIndex, frame, clip.flip);
          // Each tube's pasted region and source pixels in this frame, from its recorded affine.
          const sources = await Promise.all(
            pasted.map(async (tube) => {
              const video = data.dataset.videos.findIndex((v) => v.id === tube.videoId);
              expect(video).not.toBe(videoIndex);
              const read = await reader.readFrame(video, tube.frames[t], tube.flip);
              const mask = read.instances.find((i) => i.annotationId === tube.annotationId)?.mask;
              const region = new Int32Array(frameSize).fill(-1);
              if (mask) {
                for (let p = 0; p < frameSize; p++) {
                  const source = sourcePixel(tube.affine, p % width, Math.floor(p / width), width, height);
                  if (source >= 0 && mask[source]) region[p] = source;
                }
              }
              return { image: read.image, region };
            }),
          );
          // Pixels: the top-most tube covering a pixel shows its source pixel; elsewhere the clip's own.
          const image = images.subarray((b * 3 + t) * frameSize * 3, (b * 3 + t + 1) * frameSize * 3);
          const top = new Int32Array(frameSize).fill(-1);
          sources.forEach(({ region }, k) => region.forEach((s, p) => s >= 0 && (top[p] = k)));
          for (let p = 0; p < frameSize; p++) {
            const expected =
              top[p] >= 0
                ? sources[top[p]].image.subarray(
                    sources[top[p]].region[p] * 3,
                    sources[top[p]].region[p] * 3 + 3,
                  )
                : original.image.subarray(p * 3, p * 3 + 3);
            if (
              Math.abs(image[p * 3] - expected[0]) > 1e-6 ||
              Math.abs(image[p * 3 + 1] - expected[1]) > 1e-6 ||
              Math.abs(image[p * 3 + 2] - expected[2]) > 1e-6
            )
              expect.fail(`clip ${b}, frame ${t}, pixel ${p}: not the expected source pixel`);
          }
          // GT: an instance's mask is what no later layer covers; dropped when a cover leaves too little.
          const layers = [
            ...original.instances.map((i) => ({ id: i.annotationId, mask: i.mask, layer: -1 })),
            ...pasted.map((tube, k) => ({
              id: tube.annotationId,
              mask: Uint8Array.from(sources[k].region, (s) => (s >= 0 ? 1 : 0)),
              layer: k,
            })),
          ];
          for (const { id, mask, layer } of layers) {
            const expected = mask.map((v, p) => (v && top[p] <= layer ? 1 : 0));
            const visible = expected.reduce((a, v) => a + v, 0);
            const covered = mask.some((v, p) => v && top[p] > layer);
            const kept =
              layer >= 0
                ? visible > 0 && visible >= minPixels
                : !covered || (visible > 0 && visible >= minPixels);
            if (layer < 0 && covered) occluded += 1;
            if (!kept && mask.some((v) => v)) dropped += 1;
            const k = clip.trackIds.indexOf(id);
            const actual =
              k < 0
                ? new Float32Array(frameSize)
                : masks.subarray((k * 3 + t) * frameSize, (k * 3 + t + 1) * frameSize);
            expect(Array.from(actual), `clip ${b}, frame ${t}, instance ${id}`).toEqual(
              Array.from(kept ? expected : new Uint8Array(frameSize)),
            );
          }
          // Every track of the clip is one of these instances, with its class.
          for (const [k, id] of clip.trackIds.entries()) {
            const tube = pasted.find((p) => p.annotationId === id);
            const annotation = data.dataset.annotations.find((a) => a.id === id)!;
            expect(tube ? tube.videoId : annotation.video_id).toBe(annotation.video_id);
            expect(batch.targets[b].labels[k]).toBe(reader.classOfCategory.get(annotation.category_id));
          }
        }
      }
      data.release(batch);
    }
    // The check saw pastes, occlusions and dropped instances.
    expect(pastedTubes).toBeGreaterThanOrEqual(6);
    expect(occluded).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
  }, 60_000);

  it("is deterministic and resumes exactly (its stream is in the data state)", async () => {
    const first = await VisClipData.open(options());
    const rng = new Rng(3);
    first.release(await first.next(rng));
    const state = JSON.parse(JSON.stringify(first.getState()));
    expect(state.fairAugRng).toHaveLength(4);
    const rngState = rng.getState();
    const next = await first.next(rng);
    const resumed = await VisClipData.open(options());
    resumed.setState(state);
    const again = await resumed.next(Rng.fromState(rngState));
    expect(again.clips).toEqual(next.clips);
    expect(again.clips.some((c) => c.pasted!.length > 0)).toBe(true);
    expect(Array.from(again.images.dataSync())).toEqual(Array.from(next.images.dataSync()));
    expect(Array.from(again.targets[1].masks.dataSync())).toEqual(
      Array.from(next.targets[1].masks.dataSync()),
    );
    first.release(next);
    resumed.release(again);
    // A state without the augmentation's stream is refused.
    const { fairAugRng: _, ...withoutStream } = state;
    expect(() => resumed.setState(withoutStream)).toThrow(/fairAugRng/);
  }, 30_000);
});

// Distillation runs --------------------------------------------------------------------------------

describe("vidseg train vis --distill-from", () => {
  /** A config file: tiny, `steps` steps, class KL at T = 2, fair augmentation on every clip. */
  function configFile(name: string, steps: number, extra: Record<string, unknown> = {}): string {
    const file = join(root, `${name}.json`);
    const config = {
      preset: "tiny",
      optim: { totalSteps: steps, warmupSteps: 1, lr: 2e-3 },
      distill: { clipLength: 3, clipMaxStride: 2, kdClassKl: 2, fairAug: { enabled: true, probability: 1 } },
      ...extra,
    };
    writeFileSync(file, JSON.stringify(config));
    return file;
  }
  const cliOptions = (
    out: string,
    config: string,
    extra: Partial<TrainVisOptions> = {},
  ): TrainVisOptions => ({
    model: "online",
    data: root,
    config,
    out,
    seed: 1,
    distillFrom: teacherFile,
    checkpointEvery: 2,
    progress: false,
    ...extra,
  });
  const readLog = (runDir: string): Record<string, number | string>[] =>
    readFileSync(join(runDir, "log.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));

  it("resumes an interrupted run exactly; the log shows the KD term and the pairs", async () => {
    const config = configFile("resume", 4);
    const resumedDir = join(root, "resumed");
    const controller = new AbortController();
    const first = await trainModel("distill", {
      config: await loadVisConfig(config),
      data: resolveVisSplit(root, "train"),
      teacher: teacherFile,
      runDir: resumedDir,
      seed: 1,
      progress: false,
      onStep: (entry) => entry.step === 2 && controller.abort(),
      signal: controller.signal,
    });
    expect(first.step).toBe(2);
    first.model.dispose();
    await trainVis(cliOptions(resumedDir, config, { resume: true }));
    const straightDir = join(root, "straight");
    const summary = await trainVis(cliOptions(straightDir, config));
    expect(summary).toMatchObject({ model_kind: "online", step: 4 });
    const train = (dir: string) => readLog(dir).filter((e) => e.type === "train");
    expect(train(resumedDir).map((e) => e.loss)).toEqual(train(straightDir).map((e) => e.loss));
    const modelFile = (dir: string) => readFileSync(join(dir, "model.safetensors"));
    expect(modelFile(resumedDir).equals(modelFile(straightDir))).toBe(true);
    for (const entry of train(straightDir)) {
      for (const term of ["loss_kd", "loss_kd_class", "loss_ce", "loss_contrastive", "loss_crop"])
        expect(Number.isFinite(entry[term]), term).toBe(true);
      expect(Number.isInteger(entry.kd_pairs)).toBe(true);
      expect(entry.kd_teacher_queries as number).toBeLessThanOrEqual(6);
    }
    // QFA pairs come from GT-matched queries: some, never more than one per visible track and frame.
    expect(train(straightDir).some((e) => (e.kd_pairs as number) > 0)).toBe(true);
  }, 240_000);

  it("writes an online model file with exactly the tensors of an undistilled one", async () => {
    const distilled = await readModelFile(join(root, "straight"));
    const onlineDir = join(root, "online");
    const online = await trainVis(cliOptions(onlineDir, configFile("online", 1), { distillFrom: undefined }));
    const undistilled = await readModelFile(online.model!);
    expect(distilled.info.kind).toBe("online");
    const shapes = (weights: Map<string, tf.Tensor>) =>
      Object.fromEntries([...weights].map(([name, t]) => [name, t.shape]).sort());
    expect(shapes(distilled.weights)).toEqual(shapes(undistilled.weights));
    expect(distilled.info.config.distill).toMatchObject({
      kdFilter: "qfa",
      kdClassKl: 2,
      fairAug: { enabled: true },
    });
    instantiateModel(distilled, "online").dispose();
    // The checkpoints hold the KD projection (training only); read as a model, they leave it out.
    const checkpoint = (await listCheckpoints(join(root, "straight"))).at(-1)!.path;
    const raw = await loadSafetensors(checkpoint);
    expect([...raw.tensors.keys()].filter((n) => n.startsWith("model.training_only.")).sort()).toEqual([
      "model.training_only.proj.bias",
      "model.training_only.proj.weight",
    ]);
    const fromCheckpoint = await readModelFile(checkpoint);
    expect(shapes(fromCheckpoint.weights)).toEqual(shapes(undistilled.weights));
    instantiateModel(fromCheckpoint, "online").dispose();
    tf.dispose([...raw.tensors.values()]);
    for (const file of [distilled, undistilled, fromCheckpoint]) disposeModelFile(file);
  }, 120_000);

  it("--init starts the student from an online model file", async () => {
    // With a zero learning rate nothing moves: the student is the init model, tensor for tensor.
    const config = configFile("init", 1, { optim: { totalSteps: 1, warmupSteps: 0, lr: 0 } });
    const out = join(root, "from-init");
    const init = join(root, "online", "model.safetensors");
    const summary = await trainVis(
      cliOptions(out, config, { init, distill: { kdFilter: "none", kdLayers: "all" } }),
    );
    const before = await loadSafetensors(init);
    const after = await loadSafetensors(summary.model!);
    for (const [name, tensor] of before.tensors)
      expect(Array.from(after.tensors.get(name)!.dataSync()), name).toEqual(Array.from(tensor.dataSync()));
    const log = readLog(out).find((e) => e.type === "train")!;
    // "none" pairs every query of every frame: min(8, 6) per frame, 3 frames, 3 decoder layers.
    expect(log.kd_pairs).toBe(6 * 3 * 3);
    tf.dispose([...before.tensors.values(), ...after.tensors.values()]);
  }, 120_000);

  it("bad input: one line naming the file or the flag", async () => {
    /** `vidseg train vis` on the synthetic root: stderr and exit code. */
    const run = async (args: string[]) => {
      const { stderr, exitCode } = await runCli([
        "train",
        "vis",
        "--data",
        root,
        "--out",
        join(root, "bad"),
        ...args,
      ]);
      return { stderr, exitCode };
    };
    const config = configFile("bad", 1);
    expect(await run(["--config", config, "--distill-from", teacherFile, "--kd-filter", "best"])).toEqual({
      stderr: 'vidseg: error: --kd-filter: expected qfa, none or position, got "best"\n',
      exitCode: 1,
    });
    expect(await run(["--config", config, "--kd-weight", "2"])).toEqual({
      stderr: "vidseg: error: --distill-from: distillation settings need a teacher\n",
      exitCode: 1,
    });
    const student = join(root, "online", "model.safetensors");
    const wrongKind = await run(["--config", config, "--distill-from", student]);
    expect(wrongKind.stderr).toBe(
      `vidseg: error: ${student}: __metadata__.info.kind: holds an online model, not an offline one\n`,
    );
    expect(() => resolveVisConfig({ preset: "tiny", distill: { kdLoss: "l1" } }, "c.json")).toThrow(
      'c.json: distill.kdLoss: must be one of "mse", "cosine"',
    );
    expect(() =>
      resolveVisConfig(
        { preset: "tiny", criterion: { deepSupervision: false }, distill: { kdLayers: "all" } },
        "c.json",
      ),
    ).toThrow(/c\.json: distill\.kdLayers: .*needs criterion\.deepSupervision/);
  }, 60_000);
});
