/**
 * Scene planning: which objects a video holds, how they look and where they are in every frame.
 * A scene is a pure function of (options, split, video index); the renderer turns it into frames.
 *
 * Hard cases are planned rather than left to chance: an object may be placed on a collision course
 * with an earlier one (occlusion by depth order, lasting as long as the two overlap), a look-alike
 * (same category and colour) may cross its twin, an object may leave the frame and come back, and an
 * object may appear mid-video.
 */
import { categoryWeights, type SynthOptions } from "./options.js";
import { Rng } from "../core/rng.js";
import { hash4 } from "./hash.js";
import { CATEGORIES, COLOURS, TEXTURES, type Texture } from "./shapes.js";

export type MotionKind = "drift" | "bounce" | "directional" | "stops" | "static" | "exit-return";

/** Why an object was planned the way it was (recorded for statistics and tests). */
export type ObjectRole = "free" | "crossing" | "look-alike";

export interface SceneObject {
  /** 1-based id: the object's label in the label map and its id in palette masks. */
  id: number;
  category: number;
  colour: number;
  rgb: [number, number, number];
  texture: Texture;
  /** Radius in pixels at scale 1. */
  radius: number;
  /** Width/height ratio of the shape in its own frame. */
  aspect: number;
  /** Larger is nearer: a nearer object hides a farther one. */
  depth: number;
  motion: MotionKind;
  role: ObjectRole;
  /** The earlier object this one was planned to cross or copy (0 = none). */
  partner: number;
  /** The object exists in frames [start, end). */
  start: number;
  end: number;
  /** World position (image coordinates before camera shake), scale and rotation per frame. */
  x: Float64Array;
  y: Float64Array;
  scale: Float64Array;
  angle: Float64Array;
}

export interface Background {
  base: [number, number, number];
  /** Low-frequency value-noise grid: cell size and per-node brightness offsets. */
  cell: number;
  gridW: number;
  gridH: number;
  grid: Float32Array;
  /** Two sinusoidal waves: [kx, ky, phase, amplitude] each. */
  waves: [number, number, number, number][];
  /** Per-channel tint of the noise pattern (so the background is not grey). */
  tint: [number, number, number];
}

export interface Scene {
  name: string;
  split: "train" | "valid";
  index: number;
  width: number;
  height: number;
  frames: number;
  seed: number;
  objects: SceneObject[];
  background: Background;
  /** Integer camera offset per frame. */
  shakeX: Int8Array;
  shakeY: Int8Array;
  /** Global brightness factor per frame. */
  light: Float32Array;
}

