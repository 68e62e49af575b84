/**
 * `vidseg synth refer`: a synthetic referring-segmentation benchmark in the Ref-YouTube-VOS layout,
 * optionally with its Ref-DAVIS17 form.
 *
 *   <out>/<split>/meta_expressions.json          {videos: {<video>: {expressions: {<id>: {exp, obj_id}}, frames}}}
 *   <out>/<split>/meta.json                      object categories and the frames each object is visible in
 *   <out>/<split>/JPEGImages/<video>/<frame>.jpg
 *   <out>/<split>/Annotations/<video>/<frame>.png palette masks, pixel value = object id (visible pixels)
 *   <out>/<split>/expression_groups.json         each expression's groups (below): a sidecar, not part of
 *                                                the official layout
 *
 * The groups of an expression are the checker's reading of its sentence, as stats.json counts them:
 * each attribute kind it uses ("category", "colour", "size", "position", "direction", "state",
 * "appears-later", "leaves-returns"), "uses-motion" when any needs time to judge, and "motion-only" when
 * its object is one that only motion tells apart. `vidseg eval refer --groups` scores each group.
 *
 * With `refDavis`, also (Ref-DAVIS17 as the Ref-YouTube-VOS tooling converts it, plus the DAVIS folder
 * that `vidseg eval refer --protocol ref-davis` scores against):
 *   <out>/ref-davis/<split>/{meta_expressions.json, JPEGImages, Annotations}   4 expressions per object
 *   <out>/ref-davis/DAVIS/ImageSets/2017/{train,val}.txt
 *   <out>/ref-davis/DAVIS/JPEGImages/480p/<video>/<frame>.jpg
 *   <out>/ref-davis/DAVIS/Annotations_unsupervised/480p/<video>/<frame>.png
 * The Ref-DAVIS17 objects are those visible in the first frame that have an expression, renumbered 1..K
 * (DAVIS counts a sequence's objects from its first frame); other pixels are background. Their 4
 * expressions follow the protocol's order: sets 0 and 2 ("first-frame") prefer descriptions without
 * motion, sets 1 and 3 ("full-video") prefer ones with motion; an object with fewer than 4 distinct
 * sentences repeats them.
 *
 * With `stills`, each video is a pseudo-video made from one still image instead (YOFO's auxiliary data:
 * RefCOCO stills under random affine motion): one frame of the scene, at a random time, is rendered and
 * its objects described from that frame alone (so only static attributes: category, colour, size,
 * position; every sentence checked on the still to pick out exactly one object), then the frame and its
 * label map are moved together by a smooth random affine motion (src/synth/affine.ts) into a clip of
 * `clipLength` frames, written in the same layout. The Ref-DAVIS17 form is not made from stills.
 *
 * Frames are always JPEG (the layout's `.jpg`); the masks are the renderer's label maps, so they are
 * exactly the visible pixels. Everything random is seeded from (seed, split, video), so the same options
 * give byte-identical files.
 */
import { join } from "node:path";
import sharp from "sharp";
import { VidsegError } from "../core/errors.js";
import { writeFileAtomic } from "../core/fs.js";
import { Rng } from "../core/rng.js";
import { davisImagePath, writeDavisMask, writeImageSet } from "../formats/davis.js";
import {
  expressionGroupsPath,
  writeExpressionGroups,
  type ExpressionGroups,
} from "../formats/expression-groups.js";
import {
  imagePath,
  metaExpressionsPath,
  writeObjectMask,
  writeRefMeta,
  writeRefMetaExpressions,
  type RefMeta,
  type RefMetaExpressions,
  type RefVideo,
} from "../formats/refytvos.js";
import {
  checkExpression,
  generateExpressions,
  isReferable,
  minimalDescriptions,
  SceneObserver,
  usesMotion,
  type GeneratedExpression,
  type Predicate,
  type PredicateKind,
  type VideoFacts,
} from "./expressions.js";
import { pseudoMotion, warpImage, warpLabels } from "./affine.js";
import { hash4 } from "./hash.js";
import { splitVideos, totalVideos, type SynthOptions } from "./options.js";
import { SceneRenderer } from "./render.js";
import { planScene, type Scene } from "./scene.js";
import { CATEGORIES } from "./shapes.js";

