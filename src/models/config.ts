/**
 * Configuration of the per-frame segmenter and of its training: named presets (`tiny` for tests,
 * `cpu-small` for the CPU benchmark, `r50` for real data) and JSON config files that start from a preset
 * and override fields. Every field is validated with an error naming the file and the field.
 */
import { VidsegError } from "../core/errors.js";
import { showValue } from "../core/json.js";
import type { ResnetNorm } from "../nn/resnet.js";
import { BACKBONE_NAMES, type BackboneName } from "../nn/backbone.js";

/** The architecture of {@link FrameSegmenter} (everything needed to rebuild it before loading weights). */
export interface SegmenterConfig {
  /**
   * Backbone: a ResNet (torchvision layout; resnet50 can load torchvision weights) or "centernet-mbv3",
   * the frozen COCO-pretrained CenterNet MobileNetV3 shipped in weights/backbones/ (no parameters: a
   * model file holds none of its weights, this name refers to them).
   */
  backbone: BackboneName;
  /**
   * ResNet norm: "GN": GroupNorm (from scratch); "BN": trainable affine on fixed statistics (no
   * normalisation: slow from scratch); "FrozenBN": detectron2 (pretrained weights). Unused by
   * "centernet-mbv3".
   */
  backboneNorm: ResnetNorm;
  /** Transformer width D (also the pixel decoder's width). */
  hiddenDim: number;
  /** Channels of the mask features and of the mask embeddings. */
  maskDim: number;
  /** Learned queries N. */
  numQueries: number;
  /** Object classes K (the classifier has K + 1 outputs, the last one "no object"). */
  numClasses: number;
  /** Masked-attention decoder layers (they cycle through the 1/32, 1/16, 1/8 feature levels). */
  decoderLayers: number;
  numHeads: number;
  dimFeedforward: number;
  /** Dimension E of the association embedding (track head output). */
  embedDim: number;
  /**
   * Which vector is the association embedding: "query" = the normalised frame query itself (MinVIS;
   * then E = D and the track head is unused), "head" = a small MLP on the query (needed to learn
   * identity with the contrastive loss).
   */
  trackEmbedding: "query" | "head";
  /** GroupNorm groups in the pixel decoder. */
  normGroups: number;
  /** Model input [height, width]; frames are resized to it. Multiples of 32. */
  inputSize: [number, number];
  /**
   * Side of the crops of the second-stage instance classifier (src/models/crop-classifier.ts); 0 = none,
   * the queries' own class head decides. For small objects told apart by outline, trained from scratch.
   */
  cropSize: number;
}

/** Loss and matching settings (Mask2Former's SetCriterion and HungarianMatcher). */
export interface CriterionConfig {
  classWeight: number;
  maskWeight: number;
  diceWeight: number;
  /** Weight of the "no object" class in the classification loss (Mask2Former eos_coef). */
  noObjectWeight: number;
  /** Points sampled per mask for the loss and the matching (Mask2Former: 12544 at full scale). */
  numPoints: number;
  oversampleRatio: number;
  importanceSampleRatio: number;
  /** Apply the loss to every decoder layer's prediction (deep supervision). */
  deepSupervision: boolean;
  /**
   * Weight of the contrastive identity loss on pairs of frames of one video (0 = off, pure MinVIS).
   * MinVIS associates with the raw query features and trains on single frames; a light contrastive term
   * on the association embedding separates look-alike instances better (IDOL/CTVIS-style).
   */
  contrastiveWeight: number;
  /** Temperature of the contrastive softmax over the other frame's queries. */
  contrastiveTemperature: number;
  /** Weight of the crop classifier's cross-entropy (models with model.cropSize > 0). */
  cropWeight: number;
  /** Jittered training crops per GT instance for the crop classifier. */
  cropsPerInstance: number;
}

