/**
 * Image backbones by name, for every model that reads multi-scale features (the segmenter's pixel
 * decoder): the torchvision-layout ResNets (trained, or loaded from torchvision weights) and the frozen
 * pretrained CenterNet MobileNetV3 (src/nn/centernet-backbone.ts).
 */
import * as tf from "@tensorflow/tfjs";
import {
  CENTERNET_MBV3,
  CenternetBackbone,
  loadCenternetGraph,
  type CenternetGraph,
} from "./centernet-backbone.js";
import type { Module } from "./module.js";
import {
  createResnet,
  RESNET_CONFIGS,
  type ResnetFeatures,
  type ResnetName,
  type ResnetNorm,
} from "./resnet.js";
import { readVendoredGraphModel } from "./vendored-weights.js";

/** What a pixel decoder needs from a backbone. */
export interface Backbone extends Module {
  /** Channels of the features at strides 4, 8, 16, 32. */
  readonly outChannels: readonly [number, number, number, number];
  /**
   * RGB images in 0..1, [B, H, W, 3] (H, W multiples of 32) → features at strides 4, 8, 16, 32
   * (res2..res5). Each backbone applies the input normalisation it was trained with.
   */
  features(images: tf.Tensor4D): ResnetFeatures;
}

export const PRETRAINED_BACKBONE_NAMES = [CENTERNET_MBV3.name] as const;
export type PretrainedBackboneName = (typeof PRETRAINED_BACKBONE_NAMES)[number];
export type BackboneName = ResnetName | PretrainedBackboneName;
export const BACKBONE_NAMES: readonly BackboneName[] = [
  ...(Object.keys(RESNET_CONFIGS) as ResnetName[]),
  ...PRETRAINED_BACKBONE_NAMES,
];

/** True for the frozen pretrained backbones (no parameters, nothing in a state dict). */
export function isPretrainedBackbone(name: string): name is PretrainedBackboneName {
  return (PRETRAINED_BACKBONE_NAMES as readonly string[]).includes(name);
}

/**
 * Loaded graph models by backbone and TensorFlow.js backend. They are read-only constants, so every
 * model of the process shares one copy (a teacher and its student, a model and its reloaded copy);
 * they live as long as the process, like the runtime's kernels.
 */
const graphs = new Map<string, CenternetGraph>();

function pretrainedGraph(name: PretrainedBackboneName): CenternetGraph {
  const key = `${name}@${tf.getBackend()}`;
  let graph = graphs.get(key);
  if (!graph) {
    graph = loadCenternetGraph(readVendoredGraphModel(CENTERNET_MBV3.name, CENTERNET_MBV3.files));
    graphs.set(key, graph);
  }
  return graph;
}

/** Builds a backbone by name; `norm` applies to the ResNets only. */
export function createBackbone(name: BackboneName, options: { norm?: ResnetNorm } = {}): Backbone {
  if (isPretrainedBackbone(name)) return new CenternetBackbone(pretrainedGraph(name));
  return createResnet(name, { norm: options.norm });
}
