import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { evaluatePerExpression, evaluateRefDavis, refDavisRunDir } from "../src/eval/refer.js";
import { readExpressionGroups } from "../src/formats/expression-groups.js";
import { readIndexedPng, writeIndexedPng } from "../src/formats/png.js";
import {
  objectMaskPath,
  readRefMetaExpressions,
  refDavisExpressionSets,
  writeExpressionMask,
  type RefMetaExpressions,
} from "../src/formats/refytvos.js";
import {
  checkExpression,
  parseExpression,
  predicateKey,
  realise,
  SceneObserver,
  type Predicate,
  type VideoFacts,
} from "../src/synth/expressions.js";
import { resolveOptions, type SynthOptions } from "../src/synth/options.js";
import { generateReferDataset, type ReferStats } from "../src/synth/refer.js";
import { SceneRenderer } from "../src/synth/render.js";
import { planScene, type Scene, type SceneObject } from "../src/synth/scene.js";
import { CATEGORIES, COLOURS } from "../src/synth/shapes.js";

const SQUARE = CATEGORIES.indexOf("square");
const CIRCLE = CATEGORIES.indexOf("circle");
const BLUE = COLOURS.findIndex((c) => c.name === "blue");
const RED = COLOURS.findIndex((c) => c.name === "red");

function observe(scene: Scene): VideoFacts {
  const renderer = new SceneRenderer(scene);
  const observer = new SceneObserver(scene);
  for (let t = 0; t < scene.frames; t++) observer.add(renderer.render(t));
  return observer.facts();
}

/** A 96×96, 12-frame scene on a flat background with objects moving in straight lines. */
function handBuiltScene(
  objects: {
    category: number;
    colour: number;
    radius: number;
    from: [number, number];
    to: [number, number];
  }[],
): Scene {
  const W = 96;
  const H = 96;
  const T = 12;
  const sceneObjects: SceneObject[] = objects.map((o, k) => {
    const x = new Float64Array(T);
    const y = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      x[t] = o.from[0] + ((o.to[0] - o.from[0]) * t) / (T - 1);
      y[t] = o.from[1] + ((o.to[1] - o.from[1]) * t) / (T - 1);
    }
    return {
      id: k + 1,
      category: o.category,
      colour: o.colour,
      rgb: COLOURS[o.colour].rgb,
      texture: { kind: "solid", frequency: 1, amplitude: 0, angle: 0 },
      radius: o.radius,
      aspect: 1,
      depth: k,
      motion: "directional",
      role: "free",
      partner: 0,
      start: 0,
      end: T,
      x,
      y,
      scale: new Float64Array(T).fill(1),
      angle: new Float64Array(T),
    };
  });
  const cell = 16;
  const gridW = Math.ceil(W / cell) + 2;
  const gridH = Math.ceil(H / cell) + 2;
  return {
    name: "hand_built",
    split: "valid",
    index: 0,
    width: W,
    height: H,
    frames: T,
    seed: 1,
    objects: sceneObjects,
    background: {
      base: [90, 90, 90],
      cell,
      gridW,
      gridH,
      grid: new Float32Array(gridW * gridH),
      waves: [],
      tint: [1, 1, 1],
    },
    shakeX: new Int8Array(T),
    shakeY: new Int8Array(T),
    light: new Float32Array(T).fill(1),
  };
}