/** Optimisation settings used by `vidseg train vis`. */
export interface OptimConfig {
  lr: number;
  weightDecay: number;
  /** Multiplier on the backbone's learning rate (Mask2Former: 0.1 for a pretrained backbone). */
  backboneLrScale: number;
  /**
   * Learning-rate multipliers for the parameters under a name prefix (checked after the backbone's, the
   * first match wins), e.g. a zero-initialised branch added to a trained model ("mining.context.").
   */
  lrScales: { prefix: string; scale: number }[];
  clipNorm: number;
  warmupSteps: number;
  totalSteps: number;
  /** Images per step; with the contrastive loss, half as many pairs of frames of the same video. */
  batchSize: number;
  /** Largest frame distance between the two frames of a pair. */
  pairMaxGap: number;
  /** Probability of a horizontal flip (the same flip for both frames of a pair). */
  flipProbability: number;
  /**
   * Repeat-factor sampling (LVIS) for long-tailed data: frames showing a class present in fewer than
   * this fraction of the frames are drawn more often (src/train/vis-data.ts). 0 = every frame once.
   */
  repeatThreshold: number;
  /**
   * Random frames per step (beyond the batch) whose GT instances train the crop classifier
   * (model.cropSize > 0): crops are cheap, and the batch's own frames show too few instances.
   */
  cropFrames: number;
}

/** Inference settings of the online model (the tracker's knobs are in TrackerOptions). */
export interface InferenceConfig {
  /** Queries with a best class probability below this are not candidates. */
  scoreThreshold: number;
  /** Results kept per video. */
  topK: number;
  /**
   * Mask2Former's instance score: class probabilities times the query's mask score, the mean of
   * σ(logit) over its mask pixels, so that a query sure of its class but not of the object ranks lower.
   */
  maskScore: boolean;
  /** The online tracker's smallest embedding similarity that continues a track (TrackerOptions). */
  minSimilarity: number;
  /** The online tracker's memory momentum (TrackerOptions). */
  momentum: number;
  /**
   * Frames a track may be unseen (occluded, out of view) and still continue (TrackerOptions).
   * `vidseg tune vis` chooses the three tracker settings on a split.
   */
  maxGap: number;
  /** The online tracker's box cue: affinity = cosine + this × box IoU with the track (TrackerOptions). */
  boxIouWeight: number;
}

/** The offline head's own settings (the rest is taken from the segmenter's config). */
export interface OfflineHeadOptions {
  /** Width of the object encoder and the video decoder. */
  hiddenDim: number;
  /** Video queries Nv (instances the model can output per clip). */
  numVideoQueries: number;
  numHeads: number;
  dimFeedforward: number;
  /** Object-encoder layers (self-attention across frames). */
  encoderLayers: number;
  /** Video-query decoder layers. */
  decoderLayers: number;
  /** Frames per encoder window; 0 = one window over the whole clip (cost quadratic in T). */
  windowSize: number;
  /** Dimension of the similarity embeddings of frame queries and video queries. */
  embedDim: number;
  dropout: number;
}

/**
 * The offline (VITA-style) model's own settings: its head, its training clips, its loss weights and its
 * clip windows at inference. The segmenter, criterion and optimiser settings are the sections above.
 */
export interface OfflineConfig {
  /** The head's architecture. */
  head: OfflineHeadOptions;
  /** Frames per training clip T. */
  clipLength: number;
  /** Largest distance between consecutive frames of a training clip (1 = consecutive frames). */
  clipMaxStride: number;
  /** Clips per training step (B clips = B·T frames through the segmenter; optim.batchSize is unused). */
  clipsPerBatch: number;
  /** Weights of the frame-level, video-level and query-similarity losses (VITA: 1, 1, 0.5). */
  frameWeight: number;
  videoWeight: number;
  simWeight: number;
  /**
   * Train the head only, on a frozen frame segmenter (VITA's FREEZE_DETECTOR): meant for a segmenter
   * initialised from a trained online model; a step then backpropagates through the head alone.
   */
  freezeSegmenter: boolean;
  /** OfflineSegmenter's clip window and overlap (validation and inference). */
  inferenceClipLength: number;
  inferenceClipOverlap: number;
  /** OfflineSegmenter's frameMaskIou: per-frame masks from the frame queries (0: the video queries'). */
  inferenceFrameMaskIou: number;
  /** OfflineSegmenter's softNmsIou: video-level Soft-NMS among a class's results (1: off). */
  inferenceSoftNmsIou: number;
}

/**
 * Class-fair augmentation for distillation (src/train/fair-aug.ts): instance tubes of other training
 * videos pasted onto a clip, each tube drawn with probability ∝ 1/frequency(class)^alpha, where a
 * class's frequency is its number of instance tracks in the training split.
 */
export interface FairAugConfig {
  enabled: boolean;
  /** 0 = tubes drawn uniformly; 1 = every class equally often; in between, rare classes favoured. */
  alpha: number;
  /** Tubes pasted on an augmented clip. */
  tubesPerClip: number;
  /** Probability that a clip is augmented. */
  probability: number;
  /** The tube's scale is uniform in [minScale, maxScale] (one affine for the whole tube). */
  minScale: number;
  maxScale: number;
  /**
   * An instance hidden by pasted pixels (or a pasted tube hidden by a later one) whose visible area in
   * a frame is below this fraction of the frame is dropped from that frame's GT.
   */
  minVisibleArea: number;
}