export type ReferSplit = "train" | "valid";

export interface ReferOptions {
  /** Also write the Ref-DAVIS17 form under `<out>/ref-davis/`. */
  refDavis?: boolean;
  /** Splits to write (default both). */
  splits?: readonly ReferSplit[];
  /** Pseudo-videos from stills of `clipLength` frames (see the module comment) instead of videos. */
  stills?: { clipLength: number };
  /** Called after each video with the number of videos done and the total over all splits. */
  progress?: (done: number, total: number) => void;
}

/** What the expressions of one split use. */
export type AttributeMix = Record<PredicateKind | "motion", number>;

export interface ReferSplitStats {
  videos: number;
  /** Objects in the scenes, including those never visible. */
  objects: number;
  /** Objects with no visible pixel in any frame (no mask, no expression). */
  neverVisible: number;
  /** Visible objects with at least one expression. */
  described: number;
  /** Visible objects that no expression of the grammar singles out (no expression written). */
  undescribable: number;
  expressions: number;
  /** Number of expressions per visible object → number of objects. */
  expressionsPerObject: Record<string, number>;
  /** Length in words → number of expressions. */
  lengthHistogram: Record<string, number>;
  /** Number of expressions that use each attribute (as the checker reads them); `motion`: any over time. */
  attributeMix: AttributeMix;
  /** Objects that only motion over time tells apart (every description of them uses motion). */
  motionOnlyObjects: number;
  /** Expressions of those objects (they cannot be resolved from a single frame's appearance). */
  motionOnlyExpressions: number;
  /** The Ref-DAVIS17 form, when written: its videos, objects and expressions (4 per object). */
  refDavis?: { videos: number; objects: number; expressions: number };
}

export interface ReferStats {
  splits: Partial<Record<ReferSplit, ReferSplitStats>>;
}

/** Frame file stem: zero-padded so that names sort in frame order. */
export function referFrameName(t: number): string {
  return String(t).padStart(5, "0");
}

/** The RNG of a video's expression choices; `stream` separates the Ref-YouTube-VOS and Ref-DAVIS17 draws. */
function expressionRng(options: SynthOptions, split: ReferSplit, index: number, stream: number): Rng {
  return new Rng(hash4(options.seed, split === "train" ? 1 : 2, index, 0x7e1e + stream));
}

async function encodeJpeg(
  rgb: Uint8ClampedArray,
  width: number,
  height: number,
  quality: number,
): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .jpeg({ quality, chromaSubsampling: "4:4:4" })
    .toBuffer();
}

/** How many frames may be encoding/writing at once (sharp encodes on libuv's thread pool). */
const WRITES_IN_FLIGHT = 4;

interface RenderedVideo {
  frames: string[];
  facts: VideoFacts;
  /** Per frame: the JPEG bytes and the label map (kept only when the Ref-DAVIS17 form is written). */
  kept: { jpeg: Buffer; labels: Uint8Array }[];
  /** Per object id: the frames it is visible in. */
  visibleIn: Map<number, string[]>;
}