/** Uniform integer in [lo, hi] (both inclusive). */
function intIn(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

/** An index drawn with probability proportional to `weights`. */
function weightedIndex(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((sum, w) => sum + w, 0);
  let r = rng.uniform() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}

/** Name of the video directory: stable and sortable. */
export function videoName(split: string, index: number): string {
  return `${split}_${String(index).padStart(5, "0")}`;
}

interface PathSpec {
  anchor: number;
  ax: number;
  ay: number;
  vx: number;
  vy: number;
  /** Rotation of the velocity per frame (radians): curved paths. */
  turn: number;
  /** Bounce walls for the centre, or null for a free straight line. */
  bounds: { x0: number; x1: number; y0: number; y1: number } | null;
  /** The object stops (smoothly) from this frame on; Infinity = never. */
  stopFrame: number;
}

/** Integrates a path forward and backward from its anchor frame, reflecting off the walls. */
function simulatePath(frames: number, spec: PathSpec, x: Float64Array, y: Float64Array): void {
  for (const direction of [1, -1]) {
    let px = spec.ax;
    let py = spec.ay;
    let vx = spec.vx * direction;
    let vy = spec.vy * direction;
    const turnCos = Math.cos(spec.turn * direction);
    const turnSin = Math.sin(spec.turn * direction);
    for (let t = spec.anchor; t >= 0 && t < frames; t += direction) {
      x[t] = px;
      y[t] = py;
      // Speed ramps down over 3 frames after the stop frame (forward time only).
      const ramp = direction > 0 ? Math.min(1, Math.max(0, (spec.stopFrame + 3 - t - 1) / 3)) : 1;
      const nvx = vx * turnCos - vy * turnSin;
      vy = vx * turnSin + vy * turnCos;
      vx = nvx;
      px += vx * ramp;
      py += vy * ramp;
      const b = spec.bounds;
      if (b) {
        if (px < b.x0) [px, vx] = [2 * b.x0 - px, -vx];
        if (px > b.x1) [px, vx] = [2 * b.x1 - px, -vx];
        if (py < b.y0) [py, vy] = [2 * b.y0 - py, -vy];
        if (py > b.y1) [py, vy] = [2 * b.y1 - py, -vy];
      }
    }
  }
}

function makeBackground(rng: Rng, width: number, height: number, margin: number): Background {
  const cell = rng.choice([8, 12, 16, 24]);
  const gridW = Math.ceil((width + 2 * margin) / cell) + 2;
  const gridH = Math.ceil((height + 2 * margin) / cell) + 2;
  const grid = new Float32Array(gridW * gridH);
  const contrast = rng.range(15, 40);
  for (let i = 0; i < grid.length; i++) grid[i] = (rng.uniform() - 0.5) * contrast;
  const waves: [number, number, number, number][] = [];
  for (let i = 0; i < 2; i++) {
    const period = rng.range(6, 40);
    const a = rng.range(0, Math.PI);
    waves.push([
      (Math.cos(a) * 2 * Math.PI) / period,
      (Math.sin(a) * 2 * Math.PI) / period,
      rng.range(0, 2 * Math.PI),
      rng.range(0, 12),
    ]);
  }
  // Muted, fairly dark base colours, so named object colours stay distinct from the background.
  const grey = rng.range(60, 125);
  const base: [number, number, number] = [0, 1, 2].map(() => grey + rng.range(-22, 22)) as [
    number,
    number,
    number,
  ];
  const tint: [number, number, number] = [0, 1, 2].map(() => rng.range(0.7, 1.3)) as [number, number, number];
  return { base, cell, gridW, gridH, grid, waves, tint };
}

/** Categories whose shape covers the disc of most of their radius: they can hide a smaller object. */
const SOLID = ["circle", "square", "ellipse", "hexagon"].map((name) =>
  CATEGORIES.indexOf(name as (typeof CATEGORIES)[number]),
);

const FREE_MOTIONS: readonly MotionKind[] = ["drift", "drift", "bounce", "directional", "stops", "static"];

/** Builds the scene of video `index` of a split. */
export function planScene(options: SynthOptions, split: "train" | "valid", index: number): Scene {
  const rng = new Rng(hash4(options.seed, split === "train" ? 1 : 2, index, 0x5c3e));
  const { width: W, height: H, frames: T } = options;
  const short = Math.min(W, H);
  const margin = Math.ceil(options.shake) + 1;
  const background = makeBackground(rng, W, H, margin);
  const weights = categoryWeights(options, split);
  const count = intIn(rng, options.objectsMin, options.objectsMax);
  const baseSpeed = options.speed * 0.012 * short;
  const objects: SceneObject[] = [];
  const encounters = new Array<number>(count + 1).fill(0);
  const hasTwin = new Array<boolean>(count + 1).fill(false);

  for (let id = 1; id <= count; id++) {
    // A partner is drawn among the earlier objects partnered least often, so that planned encounters
    // spread over the scene instead of piling every object onto one; an object has at most one twin.
    const fewest = Math.min(...objects.map((o) => encounters[o.id]));
    const earlier =
      objects.length > 0 ? rng.choice(objects.filter((o) => encounters[o.id] === fewest)) : null;
    let role: ObjectRole = "free";
    if (earlier && !hasTwin[earlier.id] && rng.bernoulli(options.distractors)) role = "look-alike";
    else if (earlier && rng.bernoulli(options.occlusion)) role = "crossing";
    const partner = role === "free" ? null : earlier!;
    if (partner) encounters[partner.id]++;
    if (role === "look-alike") hasTwin[partner!.id] = hasTwin[id] = true;

    let category = role === "look-alike" ? partner!.category : weightedIndex(rng, weights);
    const colour = role === "look-alike" ? partner!.colour : intIn(rng, 0, COLOURS.length - 1);
    const jitter = () => rng.range(-14, 14);
    const rgb = COLOURS[colour].rgb.map((c) => Math.max(0, Math.min(255, c + jitter()))) as [
      number,
      number,
      number,
    ];
    const texture: Texture =
      role === "look-alike"
        ? { ...partner!.texture }
        : {
            kind: rng.choice(TEXTURES),
            frequency: rng.range(4, 10),
            amplitude: rng.range(0.08, 0.2),
            angle: rng.range(0, Math.PI),
          };
    let radius = rng.range(options.sizeMin, options.sizeMax) * short;
    if (role === "look-alike") radius = partner!.radius * rng.range(0.92, 1.08);
    // Some crossings are by a larger object in front: a full occlusion of several frames.
    const occluder = role === "crossing" && rng.bernoulli(options.occluders);
    if (occluder && options.solidOccluders && !SOLID.includes(category)) {
      // Hollow or spiky shapes (ring, star, cross, triangle) cannot hide an object of similar size.
      category =
        SOLID[
          weightedIndex(
            rng,
            SOLID.map((k) => weights[k]),
          )
        ];
    }
    if (occluder) radius = Math.min(partner!.radius * rng.range(1.35, 1.7), options.sizeMax * 1.25 * short);
    // Circles stay round-ish; other shapes vary more in aspect.
    const aspectSpread = CATEGORIES[category] === "circle" || CATEGORIES[category] === "ring" ? 0.06 : 0.18;
    const aspect = role === "look-alike" ? partner!.aspect : Math.exp(rng.range(-aspectSpread, aspectSpread));
    const extent = radius * 1.15 * Math.sqrt(Math.max(aspect, 1 / aspect));

    let start = 0;
    if (T >= 8 && rng.bernoulli(options.late)) start = intIn(rng, Math.ceil(0.2 * T), Math.floor(0.6 * T));
    const end = T;

    let motion: MotionKind = rng.choice(FREE_MOTIONS);
    if (role !== "free") motion = rng.bernoulli(0.5) ? "drift" : "bounce";
    else if (T >= 12 && rng.bernoulli(options.exits)) motion = "exit-return";
    if (options.speed === 0) motion = "static";

    const inFrame = { x0: extent * 0.8, x1: W - extent * 0.8, y0: extent * 0.8, y1: H - extent * 0.8 };
    const speed = baseSpeed * rng.range(0.6, 1.4);
    const heading = rng.range(0, 2 * Math.PI);
    const spec: PathSpec = {
      anchor: start,
      ax: rng.range(inFrame.x0, inFrame.x1),
      ay: rng.range(inFrame.y0, inFrame.y1),
      vx: speed * Math.cos(heading),
      vy: speed * Math.sin(heading),
      turn: rng.range(-0.03, 0.03),
      bounds: inFrame,
      stopFrame: Infinity,
    };

    if (partner) {
      // Meet the partner near its position at a frame both exist, moving across its path.
      const first = Math.max(start, partner.start);
      const last = occluder ? Math.max(first, Math.floor(options.occludersBy * (T - 1))) : T - 1;
      const tc = intIn(rng, first, last);
      const offset = partner.radius * 0.3;
      spec.anchor = tc;
      spec.ax = partner.x[tc] + rng.range(-offset, offset);
      spec.ay = partner.y[tc] + rng.range(-offset, offset);
      const pvx = tc + 1 < T ? partner.x[tc + 1] - partner.x[tc] : 0;
      const pvy = tc + 1 < T ? partner.y[tc + 1] - partner.y[tc] : 0;
      const across = Math.atan2(pvy, pvx) + (rng.bernoulli(0.5) ? 1 : -1) * rng.range(Math.PI / 3, Math.PI);
      // Slow relative motion: the overlap lasts several frames.
      const crossingSpeed = baseSpeed * rng.range(0.5, 1.0);
      spec.vx = crossingSpeed * Math.cos(across);
      spec.vy = crossingSpeed * Math.sin(across);
      spec.turn = rng.range(-0.01, 0.01);
    } else if (motion === "static") {
      spec.vx = 0;
      spec.vy = 0;
      spec.turn = 0;
    } else if (motion === "directional") {
      // A straight run across about a third of the frame over the object's life.
      const life = Math.max(1, end - start - 1);
      const dir = intIn(rng, 0, 3);
      const unit = [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ][dir];
      const run = Math.min(0.45 * short, Math.max(0.3 * short, baseSpeed * 0.8 * life));
      const v = (run / life) * (options.speed > 0 ? 1 : 0);
      const wobble = rng.range(-0.15, 0.15);
      spec.vx = v * (unit[0] + wobble * unit[1]);
      spec.vy = v * (unit[1] + wobble * unit[0]);
      spec.turn = 0;
      spec.bounds = null;
      spec.ax = W / 2 - (unit[0] * run) / 2 + rng.range(-0.2, 0.2) * W * Math.abs(unit[1]);
      spec.ay = H / 2 - (unit[1] * run) / 2 + rng.range(-0.2, 0.2) * H * Math.abs(unit[0]);
    } else if (motion === "stops") {
      const life = end - start;
      spec.stopFrame = start + Math.round(life * rng.range(0.3, 0.6));
      spec.turn = rng.range(-0.01, 0.01);
    } else if (motion === "exit-return") {
      // Anchor mid-video just outside an edge, heading out; the walls lie far enough outside that the
      // object stays out for a few frames before it bounces back in.
      const edge = intIn(rng, 0, 3);
      const gap = intIn(rng, 3, Math.max(4, Math.round(T / 8)));
      const out = extent + (speed * gap) / 2;
      const earliest = Math.min(T - 1, Math.max(start + 2, Math.floor(0.3 * T)));
      spec.anchor = intIn(rng, earliest, Math.max(earliest, Math.floor(0.7 * T)));
      spec.bounds = { x0: -out, x1: W + out, y0: -out, y1: H + out };
      const normal = [
        [-1, 0],
        [1, 0],
        [0, -1],
        [0, 1],
      ][edge];
      const along = rng.range(0.25, 0.75);
      spec.ax = normal[0] === 0 ? along * W : normal[0] < 0 ? -extent : W + extent;
      spec.ay = normal[1] === 0 ? along * H : normal[1] < 0 ? -extent : H + extent;
      const a = Math.atan2(normal[1], normal[0]) + rng.range(-0.6, 0.6);
      const v = Math.max(speed, baseSpeed);
      spec.vx = v * Math.cos(a);
      spec.vy = v * Math.sin(a);
      spec.turn = 0;
    } else if (motion === "bounce") {
      spec.vx *= 1.4;
      spec.vy *= 1.4;
    }
    if (!partner && start === 0 && spec.bounds === inFrame) {
      // Spread free objects out at their anchor frame: keep the candidate farthest from the others.
      let best = { x: spec.ax, y: spec.ay, clearance: -Infinity };
      for (let attempt = 0; attempt < 20; attempt++) {
        const cx = rng.range(inFrame.x0, inFrame.x1);
        const cy = rng.range(inFrame.y0, inFrame.y1);
        let clearance = Infinity;
        for (const other of objects) {
          if (other.start > spec.anchor) continue;
          const d = Math.hypot(other.x[spec.anchor] - cx, other.y[spec.anchor] - cy) - other.radius - radius;
          clearance = Math.min(clearance, d);
        }
        if (clearance > best.clearance) best = { x: cx, y: cy, clearance };
        if (clearance > radius) break;
      }
      spec.ax = best.x;
      spec.ay = best.y;
    }

    const x = new Float64Array(T);
    const y = new Float64Array(T);
    simulatePath(T, spec, x, y);
    const scale = new Float64Array(T);
    const angle = new Float64Array(T);
    const scaleAmp = motion === "static" ? 0 : rng.range(0, 0.15);
    const scalePeriod = rng.range(Math.max(8, T / 2), Math.max(16, 2 * T));
    const scalePhase = rng.range(0, 2 * Math.PI);
    const spin = motion === "static" ? 0 : rng.range(-0.04, 0.04) * Math.min(options.speed, 2);
    const angle0 = rng.range(0, 2 * Math.PI);
    for (let t = 0; t < T; t++) {
      scale[t] = 1 + scaleAmp * Math.sin((2 * Math.PI * t) / scalePeriod + scalePhase);
      angle[t] = angle0 + spin * t;
    }

    let depth = rng.uniform();
    if (partner)
      depth =
        occluder || rng.bernoulli(0.5)
          ? partner.depth + rng.range(0.01, 1)
          : partner.depth - rng.range(0.01, 1);
    objects.push({
      id,
      category,
      colour,
      rgb,
      texture,
      radius,
      aspect,
      depth,
      motion,
      role,
      partner: partner ? partner.id : 0,
      start,
      end,
      x,
      y,
      scale,
      angle,
    });
  }

  const shakeX = new Int8Array(T);
  const shakeY = new Int8Array(T);
  const amplitude = Math.floor(options.shake);
  let sx = 0;
  let sy = 0;
  for (let t = 0; t < T; t++) {
    if (amplitude > 0) {
      sx = Math.max(-amplitude, Math.min(amplitude, sx + intIn(rng, -1, 1)));
      sy = Math.max(-amplitude, Math.min(amplitude, sy + intIn(rng, -1, 1)));
    }
    shakeX[t] = sx;
    shakeY[t] = sy;
  }
  const light = new Float32Array(T);
  const lightPeriod = rng.range(Math.max(10, T / 2), Math.max(20, 2 * T));
  const lightPhase = rng.range(0, 2 * Math.PI);
  for (let t = 0; t < T; t++)
    light[t] = 1 + options.lighting * Math.sin((2 * Math.PI * t) / lightPeriod + lightPhase);

  return {
    name: videoName(split, index),
    split,
    index,
    width: W,
    height: H,
    frames: T,
    seed: rng.next(),
    objects,
    background,
    shakeX,
    shakeY,
    light,
  };
}
