/**
 * Online instance tracker for video instance segmentation, independent of the model that produces the
 * per-frame queries.
 *
 * Association is MinVIS-style: each frame's candidate queries are matched to the live tracks by
 * Hungarian assignment on cosine similarity of their embeddings. Unlike MinVIS, which only compares
 * with the previous frame, every track keeps a momentum-averaged embedding (its memory), so an instance
 * that is occluded or leaves the frame for up to `maxGap` frames keeps its identity when it comes back.
 * With `momentum: 0` the memory is the last seen embedding, i.e. MinVIS's previous-frame matching.
 * With `boxIouWeight` w > 0, a pair's affinity is its cosine similarity plus w times the IoU of the
 * candidate's box with the track's last box, so that an object whose embedding dips for a frame
 * (partial occlusion, a look-alike beside it) stays with the track where it is.
 *
 * Memory is bounded whatever the video length: at most `maxLiveTracks` live tracks, each holding one
 * embedding and one running class-probability sum. The only per-frame state is what the results JSON
 * needs: in "results" mode the masks of the tracks that can still enter the top-k, as compressed COCO
 * RLE strings; in "stream" mode nothing per frame is kept and masks are never touched.
 */
import { VidsegError, check } from "../core/errors.js";
import type { YtvisResult } from "../formats/ytvis.js";
import { linearSumAssignment } from "../math/hungarian.js";
import { encode, toCoco, type CocoRle, type Rle } from "../mask/rle.js";

/** A query's mask: row-major h×w bytes (non-zero = foreground), an RLE, or a lazy handle producing one. */
export type MaskInput = Uint8Array | Rle | (() => Uint8Array | Rle);

/** One query output of the per-frame segmenter. */
export interface QueryOutput {
  /** Association embedding (L2-normalised by the model; the tracker uses cosine similarity anyway). */
  embedding: Float32Array;
  /** The mask's box [x0, y0, x1, y1] in fractions of the frame (needed with `boxIouWeight` > 0). */
  box?: ArrayLike<number>;
  /** Class probabilities over the K object classes (no "no-object" entry). */
  classProbs: Float32Array;
  /** Mask of this query; a lazy handle is only called for queries whose mask the tracker stores. */
  mask: MaskInput;
  /** Detection confidence of the query (for example 1 − p(no-object), or its best class probability). */
  score: number;
}

/** How a track's video-level class distribution is aggregated from its frames. */
export type ClassAggregation = "mean" | "scoreWeighted";

export interface TrackerOptions {
  /** "results": keep the masks needed by `finalize`; "stream": keep no per-frame state. Default "results". */
  mode?: "results" | "stream";
  /** Queries scoring at least this are candidates that may continue a track. Default 0.5. */
  scoreThreshold?: number;
  /** Only candidates scoring at least this may start a new track. Default: `scoreThreshold`. */
  newTrackScore?: number;
  /** A candidate and a track are matched only if their cosine similarity reaches this. Default 0.5. */
  minSimilarity?: number;
  /** memory ← normalise(momentum · memory + (1 − momentum) · embedding). 0 = MinVIS. Default 0.7. */
  momentum?: number;
  /** Affinity = cosine similarity + this × IoU of the candidate's box with the track's last box. Default 0. */
  boxIouWeight?: number;
  /** A track missing for more than this many consecutive frames is retired. Default 10. */
  maxGap?: number;
  /** Bound on live tracks; when full, the longest-unseen track is retired to make room. Default 64. */
  maxLiveTracks?: number;
  /** At most this many candidates (the best-scoring) per frame. Default: no limit. */
  maxCandidatesPerFrame?: number;
  /**
   * "mean" (default): the average of the class probabilities over the frames where the track was seen.
   * "scoreWeighted": the same average weighted by each frame's query score, so that frames where the
   * model is unsure of the instance (partial occlusion, blur) count less.
   */
  classAggregation?: ClassAggregation;
  /** Category id of each class index (YouTube-VIS ids are 1-based). Default: index + 1. */
  categoryIds?: readonly number[];
  /**
   * Results kept per video (results mode). Finished tracks that can no longer enter the top-k are
   * dropped, which bounds the stored masks. Default 10; `Infinity` keeps every track.
   */
  topK?: number;
  /** At most this many (best) categories per track in the results, as MinVIS ranks (track, class) pairs. Default: all. */
  categoriesPerTrack?: number;
}

