/**
 * ONNX emitters for the frozen pretrained backbone (src/nn/centernet-backbone.ts). Its forward is the
 * vendored TensorFlow graph itself, run by TensorFlow.js's graph executor, so the export walks the same
 * graph: from the four feature maps back to the image, one emitter per TensorFlow op the maps depend
 * on (the MobileNetV3 blocks are made of them: fused conv + BN + ReLU/ReLU6, depthwise conv, hard-swish
 * as x·ReLU6(x + 3)·⅙, squeeze-excite as a spatial Mean, two 1×1 convs, a hard-sigmoid and a Mul),
 * each as TensorFlow.js's kernel computes it, on NCHW tensors. The weights are the graph's constants
 * as TensorFlow.js loaded them (the fp16 file dequantised to float32).
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import { CENTERNET_MBV3, type CenternetBackbone, type GraphNode } from "../nn/centernet-backbone.js";
import type { OnnxGraph } from "./onnx-graph.js";

/** The graph's constant `name` as TensorFlow.js holds it. */
function constant(backbone: CenternetBackbone, name: string): tf.Tensor {
  const tensor = backbone.graph.model.weights[name]?.[0];
  if (!tensor) throw new VidsegError(`ONNX export: the CenterNet graph has no constant "${name}"`);
  return tensor;
}

/** A converter attribute: a base64 string, a list of ints or strings, a bool. */
function attrString(node: GraphNode, key: string): string {
  const value = (node.attr?.[key] as { s?: string } | undefined)?.s;
  return value === undefined ? "" : atob(value);
}

function attrInts(node: GraphNode, key: string): number[] {
  const list = (node.attr?.[key] as { list?: { i?: string[] } } | undefined)?.list?.i ?? [];
  return list.map(Number);
}

function attrStrings(node: GraphNode, key: string): string[] {
  const list = (node.attr?.[key] as { list?: { s?: string[] } } | undefined)?.list?.s ?? [];
  return list.map((s) => atob(s));
}

function unsupported(node: GraphNode, what: string): never {
  throw new VidsegError(`ONNX export: the CenterNet graph's ${node.op} node "${node.name}" ${what}`);
}

/** _FusedConv2D and FusedDepthwiseConv2dNative: SAME-padded conv (TensorFlow puts the odd pixel after), BiasAdd, then ReLU or ReLU6. */
function fusedConv(g: OnnxGraph, backbone: CenternetBackbone, node: GraphNode, x: string): string {
  const [, kernelName, biasName] = node.input!;
  const strides = attrInts(node, "strides");
  const dilations = attrInts(node, "dilations");
  if (attrString(node, "padding") !== "SAME" || attrString(node, "data_format") !== "NHWC")
    unsupported(node, "is not an NHWC SAME convolution");
  if (strides[1] !== strides[2] || dilations.some((d) => d !== 1))
    unsupported(node, "has unequal strides or dilations");
  const kernel = constant(backbone, kernelName);
  const [kh, kw, inChannels, outChannels] = kernel.shape;
  const depthwise = node.op === "FusedDepthwiseConv2dNative";
  if (depthwise && outChannels !== 1) unsupported(node, "has a channel multiplier other than 1");
  // HWIO → OIHW; a depthwise kernel [kh, kw, C, 1] → [C, 1, kh, kw] (group C).
  const perm = depthwise ? [2, 3, 0, 1] : [3, 2, 0, 1];
  const weight = tf.tidy(() => tf.transpose(kernel, perm).dataSync() as Float32Array);
  const dims = depthwise ? [inChannels, 1, kh, kw] : [outChannels, inChannels, kh, kw];
  const [bias, ...activations] = attrStrings(node, "fused_ops");
  if (bias !== "BiasAdd" || activations.length > 1)
    unsupported(node, `fuses ${attrStrings(node, "fused_ops")}`);
  const biasValues = constant(backbone, biasName).dataSync() as Float32Array;
  let y = g.op(
    "Conv",
    [x, g.floats(`${node.name}.weight`, weight, dims), g.floats(`${node.name}.bias`, biasValues, [dims[0]])],
    {
      kernel_shape: [kh, kw],
      strides: [strides[1], strides[2]],
      auto_pad: "SAME_UPPER",
      group: depthwise ? inChannels : 1,
    },
    node.name,
  );
  for (const activation of activations) {
    if (activation === "Relu") y = g.op("Relu", [y]);
    else if (activation === "Relu6") y = relu6(g, y);
    else unsupported(node, `fuses ${activation}`);
  }
  return y;
}

function relu6(g: OnnxGraph, x: string): string {
  return g.op("Clip", [x, g.scalar(0), g.scalar(6)]);
}

/** Mean over NHWC axes (the squeeze-excite's spatial pooling) → the same axes of NCHW. */
function mean(g: OnnxGraph, backbone: CenternetBackbone, node: GraphNode, x: string): string {
  const nhwcToNchw = [0, 2, 3, 1];
  const axes = Array.from(constant(backbone, node.input![1]).dataSync(), (a) => nhwcToNchw[a]);
  const keepDims = (node.attr?.keep_dims as { b?: boolean } | undefined)?.b === true;
  return g.reduce("ReduceMean", x, axes, keepDims);
}

/** An operand of Add or Mul: a tensor of the graph, or a scalar constant. */
function operand(
  g: OnnxGraph,
  backbone: CenternetBackbone,
  nodes: Map<string, GraphNode>,
  name: string,
  value: (name: string) => string,
): string {
  const node = nodes.get(name);
  if (node?.op !== "Const") return value(name);
  const tensor = constant(backbone, name);
  if (tensor.rank !== 0 || tensor.dtype !== "float32") unsupported(node, "is not a float scalar");
  return g.scalar(tensor.dataSync()[0]);
}

/**
 * CenternetBackbone.features on NCHW images in 0..1 → the four maps (strides 4, 8, 16, 32), NCHW. As
 * the module does, the images are scaled by 255 (the detector's raw RGB) and fed to the graph's input.
 */
export function centernetBackbone(
  g: OnnxGraph,
  backbone: CenternetBackbone,
  images: string,
): [string, string, string, string] {
  const nodes = new Map(backbone.graph.nodes.map((node) => [node.name, node]));
  const values = new Map<string, string>([[CENTERNET_MBV3.input, g.op("Mul", [images, g.scalar(255)])]]);
  const value = (ref: string): string => {
    const name = ref.replace(/^\^/, "").replace(/:0$/, "");
    const known = values.get(name);
    if (known) return known;
    const node = nodes.get(name);
    if (!node) throw new VidsegError(`ONNX export: the CenterNet graph has no node "${name}"`);
    const inputs = node.input ?? [];
    const arg = (i: number) => operand(g, backbone, nodes, inputs[i].replace(/:0$/, ""), value);
    let out: string;
    switch (node.op) {
      case "_FusedConv2D":
      case "FusedDepthwiseConv2dNative":
        out = fusedConv(g, backbone, node, value(inputs[0]));
        break;
      case "Add":
      case "Mul":
        out = g.op(node.op, [arg(0), arg(1)]);
        break;
      case "Relu":
        out = g.op("Relu", [value(inputs[0])]);
        break;
      case "Relu6":
        out = relu6(g, value(inputs[0]));
        break;
      case "Mean":
        out = mean(g, backbone, node, value(inputs[0]));
        break;
      default:
        unsupported(node, "has no ONNX emitter");
    }
    values.set(name, out);
    return out;
  };
  return CENTERNET_MBV3.outputs.map(value) as [string, string, string, string];
}
