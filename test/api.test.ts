import { describe, expect, it } from "vitest";
import * as vidseg from "../src/index.js";

describe("library API", () => {
  it("exposes RLE, the assignment and the evaluators from one entry point", () => {
    const mask = Uint8Array.from([0, 1, 1, 0, 1, 1]); // 2×3, row-major: column 0 empty, columns 1–2 full → runs [2, 4]
    const rle = vidseg.rle.encode(mask, 2, 3);
    expect(vidseg.rle.toCoco(rle)).toEqual({ size: [2, 3], counts: "24" });
    expect(vidseg.rle.decode(rle)).toEqual(mask);
    expect(
      vidseg.linearSumAssignment([
        [4, 1],
        [2, 0],
      ]),
    ).toEqual({ rows: [0, 1], cols: [1, 0] });
    expect(vidseg.YTVIS_STAT_NAMES).toHaveLength(12);
    expect(vidseg.OVIS_STAT_NAMES).toHaveLength(18);
    expect(typeof vidseg.evaluateDavis).toBe("function");
  });
});
