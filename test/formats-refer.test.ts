import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "fast-png";
import { describe, expect, it } from "vitest";
import {
  expressionMaskPath,
  metaExpressionsPath,
  parseRefMetaExpressions,
  readObjectMasks,
  readRefMetaExpressions,
  refDavisExpressionSets,
  writeExpressionMask,
  writeObjectMask,
  writeRefMetaExpressions,
  type RefMetaExpressions,
} from "../src/formats/refytvos.js";
import {
  mevisExpressionMask,
  parseMevisMaskDict,
  parseMevisMetaExpressions,
  readMevisMaskDict,
  readMevisMetaExpressions,
  writeMevisMaskDict,
  writeMevisMetaExpressions,
} from "../src/formats/mevis.js";
import { readIndexedPng } from "../src/formats/png.js";
import { encode as encodeRle, toCoco } from "../src/mask/rle.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "vidseg-refer-"));
}

const meta: RefMetaExpressions = {
  videos: {
    cat: {
      expressions: { "0": { exp: "a cat on the left", obj_id: "1" }, "1": { exp: "a dog", obj_id: "2" } },
      frames: ["00000", "00005"],
    },
  },
};

describe("Ref-YouTube-VOS format", () => {
  it("round-trips meta_expressions.json and palette masks", async () => {
    const root = tempDir();
    await writeRefMetaExpressions(metaExpressionsPath(root), meta);
    expect(await readRefMetaExpressions(metaExpressionsPath(root))).toEqual(meta);
    const labels = { width: 3, height: 2, data: Uint8Array.from([0, 1, 2, 2, 1, 0]) };
    await writeObjectMask(root, "cat", "00000", labels);
    await writeObjectMask(root, "cat", "00005", labels);
    const masks = await readObjectMasks(root, "cat", ["00000", "00005"]);
    expect(masks.map((m) => Array.from(m.data))).toEqual([Array.from(labels.data), Array.from(labels.data)]);
    await writeExpressionMask(root, "cat", "1", "00000", labels);
    const binary = await readIndexedPng(expressionMaskPath(root, "cat", "1", "00000"));
    expect(Array.from(binary.data)).toEqual([0, 1, 1, 1, 1, 0]);
  });

  it("accepts numeric obj_id and names the JSON path of bad fields", () => {
    const parsed = parseRefMetaExpressions({
      videos: { v: { expressions: { "0": { exp: "x", obj_id: 3 } }, frames: ["a"] } },
    });
    expect(parsed.videos.v!.expressions["0"]!.obj_id).toBe("3");
    expect(() =>
      parseRefMetaExpressions(
        { videos: { v: { expressions: { "0": { exp: 1, obj_id: "1" } }, frames: [] } } },
        "m.json",
      ),
    ).toThrow('m.json: $.videos["v"].expressions["0"].exp: expected a string, got 1');
    expect(() =>
      parseRefMetaExpressions({ videos: { v: { expressions: {}, frames: ["a", "a"] } } }, "m.json"),
    ).toThrow(/\$\.videos\["v"\]\.frames\[1\]: frame "a" is listed twice/);
    expect(() => parseRefMetaExpressions({ videos: [] }, "m.json")).toThrow(
      "m.json: $.videos: expected an object",
    );
  });

  it("reports a missing frame, a non-indexed PNG and a size mismatch", async () => {
    const root = tempDir();
    await writeObjectMask(root, "v", "0", { width: 2, height: 2, data: new Uint8Array(4) });
    await expect(readObjectMasks(root, "v", ["0", "1"])).rejects.toThrow(
      /Annotations\/v\/1\.png: missing frame/,
    );
    await writeObjectMask(root, "v", "1", { width: 3, height: 2, data: new Uint8Array(6) });
    await expect(readObjectMasks(root, "v", ["0", "1"])).rejects.toThrow(
      /Annotations\/v\/1\.png: mask is 3×2 but the video is 2×2/,
    );
    await expect(readObjectMasks(root, "v", ["0"], { width: 4, height: 4 })).rejects.toThrow(
      /but the video is 4×4/,
    );
    // An RGB PNG (not indexed).
    writeFileSync(
      join(root, "Annotations", "v", "1.png"),
      encode({ width: 2, height: 2, data: new Uint8Array(12), channels: 3, depth: 8 }),
    );
    await expect(readObjectMasks(root, "v", ["1"])).rejects.toThrow(/1\.png: PNG is not indexed/);
  });

  it("splits Ref-DAVIS17 expressions into 4 sets, one expression per object each", () => {
    const expressions: Record<string, { exp: string; obj_id: string }> = {};
    for (let k = 0; k < 8; k++)
      expressions[String(k)] = { exp: `e${k}`, obj_id: String(1 + Math.floor(k / 4)) };
    const sets = refDavisExpressionSets({ videos: { v: { expressions, frames: ["0"] } } });
    expect(sets.map((s) => s.map((r) => `${r.expId}:${r.objId}`))).toEqual([
      ["0:1", "4:2"],
      ["1:1", "5:2"],
      ["2:1", "6:2"],
      ["3:1", "7:2"],
    ]);
    delete expressions["7"];
    expect(() => refDavisExpressionSets({ videos: { v: { expressions, frames: ["0"] } } })).toThrow(
      /object 2 has 3/,
    );
  });
});