describe("referring expressions: the checker on a hand-built scene", () => {
  // Two blue squares of the same size, one moving left in the upper half, one moving right in the
  // lower half, and a small red circle that stays still.
  const facts = observe(
    handBuiltScene([
      { category: SQUARE, colour: BLUE, radius: 10, from: [70, 25], to: [25, 25] },
      { category: SQUARE, colour: BLUE, radius: 10, from: [25, 70], to: [70, 70] },
      { category: CIRCLE, colour: RED, radius: 6, from: [48, 48], to: [48, 48] },
    ]),
  );

  it("observes motion from the rendered masks", () => {
    const [left, right, still] = facts.objects;
    expect(left.direction).toEqual({ left: "yes", right: "no", up: "no", down: "no" });
    expect(right.direction).toEqual({ left: "no", right: "yes", up: "no", down: "no" });
    expect(still.state.still).toBe("yes");
    expect(left.state).toEqual({ still: "no", stops: "no", moving: "yes" });
    expect(left.appearsLater).toBe("no");
    expect(left.leavesReturns).toBe("no");
  });

  it("rejects an ambiguous phrase and accepts the one that motion disambiguates", () => {
    const ambiguous = checkExpression("the blue square", facts);
    expect(ambiguous.objectId).toBeNull();
    expect(ambiguous.matches).toEqual([1, 2]);
    expect(ambiguous.reason).toMatch(/ambiguous/);
    expect(checkExpression("the blue square moving left", facts).objectId).toBe(1);
    expect(checkExpression("the box that goes to the right", facts).objectId).toBeNull(); // not a clause
    expect(checkExpression("the box that moves to the right", facts).objectId).toBe(2);
    expect(checkExpression("the blue square which keeps moving", facts).objectId).toBeNull();
    expect(checkExpression("the upper blue square", facts).objectId).toBe(1);
    expect(checkExpression("the blue square at the bottom", facts).objectId).toBe(2);
    expect(checkExpression("the red disk", facts).objectId).toBe(3);
    expect(checkExpression("the motionless thing", facts).objectId).toBe(3);
    // Same size: "small" cannot tell the squares apart; the circle is the smallest shape.
    expect(checkExpression("the small blue square", facts).objectId).toBeNull();
    expect(checkExpression("the smallest object", facts).objectId).toBe(3);
    // A lone red circle is not "small" among red circles: nothing to compare with.
    expect(checkExpression("the small red circle", facts).objectId).toBeNull();
    expect(checkExpression("the blue square that stops", facts)).toMatchObject({
      objectId: null,
      matches: [],
    });
    expect(checkExpression("the purple square", facts).matches).toEqual([]);
  });

  it("parses only the controlled grammar", () => {
    expect(parseExpression("blue the square").ok).toBe(false);
    expect(parseExpression("the blue").ok).toBe(false);
    expect(parseExpression("the square that").ok).toBe(false);
    expect(parseExpression("the square moving sideways").ok).toBe(false);
    const parsed = parseExpression("the small blue star that moves up and leaves and comes back");
    expect(parsed.ok && parsed.predicates.map(predicateKey)).toEqual([
      "size:small",
      "colour:blue",
      "category:star",
      "direction:up",
      "leaves-returns",
    ]);
  });

  it("reads back every realisation of random predicate sets (synonyms, word orders)", () => {
    const rng = new Rng(11);
    const pool: Predicate[] = [
      { kind: "colour", colour: BLUE },
      { kind: "size", size: "large" },
      { kind: "position", side: "bottom" },
      { kind: "direction", direction: "up" },
      { kind: "state", state: "stops" },
      { kind: "state", state: "still" },
      { kind: "appears-later" },
      { kind: "leaves-returns" },
    ];
    const texts = new Set<string>();
    for (let k = 0; k < 300; k++) {
      const predicates = rng.shuffle([...pool]).slice(0, 1 + rng.int(3));
      if (rng.bernoulli(0.7)) predicates.push({ kind: "category", category: rng.int(CATEGORIES.length) });
      const text = realise(predicates, rng);
      texts.add(text);
      const parsed = parseExpression(text);
      expect(parsed.ok, text).toBe(true);
      if (parsed.ok) {
        expect(parsed.predicates.map(predicateKey).sort(), text).toEqual(predicates.map(predicateKey).sort());
      }
    }
    expect(texts.size).toBeGreaterThan(250);
  });
});

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(path);
    }
  };
  walk(root);
  return out;
}

function treeHash(root: string): string {
  const hash = createHash("sha256");
  for (const file of listFiles(root)) hash.update(relative(root, file)).update(readFileSync(file));
  return hash.digest("hex");
}