/** One tracked instance of a frame, as returned by `update`. */
export interface TrackedInstance {
  /** Stable id of the track, from 1. */
  trackId: number;
  /** Best category of the track's aggregated class distribution so far. */
  categoryId: number;
  /** The track's aggregated probability for that category so far. */
  score: number;
  /** This frame's query score. */
  frameScore: number;
  /** Index of the query in this frame's input. */
  queryIndex: number;
  /** Affinity to the track: cosine similarity to its memory (+ the box term); null for a new track. */
  similarity: number | null;
  /** The query's mask as given (the tracker does not retain it in stream mode). */
  mask: MaskInput;
}

/** A live track: its memory and running class sums; in results mode, its masks so far. */
interface Track {
  id: number;
  memory: Float32Array;
  /** The box of its last mask, when the queries have boxes. */
  box?: ArrayLike<number>;
  lastSeen: number;
  classSum: Float64Array;
  weightSum: number;
  /** (frame index, mask) pairs in frame order; empty in stream mode. */
  masks: { frame: number; rle: CocoRle }[];
}

/** A retired track kept for the results: its final class distribution and masks. */
interface FinishedTrack {
  id: number;
  probs: Float64Array;
  masks: { frame: number; rle: CocoRle }[];
}

/** A (track, category) hypothesis of the results, ranked by score. */
interface Hypothesis {
  track: FinishedTrack;
  classIndex: number;
  score: number;
}

/** Cosine similarity of two vectors (0 when one of them is zero). */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const norm = Math.sqrt(na * nb);
  return norm > 0 ? dot / norm : 0;
}

/** IoU of two [x0, y0, x1, y1] boxes (0 when either is empty). */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** Affinity given to forbidden pairs: below any allowed one, so the assignment never prefers them. */
const FORBIDDEN = -2;

/**
 * Matches candidates to tracks: the assignment maximising total affinity (cosine similarity, plus
 * `bonus[k][j]` where given) among pairs whose affinity reaches `minSimilarity` (pairs below it are
 * forbidden before solving, so a weak pair never pushes out a good one). Returns, per candidate, the
 * matched track index or -1, and the affinity.
 */
export function associate(
  candidates: readonly Float32Array[],
  tracks: readonly Float32Array[],
  minSimilarity: number,
  bonus?: readonly (readonly number[])[],
): { trackOf: number[]; similarity: number[] } {
  const trackOf = new Array<number>(candidates.length).fill(-1);
  const similarity = new Array<number>(candidates.length).fill(Number.NaN);
  if (candidates.length === 0 || tracks.length === 0) return { trackOf, similarity };
  const sims = candidates.map((c, k) => tracks.map((t, j) => cosineSimilarity(c, t) + (bonus?.[k][j] ?? 0)));
  const gated = sims.map((row) => row.map((s) => (s >= minSimilarity ? s : FORBIDDEN)));
  const { rows, cols } = linearSumAssignment(gated, true);
  for (let k = 0; k < rows.length; k++) {
    const s = sims[rows[k]][cols[k]];
    if (s >= minSimilarity) {
      trackOf[rows[k]] = cols[k];
      similarity[rows[k]] = s;
    }
  }
  return { trackOf, similarity };
}

/** Online tracker for one video; `reset()` prepares it for the next. */
export class Tracker {
  private readonly mode: "results" | "stream";
  private readonly scoreThreshold: number;
  private readonly newTrackScore: number;
  private readonly minSimilarity: number;
  private readonly momentum: number;
  private readonly boxIouWeight: number;
  private readonly maxGap: number;
  private readonly maxLiveTracks: number;
  private readonly maxCandidatesPerFrame: number;
  private readonly classAggregation: ClassAggregation;
  private readonly categoryIds?: readonly number[];
  private readonly topK: number;
  private readonly categoriesPerTrack: number;

  private live: Track[] = [];
  private finished: FinishedTrack[] = [];
  private frame = 0;
  private nextId = 1;
  private embeddingDim = -1;
  private numClasses = -1;
  private maskSize: { height: number; width: number } | null = null;