/** Renders a video, writes its frames and object masks, and observes its objects. */
async function renderVideo(
  scene: Scene,
  options: SynthOptions,
  splitRoot: string,
  keep: boolean,
): Promise<RenderedVideo> {
  const renderer = new SceneRenderer(scene);
  const observer = new SceneObserver(scene);
  const frames: string[] = [];
  const kept: RenderedVideo["kept"] = [];
  const visibleIn = new Map<number, string[]>(scene.objects.map((o) => [o.id, []]));
  const inFlight: Promise<void>[] = [];
  for (let t = 0; t < scene.frames; t++) {
    const frame = renderer.render(t);
    const name = referFrameName(t);
    frames.push(name);
    observer.add(frame);
    for (const object of scene.objects)
      if (frame.visibleArea[object.id] > 0) visibleIn.get(object.id)!.push(name);
    const labels = { width: scene.width, height: scene.height, data: frame.labels };
    const write = encodeJpeg(frame.rgb, scene.width, scene.height, options.jpegQuality).then(async (jpeg) => {
      if (keep) kept[t] = { jpeg, labels: frame.labels };
      await writeFileAtomic(imagePath(splitRoot, scene.name, name), jpeg);
      await writeObjectMask(splitRoot, scene.name, name, labels);
    });
    write.catch(() => undefined); // awaited below, in order
    inFlight.push(write);
    if (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift();
  }
  for (const write of inFlight) await write;
  return { frames, facts: observer.facts(), kept, visibleIn };
}

/** The scene reduced to its frame `t`: a one-frame scene (objects absent at `t` never appear). */
function stillScene(scene: Scene, t: number): Scene {
  const at = <T extends { slice(start: number, end: number): T }>(values: T) => values.slice(t, t + 1);
  return {
    ...scene,
    frames: 1,
    objects: scene.objects.map((o) => {
      const present = o.start <= t && t < o.end;
      return {
        ...o,
        start: 0,
        end: present ? 1 : 0,
        x: at(o.x),
        y: at(o.y),
        scale: at(o.scale),
        angle: at(o.angle),
      };
    }),
    shakeX: at(scene.shakeX),
    shakeY: at(scene.shakeY),
    light: at(scene.light),
  };
}

/**
 * A pseudo-video from one still of the scene: the frame at a random time, observed alone, then moved
 * with its label map by a smooth random affine motion over `clipLength` frames; writes them like
 * {@link renderVideo}. The facts are the still's (frame 0 of the clip is the still itself).
 */
async function renderStillClip(
  scene: Scene,
  options: SynthOptions,
  splitRoot: string,
  clipLength: number,
): Promise<RenderedVideo> {
  const rng = new Rng(hash4(options.seed, scene.split === "train" ? 1 : 2, scene.index, 0x5711));
  const still = stillScene(scene, rng.int(scene.frames));
  const frame = new SceneRenderer(still).render(0);
  const observer = new SceneObserver(still);
  observer.add(frame);
  const { width, height } = scene;
  // Pixels moved in from outside the still: its mean colour (a neutral border, no edge streaks).
  const fill: [number, number, number] = [0, 1, 2].map((k) => {
    let sum = 0;
    for (let p = k; p < frame.rgb.length; p += 3) sum += frame.rgb[p];
    return Math.round(sum / (width * height));
  }) as [number, number, number];
  const frames: string[] = [];
  const visibleIn = new Map<number, string[]>(scene.objects.map((o) => [o.id, []]));
  for (const [t, warp] of pseudoMotion(rng, clipLength, width, height).entries()) {
    const name = referFrameName(t);
    frames.push(name);
    const rgb = warpImage(frame.rgb, width, height, warp, { fill, sampling: "bilinear" });
    const labels = warpLabels(frame.labels, width, height, warp);
    const present = new Set(labels);
    for (const object of scene.objects) if (present.has(object.id)) visibleIn.get(object.id)!.push(name);
    await writeFileAtomic(
      imagePath(splitRoot, scene.name, name),
      await encodeJpeg(rgb, width, height, options.jpegQuality),
    );
    await writeObjectMask(splitRoot, scene.name, name, { width, height, data: labels });
  }
  return { frames, facts: observer.facts(), kept: [], visibleIn };
}

function emptyMix(): AttributeMix {
  return {
    category: 0,
    colour: 0,
    size: 0,
    position: 0,
    direction: 0,
    state: 0,
    "appears-later": 0,
    "leaves-returns": 0,
    motion: 0,
  };
}

/** The groups of an expression from the checker's reading of it (see the module comment). */
export function expressionGroups(read: readonly Predicate[], motionOnly: boolean): string[] {
  const kinds = new Set(read.map((p) => p.kind));
  return [
    ...(motionOnly ? ["motion-only"] : []),
    ...(usesMotion(read) ? ["uses-motion"] : []),
    ...(Object.keys(emptyMix()) as (PredicateKind | "motion")[]).filter(
      (kind): kind is PredicateKind => kind !== "motion" && kinds.has(kind),
    ),
  ];
}

function increment(histogram: Record<string, number>, key: number): void {
  histogram[String(key)] = (histogram[String(key)] ?? 0) + 1;
}

/** Sorts a histogram's keys numerically (JSON keeps insertion order for non-index keys). */
function sortedHistogram(histogram: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(histogram).sort(([a], [b]) => Number(a) - Number(b)));
}

