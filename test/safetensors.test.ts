/** safetensors: a Python-written file in every dtype, round trips, atomic writes and malformed files. */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VidsegError } from "../src/core/errors.js";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  torchvisionToResnetStateDict,
} from "../src/nn/safetensors.js";
import { saveSafetensors } from "../src/nn/safetensors-file.js";

let dir: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  dir = mkdtempSync(join(tmpdir(), "vidseg-st-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Builds a file from a header object and a data section. */
function rawFile(header: unknown, data = new Uint8Array(0), lengthOverride?: number): Uint8Array {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthOverride ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe("safetensors", () => {
  it("reads every supported dtype and the metadata of a file written by Python", async () => {
    const { tensors, metadata } = await loadSafetensors("test/golden/nn-dtypes.safetensors");
    expect(metadata).toEqual({ format: "pt", note: "vidseg test" });
    const get = (name: string) => ({
      dtype: tensors.get(name)!.dtype,
      shape: tensors.get(name)!.shape,
      values: Array.from(tensors.get(name)!.dataSync()),
    });
    expect(get("f32")).toEqual({
      dtype: "float32",
      shape: [2, 2],
      values: [1.5, -2, 0.25, Math.fround(3e-5)],
    });
    expect(get("f64")).toEqual({
      dtype: "float32",
      shape: [2],
      values: [Math.fround(0.1), Math.fround(-1e10)],
    });
    expect(get("f16").values).toEqual([1.5, -2.25, 65504, 2 ** -24]);
    expect(get("bf16").values).toEqual([1, -3.140625, 2 ** 100]);
    expect(get("i64")).toEqual({ dtype: "int32", shape: [2, 1], values: [-5, 2 ** 31 - 1] });
    expect(get("i32").values).toEqual([7, -8, 9]);
    expect(get("i8").values).toEqual([-128, 127]);
    expect(get("u8").values).toEqual([0, 255]);
    expect(get("bool")).toEqual({ dtype: "bool", shape: [3], values: [1, 0, 1] });
    expect(get("empty")).toEqual({ dtype: "float32", shape: [0, 3], values: [] });
  });

  it("round-trips float32, int32 and bool tensors with metadata, header padded to 8 bytes", () => {
    const tensors = new Map<string, tf.Tensor>([
      [
        "b.weight",
        tf.tensor([
          [1.25, -3],
          [Math.PI, 1e-30],
        ]),
      ],
      ["a.count", tf.tensor([1, -2, 3], [3], "int32")],
      ["c.mask", tf.tensor([true, false], [2], "bool")],
    ]);
    const bytes = encodeSafetensors(tensors, { step: "7" });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString());
    expect(header["a.count"]).toEqual({ dtype: "I32", shape: [3], data_offsets: [0, 12] });
    const { tensors: back, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ step: "7" });
    for (const [name, tensor] of tensors) {
      expect(back.get(name)!.dtype).toBe(tensor.dtype);
      expect(back.get(name)!.shape).toEqual(tensor.shape);
      expect(Array.from(back.get(name)!.dataSync())).toEqual(Array.from(tensor.dataSync()));
    }
  });

  it("saves atomically (no temporary files left) and loads back", async () => {
    const file = join(dir, "weights.safetensors");
    await saveSafetensors(file, new Map([["w", tf.tensor([1, 2, 3])]]));
    expect(readdirSync(dir)).toEqual(["weights.safetensors"]);
    const { tensors } = await loadSafetensors(file);
    expect(Array.from(tensors.get("w")!.dataSync())).toEqual([1, 2, 3]);
  });

  it("rejects malformed files with a VidsegError naming the file and the field", async () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(5), /shorter than the 8-byte header length/],
      [rawFile({}, new Uint8Array(0), 1000), /header length 1000 exceeds the file size/],
      [rawFile("{not json"), /JSON header: malformed JSON/],
      [rawFile("[1, 2]"), /header is not a JSON object/],
      [
        rawFile({ w: { dtype: "Q8", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
        /w\.dtype: unsupported dtype "Q8"/,
      ],
      [
        rawFile({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
        /w\.shape: shape must be/,
      ],
      [
        rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
        /w\.data_offsets: data_offsets span 4 bytes, but F32\[2\] needs 8/,
      ],
      [
        rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
        /beyond the data section/,
      ],
      [
        rawFile(
          {
            a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
            b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
          },
          new Uint8Array(8),
        ),
        /b\.data_offsets: data of "b" overlaps "a"/,
      ],
      [rawFile({ __metadata__: { n: 1 } }), /__metadata__: __metadata__ must map strings to strings/],
      [
        rawFile({ w: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8).fill(0x7f)),
        /does not fit in int32/,
      ],
    ];
    for (const [bytes, message] of cases) {
      const file = join(dir, "bad.safetensors");
      writeFileSync(file, bytes);
      const error = await loadSafetensors(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VidsegError);
      expect((error as Error).message).toMatch(/bad\.safetensors: /);
      expect((error as Error).message).toMatch(message);
    }
    await expect(loadSafetensors(join(dir, "missing.safetensors"))).rejects.toThrow(
      /missing\.safetensors: file not found/,
    );
    expect(existsSync(join(dir, "missing.safetensors"))).toBe(false);
  });

  it("converts torchvision layouts: OIHW → HWIO, counters dropped", () => {
    const oihw = tf.tensor4d(
      Array.from({ length: 2 * 3 * 1 * 2 }, (_, i) => i),
      [2, 3, 1, 2],
    );
    const converted = torchvisionToResnetStateDict(
      new Map<string, tf.Tensor>([
        ["conv1.weight", oihw],
        ["bn1.num_batches_tracked", tf.scalar(5, "int32")],
        ["fc.weight", tf.ones([4, 2])],
      ]),
    );
    expect([...converted.keys()]).toEqual(["conv1.weight", "fc.weight"]);
    const hwio = converted.get("conv1.weight")!;
    expect(hwio.shape).toEqual([1, 2, 3, 2]);
    // HWIO[h][w][i][o] = OIHW[o][i][h][w]
    const a = hwio.arraySync() as number[][][][];
    const b = oihw.arraySync() as number[][][][];
    expect(a[0][1][2][1]).toBe(b[1][2][0][1]);
    expect(converted.get("fc.weight")!.shape).toEqual([4, 2]);
  });
});