  constructor(options: TrackerOptions = {}) {
    this.mode = options.mode ?? "results";
    this.scoreThreshold = options.scoreThreshold ?? 0.5;
    this.newTrackScore = options.newTrackScore ?? this.scoreThreshold;
    this.minSimilarity = options.minSimilarity ?? 0.5;
    this.momentum = options.momentum ?? 0.7;
    this.boxIouWeight = options.boxIouWeight ?? 0;
    this.maxGap = options.maxGap ?? 10;
    this.maxLiveTracks = options.maxLiveTracks ?? 64;
    this.maxCandidatesPerFrame = options.maxCandidatesPerFrame ?? Infinity;
    this.classAggregation = options.classAggregation ?? "mean";
    this.categoryIds = options.categoryIds;
    this.topK = options.topK ?? 10;
    this.categoriesPerTrack = options.categoriesPerTrack ?? Infinity;
    check(
      this.mode === "results" || this.mode === "stream",
      `unknown mode "${this.mode}"`,
      undefined,
      "tracker",
    );
    check(this.momentum >= 0 && this.momentum < 1, "momentum must be in [0, 1)", undefined, "tracker");
    check(this.boxIouWeight >= 0, "boxIouWeight must be ≥ 0", undefined, "tracker");
    check(
      Number.isInteger(this.maxGap) && this.maxGap >= 0,
      "maxGap must be an integer ≥ 0",
      undefined,
      "tracker",
    );
    check(
      Number.isInteger(this.maxLiveTracks) && this.maxLiveTracks >= 1,
      "maxLiveTracks must be an integer ≥ 1",
      undefined,
      "tracker",
    );
    check(this.topK >= 1, "topK must be ≥ 1", undefined, "tracker");
    check(this.categoriesPerTrack >= 1, "categoriesPerTrack must be ≥ 1", undefined, "tracker");
    check(
      this.classAggregation === "mean" || this.classAggregation === "scoreWeighted",
      `unknown classAggregation "${this.classAggregation}"`,
      undefined,
      "tracker",
    );
  }

  /** Frames processed so far. */
  get frameCount(): number {
    return this.frame;
  }

  /** Live tracks (bounded by `maxLiveTracks`). */
  get liveTrackCount(): number {
    return this.live.length;
  }

  /** Retired tracks kept for the results (bounded by the top-k pruning). */
  get finishedTrackCount(): number {
    return this.finished.length;
  }

  /** Forgets everything, for the next video. */
  reset(): void {
    this.live = [];
    this.finished = [];
    this.frame = 0;
    this.nextId = 1;
    this.embeddingDim = -1;
    this.numClasses = -1;
    this.maskSize = null;
  }

  /**
   * Processes the next frame's queries and returns its tracked instances (best score first).
   * `frameSize` is needed in results mode when masks are given as raw bytes.
   */
  update(queries: readonly QueryOutput[], frameSize?: { height: number; width: number }): TrackedInstance[] {
    const t = this.frame;
    this.validate(queries, t);
    this.retireStale(t);

    const candidates = queries
      .map((query, queryIndex) => ({ query, queryIndex }))
      .filter(({ query }) => query.score >= this.scoreThreshold)
      .sort((a, b) => b.query.score - a.query.score)
      .slice(0, this.maxCandidatesPerFrame);

    const w = this.boxIouWeight;
    const bonus =
      w > 0
        ? candidates.map(({ query }) =>
            this.live.map((track) => (query.box && track.box ? w * boxIou(query.box, track.box) : 0)),
          )
        : undefined;
    const { trackOf, similarity } = associate(
      candidates.map((c) => c.query.embedding),
      this.live.map((track) => track.memory),
      this.minSimilarity,
      bonus,
    );

    const instances: TrackedInstance[] = [];
    const matchedThisFrame = new Set<Track>();
    candidates.forEach(({ query, queryIndex }, k) => {
      if (trackOf[k] < 0) return;
      const track = this.live[trackOf[k]];
      this.extend(track, query, t, frameSize);
      matchedThisFrame.add(track);
      instances.push(this.instance(track, query, queryIndex, similarity[k]));
    });
    // Unmatched candidates start tracks, best score first, while there is room.
    candidates.forEach(({ query, queryIndex }, k) => {
      if (trackOf[k] >= 0 || query.score < this.newTrackScore) return;
      if (this.live.length >= this.maxLiveTracks && !this.makeRoom(matchedThisFrame)) return;
      const track = this.start(query, t, frameSize);
      matchedThisFrame.add(track);
      instances.push(this.instance(track, query, queryIndex, null));
    });

    this.frame++;
    return instances.sort((a, b) => b.frameScore - a.frameScore);
  }

