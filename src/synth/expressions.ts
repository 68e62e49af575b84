/**
 * Referring expressions for synthetic videos: what each object looks like and does (observed on the
 * rendered frames, not taken from the generator's intent), sentences from a small controlled grammar
 * that name exactly one object, and a checker that parses a sentence back and counts the objects it fits.
 *
 * Facts are three-valued (yes / no / maybe): a measurement near a threshold is "maybe". The generator
 * only uses facts that are a clear "yes" for the target; the checker counts every object that is not a
 * clear "no", so a borderline look-alike makes an expression ambiguous rather than silently wrong.
 *
 * Grammar (lower case, words separated by spaces):
 *   expression := "the" premodifier* noun postmodifier* [("that" | "which") clause ("and" clause)*]
 *   noun       := a category word ("square", "box", …) | a generic word ("shape", "object", "thing")
 * Premodifiers are adjectives (colour, size, position, "motionless"), postmodifiers are phrases such as
 * "on the left" or "moving up", clauses are verb phrases such as "stops" or "is small" (the lexicon
 * below lists them all).
 *
 * Semantics: colour, category, motion and time are properties of one object. Size and position are
 * relations: they compare the object with the other objects that fit the rest of the expression ("the
 * small blue star" is the clearly smallest of the blue stars), so they need at least two such objects.
 */
import type { Rng } from "../core/rng.js";
import type { Scene } from "./scene.js";
import { CATEGORIES, COLOURS } from "./shapes.js";

// ---------------------------------------------------------------------------------------------------
// Predicates

export type Truth = "yes" | "no" | "maybe";
export type Direction = "left" | "right" | "up" | "down";
export type Side = "left" | "right" | "top" | "bottom";
export type MotionState = "still" | "stops" | "moving";
export type SizeClass = "small" | "large";

export type Predicate =
  | { kind: "category"; category: number }
  | { kind: "colour"; colour: number }
  | { kind: "size"; size: SizeClass }
  | { kind: "position"; side: Side }
  | { kind: "direction"; direction: Direction }
  | { kind: "state"; state: MotionState }
  | { kind: "appears-later" }
  | { kind: "leaves-returns" };

export type PredicateKind = Predicate["kind"];

/** Kinds that need the video over time to be judged (MeViS-style motion expressions). */
export const TEMPORAL_KINDS: ReadonlySet<PredicateKind> = new Set([
  "direction",
  "state",
  "appears-later",
  "leaves-returns",
]);

/** Kinds judged by comparison with the other candidates. */
const RELATIONAL_KINDS: ReadonlySet<PredicateKind> = new Set(["size", "position"]);

/** A canonical string for a predicate (for sets and statistics). */
export function predicateKey(p: Predicate): string {
  switch (p.kind) {
    case "category":
      return `category:${CATEGORIES[p.category]}`;
    case "colour":
      return `colour:${COLOURS[p.colour].name}`;
    case "size":
      return `size:${p.size}`;
    case "position":
      return `position:${p.side}`;
    case "direction":
      return `direction:${p.direction}`;
    case "state":
      return `state:${p.state}`;
    default:
      return p.kind;
  }
}

// ---------------------------------------------------------------------------------------------------
// Observed facts

export interface ObjectFacts {
  id: number;
  category: number;
  colour: number;
  /** Frames with at least one visible pixel. */
  visibleFrames: number;
  firstVisible: number;
  lastVisible: number;
  /** Typical area in pixels (median over frames where it is not cut by the border); NaN if always cut. */
  size: number;
  /** Mean centre of the visible pixels over the frames where the object is clearly seen. */
  centreX: number;
  centreY: number;
  direction: Record<Direction, Truth>;
  state: Record<MotionState, Truth>;
  appearsLater: Truth;
  leavesReturns: Truth;
}

export interface VideoFacts {
  width: number;
  height: number;
  frames: number;
  /** Every object of the scene, in id order; objects never visible cannot be referred to. */
  objects: ObjectFacts[];
}