describe("MeViS format", () => {
  const meta = {
    videos: {
      v: {
        expressions: { "0": { exp: "moving cars", obj_id: [0, 1], anno_id: [10, 11] } },
        frames: ["00000", "00001"],
      },
    },
  };

  it("parses meta_expressions.json (anno_id kept as mask_dict keys) and round-trips", async () => {
    const parsed = parseMevisMetaExpressions(meta);
    expect(parsed.videos.v!.expressions["0"]).toEqual({
      exp: "moving cars",
      obj_id: [0, 1],
      anno_id: ["10", "11"],
    });
    const dir = tempDir();
    await writeMevisMetaExpressions(join(dir, "meta_expressions.json"), parsed);
    expect(await readMevisMetaExpressions(join(dir, "meta_expressions.json"))).toEqual(parsed);
    expect(() =>
      parseMevisMetaExpressions(
        { videos: { v: { expressions: { "0": { exp: "x", obj_id: ["a"] } }, frames: [] } } },
        "m.json",
      ),
    ).toThrow(
      'm.json: $.videos["v"].expressions["0"].obj_id[0]: expected an integer id (or its decimal string), got "a"',
    );
  });

  it("builds an expression's mask as the union of its objects; absent frames add nothing", async () => {
    const a = toCoco(encodeRle([1, 0, 0, 0, 0, 0], 2, 3));
    const b = toCoco(encodeRle([0, 0, 0, 0, 0, 1], 2, 3));
    const masks = parseMevisMaskDict({ "10": [a, null], "11": [b, b] });
    expect(Array.from(mevisExpressionMask(masks, ["10", "11"], 0, 2, 3))).toEqual([1, 0, 0, 0, 0, 1]);
    expect(Array.from(mevisExpressionMask(masks, ["10", "11"], 1, 2, 3))).toEqual([0, 0, 0, 0, 0, 1]);
    expect(() => mevisExpressionMask(masks, ["10"], 0, 3, 3, "d.json")).toThrow(
      'd.json: $["10"][0]: mask is 3×2 but the video is 3×3',
    );
    expect(() => mevisExpressionMask(masks, ["12"], 0, 2, 3, "d.json")).toThrow(
      "d.json: anno_id 12 is not in",
    );
    const broken = parseMevisMaskDict({ "1": [{ size: [2, 3], counts: "0" }] });
    expect(() => mevisExpressionMask(broken, ["1"], 0, 2, 3, "d.json")).toThrow(
      /^d\.json: \$\["1"\]\[0\]\.counts: malformed RLE/,
    );
    expect(() => parseMevisMaskDict({ "1": [3] }, "d.json")).toThrow(
      'd.json: $["1"][0]: expected an RLE object or null',
    );
    const dir = tempDir();
    await writeMevisMaskDict(join(dir, "mask_dict.json"), masks);
    expect(await readMevisMaskDict(join(dir, "mask_dict.json"))).toEqual(masks);
  });
});