  /**
   * The video's results in the YouTube-VIS format: the `topK` best (track, category) hypotheses, a
   * track's score for a category being its aggregated probability (see `classAggregation`); one
   * segmentation per processed frame, null where the track is absent. Does not change the tracker.
   */
  finalize(videoId: number, topK = this.topK): YtvisResult[] {
    if (this.mode !== "results") {
      throw new VidsegError("finalize needs the tracker in results mode (stream mode keeps no masks)");
    }
    check(topK <= this.topK, `topK ${topK} exceeds the tracker's topK ${this.topK}`, undefined, "finalize");
    const tracks = [...this.finished, ...this.live.map((track) => this.asFinished(track))];
    return this.rank(tracks)
      .slice(0, topK)
      .map(({ track, classIndex, score }) => {
        const segmentations = new Array<CocoRle | null>(this.frame).fill(null);
        for (const { frame, rle } of track.masks) segmentations[frame] = rle;
        return { video_id: videoId, category_id: this.categoryId(classIndex), score, segmentations };
      });
  }

  private validate(queries: readonly QueryOutput[], t: number): void {
    queries.forEach((query, q) => {
      const where = `frame ${t}, query ${q}`;
      if (this.embeddingDim < 0) this.embeddingDim = query.embedding.length;
      if (this.numClasses < 0) this.numClasses = query.classProbs.length;
      check(
        query.embedding.length === this.embeddingDim,
        `embedding has ${query.embedding.length} dims, expected ${this.embeddingDim}`,
        undefined,
        where,
      );
      check(
        query.classProbs.length === this.numClasses,
        `classProbs has ${query.classProbs.length} classes, expected ${this.numClasses}`,
        undefined,
        where,
      );
      check(Number.isFinite(query.score), "score is not a finite number", undefined, where);
    });
    if (this.categoryIds && this.numClasses >= 0) {
      check(
        this.categoryIds.length === this.numClasses,
        `categoryIds has ${this.categoryIds.length} entries for ${this.numClasses} classes`,
        undefined,
        "tracker",
      );
    }
  }

  /** Retires the tracks missing for more than `maxGap` frames before frame t. */
  private retireStale(t: number): void {
    const stale = this.live.filter((track) => t - track.lastSeen - 1 > this.maxGap);
    for (const track of stale) this.retire(track);
  }

  /** Retires the longest-unseen live track not seen this frame; false if every live track was. */
  private makeRoom(seenThisFrame: Set<Track>): boolean {
    let oldest: Track | null = null;
    for (const track of this.live) {
      if (!seenThisFrame.has(track) && (oldest === null || track.lastSeen < oldest.lastSeen)) oldest = track;
    }
    if (oldest === null) return false;
    this.retire(oldest);
    return true;
  }

  private retire(track: Track): void {
    this.live.splice(this.live.indexOf(track), 1);
    if (this.mode !== "results") return;
    this.finished.push(this.asFinished(track));
    // Prune once enough finished tracks accumulate, so pruning costs O(1) amortised per retirement.
    if (Number.isFinite(this.topK) && this.finished.length > 2 * this.topK) this.pruneFinished();
  }

  /**
   * Drops the finished tracks that can no longer enter the top-k: finished scores are final, so if k
   * finished hypotheses score at least τ, a track whose best score is below τ never will.
   */
  private pruneFinished(): void {
    const ranked = this.rank(this.finished);
    if (ranked.length < this.topK) return;
    const threshold = ranked[this.topK - 1].score;
    this.finished = this.finished.filter((track) => Math.max(...track.probs) >= threshold);
  }