/** What the observer needs from a rendered frame (a `RenderedFrame` fits). */
export interface ObservedFrame {
  labels: Uint8Array;
  fullArea: Int32Array;
  visibleArea: Int32Array;
}

/** Thresholds, as fractions of the short side of the frame unless noted. */
const MOVE_CLEAR = 0.15; // net displacement that clearly counts as "moving left"
const MOVE_NONE = 0.05; // net displacement below which it clearly does not
const STILL_RADIUS = 0.04; // centre jitter (camera shake) still counted as not moving
const POSITION_CLEAR = 0.15; // gap between mean centres that makes "on the left" clear
const POSITION_NONE = 0.03;
const SIZE_CLEAR = 1.5; // area ratio that makes "small"/"large" clear
const SIZE_NONE = 1.15;

/**
 * Accumulates per-frame measurements of every object while a video is rendered (frames in order), then
 * turns them into facts. Memory: a few numbers per object and frame.
 */
export class SceneObserver {
  private readonly count: number;
  private readonly visible: number[][] = [];
  private readonly full: number[][] = [];
  private readonly sumX: number[][] = [];
  private readonly sumY: number[][] = [];
  /** Whether the object's visible pixels touch the image border (it may be cut there). */
  private readonly border: boolean[][] = [];

  constructor(private readonly scene: Scene) {
    this.count = scene.objects.length;
  }

  add(frame: ObservedFrame): void {
    const { width, height } = this.scene;
    const n = this.count + 1;
    const sx = new Float64Array(n);
    const sy = new Float64Array(n);
    const area = new Float64Array(n);
    const border = new Uint8Array(n);
    for (let y = 0, p = 0; y < height; y++) {
      const edgeRow = y === 0 || y === height - 1;
      for (let x = 0; x < width; x++, p++) {
        const label = frame.labels[p];
        if (label === 0) continue;
        area[label]++;
        sx[label] += x + 0.5;
        sy[label] += y + 0.5;
        if (edgeRow || x === 0 || x === width - 1) border[label] = 1;
      }
    }
    this.visible.push(Array.from(area));
    this.full.push(Array.from({ length: n }, (_, id) => frame.fullArea[id] ?? 0));
    this.sumX.push(Array.from(sx));
    this.sumY.push(Array.from(sy));
    this.border.push(Array.from(border, (b) => b === 1));
  }

  facts(): VideoFacts {
    const { width, height, frames } = this.scene;
    if (this.visible.length !== frames) {
      throw new Error(`observed ${this.visible.length} frames of a ${frames}-frame scene`);
    }
    const objects = this.scene.objects.map((object) =>
      this.objectFacts(object.id, object.category, object.colour),
    );
    return { width, height, frames, objects };
  }

