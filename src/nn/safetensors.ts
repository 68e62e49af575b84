/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
 * N bytes of JSON ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}),
 * then the raw little-endian tensor bytes, offsets relative to the end of the header.
 *
 * Loading accepts F32, F64, F16, BF16 (→ float32), I64, I32, I16, I8, U8 (→ int32) and BOOL; saving
 * writes float32 as F32, int32 as I32 and bool as BOOL.
 */
import * as tf from "@tensorflow/tfjs";
import { readBytes } from "../core/bytes.js";
import { VidsegError } from "../core/errors.js";
import { parseJson, showValue } from "../core/json.js";
import "../runtime/quiet.js";

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Tensors by name plus the optional string metadata. */
export interface SafetensorsContent {
  tensors: Map<string, tf.Tensor>;
  metadata: Record<string, string>;
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new VidsegError("safetensors support requires a little-endian platform");
}

/** Serialises tensors (float32, int32 or bool) into safetensors bytes, names in sorted order. */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const names = [...tensors.keys()].sort();
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new VidsegError(`"__metadata__" is not a valid tensor name`);
    const tensor = tensors.get(name)!;
    const values = tensor.dataSync();
    let bytes: Uint8Array;
    let dtype: string;
    if (tensor.dtype === "float32") {
      dtype = "F32";
      bytes = new Uint8Array(Float32Array.from(values as Float32Array).buffer);
    } else if (tensor.dtype === "int32") {
      dtype = "I32";
      bytes = new Uint8Array(Int32Array.from(values as Int32Array).buffer);
    } else if (tensor.dtype === "bool") {
      dtype = "BOOL";
      bytes = Uint8Array.from(values as Uint8Array, (v) => (v ? 1 : 0));
    } else {
      throw new VidsegError(`cannot save tensor of dtype ${tensor.dtype}`, undefined, name);
    }
    header[name] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
  const headerBytes = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.length;
  }
  return out;
}

/** Parses safetensors bytes; `file` is named in errors. */
export function decodeSafetensors(bytes: Uint8Array, file?: string): SafetensorsContent {
  const tensors = new Map<string, tf.Tensor>();
  const fail = (message: string, where?: string): never => {
    // Nothing half-loaded survives an error.
    for (const t of tensors.values()) t.dispose();
    throw new VidsegError(message, file, where);
  };
  if (bytes.length < 8)
    fail(`not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} exceeds the file size (${bytes.length} bytes)`);
  }
  const dataStart = 8 + Number(headerLength);
  const header = parseJson(new TextDecoder().decode(bytes.subarray(8, dataStart)), file, "JSON header");
  if (typeof header !== "object" || header === null || Array.isArray(header))
    fail("header is not a JSON object");
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (
        typeof entry !== "object" ||
        entry === null ||
        Object.values(entry).some((v) => typeof v !== "string")
      ) {
        fail("__metadata__ must map strings to strings", "__metadata__");
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (typeof entry !== "object" || entry === null) fail("tensor entry is not an object", name);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_BYTES, dtype))
      fail(`unsupported dtype ${showValue(dtype)}`, `${name}.dtype`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail("shape must be an array of non-negative integers", `${name}.shape`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      fail("data_offsets must be [begin, end]", `${name}.data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const itemBytes = DTYPE_BYTES[dtype as string];
    if (end - begin !== count * itemBytes) {
      fail(
        `data_offsets span ${end - begin} bytes, but ${dtype}[${shape}] needs ${count * itemBytes}`,
        `${name}.data_offsets`,
      );
    }
    if (end > dataLength)
      fail(`data_offsets end ${end} beyond the data section (${dataLength} bytes)`, `${name}.data_offsets`);
    ranges.push([begin, end, name]);
    // Copy into a fresh, aligned buffer before viewing it as wider numbers.
    const raw = bytes.slice(dataStart + begin, dataStart + end);
    tensors.set(name, toTensor(raw, dtype as string, shape as number[], count, fail, name));
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) {
      fail(`data of "${ranges[i][2]}" overlaps "${ranges[i - 1][2]}"`, `${ranges[i][2]}.data_offsets`);
    }
  }
  return { tensors, metadata };
}

function toTensor(
  raw: Uint8Array,
  dtype: string,
  shape: number[],
  count: number,
  fail: (message: string, where?: string) => never,
  name: string,
): tf.Tensor {
  const buffer = raw.buffer;
  switch (dtype) {
    case "F32":
      return tf.tensor(new Float32Array(buffer), shape, "float32");
    case "F64":
      return tf.tensor(Float32Array.from(new Float64Array(buffer)), shape, "float32");
    case "F16": {
      const halves = new Uint16Array(buffer);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(halves[i]);
      return tf.tensor(out, shape, "float32");
    }
    case "BF16": {
      // bfloat16 is the top half of a float32.
      const halves = new Uint16Array(buffer);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
      return tf.tensor(new Float32Array(bits.buffer), shape, "float32");
    }
    case "I64": {
      const wide = new BigInt64Array(buffer);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        if (wide[i] > 2147483647n || wide[i] < -2147483648n) {
          fail(`I64 value ${wide[i]} at index ${i} does not fit in int32`, name);
        }
        out[i] = Number(wide[i]);
      }
      return tf.tensor(out, shape, "int32");
    }
    case "I32":
      return tf.tensor(new Int32Array(buffer), shape, "int32");
    case "I16":
      return tf.tensor(Int32Array.from(new Int16Array(buffer)), shape, "int32");
    case "I8":
      return tf.tensor(Int32Array.from(new Int8Array(buffer)), shape, "int32");
    case "U8":
      return tf.tensor(Int32Array.from(raw), shape, "int32");
    default: // BOOL
      return tf.tensor(raw, shape, "bool");
  }
}

/** IEEE 754 half precision → number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Reads a safetensors file (a path in Node, a URL in a browser). */
export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  return decodeSafetensors(await readBytes(path), path);
}

/**
 * Converts a torchvision ResNet state dict (OIHW conv weights, num_batches_tracked counters) into this
 * project's layout: 4-D weights → HWIO, counters dropped, everything else unchanged. The input tensors
 * are left alone; the result holds new tensors.
 */
export function torchvisionToResnetStateDict(state: ReadonlyMap<string, tf.Tensor>): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [name, tensor] of state) {
    if (name.endsWith("num_batches_tracked")) continue;
    out.set(name, tensor.rank === 4 ? tf.transpose(tensor, [2, 3, 1, 0]) : tf.clone(tensor));
  }
  return out;
}

/**
 * Loads a torchvision ResNet state dict saved as safetensors into `model` (a ResNet). With
 * `strict` (default), missing or unexpected names are errors; a torchvision `fc` is ignored when the
 * model has no classifier.
 */
export async function loadTorchvisionResnet(
  model: {
    loadStateDict: (
      values: ReadonlyMap<string, tf.Tensor>,
      options: { strict?: boolean; file?: string },
    ) => unknown;
    fc?: unknown;
  },
  path: string,
  options: { strict?: boolean } = {},
): Promise<void> {
  const { tensors } = await loadSafetensors(path);
  const converted = torchvisionToResnetStateDict(tensors);
  for (const t of tensors.values()) t.dispose();
  if (model.fc === undefined) {
    for (const name of [...converted.keys()]) {
      if (name.startsWith("fc.")) {
        converted.get(name)!.dispose();
        converted.delete(name);
      }
    }
  }
  try {
    model.loadStateDict(converted, { strict: options.strict ?? true, file: path });
  } finally {
    for (const t of converted.values()) t.dispose();
  }
}