/**
 * Offline-to-online distillation (OOKD, `vidseg train vis --model online --distill-from <teacher>`):
 * an online student trained on clips, its queries pulled towards the frozen offline teacher's video
 * queries (src/models/distill/). Recorded in the student's model file; unused by other tasks.
 */
export interface DistillConfig {
  /** λ: total loss = the student's own loss + λ·KD. */
  kdWeight: number;
  /**
   * Which student query learns from which teacher query: "qfa" (query filtering and association: the
   * queries matched to the same GT instance), "none" (all queries, teacher–student Hungarian on the
   * embeddings), "position" (query i ↔ video query i).
   */
  kdFilter: "qfa" | "none" | "position";
  /** Distance between the projected student query and the teacher's video query: MSE or 1 − cos. */
  kdLoss: "mse" | "cosine";
  /** Temperature of a KL term on the paired class distributions; 0 = no class KL. */
  kdClassKl: number;
  /** Distil the last decoder layer's queries, or every decoder layer's (each with its own matching). */
  kdLayers: "last" | "all";
  /** QFA: a teacher query is kept only if its clip mask IoU with its GT instance reaches this. */
  qfaMinMaskIou: number;
  /** QFA: … and its probability of the GT class reaches this. */
  qfaMinClassProb: number;
  /** Frames per student clip T (the teacher sees the same clip). */
  clipLength: number;
  /** Largest distance between consecutive frames of a clip. */
  clipMaxStride: number;
  /** Clips per training step (optim.batchSize is unused). */
  clipsPerBatch: number;
  fairAug: FairAugConfig;
}

/**
 * The referring model's own settings (YOFO, src/models/refer/): its text encoder, feature mining,
 * meta-transfer memory, training clips and loss. It takes the backbone, its norm, the width
 * (`hiddenDim`), attention heads, GroupNorm groups and the input size from the `model` section.
 */
export interface ReferConfig {
  /** Words kept per expression (longer ones are cut). */
  maxWords: number;
  /** Transformer layers of the text encoder (width model.hiddenDim, model.numHeads heads). */
  textLayers: number;
  textFeedforward: number;
  /**
   * Multi-scale cross-modal feature mining: text fused at 1/32, 1/16 and 1/8, coarse to fine, each
   * scale seeing the previous fused result. false: text fused at 1/8 only (the ablation's "base").
   */
  featureMining: boolean;
  /** The meta-transfer memory: θ ∗ X(t) goes to the decoder next to Y(t). false: Y(t) alone. */
  metaTransfer: boolean;
  /**
   * The mask decoder's last layer is a 1×1 kernel made from the sentence (a dynamic convolution, as in
   * CRIS and ReferFormer): each position's logit is its decoder feature · kernel(sentence), so no mask
   * comes out without the text. false: a fixed 1×1 conv (the text acts only through feature mining).
   */
  textKernelHead: boolean;
  /**
   * Self-attention among the positions of the fused 1/16 map (feature-mining.ts GlobalContext), so
   * that a position can compare itself with the frame's other objects ("the leftmost", "the bigger
   * one"). A run from --init may add it to a model without it (its output starts at 0).
   */
  globalContext: boolean;
  /** Channels of the transfer input X (image features at 1/8). */
  transferDim: number;
  /** Side of the transfer kernel θ (odd). */
  transferKernel: number;
  /** Steepest-descent steps on a target's first frame (θ from 0). */
  solverInitSteps: number;
  /** Steps on every later frame (warm-started from the previous θ). */
  solverSteps: number;
  /** Initial value of the learnable ridge weight λ. */
  initialLambda: number;
  /** Memory slots K (the first frame plus the newest). */
  memorySlots: number;
  /** Weight of a new sample; older ones decay by (1 − this). */
  memoryLearningRate: number;
  /** The first frame's weight never falls below this. */
  firstFrameMinWeight: number;
  /** Frames per training clip. */
  clipLength: number;
  /** Largest distance between consecutive frames of a training clip. */
  clipMaxStride: number;
  /** Clips per training step (optim.batchSize is unused). */
  clipsPerBatch: number;
  /**
   * Expressions per training clip: the clip's expression and others of the same video, of other objects
   * where it has them, all segmented on the same frames (encoded once). Identical pixels with different
   * targets are what teaches the model to read the sentence rather than find the salient object.
   */
  expressionsPerClip: number;
  /**
   * Share of the training clips drawn from the pseudo-videos (`vidseg train refer --pseudo`: stills moved
   * by random affine motion, `vidseg synth refer --stills`), per clip from the step's RNG; 0 = none.
   */
  pseudoRatio: number;
  /** Loss weights on the mask: Lovász hinge, binary cross-entropy, dice. */
  lovaszWeight: number;
  bceWeight: number;
  diceWeight: number;
  /** Weight of the cross-entropy between the weight map W(t) and the mask at 1/8. */
  weightMapWeight: number;
  /**
   * Weight of the cross-entropy on the frame's other objects, averaged over their pixels (loss.ts): a
   * mask over the wrong object costs as much as one missing the right object. 0 = off.
   */
  otherObjectsWeight: number;
}

