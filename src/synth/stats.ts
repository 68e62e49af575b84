/**
 * Summary statistics of a generated VIS split, measured from what was actually rendered (not from what
 * was planned): class histogram, OVIS occlusion-level histogram, instances per video, track lengths,
 * look-alike crossings and re-appearances. They show whether a preset is hard in the intended ways.
 */
import type { OcclusionLabel } from "../formats/ytvis.js";
import type { RenderedFrame } from "./render.js";
import type { Scene } from "./scene.js";
import { CATEGORIES } from "./shapes.js";

/**
 * OVIS-style occlusion level of an instance in one frame, from its occluded fraction: the share of its
 * in-frame pixels hidden by nearer objects (pixels outside the image are truncation, not occlusion).
 *   occluded < 5 %            → no_occlusion (a few hidden border pixels are not an occlusion)
 *   5 % ≤ occluded < 50 %     → slight_occlusion
 *   occluded ≥ 50 %           → severe_occlusion (including fully hidden: segmentation null)
 * Null where the instance has no pixel inside the image (not yet appeared, or outside the frame).
 */
export const SLIGHT_OCCLUSION_FROM = 0.05;
export const SEVERE_OCCLUSION_FROM = 0.5;

export function occlusionLabel(fullArea: number, visibleArea: number): OcclusionLabel | null {
  if (fullArea === 0) return null;
  const occluded = 1 - visibleArea / fullArea;
  if (occluded >= SEVERE_OCCLUSION_FROM) return "severe_occlusion";
  if (occluded >= SLIGHT_OCCLUSION_FROM) return "slight_occlusion";
  return "no_occlusion";
}

/** OVIS occlusion score of a track: mean of the highest ⌈n/2⌉ labelled frames (0 / 0.25 / 0.75). */
export function trackOcclusionScore(labels: readonly (OcclusionLabel | null)[]): number {
  const value = { no_occlusion: 0, slight_occlusion: 0.25, severe_occlusion: 0.75 };
  const scores = labels.filter((l): l is OcclusionLabel => l !== null).map((l) => value[l]);
  if (scores.length === 0) return 0;
  scores.sort((a, b) => a - b);
  const top = scores.slice(scores.length - Math.ceil(scores.length / 2));
  return top.reduce((s, x) => s + x, 0) / top.length;
}

/** min / mean / max of a list of counts (0s when empty). */
export interface Summary {
  min: number;
  mean: number;
  max: number;
}

export interface SplitStats {
  videos: number;
  frames: number;
  /** Annotated tracks (objects visible in at least one frame). */
  instances: number;
  /** Tracks per category name. */
  classHistogram: Record<string, number>;
  /** Labelled instance-frames per OVIS occlusion level. */
  occlusionHistogram: Record<OcclusionLabel, number>;
  /** Share of labelled instance-frames that are severely occluded. */
  severeFrameFraction: number;
  /** Share of tracks in the OVIS "heavy" occlusion range (track occlusion score ≥ 0.5). */
  heavyTrackFraction: number;
  /** Instance-frames where the object is inside the image but entirely hidden (segmentation null). */
  fullyHiddenFrames: number;
  instancesPerVideo: Summary & { histogram: Record<string, number> };
  /** Frames in which each track is visible. */
  trackLength: Summary;
  /** Times two look-alikes (same category and colour) came to overlap. */
  lookAlikeCrossings: number;
  /** Share of videos with at least one look-alike crossing. */
  lookAlikeCrossingVideoFraction: number;
  /**
   * Times a track came back after being invisible: after a full occlusion, or after leaving the image;
   * `videoFractionAfterOcclusion`: share of videos with at least one re-appearance after a full occlusion.
   */
  reappearances: {
    total: number;
    afterOcclusion: number;
    afterExit: number;
    videoFractionAfterOcclusion: number;
  };
  /** Tracks whose first visible frame is not frame 0. */
  lateAppearances: number;
  /** Planned objects never visible in any frame (no annotation is written for them). */
  neverVisible: number;
  /**
   * How a frame-by-frame tracker that only compares masks would fare on the exact GT: at every frame,
   * each instance seen before is matched greedily (one to one, highest IoU first, IoU ≥ 0.5) to the
   * masks of the previous frame; a failure is an instance not matched to itself (an identity switch,
   * or a re-appearance after full occlusion or an exit, which such a tracker starts as a new track).
   * `switches`: matched to another instance; `rate` = failures per instance-frame checked; `videos` =
   * videos with at least one failure.
   */
  frameToFrame: { failures: number; switches: number; rate: number; videos: number };
}

