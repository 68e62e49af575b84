/**
 * A small ONNX graph builder over the `onnx-proto` message classes (protobufjs): nodes with generated
 * value names, float32 / int64 initializers, graph inputs and outputs with symbolic dimensions, and the
 * serialised model with its metadata. The module emitters (onnx-modules.ts) build on it.
 */
import onnxProto from "onnx-proto";
import { VidsegError } from "../core/errors.js";

const { onnx } = onnxProto;

/** The opsets the emitters know (ReduceX take their axes as an input from 18; GridSample says "linear" from 20). */
export const MIN_OPSET = 16;
export const MAX_OPSET = 21;
export const DEFAULT_OPSET = 17;

/** ONNX element types used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7, BOOL: 9 } as const;

/** Attributes whose numbers are floats (every other number is an INT attribute). */
const FLOAT_ATTRIBUTES = new Set(["epsilon", "alpha", "beta"]);

export type AttributeValue = number | number[] | string;

/** A graph input or output: its element type and its dimensions (a string is a symbolic dimension). */
export interface ValueSpec {
  name: string;
  type: number;
  dims: (number | string)[];
}

export class OnnxGraph {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly constants = new Map<string, string>();
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private counter = 0;

  constructor(readonly opset: number) {
    if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
      throw new VidsegError(`ONNX opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
    }
  }

  /** A fresh value name from a hint (names are unique within the graph). */
  fresh(hint: string): string {
    return `${hint.replace(/[^A-Za-z0-9_.]/g, "_")}__${this.counter++}`;
  }

  /** Adds a node with one output and returns the output's name. */
  op(type: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, hint = type): string {
    return this.opN(type, inputs, 1, attributes, hint)[0];
  }

  /** Adds a node with `outputs` outputs. */
  opN(
    type: string,
    inputs: string[],
    outputs: number,
    attributes: Record<string, AttributeValue> = {},
    hint = type,
  ): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(hint));
    this.nodes.push(
      onnx.NodeProto.create({
        opType: type,
        name: this.fresh(`${type}_node`),
        input: inputs,
        output: names,
        attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
      }),
    );
    return names;
  }

  /** A float32 initializer (copied). */
  floats(hint: string, data: ArrayLike<number>, dims: number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`initializer ${hint}: ${data.length} values for [${dims}]`);
    const values = Float32Array.from(data);
    return this.initializer(hint, DataType.FLOAT, dims, new Uint8Array(values.buffer));
  }

  /** An int64 initializer, shared between uses of the same values. */
  int64s(values: readonly number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join("x")}:${values.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      const bytes = new BigInt64Array(values.map((v) => BigInt(v)));
      name = this.initializer("const_i64", DataType.INT64, dims, new Uint8Array(bytes.buffer));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A float32 scalar (rank 0), shared between uses of the same value. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.initializer("const_f32", DataType.FLOAT, [], new Uint8Array(Float32Array.of(value).buffer));
      this.constants.set(key, name);
    }
    return name;
  }

  private initializer(hint: string, dataType: number, dims: number[], rawData: Uint8Array): string {
    const name = this.fresh(hint);
    this.initializers.push(onnx.TensorProto.create({ name, dataType, dims, rawData }));
    return name;
  }

  input(spec: ValueSpec): string {
    this.inputs.push(spec);
    return spec.name;
  }

  /** Names `value` as a graph output (through an Identity node, so any value can be one). */
  output(value: string, spec: Omit<ValueSpec, "name"> & { name: string }): void {
    this.nodes.push(
      onnx.NodeProto.create({
        opType: "Identity",
        name: this.fresh("output_node"),
        input: [value],
        output: [spec.name],
      }),
    );
    this.outputs.push(spec);
  }

  /** ReduceMean/ReduceMax/ReduceSum/ReduceL2 over `axes`, in the form the opset wants. */
  reduce(type: string, x: string, axes: number[], keepdims = true): string {
    const keep = keepdims ? 1 : 0;
    // ReduceSum has taken its axes as an input since opset 13, the others since 18.
    if (type === "ReduceSum" || this.opset >= 18)
      return this.op(type, [x, this.int64s(axes)], { keepdims: keep });
    return this.op(type, [x], { axes, keepdims: keep });
  }

  /** The serialised model: this graph, its opset and `metadata` (string → string). */
  toBytes(graphName: string, metadata: Record<string, string>, producerVersion: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "vidseg",
      producerVersion,
      opsetImport: [{ domain: "", version: this.opset }],
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: onnx.GraphProto.create({
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(spec: ValueSpec) {
  return onnx.ValueInfoProto.create({
    name: spec.name,
    type: {
      tensorType: {
        elemType: spec.type,
        shape: {
          dim: spec.dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })),
        },
      },
    },
  });
}

function attribute(name: string, value: AttributeValue) {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === "string") {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) {
    return FLOAT_ATTRIBUTES.has(name)
      ? { name, type: AttributeType.FLOATS, floats: value }
      : { name, type: AttributeType.INTS, ints: value };
  }
  return FLOAT_ATTRIBUTES.has(name)
    ? { name, type: AttributeType.FLOAT, f: value }
    : { name, type: AttributeType.INT, i: value };
}