describe("synth refer on the tiny preset", () => {
  let dir: string;
  let options: SynthOptions;
  let stats: ReferStats;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vidseg-synth-refer-"));
    options = resolveOptions("tiny", 5, { videos: 3 });
    stats = await generateReferDataset(options, join(dir, "a"), { refDavis: true });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("every expression resolves, by the checker, to exactly its obj_id, which is visible", async () => {
    let checked = 0;
    for (const split of ["train", "valid"] as const) {
      const meta = await readRefMetaExpressions(join(dir, "a", split, "meta_expressions.json"));
      expect(Object.keys(meta.videos)).toHaveLength(options.videos);
      for (const [index, [video, entry]] of Object.entries(meta.videos).entries()) {
        const facts = observe(planScene(options, split, index));
        expect(entry.frames).toHaveLength(options.frames);
        for (const expression of Object.values(entry.expressions)) {
          const result = checkExpression(expression.exp, facts);
          expect(result.objectId, `${video}: "${expression.exp}"`).toBe(Number(expression.obj_id));
          checked++;
        }
        // The written masks are the objects' visible pixels: every referred object appears in them.
        const referred = new Set(Object.values(entry.expressions).map((e) => Number(e.obj_id)));
        const seen = new Set<number>();
        for (const frame of entry.frames) {
          for (const label of (await readIndexedPng(objectMaskPath(join(dir, "a", split), video, frame)))
            .data) {
            seen.add(label);
          }
        }
        for (const id of referred) expect(seen.has(id)).toBe(true);
      }
      expect(stats.splits[split]!.expressions).toBe(
        Object.values(meta.videos).reduce((n, v) => n + Object.keys(v.expressions).length, 0),
      );
    }
    expect(checked).toBeGreaterThan(10);
  });

  it("the ground-truth masks score J&F = 1 with the Ref-YouTube-VOS per-expression protocol", async () => {
    const splitRoot = join(dir, "a", "valid");
    const meta: RefMetaExpressions = await readRefMetaExpressions(join(splitRoot, "meta_expressions.json"));
    const results = join(dir, "pred-ytvos");
    for (const [video, entry] of Object.entries(meta.videos)) {
      for (const [expId, expression] of Object.entries(entry.expressions)) {
        for (const frame of entry.frames) {
          const labels = await readIndexedPng(objectMaskPath(splitRoot, video, frame));
          const data = labels.data.map((id) => (id === Number(expression.obj_id) ? 1 : 0));
          await writeExpressionMask(results, video, expId, frame, { ...labels, data });
        }
      }
    }
    const result = await evaluatePerExpression({
      protocol: "ref-youtube-vos",
      splitRoot,
      resultsDir: results,
    });
    expect(Object.keys(result.per_expression).length).toBe(stats.splits.valid!.expressions);
    expect(result["J&F"]).toBe(1);
  });

  it("writes the Ref-DAVIS17 form: 4 expressions per object, and its GT scores J&F = 1", async () => {
    const davisSplit = join(dir, "a", "ref-davis", "valid");
    const meta = await readRefMetaExpressions(join(davisSplit, "meta_expressions.json"));
    const sets = refDavisExpressionSets(meta);
    const objects = stats.splits.valid!.refDavis!.objects;
    expect(objects).toBeGreaterThan(0);
    for (const set of sets) expect(set).toHaveLength(objects);
    // Predictions: each set's per-object masks merged, here simply the GT label maps.
    const results = join(dir, "pred-davis");
    for (let k = 0; k < 4; k++) {
      for (const [video, entry] of Object.entries(meta.videos)) {
        for (const frame of entry.frames) {
          const labels = await readIndexedPng(objectMaskPath(davisSplit, video, frame));
          await writeIndexedPng(join(refDavisRunDir(results, k), video, `${frame}.png`), labels);
        }
      }
    }
    const result = await evaluateRefDavis({
      davisRoot: join(dir, "a", "ref-davis", "DAVIS"),
      resultsDir: results,
    });
    expect(result["J&F"]).toBe(1);
  });

  it("is deterministic: a second run writes byte-identical files", async () => {
    const again = await generateReferDataset(options, join(dir, "b"), { refDavis: true });
    expect(again).toEqual(stats);
    expect(treeHash(join(dir, "b"))).toBe(treeHash(join(dir, "a")));
  }, 60_000);
});

describe("synth refer with look-alikes", () => {
  it("has objects that only motion tells apart, and counts them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-synth-refer-"));
    try {
      const options = resolveOptions("tiny", 2, { videos: 6, frames: 16, distractors: 1, objects: 3 });
      const stats = await generateReferDataset(options, dir, { splits: ["valid"] });
      const valid = stats.splits.valid!;
      expect(valid.motionOnlyExpressions).toBeGreaterThan(0);
      expect(valid.motionOnlyObjects).toBeGreaterThan(0);
      expect(valid.attributeMix.motion).toBeGreaterThanOrEqual(valid.motionOnlyExpressions);
      expect(valid.described + valid.undescribable + valid.neverVisible).toBe(valid.objects);
      const perObject = Object.entries(valid.expressionsPerObject);
      expect(perObject.reduce((n, [, count]) => n + count, 0)).toBe(valid.described + valid.undescribable);
      const lengths = Object.entries(valid.lengthHistogram);
      expect(lengths.reduce((n, [, count]) => n + count, 0)).toBe(valid.expressions);

      // The groups sidecar: one entry per expression of the split, counted as stats.json counts them.
      const groups = await readExpressionGroups(join(dir, "valid", "expression_groups.json"));
      const meta = await readRefMetaExpressions(join(dir, "valid", "meta_expressions.json"));
      expect(Object.keys(groups.videos)).toEqual(Object.keys(meta.videos));
      for (const [video, entry] of Object.entries(meta.videos))
        expect(Object.keys(groups.videos[video])).toEqual(Object.keys(entry.expressions));
      const counts = new Map<string, number>();
      for (const expressions of Object.values(groups.videos))
        for (const names of Object.values(expressions))
          for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
      expect(counts.get("motion-only")).toBe(valid.motionOnlyExpressions);
      expect(counts.get("uses-motion")).toBe(valid.attributeMix.motion);
      for (const [kind, count] of Object.entries(valid.attributeMix))
        if (kind !== "motion") expect(counts.get(kind) ?? 0, kind).toBe(count);
      expect([...counts.keys()].sort()).toEqual(
        [
          "motion-only",
          "uses-motion",
          ...Object.entries(valid.attributeMix)
            .filter(([kind, n]) => kind !== "motion" && n > 0)
            .map(([kind]) => kind),
        ].sort(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