  private objectFacts(id: number, category: number, colour: number): ObjectFacts {
    const { width, height, frames } = this.scene;
    const short = Math.min(width, height);
    const visible = this.visible.map((row) => row[id]);
    const full = this.full.map((row) => row[id]);
    const seen = visible.flatMap((v, t) => (v > 0 ? [t] : []));
    const firstVisible = seen.length > 0 ? seen[0] : -1;
    const lastVisible = seen.length > 0 ? seen[seen.length - 1] : -1;
    const reference = Math.max(0, ...full);
    // Size from the frames where the object is not cut by the border; unknown if it always is.
    const uncut = seen.filter((t) => !this.border[t][id]);
    const size = uncut.length > 0 ? median(uncut.map((t) => full[t])) : NaN;

    // Where it is seen: the mean centre of its visible pixels over the frames where a good part of it
    // shows (all frames with visible pixels if there are none such).
    const clear = seen.filter((t) => visible[t] >= 0.25 * full[t]);
    const centreFrames = clear.length > 0 ? clear : seen;
    let centreX = NaN;
    let centreY = NaN;
    if (centreFrames.length > 0) {
      centreX = centreFrames.reduce((sum, t) => sum + this.sumX[t][id] / visible[t], 0) / centreFrames.length;
      centreY = centreFrames.reduce((sum, t) => sum + this.sumY[t][id] / visible[t], 0) / centreFrames.length;
    }

    // How it moves: the drawn centre (path plus camera shake) in the frames where a good part of it
    // shows. The visible pixels' own centre would swing with every partial occlusion, but a viewer
    // still sees where the shape is.
    const object = this.scene.objects.find((o) => o.id === id)!;
    const track = clear.map((t) => ({
      t,
      x: object.x[t] + this.scene.shakeX[t],
      y: object.y[t] + this.scene.shakeY[t],
    }));

    const direction: Record<Direction, Truth> = { left: "maybe", right: "maybe", up: "maybe", down: "maybe" };
    const state: Record<MotionState, Truth> = { still: "maybe", stops: "maybe", moving: "maybe" };
    // Motion is only judged from a track that covers most of the time the object is visible.
    const span = track.length > 0 ? track[track.length - 1].t - track[0].t + 1 : 0;
    if (track.length >= 3 && span >= Math.max(3, 0.6 * (lastVisible - firstVisible + 1))) {
      const first = track[0];
      const last = track[track.length - 1];
      const net: Record<Direction, number> = {
        left: first.x - last.x,
        right: last.x - first.x,
        up: first.y - last.y,
        down: last.y - first.y,
      };
      const across: Record<Direction, number> = {
        left: Math.abs(last.y - first.y),
        right: Math.abs(last.y - first.y),
        up: Math.abs(last.x - first.x),
        down: Math.abs(last.x - first.x),
      };
      for (const d of ["left", "right", "up", "down"] as const) {
        const along = net[d] / short;
        if (along >= MOVE_CLEAR && net[d] >= 2 * across[d]) direction[d] = "yes";
        else if (along <= MOVE_NONE || net[d] <= across[d]) direction[d] = "no";
      }

      const still = Math.max(3, STILL_RADIUS * short);
      const away = (p: { x: number; y: number }) => Math.hypot(p.x - last.x, p.y - last.y);
      const spreadAll = Math.max(...track.map(away));
      // "Stops": at rest (within the jitter radius of the final position) for the last part of the
      // track, seen in at least 3 frames, after having moved clearly.
      const lastAway = track.reduce((t, p) => (away(p) > still ? p.t : t), -1);
      const rest = track.filter((p) => p.t > lastAway);
      const restFrames = last.t - lastAway;
      const minRest = Math.max(3, Math.round(0.25 * span));
      // The final stretch of the track: whether the object still moves at the end.
      const finalStretch = track.filter((p) => p.t >= last.t - Math.max(2, Math.round(0.3 * span)));
      const finalMotion = Math.max(...finalStretch.map(away));

      if (spreadAll <= still) state.still = "yes";
      else if (spreadAll >= 2.5 * still) state.still = "no";

      if (lastAway >= 0 && restFrames >= minRest && rest.length >= 3 && spreadAll >= 0.12 * short) {
        state.stops = "yes";
      } else if (finalMotion >= 2.5 * still || spreadAll <= 2.5 * still) state.stops = "no";

      if (finalMotion >= 2.5 * still && spreadAll >= 0.12 * short) state.moving = "yes";
      else if (finalMotion <= still) state.moving = "no";
    }

    let appearsLater: Truth = "maybe";
    if (firstVisible === 0) appearsLater = "no";
    else if (firstVisible >= Math.max(2, Math.ceil(0.2 * frames))) appearsLater = "yes";

    // Leaving: the whole shape is outside the frame for a while between visible frames.
    let leavesReturns: Truth = "maybe";
    if (seen.length > 0) {
      const inside = full.slice(firstVisible, lastVisible + 1);
      if (inside.some((a) => a === 0)) leavesReturns = "yes";
      else if (Math.min(...inside) >= 0.3 * reference) leavesReturns = "no";
    }

    return {
      id,
      category,
      colour,
      visibleFrames: seen.length,
      firstVisible,
      lastVisible,
      size,
      centreX,
      centreY,
      direction,
      state,
      appearsLater,
      leavesReturns,
    };
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// ---------------------------------------------------------------------------------------------------
// Evaluating predicates

/** Whether an object can be referred to at all: it has visible pixels in some frame. */
export function isReferable(object: ObjectFacts): boolean {
  return object.visibleFrames > 0;
}

function absoluteTruth(p: Predicate, o: ObjectFacts): Truth {
  switch (p.kind) {
    case "category":
      return o.category === p.category ? "yes" : "no";
    case "colour":
      return o.colour === p.colour ? "yes" : "no";
    case "direction":
      return o.direction[p.direction];
    case "state":
      return o.state[p.state];
    case "appears-later":
      return o.appearsLater;
    case "leaves-returns":
      return o.leavesReturns;
    default:
      throw new Error(`${p.kind} is relational`);
  }
}

function and(a: Truth, b: Truth): Truth {
  if (a === "no" || b === "no") return "no";
  return a === "maybe" || b === "maybe" ? "maybe" : "yes";
}

/**
 * Truth of a relational predicate for `o` among the candidates `others` (the other objects that fit the
 * expression's absolute predicates). "Yes" needs a clear margin over every other candidate; "no" needs
 * some candidate clearly ahead of `o`.
 */
function relationalTruth(
  p: Predicate,
  o: ObjectFacts,
  others: readonly ObjectFacts[],
  video: VideoFacts,
): Truth {
  if (others.length === 0) return "maybe"; // "the small star" needs another star to compare with
  if (p.kind === "size") {
    if (Number.isNaN(o.size)) return "maybe";
    // Ratio > 1 means o is ahead (smaller for "small", larger for "large").
    const ratio = (other: ObjectFacts) => (p.size === "small" ? other.size / o.size : o.size / other.size);
    // NaN ratios (an object always cut by the border) compare false: never "yes", never "no".
    if (others.every((other) => ratio(other) >= SIZE_CLEAR)) return "yes";
    if (others.some((other) => ratio(other) <= 1 / SIZE_NONE)) return "no";
    return "maybe";
  }
  if (p.kind === "position") {
    const horizontal = p.side === "left" || p.side === "right";
    const extent = horizontal ? video.width : video.height;
    const sign = p.side === "left" || p.side === "top" ? 1 : -1;
    // Lead > 0 means o is further towards the side than the other.
    const lead = (other: ObjectFacts) =>
      (sign * (horizontal ? other.centreX - o.centreX : other.centreY - o.centreY)) / extent;
    if (others.every((other) => lead(other) >= POSITION_CLEAR)) return "yes";
    if (others.some((other) => lead(other) <= -POSITION_NONE)) return "no";
    return "maybe";
  }
  throw new Error(`${p.kind} is not relational`);
}

/**
 * Truth of a whole expression (its predicates) for every object of the video, in object order.
 * Never-visible objects are "no". Relational predicates compare each candidate with the other objects
 * that are not a clear "no" on the absolute predicates.
 */
export function evaluatePredicates(predicates: readonly Predicate[], video: VideoFacts): Truth[] {
  const absolute = predicates.filter((p) => !RELATIONAL_KINDS.has(p.kind));
  const relational = predicates.filter((p) => RELATIONAL_KINDS.has(p.kind));
  const base = video.objects.map((o): Truth => {
    if (!isReferable(o)) return "no";
    return absolute.reduce<Truth>((truth, p) => and(truth, absoluteTruth(p, o)), "yes");
  });
  const candidates = video.objects.filter((_, k) => base[k] !== "no");
  return video.objects.map((o, k) => {
    if (base[k] === "no") return "no";
    const others = candidates.filter((c) => c !== o);
    return relational.reduce<Truth>((truth, p) => and(truth, relationalTruth(p, o, others, video)), base[k]);
  });
}

export interface Resolution {
  /** The referred object's id when exactly one object fits and it fits clearly; otherwise null. */
  objectId: number | null;
  /** Ids of every object that is not a clear "no". */
  matches: number[];
}

/** Resolves predicates on a video: valid when exactly one object is not a clear "no", and it is a "yes". */
export function resolvePredicates(predicates: readonly Predicate[], video: VideoFacts): Resolution {
  const truths = evaluatePredicates(predicates, video);
  const matches = video.objects.filter((_, k) => truths[k] !== "no").map((o) => o.id);
  const unique =
    matches.length === 1 && truths[video.objects.findIndex((o) => o.id === matches[0])] === "yes";
  return { objectId: unique ? matches[0] : null, matches };
}

// ---------------------------------------------------------------------------------------------------
// Lexicon: each phrase maps to one predicate. The realiser picks among synonyms; the parser reads any.

interface Phrase {
  words: string;
  predicate: Predicate;
}

const CATEGORY_WORDS: Record<string, readonly string[]> = {
  circle: ["circle", "disk", "round disk"],
  square: ["square", "box"],
  triangle: ["triangle"],
  star: ["star"],
  ring: ["ring", "donut"],
  cross: ["cross", "plus sign"],
  ellipse: ["ellipse", "oval"],
  hexagon: ["hexagon"],
};

const GENERIC_NOUNS = ["shape", "object", "thing"] as const;

const NOUNS: Phrase[] = CATEGORIES.flatMap((name, category) =>
  CATEGORY_WORDS[name].map((words) => ({ words, predicate: { kind: "category", category } as Predicate })),
);

const colour = (c: number): Predicate => ({ kind: "colour", colour: c });
const size = (s: SizeClass): Predicate => ({ kind: "size", size: s });
const side = (s: Side): Predicate => ({ kind: "position", side: s });
const direction = (d: Direction): Predicate => ({ kind: "direction", direction: d });
const state = (s: MotionState): Predicate => ({ kind: "state", state: s });
const LATER: Predicate = { kind: "appears-later" };
const RETURNS: Predicate = { kind: "leaves-returns" };

const phrases = (predicate: Predicate, words: readonly string[]): Phrase[] =>
  words.map((w) => ({ words: w, predicate }));

/** Adjectives before the noun, in the order they are written. */
const PREMODIFIERS: Phrase[] = [
  ...phrases(side("left"), ["leftmost"]),
  ...phrases(side("right"), ["rightmost"]),
  ...phrases(side("top"), ["topmost", "upper"]),
  ...phrases(side("bottom"), ["bottommost", "lower"]),
  ...phrases(size("small"), ["small", "smaller", "little", "smallest"]),
  ...phrases(size("large"), ["large", "big", "bigger", "largest"]),
  ...phrases(state("still"), ["motionless", "stationary"]),
  ...COLOURS.flatMap((c, k) => phrases(colour(k), [c.name])),
];

/** Phrases right after the noun. */
const POSTMODIFIERS: Phrase[] = [
  ...phrases(side("left"), ["on the left", "at the left"]),
  ...phrases(side("right"), ["on the right", "at the right"]),
  ...phrases(side("top"), ["at the top", "near the top"]),
  ...phrases(side("bottom"), ["at the bottom", "near the bottom"]),
  ...phrases(direction("left"), ["moving left", "heading left", "going to the left"]),
  ...phrases(direction("right"), ["moving right", "heading right", "going to the right"]),
  ...phrases(direction("up"), ["moving up", "heading upward", "going up"]),
  ...phrases(direction("down"), ["moving down", "heading downward", "going down"]),
  ...phrases(state("still"), ["standing still"]),
  ...phrases(state("moving"), ["moving the whole time"]),
];

/** Verb phrases after "that" / "which", joined by "and". */
const CLAUSES: Phrase[] = [
  ...phrases(size("small"), ["is small", "is smaller", "is the smallest"]),
  ...phrases(size("large"), ["is large", "is bigger", "is the largest"]),
  ...phrases(side("left"), ["is on the left"]),
  ...phrases(side("right"), ["is on the right"]),
  ...phrases(side("top"), ["is at the top"]),
  ...phrases(side("bottom"), ["is at the bottom"]),
  ...phrases(direction("left"), ["moves left", "goes left", "moves to the left", "travels left"]),
  ...phrases(direction("right"), ["moves right", "goes right", "moves to the right", "travels right"]),
  ...phrases(direction("up"), ["moves up", "goes up", "rises", "moves upward"]),
  ...phrases(direction("down"), ["moves down", "goes down", "sinks", "moves downward"]),
  ...phrases(state("stops"), ["stops", "comes to a stop", "stops moving"]),
  ...phrases(state("still"), ["stays still", "does not move", "never moves"]),
  ...phrases(state("moving"), ["keeps moving", "never stops", "moves all the time"]),
  ...phrases(LATER, ["appears later", "shows up later", "appears after a while"]),
  ...phrases(RETURNS, [
    "leaves and comes back",
    "leaves the frame and returns",
    "goes out of view and comes back",
  ]),
];

/** Premodifier order: position, size, state, colour ("the leftmost small blue star"). */
const PREMODIFIER_RANK: Record<PredicateKind, number> = {
  position: 0,
  size: 1,
  state: 2,
  colour: 3,
  category: 9,
  direction: 9,
  "appears-later": 9,
  "leaves-returns": 9,
};

function samePredicate(a: Predicate, b: Predicate): boolean {
  return predicateKey(a) === predicateKey(b);
}

function wordsFor(list: readonly Phrase[], p: Predicate): string[] {
  return list.filter((phrase) => samePredicate(phrase.predicate, p)).map((phrase) => phrase.words);
}

// ---------------------------------------------------------------------------------------------------
// Realisation

/**
 * Writes predicates as a sentence, choosing synonyms, the noun (category word, or a generic noun when
 * there is no category predicate) and where each attribute goes (before the noun, after it, or in a
 * relative clause).
 */
export function realise(predicates: readonly Predicate[], rng: Rng): string {
  const category = predicates.find((p) => p.kind === "category");
  const noun = category ? rng.choice(wordsFor(NOUNS, category)) : rng.choice(GENERIC_NOUNS);
  const pre: Predicate[] = [];
  let post: { predicate: Predicate; words: string } | null = null;
  const clauses: string[] = [];
  for (const p of rng.shuffle(predicates.filter((q) => q.kind !== "category"))) {
    const options: ("pre" | "post" | "clause")[] = [];
    if (wordsFor(PREMODIFIERS, p).length > 0) options.push("pre", "pre"); // adjectives are the usual form
    if (post === null && wordsFor(POSTMODIFIERS, p).length > 0) options.push("post");
    if (wordsFor(CLAUSES, p).length > 0) options.push("clause");
    const slot = rng.choice(options);
    if (slot === "pre") pre.push(p);
    else if (slot === "post") post = { predicate: p, words: rng.choice(wordsFor(POSTMODIFIERS, p)) };
    else clauses.push(rng.choice(wordsFor(CLAUSES, p)));
  }
  pre.sort((a, b) => PREMODIFIER_RANK[a.kind] - PREMODIFIER_RANK[b.kind]);
  const parts = ["the", ...pre.map((p) => rng.choice(wordsFor(PREMODIFIERS, p))), noun];
  if (post) parts.push(post.words);
  if (clauses.length > 0) parts.push(rng.choice(["that", "which"]), clauses.join(" and "));
  return parts.join(" ");
}

// ---------------------------------------------------------------------------------------------------
// Parsing (the checker's own reading of a sentence)

export type ParseResult = { ok: true; predicates: Predicate[] } | { ok: false; error: string };

/** The longest phrase of `list` that starts at token `at`, or null. */
function longestMatch(tokens: readonly string[], at: number, list: readonly Phrase[]): Phrase | null {
  let best: Phrase | null = null;
  let bestLength = 0;
  for (const phrase of list) {
    const words = phrase.words.split(" ");
    if (words.length <= bestLength || at + words.length > tokens.length) continue;
    if (words.every((w, k) => tokens[at + k] === w)) {
      best = phrase;
      bestLength = words.length;
    }
  }
  return best;
}

/** Parses a sentence of the grammar above into its predicates; anything else is an error. */
export function parseExpression(text: string): ParseResult {
  const tokens = text.trim().toLowerCase().split(/\s+/);
  let at = 0;
  const predicates: Predicate[] = [];
  const fail = (what: string): ParseResult => ({
    ok: false,
    error: `${what} at word ${at + 1} ("${tokens[at] ?? "end of sentence"}")`,
  });
  if (tokens[at] !== "the") return fail('expected "the"');
  at++;
  for (;;) {
    // A noun may be several words that start with an adjective-like word ("round disk"): try it first.
    const noun = longestMatch(tokens, at, NOUNS);
    if (noun) {
      predicates.push(noun.predicate);
      at += noun.words.split(" ").length;
      break;
    }
    if ((GENERIC_NOUNS as readonly string[]).includes(tokens[at])) {
      at++;
      break;
    }
    const adjective = longestMatch(tokens, at, PREMODIFIERS);
    if (!adjective) return fail("expected an adjective or a noun");
    predicates.push(adjective.predicate);
    at += adjective.words.split(" ").length;
  }
  for (;;) {
    const phrase = longestMatch(tokens, at, POSTMODIFIERS);
    if (!phrase) break;
    predicates.push(phrase.predicate);
    at += phrase.words.split(" ").length;
  }
  if (tokens[at] === "that" || tokens[at] === "which") {
    at++;
    for (;;) {
      const clause = longestMatch(tokens, at, CLAUSES);
      if (!clause) return fail("expected a verb phrase");
      predicates.push(clause.predicate);
      at += clause.words.split(" ").length;
      if (tokens[at] !== "and") break;
      at++;
    }
  }
  if (at < tokens.length) return fail("unexpected words");
  return { ok: true, predicates };
}

export interface CheckResult {
  /** The referred object's id, or null when the sentence is unparsable or fits no single object. */
  objectId: number | null;
  /** Why not, when objectId is null. */
  reason?: string;
  predicates: Predicate[];
  matches: number[];
}

/**
 * The checker: parses a sentence and evaluates it on every object of the video. It is valid iff exactly
 * one object fits, clearly.
 */
export function checkExpression(text: string, video: VideoFacts): CheckResult {
  const parsed = parseExpression(text);
  if (!parsed.ok) return { objectId: null, reason: parsed.error, predicates: [], matches: [] };
  const resolution = resolvePredicates(parsed.predicates, video);
  if (resolution.objectId !== null) return { ...resolution, predicates: parsed.predicates };
  const reason =
    resolution.matches.length === 0
      ? "fits no object"
      : resolution.matches.length === 1
        ? `fits object ${resolution.matches[0]} only as a borderline case`
        : `ambiguous: fits objects ${resolution.matches.join(", ")}`;
  return { ...resolution, reason, predicates: parsed.predicates };
}

// ---------------------------------------------------------------------------------------------------
// Choosing what to say

/** The target's clear absolute facts (relational ones depend on the other predicates). */
function absoluteFacts(o: ObjectFacts): Predicate[] {
  const facts: Predicate[] = [{ kind: "colour", colour: o.colour }];
  for (const d of ["left", "right", "up", "down"] as const)
    if (o.direction[d] === "yes") facts.push(direction(d));
  for (const s of ["still", "stops", "moving"] as const) if (o.state[s] === "yes") facts.push(state(s));
  if (o.appearsLater === "yes") facts.push(LATER);
  if (o.leavesReturns === "yes") facts.push(RETURNS);
  return facts;
}

const RELATIONS: Predicate[] = [
  size("small"),
  size("large"),
  side("left"),
  side("right"),
  side("top"),
  side("bottom"),
];

function subsets<T>(items: readonly T[], maxSize: number): T[][] {
  const out: T[][] = [[]];
  for (const item of items) {
    const grown = out.filter((s) => s.length < maxSize).map((s) => [...s, item]);
    out.push(...grown);
  }
  return out;
}

/**
 * The descriptions of an object: the category alone when it is unique ("the star"), and every minimal
 * set of other attributes that resolves to the object, with or without the category: no resolving set
 * of other attributes is a proper subset of it (naming the shape is always natural, so "the red circle"
 * is kept next to "the red shape"). At most three absolute attributes plus one relation.
 */
export function minimalDescriptions(video: VideoFacts, id: number): Predicate[][] {
  const target = video.objects.find((o) => o.id === id);
  if (!target || !isReferable(target)) return [];
  const categoryPredicate: Predicate = { kind: "category", category: target.category };
  const resolves = (ps: readonly Predicate[]) => resolvePredicates(ps, video).objectId === id;
  const found: Predicate[][] = [];
  if (resolves([categoryPredicate])) found.push([categoryPredicate]);
  const cores: Set<string>[] = []; // the attribute sets (without category) found so far
  const covered = (ps: readonly Predicate[]) => {
    const keys = new Set(ps.map(predicateKey));
    return cores.some((core) => [...core].every((k) => keys.has(k)));
  };
  // Smallest first, so that a superset of a resolving set is recognised and skipped.
  const bases = subsets(absoluteFacts(target), 3).sort((a, b) => a.length - b.length);
  for (const withRelation of [false, true]) {
    for (const base of bases) {
      for (const core of withRelation ? RELATIONS.map((r) => [...base, r]) : [base]) {
        if (core.length === 0 || covered(core)) continue;
        const plain = resolves(core);
        const named = resolves([categoryPredicate, ...core]);
        if (named) found.push([categoryPredicate, ...core]);
        if (plain) found.push(core);
        if (plain || named) cores.push(new Set(core.map(predicateKey)));
      }
    }
  }
  return found;
}

/** Whether a description uses anything that needs time to judge. */
export function usesMotion(predicates: readonly Predicate[]): boolean {
  return predicates.some((p) => TEMPORAL_KINDS.has(p.kind));
}

export interface GeneratedExpression {
  text: string;
  predicates: Predicate[];
}

/**
 * Up to `count` distinct sentences for one object: different minimal descriptions first (in random
 * order), then other wordings of them. Every sentence is verified by the checker before it is returned.
 */
export function generateExpressions(
  video: VideoFacts,
  id: number,
  count: number,
  rng: Rng,
  descriptions: readonly Predicate[][] = minimalDescriptions(video, id),
): GeneratedExpression[] {
  if (descriptions.length === 0) return [];
  // Prefer descriptions that name the shape, as people do; keep the rest for variety.
  const named = rng.shuffle(descriptions.filter((d) => d.some((p) => p.kind === "category")));
  const unnamed = rng.shuffle(descriptions.filter((d) => !d.some((p) => p.kind === "category")));
  const order = [...named, ...unnamed];
  if (unnamed.length > 0 && named.length > 1 && rng.bernoulli(0.3)) order.splice(1, 0, unnamed[0]);
  const out: GeneratedExpression[] = [];
  const texts = new Set<string>();
  for (let attempt = 0; out.length < count && attempt < 4 * count + order.length; attempt++) {
    const predicates = order[attempt % order.length];
    const text = realise(predicates, rng);
    // "that" and "which" alone do not make a new sentence.
    const key = text.replace(/\bwhich\b/g, "that");
    if (texts.has(key)) continue;
    if (checkExpression(text, video).objectId !== id) continue; // cannot happen unless the grammar is ambiguous
    texts.add(key);
    out.push({ text, predicates });
  }
  return out;
}