  /** All (track, category) hypotheses, best first (ties: older track first, then lower class index). */
  private rank(tracks: readonly FinishedTrack[]): Hypothesis[] {
    const hypotheses: Hypothesis[] = [];
    for (const track of tracks) {
      const classes = Array.from(track.probs.keys())
        .sort((a, b) => track.probs[b] - track.probs[a] || a - b)
        .slice(0, this.categoriesPerTrack);
      for (const classIndex of classes)
        hypotheses.push({ track, classIndex, score: track.probs[classIndex] });
    }
    return hypotheses.sort(
      (a, b) => b.score - a.score || a.track.id - b.track.id || a.classIndex - b.classIndex,
    );
  }

  private asFinished(track: Track): FinishedTrack {
    const probs = new Float64Array(track.classSum.length);
    for (let c = 0; c < probs.length; c++)
      probs[c] = track.weightSum > 0 ? track.classSum[c] / track.weightSum : 0;
    return { id: track.id, probs, masks: track.masks };
  }

  private start(query: QueryOutput, t: number, frameSize?: { height: number; width: number }): Track {
    const track: Track = {
      id: this.nextId++,
      memory: normalised(Float32Array.from(query.embedding)),
      box: query.box,
      lastSeen: t,
      classSum: new Float64Array(query.classProbs.length),
      weightSum: 0,
      masks: [],
    };
    this.accumulate(track, query, t, frameSize);
    this.live.push(track);
    return track;
  }

  private extend(
    track: Track,
    query: QueryOutput,
    t: number,
    frameSize?: { height: number; width: number },
  ): void {
    const m = this.momentum;
    for (let i = 0; i < track.memory.length; i++) {
      track.memory[i] = m * track.memory[i] + (1 - m) * query.embedding[i];
    }
    normalised(track.memory);
    track.box = query.box;
    track.lastSeen = t;
    this.accumulate(track, query, t, frameSize);
  }

  private accumulate(
    track: Track,
    query: QueryOutput,
    t: number,
    frameSize?: { height: number; width: number },
  ): void {
    const weight = this.classAggregation === "scoreWeighted" ? query.score : 1;
    for (let c = 0; c < track.classSum.length; c++) track.classSum[c] += weight * query.classProbs[c];
    track.weightSum += weight;
    if (this.mode === "results") track.masks.push({ frame: t, rle: this.compress(query.mask, t, frameSize) });
  }

  /** The mask as a compressed COCO RLE, checked against the video's size. */
  private compress(mask: MaskInput, t: number, frameSize?: { height: number; width: number }): CocoRle {
    const resolved = typeof mask === "function" ? mask() : mask;
    let rle: Rle;
    if (resolved instanceof Uint8Array) {
      check(
        frameSize,
        "a mask given as bytes needs the frame size (update's frameSize)",
        undefined,
        `frame ${t}`,
      );
      check(
        resolved.length === frameSize.height * frameSize.width,
        `mask has ${resolved.length} pixels, expected ${frameSize.height}×${frameSize.width}`,
        undefined,
        `frame ${t}`,
      );
      rle = encode(resolved, frameSize.height, frameSize.width);
    } else {
      rle = resolved;
    }
    this.maskSize ??= { height: rle.h, width: rle.w };
    check(
      rle.h === this.maskSize.height && rle.w === this.maskSize.width,
      `mask is ${rle.h}×${rle.w}, earlier masks were ${this.maskSize.height}×${this.maskSize.width}`,
      undefined,
      `frame ${t}`,
    );
    return toCoco(rle);
  }

  private instance(
    track: Track,
    query: QueryOutput,
    queryIndex: number,
    similarity: number | null,
  ): TrackedInstance {
    let best = 0;
    for (let c = 1; c < track.classSum.length; c++) if (track.classSum[c] > track.classSum[best]) best = c;
    const score = track.weightSum > 0 ? track.classSum[best] / track.weightSum : 0;
    return {
      trackId: track.id,
      categoryId: this.categoryId(best),
      score,
      frameScore: query.score,
      queryIndex,
      similarity,
      mask: query.mask,
    };
  }

  private categoryId(classIndex: number): number {
    return this.categoryIds ? this.categoryIds[classIndex] : classIndex + 1;
  }
}

/** Scales a vector to unit length in place (a zero vector stays zero) and returns it. */
function normalised(v: Float32Array): Float32Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}