/**
 * A model's whole configuration, one section per concern. Sections are composable: a preset or a
 * config file names only the fields it changes (see {@link resolveVisConfig}); a new model kind adds
 * its own section here (as `offline` did) with defaults and checks.
 */
export interface VisConfig {
  model: SegmenterConfig;
  criterion: CriterionConfig;
  optim: OptimConfig;
  inference: InferenceConfig;
  offline: OfflineConfig;
  distill: DistillConfig;
  refer: ReferConfig;
}

export const PRESET_NAMES = ["tiny", "cpu-small", "r50"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

type Overrides<T> = {
  [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? Overrides<T[K]> : T[K];
};

/** Every field's default: the `cpu-small` preset, the CPU benchmark trained from scratch on 2 cores. */
const DEFAULTS: VisConfig = {
  model: {
    backbone: "resnetSmall",
    backboneNorm: "GN",
    hiddenDim: 64,
    maskDim: 64,
    numQueries: 16,
    numClasses: 8,
    decoderLayers: 6,
    numHeads: 4,
    dimFeedforward: 256,
    embedDim: 64,
    trackEmbedding: "head",
    normGroups: 16,
    inputSize: [128, 128],
    cropSize: 48,
  },
  criterion: {
    classWeight: 2,
    maskWeight: 5,
    diceWeight: 5,
    noObjectWeight: 0.1,
    numPoints: 1024,
    oversampleRatio: 3,
    importanceSampleRatio: 0.75,
    deepSupervision: true,
    contrastiveWeight: 0.5,
    contrastiveTemperature: 0.1,
    cropWeight: 2,
    cropsPerInstance: 2,
  },
  optim: {
    lr: 4e-4,
    weightDecay: 0.05,
    backboneLrScale: 1,
    lrScales: [],
    clipNorm: 1,
    warmupSteps: 100,
    totalSteps: 6000,
    batchSize: 2,
    pairMaxGap: 5,
    flipProbability: 0.5,
    repeatThreshold: 0.3,
    cropFrames: 8,
  },
  // topK: results per video, (track, class) pairs. 10 (Mask2Former-VIS's test setting) cut real
  // tracks' second classes and whole tracks on 4–6-object videos: ovis student AP 0.069 → 0.084 at 50.
  inference: {
    scoreThreshold: 0.3,
    topK: 50,
    maskScore: true,
    minSimilarity: 0.5,
    momentum: 0.7,
    maxGap: 10,
    boxIouWeight: 0,
  },
  offline: {
    head: {
      hiddenDim: 64,
      numVideoQueries: 10,
      numHeads: 4,
      dimFeedforward: 256,
      encoderLayers: 4,
      decoderLayers: 3,
      windowSize: 6,
      embedDim: 64,
      dropout: 0,
    },
    clipLength: 5,
    clipMaxStride: 3,
    clipsPerBatch: 1,
    frameWeight: 1,
    videoWeight: 1,
    simWeight: 0.5,
    freezeSegmenter: false,
    inferenceClipLength: 36,
    inferenceClipOverlap: 4,
    inferenceFrameMaskIou: 0.3,
    inferenceSoftNmsIou: 0.3,
  },
  distill: {
    kdWeight: 1,
    kdFilter: "qfa",
    kdLoss: "mse",
    kdClassKl: 0,
    kdLayers: "last",
    qfaMinMaskIou: 0,
    qfaMinClassProb: 0,
    clipLength: 5,
    clipMaxStride: 3,
    clipsPerBatch: 1,
    fairAug: {
      enabled: false,
      alpha: 1,
      tubesPerClip: 1,
      probability: 0.5,
      minScale: 0.5,
      maxScale: 1,
      minVisibleArea: 0.002,
    },
  },
  refer: {
    maxWords: 16,
    textLayers: 2,
    textFeedforward: 128,
    featureMining: true,
    metaTransfer: true,
    textKernelHead: true,
    globalContext: false,
    transferDim: 32,
    transferKernel: 3,
    solverInitSteps: 5,
    solverSteps: 2,
    initialLambda: 1,
    memorySlots: 8,
    memoryLearningRate: 0.2,
    firstFrameMinWeight: 0.2,
    clipLength: 4,
    clipMaxStride: 3,
    clipsPerBatch: 2,
    expressionsPerClip: 2,
    pseudoRatio: 0,
    lovaszWeight: 1,
    bceWeight: 1,
    diceWeight: 0,
    weightMapWeight: 0.5,
    otherObjectsWeight: 0,
  },
};

/** Each preset names only what differs from {@link DEFAULTS}. */
const PRESETS: Record<PresetName, Overrides<VisConfig>> = {
  // Unit tests: seconds per step on wasm.
  tiny: {
    model: {
      backboneNorm: "BN",
      hiddenDim: 32,
      maskDim: 32,
      numQueries: 8,
      numClasses: 4,
      decoderLayers: 3,
      dimFeedforward: 64,
      embedDim: 32,
      normGroups: 8,
      inputSize: [64, 64],
      cropSize: 32,
    },
    criterion: { numPoints: 256 },
    optim: { lr: 1e-3, warmupSteps: 5, totalSteps: 50, pairMaxGap: 3, repeatThreshold: 0, cropFrames: 2 },
    offline: {
      head: {
        hiddenDim: 32,
        numVideoQueries: 6,
        dimFeedforward: 64,
        encoderLayers: 2,
        decoderLayers: 2,
        windowSize: 4,
        embedDim: 32,
      },
      clipLength: 3,
      clipMaxStride: 2,
      inferenceClipLength: 8,
      inferenceClipOverlap: 2,
    },
    distill: { clipLength: 3, clipMaxStride: 2 },
    refer: {
      maxWords: 12,
      textLayers: 1,
      textFeedforward: 64,
      transferDim: 16,
      solverInitSteps: 3,
      memorySlots: 4,
      clipLength: 3,
      clipMaxStride: 2,
      clipsPerBatch: 1,
    },
  },
  "cpu-small": {},
  // Real data: Mask2Former's R50 settings (ResNet-50 from torchvision weights, frozen BN).
  r50: {
    model: {
      backbone: "resnet50",
      backboneNorm: "FrozenBN",
      hiddenDim: 256,
      maskDim: 256,
      numQueries: 100,
      numClasses: 40,
      decoderLayers: 9,
      numHeads: 8,
      dimFeedforward: 2048,
      embedDim: 256,
      trackEmbedding: "query",
      normGroups: 32,
      inputSize: [384, 640],
      cropSize: 0,
    },
    criterion: { numPoints: 12544, contrastiveWeight: 0 },
    optim: {
      lr: 1e-4,
      backboneLrScale: 0.1,
      clipNorm: 0.01,
      warmupSteps: 0,
      totalSteps: 160000,
      repeatThreshold: 0,
      cropFrames: 0,
    },
    offline: {
      head: {
        hiddenDim: 256,
        numVideoQueries: 100,
        numHeads: 8,
        dimFeedforward: 2048,
        encoderLayers: 6,
        embedDim: 256,
      },
      clipsPerBatch: 2,
      clipMaxStride: 5,
      inferenceClipLength: 64,
    },
    refer: { maxWords: 20, textLayers: 4, textFeedforward: 1024, transferDim: 64, memorySlots: 16 },
  },
};

/** Untrusted keys that would reach Object.prototype when merged. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Copies `overrides` onto `target` field by field: only fields the target owns (own properties, so
 * inherited names like "toString" are unknown), nested objects merged, arrays and values replaced.
 */
function applyOverrides(
  target: Record<string, unknown>,
  overrides: unknown,
  file: string | undefined,
  path: string,
): void {
  if (typeof overrides !== "object" || overrides === null || Array.isArray(overrides)) {
    throw new VidsegError("must be an object", file, path);
  }
  for (const [key, value] of Object.entries(overrides)) {
    const where = path ? `${path}.${key}` : key;
    if (FORBIDDEN_KEYS.has(key) || !Object.hasOwn(target, key)) {
      throw new VidsegError(`unknown ${path ? "field" : "section"} "${key}"`, file, where);
    }
    const current = target[key];
    if (typeof current === "object" && current !== null && !Array.isArray(current)) {
      applyOverrides(current as Record<string, unknown>, value, file, where);
    } else {
      target[key] = value;
    }
  }
}

/** A deep copy of a named preset: the defaults with the preset's overrides. */
export function presetConfig(name: PresetName): VisConfig {
  if (!Object.hasOwn(PRESETS, name)) {
    throw new VidsegError(`unknown config preset "${String(name)}" (expected ${PRESET_NAMES.join(", ")})`);
  }
  const config = structuredClone(DEFAULTS);
  applyOverrides(config as unknown as Record<string, unknown>, structuredClone(PRESETS[name]), undefined, "");
  return config;
}

/**
 * Applies a config object `{"preset": "cpu-small", "model": {...}, "criterion": {...}, ...}` (a config
 * file, or the config stored in a model file) to its preset (default cpu-small) and validates the
 * result. Only the schema's own fields are accepted, so untrusted JSON cannot reach prototypes.
 */
export function resolveVisConfig(json: unknown, file?: string): VisConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new VidsegError("config must be a JSON object", file);
  }
  const { preset = "cpu-small", ...sections } = json as Record<string, unknown>;
  if (!(PRESET_NAMES as readonly unknown[]).includes(preset)) {
    throw new VidsegError(
      `unknown preset ${showValue(preset)} (expected ${PRESET_NAMES.join(", ")})`,
      file,
      "preset",
    );
  }
  const config = presetConfig(preset as PresetName);
  applyOverrides(
    config as unknown as Record<string, unknown>,
    withLegacyHeadPreset(sections, file),
    file,
    "",
  );
  validateVisConfig(config, file);
  return config;
}