/**
 * Picks the 4 Ref-DAVIS17 expressions of an object: sets 0 and 2 prefer descriptions without motion,
 * sets 1 and 3 prefer motion; repeats when there are fewer than 4.
 */
function refDavisFour(expressions: readonly GeneratedExpression[]): GeneratedExpression[] {
  const still = expressions.filter((e) => !usesMotion(e.predicates));
  const moving = expressions.filter((e) => usesMotion(e.predicates));
  const used = new Set<GeneratedExpression>();
  const take = (preferred: readonly GeneratedExpression[], other: readonly GeneratedExpression[]) => {
    const next = [...preferred, ...other].find((e) => !used.has(e));
    if (next) {
      used.add(next);
      return next;
    }
    return null;
  };
  const four: (GeneratedExpression | null)[] = [0, 1, 2, 3].map((k) =>
    k % 2 === 0 ? take(still, moving) : take(moving, still),
  );
  const chosen = four.filter((e): e is GeneratedExpression => e !== null);
  return four.map((e, k) => e ?? chosen[k % chosen.length]);
}

/**
 * Generates a referring dataset: per split, `splitVideos(options, split)` videos rendered from the
 * shared scene simulation, with 2–4 checked expressions per object that can be singled out.
 */
export async function generateReferDataset(
  options: SynthOptions,
  out: string,
  referOptions: ReferOptions = {},
): Promise<ReferStats> {
  const splits = referOptions.splits ?? (["train", "valid"] as const);
  const { stills } = referOptions;
  if (stills !== undefined && referOptions.refDavis)
    throw new VidsegError("pseudo-videos from stills have no Ref-DAVIS17 form", undefined, "--ref-davis");
  const total = totalVideos(options, splits);
  let done = 0;
  const stats: ReferStats = { splits: {} };
  for (const split of splits) {
    const splitRoot = join(out, split);
    const davisSplitRoot = join(out, "ref-davis", split);
    const davisRoot = join(out, "ref-davis", "DAVIS");
    const meta: RefMetaExpressions = { videos: {} };
    const objectMeta: RefMeta = { videos: {} };
    const davisMeta: RefMetaExpressions = { videos: {} };
    const groups: ExpressionGroups = { videos: {} };
    const davisSequences: string[] = [];
    const splitStats: ReferSplitStats = {
      videos: 0,
      objects: 0,
      neverVisible: 0,
      described: 0,
      undescribable: 0,
      expressions: 0,
      expressionsPerObject: {},
      lengthHistogram: {},
      attributeMix: emptyMix(),
      motionOnlyObjects: 0,
      motionOnlyExpressions: 0,
    };
    if (referOptions.refDavis) splitStats.refDavis = { videos: 0, objects: 0, expressions: 0 };

    for (let index = 0; index < splitVideos(options, split); index++) {
      const scene = planScene(options, split, index);
      const video = stills
        ? await renderStillClip(scene, options, splitRoot, stills.clipLength)
        : await renderVideo(scene, options, splitRoot, referOptions.refDavis === true);
      const { facts } = video;
      const rng = expressionRng(options, split, index, 0);
      const entry: RefVideo = { expressions: {}, frames: video.frames };
      objectMeta.videos[scene.name] = { objects: {} };
      const videoGroups: Record<string, string[]> = (groups.videos[scene.name] = {});
      const perObject = new Map<number, { expressions: GeneratedExpression[]; descriptions: number }>();
      splitStats.videos++;

      for (const object of facts.objects) {
        splitStats.objects++;
        if (!isReferable(object)) {
          splitStats.neverVisible++;
          continue;
        }
        objectMeta.videos[scene.name].objects[String(object.id)] = {
          category: CATEGORIES[object.category],
          frames: video.visibleIn.get(object.id)!,
        };
        const descriptions = minimalDescriptions(facts, object.id);
        const wanted = 2 + rng.int(3);
        const expressions = generateExpressions(facts, object.id, wanted, rng, descriptions);
        perObject.set(object.id, { expressions, descriptions: descriptions.length });
        increment(splitStats.expressionsPerObject, expressions.length);
        if (expressions.length === 0) {
          splitStats.undescribable++;
          continue;
        }
        splitStats.described++;
        const motionOnly = descriptions.every(usesMotion);
        if (motionOnly) splitStats.motionOnlyObjects++;
        for (const expression of expressions) {
          const expId = String(Object.keys(entry.expressions).length);
          entry.expressions[expId] = { exp: expression.text, obj_id: String(object.id) };
          splitStats.expressions++;
          if (motionOnly) splitStats.motionOnlyExpressions++;
          increment(splitStats.lengthHistogram, expression.text.split(" ").length);
          // The mix as the checker reads the sentence, not as the generator meant it.
          const read = checkExpression(expression.text, facts).predicates;
          const kinds = new Set(read.map((p) => p.kind));
          for (const kind of kinds) splitStats.attributeMix[kind]++;
          if (usesMotion(read)) splitStats.attributeMix.motion++;
          videoGroups[expId] = expressionGroups(read, motionOnly);
        }
      }
      meta.videos[scene.name] = entry;

      if (referOptions.refDavis) {
        const davisRng = expressionRng(options, split, index, 1);
        // Objects of the first frame that can be described, renumbered 1..K in id order.
        const included = facts.objects.filter(
          (o) => o.firstVisible === 0 && (perObject.get(o.id)?.expressions.length ?? 0) > 0,
        );
        if (included.length > 0) {
          const relabel = new Uint8Array(256);
          included.forEach((o, k) => (relabel[o.id] = k + 1));
          const davisEntry: RefVideo = { expressions: {}, frames: video.frames };
          included.forEach((o, k) => {
            const four = refDavisFour(generateExpressions(facts, o.id, 4, davisRng));
            for (const expression of four) {
              davisEntry.expressions[String(Object.keys(davisEntry.expressions).length)] = {
                exp: expression.text,
                obj_id: String(k + 1),
              };
            }
          });
          davisMeta.videos[scene.name] = davisEntry;
          davisSequences.push(scene.name);
          for (const [t, frame] of video.kept.entries()) {
            const data = frame.labels.map((id) => relabel[id]);
            const labels = { width: scene.width, height: scene.height, data };
            const name = video.frames[t];
            await writeFileAtomic(imagePath(davisSplitRoot, scene.name, name), frame.jpeg);
            await writeObjectMask(davisSplitRoot, scene.name, name, labels);
            await writeFileAtomic(davisImagePath(davisRoot, scene.name, name), frame.jpeg);
            await writeDavisMask(davisRoot, "unsupervised", scene.name, name, labels);
          }
          splitStats.refDavis!.videos++;
          splitStats.refDavis!.objects += included.length;
          splitStats.refDavis!.expressions += 4 * included.length;
        }
      }
      done++;
      referOptions.progress?.(done, total);
    }

    await writeRefMetaExpressions(metaExpressionsPath(splitRoot), meta);
    await writeRefMeta(join(splitRoot, "meta.json"), objectMeta);
    await writeExpressionGroups(expressionGroupsPath(splitRoot), groups);
    if (referOptions.refDavis) {
      await writeRefMetaExpressions(metaExpressionsPath(davisSplitRoot), davisMeta);
      await writeImageSet(davisRoot, split === "valid" ? "val" : "train", davisSequences);
    }
    splitStats.expressionsPerObject = sortedHistogram(splitStats.expressionsPerObject);
    splitStats.lengthHistogram = sortedHistogram(splitStats.lengthHistogram);
    stats.splits[split] = splitStats;
  }
  return stats;
}