/** Per-video measurements, collected while the video is rendered. */
export interface VideoStats {
  frames: number;
  /** Category index of each annotated track. */
  categories: number[];
  occlusion: Record<OcclusionLabel, number>;
  heavyTracks: number;
  fullyHiddenFrames: number;
  trackLengths: number[];
  lookAlikeCrossings: number;
  reappearancesAfterOcclusion: number;
  reappearancesAfterExit: number;
  lateAppearances: number;
  neverVisible: number;
  frameToFrameFailures: number;
  frameToFrameSwitches: number;
  frameToFrameChecks: number;
}

/** Greedy one-to-one matching needs at least this IoU between consecutive frames' masks. */
export const FRAME_TO_FRAME_IOU = 0.5;

/**
 * Collects one video's statistics frame by frame (bounded memory: a few numbers per object and pair).
 */
export class VideoStatsCollector {
  private readonly visibleFrames: number[];
  private readonly firstVisible: number[];
  private readonly lastVisible: number[];
  /** Per object: whether every frame since it was last visible had it inside the image (hidden). */
  private readonly hiddenInFrame: boolean[];
  private readonly labels: (OcclusionLabel | null)[][];
  private readonly overlapping: Map<string, boolean> = new Map();
  private readonly lookAlikes: [number, number][] = [];
  private stats: VideoStats;
  private previousLabels: Uint8Array | null = null;
  private previousAreas: Int32Array | null = null;

  constructor(private readonly scene: Scene) {
    const n = scene.objects.length + 1;
    this.visibleFrames = new Array<number>(n).fill(0);
    this.firstVisible = new Array<number>(n).fill(-1);
    this.lastVisible = new Array<number>(n).fill(-1);
    this.hiddenInFrame = new Array<boolean>(n).fill(true);
    this.labels = Array.from({ length: n }, () => []);
    const objects = scene.objects;
    for (let i = 0; i < objects.length; i++) {
      for (let j = i + 1; j < objects.length; j++) {
        if (objects[i].category === objects[j].category && objects[i].colour === objects[j].colour) {
          this.lookAlikes.push([i, j]);
        }
      }
    }
    this.stats = {
      frames: scene.frames,
      categories: [],
      occlusion: { no_occlusion: 0, slight_occlusion: 0, severe_occlusion: 0 },
      heavyTracks: 0,
      fullyHiddenFrames: 0,
      trackLengths: [],
      lookAlikeCrossings: 0,
      reappearancesAfterOcclusion: 0,
      reappearancesAfterExit: 0,
      lateAppearances: 0,
      neverVisible: 0,
      frameToFrameFailures: 0,
      frameToFrameSwitches: 0,
      frameToFrameChecks: 0,
    };
  }

  /** The mask-only frame-to-frame association check of frame t against frame t - 1 (see SplitStats). */
  private associate(frame: RenderedFrame): void {
    const previous = this.previousLabels;
    const previousAreas = this.previousAreas;
    if (!previous || !previousAreas) return;
    const n = this.scene.objects.length + 1;
    // Overlap of every (previous id, current id) pair, from one pass over the two label maps.
    const overlap = new Int32Array(n * n);
    const labels = frame.labels;
    for (let p = 0; p < labels.length; p++) overlap[previous[p] * n + labels[p]]++;
    const pairs: { a: number; b: number; iou: number }[] = [];
    for (let a = 1; a < n; a++) {
      for (let b = 1; b < n; b++) {
        const inter = overlap[a * n + b];
        if (inter === 0) continue;
        const iou = inter / (previousAreas[a] + frame.visibleArea[b] - inter);
        if (iou >= FRAME_TO_FRAME_IOU) pairs.push({ a, b, iou });
      }
    }
    pairs.sort((x, y) => y.iou - x.iou || x.a - y.a || x.b - y.b);
    const matchOf = new Int32Array(n);
    const taken = new Uint8Array(n);
    for (const { a, b, iou } of pairs) {
      if (iou < FRAME_TO_FRAME_IOU || taken[a] || matchOf[b]) continue;
      taken[a] = 1;
      matchOf[b] = a;
    }
    for (let b = 1; b < n; b++) {
      // Only instances seen in an earlier frame have an identity to keep.
      if (frame.visibleArea[b] === 0 || this.firstVisible[b] < 0) continue;
      this.stats.frameToFrameChecks++;
      if (matchOf[b] !== b) this.stats.frameToFrameFailures++;
      if (matchOf[b] !== b && matchOf[b] !== 0) this.stats.frameToFrameSwitches++;
    }
  }

