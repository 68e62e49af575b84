/**
 * Configuration of the per-frame segmenter and of its training: named presets (`tiny` for tests,
 * `cpu-small` for the CPU benchmark, `r50` for real data) and JSON config files that start from a preset
 * and override fields. Every field is validated with an error naming the file and the field.
 */
import { VidsegError } from "../core/errors.js";
import { readJson } from "../core/fs.js";
import { BACKBONE_NAMES, type BackboneName } from "../nn/backbone.js";
import type { ResnetNorm } from "../nn/resnet.js";

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
}

/**
 * The offline (VITA-style) model's own settings: its head, its training clips, its loss weights and its
 * clip windows at inference. The segmenter, criterion and optimiser settings are the sections above.
 */
export interface OfflineConfig {
  /** Head architecture: OFFLINE_HEAD_PRESETS[headPreset] of src/models/offline.ts. */
  headPreset: PresetName;
  /** Overrides of single head fields, e.g. {"windowSize": 0}; checked when the head is built. */
  head: Record<string, number>;
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
}

export interface VisConfig {
  model: SegmenterConfig;
  criterion: CriterionConfig;
  optim: OptimConfig;
  inference: InferenceConfig;
  offline: OfflineConfig;
}

export const PRESET_NAMES = ["tiny", "cpu-small", "r50"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

const DEFAULT_CRITERION: CriterionConfig = {
  classWeight: 2,
  maskWeight: 5,
  diceWeight: 5,
  noObjectWeight: 0.1,
  numPoints: 12544,
  oversampleRatio: 3,
  importanceSampleRatio: 0.75,
  deepSupervision: true,
  contrastiveWeight: 0,
  contrastiveTemperature: 0.1,
  cropWeight: 2,
  cropsPerInstance: 2,
};

const DEFAULT_OFFLINE: Omit<OfflineConfig, "headPreset"> = {
  head: {},
  clipLength: 5,
  clipMaxStride: 3,
  clipsPerBatch: 1,
  frameWeight: 1,
  videoWeight: 1,
  simWeight: 0.5,
  freezeSegmenter: false,
  inferenceClipLength: 36,
  inferenceClipOverlap: 4,
};

const PRESETS: Record<PresetName, VisConfig> = {
  // Unit tests: seconds per step on wasm.
  tiny: {
    model: {
      backbone: "resnetSmall",
      backboneNorm: "BN",
      hiddenDim: 32,
      maskDim: 32,
      numQueries: 8,
      numClasses: 4,
      decoderLayers: 3,
      numHeads: 4,
      dimFeedforward: 64,
      embedDim: 32,
      trackEmbedding: "head",
      normGroups: 8,
      inputSize: [64, 64],
      cropSize: 32,
    },
    criterion: { ...DEFAULT_CRITERION, numPoints: 256, contrastiveWeight: 0.5 },
    optim: {
      lr: 1e-3,
      weightDecay: 0.05,
      backboneLrScale: 1,
      clipNorm: 1,
      warmupSteps: 5,
      totalSteps: 50,
      batchSize: 2,
      pairMaxGap: 3,
      flipProbability: 0.5,
      repeatThreshold: 0,
      cropFrames: 2,
    },
    inference: { scoreThreshold: 0.3, topK: 10 },
    offline: {
      ...DEFAULT_OFFLINE,
      headPreset: "tiny",
      clipLength: 3,
      clipMaxStride: 2,
      inferenceClipLength: 8,
      inferenceClipOverlap: 2,
    },
  },
  // The CPU benchmark (synthetic data): trained from scratch on 2 cores within about an hour.
  "cpu-small": {
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
    criterion: { ...DEFAULT_CRITERION, numPoints: 1024, contrastiveWeight: 0.5 },
    optim: {
      lr: 4e-4,
      weightDecay: 0.05,
      backboneLrScale: 1,
      clipNorm: 1,
      warmupSteps: 100,
      totalSteps: 6000,
      batchSize: 2,
      pairMaxGap: 5,
      flipProbability: 0.5,
      repeatThreshold: 0.3,
      cropFrames: 8,
    },
    inference: { scoreThreshold: 0.3, topK: 10 },
    offline: { ...DEFAULT_OFFLINE, headPreset: "cpu-small" },
  },
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
    criterion: { ...DEFAULT_CRITERION },
    optim: {
      lr: 1e-4,
      weightDecay: 0.05,
      backboneLrScale: 0.1,
      clipNorm: 0.01,
      warmupSteps: 0,
      totalSteps: 160000,
      batchSize: 2,
      pairMaxGap: 5,
      flipProbability: 0.5,
      repeatThreshold: 0,
      cropFrames: 0,
    },
    inference: { scoreThreshold: 0.3, topK: 10 },
    offline: {
      ...DEFAULT_OFFLINE,
      headPreset: "r50",
      clipsPerBatch: 2,
      clipMaxStride: 5,
      inferenceClipLength: 64,
    },
  },
};