/**
 * Model files written before the head's settings moved into the config name a head preset
 * (`offline.headPreset`) plus single-field overrides: turned into the `offline.head` they stand for.
 */
function withLegacyHeadPreset(sections: Record<string, unknown>, file?: string): Record<string, unknown> {
  const offline = sections.offline as Record<string, unknown> | undefined;
  if (typeof offline !== "object" || offline === null || !Object.hasOwn(offline, "headPreset"))
    return sections;
  const { headPreset, head, ...rest } = offline;
  if (!(PRESET_NAMES as readonly unknown[]).includes(headPreset)) {
    throw new VidsegError(
      `must be one of ${PRESET_NAMES.map((n) => JSON.stringify(n)).join(", ")}`,
      file,
      "offline.headPreset",
    );
  }
  const base = presetConfig(headPreset as PresetName).offline.head;
  return { ...sections, offline: { ...rest, head: { ...base, ...(head as object | undefined) } } };
}

/** Checks every field's type and range; errors name the field ("model.hiddenDim"). */
export function validateVisConfig(config: VisConfig, file?: string): void {
  const fail = (where: string, message: string): never => {
    throw new VidsegError(message, file, where);
  };
  const integer = (where: string, value: unknown, min = 1) => {
    if (!Number.isInteger(value) || (value as number) < min) fail(where, `must be an integer ≥ ${min}`);
  };
  const number = (where: string, value: unknown, min = 0, max = Infinity) => {
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      fail(where, `must be a number in [${min}, ${max}]`);
    }
  };
  const oneOf = (where: string, value: unknown, options: readonly unknown[]) => {
    if (!options.includes(value))
      fail(where, `must be one of ${options.map((o) => JSON.stringify(o)).join(", ")}`);
  };
  const m = config.model;
  oneOf("model.backbone", m.backbone, BACKBONE_NAMES);
  oneOf("model.backboneNorm", m.backboneNorm, ["GN", "BN", "FrozenBN"]);
  oneOf("model.trackEmbedding", m.trackEmbedding, ["query", "head"]);
  for (const field of [
    "hiddenDim",
    "maskDim",
    "numQueries",
    "numClasses",
    "decoderLayers",
    "numHeads",
    "dimFeedforward",
    "embedDim",
    "normGroups",
  ] as const) {
    integer(`model.${field}`, m[field]);
  }
  if (m.hiddenDim % m.numHeads !== 0) fail("model.numHeads", `must divide hiddenDim ${m.hiddenDim}`);
  if (m.hiddenDim % m.normGroups !== 0) fail("model.normGroups", `must divide hiddenDim ${m.hiddenDim}`);
  if (m.hiddenDim % 2 !== 0) fail("model.hiddenDim", "must be even (sine position encoding)");
  if (
    !Array.isArray(m.inputSize) ||
    m.inputSize.length !== 2 ||
    !m.inputSize.every((v) => Number.isInteger(v) && v >= 32 && v % 32 === 0)
  ) {
    fail("model.inputSize", "must be [height, width], multiples of 32");
  }
  if (!Number.isInteger(m.cropSize) || (m.cropSize !== 0 && m.cropSize < 32)) {
    fail("model.cropSize", "must be 0 (no crop classifier) or an integer ≥ 32");
  }
  const c = config.criterion;
  for (const field of [
    "classWeight",
    "maskWeight",
    "diceWeight",
    "contrastiveWeight",
    "cropWeight",
  ] as const) {
    number(`criterion.${field}`, c[field]);
  }
  number("criterion.noObjectWeight", c.noObjectWeight, 0, 1);
  integer("criterion.numPoints", c.numPoints);
  integer("criterion.cropsPerInstance", c.cropsPerInstance);
  number("criterion.oversampleRatio", c.oversampleRatio, 1);
  number("criterion.importanceSampleRatio", c.importanceSampleRatio, 0, 1);
  number("criterion.contrastiveTemperature", c.contrastiveTemperature, 1e-6);
  if (typeof c.deepSupervision !== "boolean") fail("criterion.deepSupervision", "must be true or false");
  const o = config.optim;
  for (const field of ["lr", "weightDecay", "backboneLrScale", "clipNorm"] as const)
    number(`optim.${field}`, o[field]);
  if (!Array.isArray(o.lrScales)) fail("optim.lrScales", "must be a list of {prefix, scale}");
  o.lrScales.forEach((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null || Object.keys(entry).sort().join() !== "prefix,scale")
      fail(`optim.lrScales[${i}]`, "must be {prefix, scale}");
    const { prefix, scale } = entry as Record<string, unknown>;
    if (typeof prefix !== "string" || prefix === "")
      fail(`optim.lrScales[${i}].prefix`, "must be a non-empty string");
    number(`optim.lrScales[${i}].scale`, scale);
  });
  integer("optim.warmupSteps", o.warmupSteps, 0);
  integer("optim.totalSteps", o.totalSteps);
  integer("optim.batchSize", o.batchSize);
  integer("optim.pairMaxGap", o.pairMaxGap);
  number("optim.flipProbability", o.flipProbability, 0, 1);
  number("optim.repeatThreshold", o.repeatThreshold, 0, 1);
  integer("optim.cropFrames", o.cropFrames, 0);
  if (c.contrastiveWeight > 0 && o.batchSize % 2 !== 0) {
    fail("optim.batchSize", "must be even with the contrastive loss (pairs of frames)");
  }
  number("inference.scoreThreshold", config.inference.scoreThreshold, 0, 1);
  integer("inference.topK", config.inference.topK);
  if (typeof config.inference.maskScore !== "boolean") fail("inference.maskScore", "must be true or false");
  number("inference.minSimilarity", config.inference.minSimilarity, -1, 1);
  number("inference.momentum", config.inference.momentum, 0, 1);
  if (config.inference.momentum === 1) fail("inference.momentum", "must be below 1");
  integer("inference.maxGap", config.inference.maxGap, 0);
  number("inference.boxIouWeight", config.inference.boxIouWeight);
  const off = config.offline;
  validateHeadOptions(off.head, file, "offline.head");
  for (const field of ["clipLength", "clipMaxStride", "clipsPerBatch", "inferenceClipLength"] as const)
    integer(`offline.${field}`, off[field]);
  integer("offline.inferenceClipOverlap", off.inferenceClipOverlap, 0);
  if (off.inferenceClipOverlap >= off.inferenceClipLength)
    fail("offline.inferenceClipOverlap", "must be smaller than offline.inferenceClipLength");
  for (const field of ["frameWeight", "videoWeight", "simWeight"] as const)
    number(`offline.${field}`, off[field]);
  number("offline.inferenceFrameMaskIou", off.inferenceFrameMaskIou, 0, 1);
  number("offline.inferenceSoftNmsIou", off.inferenceSoftNmsIou, 0, 1);
  if (typeof off.freezeSegmenter !== "boolean") fail("offline.freezeSegmenter", "must be true or false");
  const kd = config.distill;
  number("distill.kdWeight", kd.kdWeight);
  oneOf("distill.kdFilter", kd.kdFilter, ["qfa", "none", "position"]);
  oneOf("distill.kdLoss", kd.kdLoss, ["mse", "cosine"]);
  number("distill.kdClassKl", kd.kdClassKl);
  oneOf("distill.kdLayers", kd.kdLayers, ["last", "all"]);
  number("distill.qfaMinMaskIou", kd.qfaMinMaskIou, 0, 1);
  number("distill.qfaMinClassProb", kd.qfaMinClassProb, 0, 1);
  for (const field of ["clipLength", "clipMaxStride", "clipsPerBatch"] as const)
    integer(`distill.${field}`, kd[field]);
  if (kd.kdLayers === "all" && kd.kdFilter === "qfa" && !c.deepSupervision)
    fail(
      "distill.kdLayers",
      `"all" with QFA pairs each layer by its own matching: needs criterion.deepSupervision`,
    );
  const aug = kd.fairAug;
  if (typeof aug.enabled !== "boolean") fail("distill.fairAug.enabled", "must be true or false");
  number("distill.fairAug.alpha", aug.alpha, 0, 4);
  integer("distill.fairAug.tubesPerClip", aug.tubesPerClip);
  number("distill.fairAug.probability", aug.probability, 0, 1);
  number("distill.fairAug.minScale", aug.minScale, 0.05, 4);
  number("distill.fairAug.maxScale", aug.maxScale, aug.minScale, 4);
  number("distill.fairAug.minVisibleArea", aug.minVisibleArea, 0, 1);
  const r = config.refer;
  for (const field of [
    "maxWords",
    "textFeedforward",
    "transferDim",
    "transferKernel",
    "solverInitSteps",
    "memorySlots",
    "clipLength",
    "clipMaxStride",
    "clipsPerBatch",
    "expressionsPerClip",
  ] as const) {
    integer(`refer.${field}`, r[field]);
  }
  integer("refer.textLayers", r.textLayers, 0);
  integer("refer.solverSteps", r.solverSteps, 0);
  if (r.transferKernel % 2 !== 1) fail("refer.transferKernel", "must be odd");
  if (r.memorySlots < 2) fail("refer.memorySlots", "must be at least 2 (the first frame and the newest)");
  number("refer.initialLambda", r.initialLambda, 1e-6);
  number("refer.memoryLearningRate", r.memoryLearningRate, 0, 1);
  number("refer.firstFrameMinWeight", r.firstFrameMinWeight, 0, 1);
  number("refer.pseudoRatio", r.pseudoRatio, 0, 1);
  for (const field of [
    "lovaszWeight",
    "bceWeight",
    "diceWeight",
    "weightMapWeight",
    "otherObjectsWeight",
  ] as const)
    number(`refer.${field}`, r[field]);
  if (r.lovaszWeight + r.bceWeight + r.diceWeight === 0)
    fail("refer.lovaszWeight", "one of lovaszWeight, bceWeight and diceWeight must be positive");
  for (const field of ["featureMining", "metaTransfer", "textKernelHead", "globalContext"] as const)
    if (typeof r[field] !== "boolean") fail(`refer.${field}`, "must be true or false");
}

/** Checks the offline head's settings (also when a head is built directly); errors name `prefix.field`. */
export function validateHeadOptions(head: OfflineHeadOptions, file?: string, prefix = "head"): void {
  const fail = (field: string, message: string): never => {
    throw new VidsegError(message, file, `${prefix}.${field}`);
  };
  for (const field of [
    "hiddenDim",
    "numVideoQueries",
    "numHeads",
    "dimFeedforward",
    "decoderLayers",
    "embedDim",
  ] as const)
    if (!Number.isInteger(head[field]) || head[field] < 1)
      fail(field, `must be an integer ≥ 1, got ${head[field]}`);
  for (const field of ["encoderLayers", "windowSize"] as const)
    if (!Number.isInteger(head[field]) || head[field] < 0)
      fail(field, `must be an integer ≥ 0, got ${head[field]}`);
  if (typeof head.dropout !== "number" || !(head.dropout >= 0 && head.dropout <= 1))
    fail("dropout", "must be a number in [0, 1]");
  if (head.hiddenDim % head.numHeads !== 0) fail("numHeads", `must divide hiddenDim ${head.hiddenDim}`);
}