  /** Records frame `t`; returns each object's occlusion label (index = object id). */
  addFrame(t: number, frame: RenderedFrame): (OcclusionLabel | null)[] {
    this.associate(frame);
    const frameLabels: (OcclusionLabel | null)[] = [null];
    for (const object of this.scene.objects) {
      const id = object.id;
      const full = frame.fullArea[id];
      const visible = frame.visibleArea[id];
      const label = occlusionLabel(full, visible);
      frameLabels.push(label);
      this.labels[id].push(label);
      if (label) this.stats.occlusion[label]++;
      if (full > 0 && visible === 0) this.stats.fullyHiddenFrames++;
      if (visible > 0) {
        if (this.lastVisible[id] >= 0 && this.lastVisible[id] < t - 1) {
          if (this.hiddenInFrame[id]) this.stats.reappearancesAfterOcclusion++;
          else this.stats.reappearancesAfterExit++;
        }
        if (this.firstVisible[id] < 0) this.firstVisible[id] = t;
        this.lastVisible[id] = t;
        this.visibleFrames[id]++;
        this.hiddenInFrame[id] = true;
      } else if (full === 0) {
        this.hiddenInFrame[id] = false;
      }
    }
    // A look-alike crossing: the pair's shapes start to overlap (centres closer than 3/4 of the sum of
    // their radii) while both are inside the image.
    const objects = this.scene.objects;
    for (const [i, j] of this.lookAlikes) {
      const a = objects[i];
      const b = objects[j];
      const key = `${i},${j}`;
      const bothIn = frame.fullArea[a.id] > 0 && frame.fullArea[b.id] > 0;
      const distance = Math.hypot(a.x[t] - b.x[t], a.y[t] - b.y[t]);
      const overlap = bothIn && distance < 0.75 * (a.radius * a.scale[t] + b.radius * b.scale[t]);
      if (overlap && !this.overlapping.get(key)) this.stats.lookAlikeCrossings++;
      this.overlapping.set(key, overlap);
    }
    this.previousLabels = frame.labels;
    this.previousAreas = frame.visibleArea;
    return frameLabels;
  }

  finish(): VideoStats {
    for (const object of this.scene.objects) {
      const id = object.id;
      if (this.visibleFrames[id] === 0) {
        this.stats.neverVisible++;
        continue;
      }
      this.stats.categories.push(object.category);
      this.stats.trackLengths.push(this.visibleFrames[id]);
      if (this.firstVisible[id] > 0) this.stats.lateAppearances++;
      if (trackOcclusionScore(this.labels[id]) >= 0.5) this.stats.heavyTracks++;
    }
    return this.stats;
  }
}

function summarise(values: readonly number[]): Summary {
  if (values.length === 0) return { min: 0, mean: 0, max: 0 };
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return { min: Math.min(...values), mean: Math.round(mean * 1000) / 1000, max: Math.max(...values) };
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : Math.round((a / b) * 10000) / 10000);