/** A deep copy of a named preset. */
export function presetConfig(name: PresetName): VisConfig {
  const preset = PRESETS[name];
  if (!preset) {
    throw new VidsegError(`unknown config preset "${String(name)}" (expected ${PRESET_NAMES.join(", ")})`);
  }
  return structuredClone(preset);
}

/**
 * A preset name, or a JSON file `{"preset": "cpu-small", "model": {...}, "criterion": {...}, ...}` whose
 * sections override the preset's fields (default preset: cpu-small).
 */
export async function loadVisConfig(nameOrFile: string): Promise<VisConfig> {
  if ((PRESET_NAMES as readonly string[]).includes(nameOrFile)) return presetConfig(nameOrFile as PresetName);
  const json = await readJson(nameOrFile);
  return resolveVisConfig(json, nameOrFile);
}

/** Applies a config object (as in a config file) to its preset and validates the result. */
export function resolveVisConfig(json: unknown, file?: string): VisConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new VidsegError("config must be a JSON object", file);
  }
  const object = json as Record<string, unknown>;
  const presetName = object.preset ?? "cpu-small";
  if (!(PRESET_NAMES as readonly unknown[]).includes(presetName)) {
    throw new VidsegError(
      `unknown preset ${JSON.stringify(presetName)} (expected ${PRESET_NAMES.join(", ")})`,
      file,
      "preset",
    );
  }
  const config = presetConfig(presetName as PresetName);
  for (const key of Object.keys(object)) {
    if (key === "preset") continue;
    if (!(key in config)) throw new VidsegError(`unknown section "${key}"`, file, key);
    const section = object[key];
    if (typeof section !== "object" || section === null || Array.isArray(section)) {
      throw new VidsegError("must be an object", file, key);
    }
    const target = config[key as keyof VisConfig] as unknown as Record<string, unknown>;
    for (const [field, value] of Object.entries(section)) {
      if (!(field in target)) throw new VidsegError(`unknown field "${field}"`, file, `${key}.${field}`);
      target[field] = value;
    }
  }
  validateVisConfig(config, file);
  return config;
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
  const off = config.offline;
  oneOf("offline.headPreset", off.headPreset, PRESET_NAMES);
  if (typeof off.head !== "object" || off.head === null || Array.isArray(off.head)) {
    fail("offline.head", "must be an object of head fields");
  }
  for (const [field, value] of Object.entries(off.head)) number(`offline.head.${field}`, value);
  for (const field of ["clipLength", "clipMaxStride", "clipsPerBatch", "inferenceClipLength"] as const)
    integer(`offline.${field}`, off[field]);
  integer("offline.inferenceClipOverlap", off.inferenceClipOverlap, 0);
  if (off.inferenceClipOverlap >= off.inferenceClipLength)
    fail("offline.inferenceClipOverlap", "must be smaller than offline.inferenceClipLength");
  for (const field of ["frameWeight", "videoWeight", "simWeight"] as const)
    number(`offline.${field}`, off[field]);
  if (typeof off.freezeSegmenter !== "boolean") fail("offline.freezeSegmenter", "must be true or false");
}