/** Combines the per-video statistics of one split. */
export function splitStats(videos: readonly VideoStats[]): SplitStats {
  const classHistogram: Record<string, number> = Object.fromEntries(CATEGORIES.map((name) => [name, 0]));
  const occlusionHistogram = { no_occlusion: 0, slight_occlusion: 0, severe_occlusion: 0 };
  const perVideoHistogram: Record<string, number> = {};
  const trackLengths: number[] = [];
  let frames = 0;
  let heavy = 0;
  let hidden = 0;
  let crossings = 0;
  let afterOcclusion = 0;
  let afterExit = 0;
  let late = 0;
  let never = 0;
  let failures = 0;
  let switches = 0;
  let checks = 0;
  let failingVideos = 0;
  let crossingVideos = 0;
  let reappearingVideos = 0;
  for (const v of videos) {
    if (v.lookAlikeCrossings > 0) crossingVideos++;
    if (v.reappearancesAfterOcclusion > 0) reappearingVideos++;
    failures += v.frameToFrameFailures;
    switches += v.frameToFrameSwitches;
    checks += v.frameToFrameChecks;
    if (v.frameToFrameFailures > 0) failingVideos++;
    frames += v.frames;
    for (const c of v.categories) classHistogram[CATEGORIES[c]]++;
    for (const level of Object.keys(occlusionHistogram) as OcclusionLabel[]) {
      occlusionHistogram[level] += v.occlusion[level];
    }
    perVideoHistogram[v.categories.length] = (perVideoHistogram[v.categories.length] ?? 0) + 1;
    trackLengths.push(...v.trackLengths);
    heavy += v.heavyTracks;
    hidden += v.fullyHiddenFrames;
    crossings += v.lookAlikeCrossings;
    afterOcclusion += v.reappearancesAfterOcclusion;
    afterExit += v.reappearancesAfterExit;
    late += v.lateAppearances;
    never += v.neverVisible;
  }
  const labelled = Object.values(occlusionHistogram).reduce((s, n) => s + n, 0);
  return {
    videos: videos.length,
    frames,
    instances: trackLengths.length,
    classHistogram,
    occlusionHistogram,
    severeFrameFraction: ratio(occlusionHistogram.severe_occlusion, labelled),
    heavyTrackFraction: ratio(heavy, trackLengths.length),
    fullyHiddenFrames: hidden,
    instancesPerVideo: {
      ...summarise(videos.map((v) => v.categories.length)),
      histogram: perVideoHistogram,
    },
    trackLength: summarise(trackLengths),
    lookAlikeCrossings: crossings,
    lookAlikeCrossingVideoFraction: ratio(crossingVideos, videos.length),
    reappearances: {
      total: afterOcclusion + afterExit,
      afterOcclusion,
      afterExit,
      videoFractionAfterOcclusion: ratio(reappearingVideos, videos.length),
    },
    lateAppearances: late,
    neverVisible: never,
    frameToFrame: { failures, switches, rate: ratio(failures, checks), videos: failingVideos },
  };
}

const pct = (fraction: number) => `${(100 * fraction).toFixed(1)}%`;

/** Human-readable lines for the terminal. */
export function statsLines(split: string, s: SplitStats): string[] {
  const classes = Object.entries(s.classHistogram)
    .map(([name, n]) => `${name} ${n}`)
    .join(", ");
  const o = s.occlusionHistogram;
  return [
    `${split}: ${s.videos} videos, ${s.frames} frames, ${s.instances} instances`,
    `  classes: ${classes}`,
    `  occlusion (instance-frames): none ${o.no_occlusion}, slight ${o.slight_occlusion}, ` +
      `severe ${o.severe_occlusion} (${(100 * s.severeFrameFraction).toFixed(1)}% severe, ` +
      `${s.fullyHiddenFrames} fully hidden); heavy-occlusion tracks ${(100 * s.heavyTrackFraction).toFixed(1)}%`,
    `  instances/video: min ${s.instancesPerVideo.min}, mean ${s.instancesPerVideo.mean}, max ${s.instancesPerVideo.max}`,
    `  track length (visible frames): min ${s.trackLength.min}, mean ${s.trackLength.mean}, max ${s.trackLength.max}`,
    `  look-alike crossings ${s.lookAlikeCrossings} (in ${pct(s.lookAlikeCrossingVideoFraction)} of videos); ` +
      `re-appearances ${s.reappearances.total} (${s.reappearances.afterOcclusion} after full occlusion, in ` +
      `${pct(s.reappearances.videoFractionAfterOcclusion)} of videos; ${s.reappearances.afterExit} after leaving); ` +
      `late appearances ${s.lateAppearances}`,
    `  mask-only frame-to-frame association: ${s.frameToFrame.failures} failures ` +
      `(${(100 * s.frameToFrame.rate).toFixed(2)}% of instance-frames, ${s.frameToFrame.switches} identity switches), ` +
      `in ${s.frameToFrame.videos} of ${s.videos} videos`,
  ];
}
