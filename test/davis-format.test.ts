import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  davisMaskPath,
  imageSize,
  listSequenceFrames,
  readImageSet,
  readResultMasks,
  readSequenceGt,
  writeDavisImage,
  writeDavisMask,
  writeImageSet,
  writeResultMask,
} from "../src/formats/davis.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "vidseg-davis-format-"));
}

async function writeSequence(
  root: string,
  sequence: string,
  frames: number,
  width = 6,
  height = 4,
): Promise<void> {
  for (let t = 0; t < frames; t++) {
    const frame = String(t).padStart(5, "0");
    await writeDavisImage(root, sequence, frame, new Uint8Array(width * height * 3).fill(90), width, height);
    const data = new Uint8Array(width * height);
    data[t] = 1;
    data[width * height - 1] = 255;
    await writeDavisMask(root, "semi-supervised", sequence, frame, { width, height, data });
  }
}

describe("DAVIS-2017 folder layout", () => {
  it("writes and reads image sets, JPEGs and palette masks", async () => {
    const root = tempDir();
    await writeImageSet(root, "val", ["bear", "car"]);
    writeFileSync(join(root, "ImageSets", "2017", "train.txt"), "a\n\n b \na\n");
    expect(await readImageSet(root, "val")).toEqual(["bear", "car"]);
    expect(await readImageSet(root, "train")).toEqual(["a", "b"]);
    await writeSequence(root, "bear", 3);
    const listing = await listSequenceFrames(root, "semi-supervised", "bear");
    expect(listing.frames).toEqual(["00000", "00001", "00002"]);
    expect(await imageSize(listing.imageFiles[0]!)).toEqual({ width: 6, height: 4 });
    const gt = await readSequenceGt(root, "semi-supervised", "bear");
    expect(gt.masks.map((m) => [m.data[0], m.data[1], m.data[23]])).toEqual([
      [1, 0, 255],
      [0, 1, 255],
      [0, 0, 255],
    ]);
    const results = join(root, "results");
    await writeResultMask(results, "bear", "00001", {
      width: 6,
      height: 4,
      data: new Uint8Array(24).fill(2),
    });
    const predicted = await readResultMasks(results, "bear", ["00001"], { width: 6, height: 4 });
    expect(predicted[0]!.data[5]).toBe(2);
  });

  it("reports a missing image set, missing images, a missing GT frame and a size mismatch", async () => {
    const root = tempDir();
    await expect(readImageSet(root, "val")).rejects.toThrow(
      /ImageSets\/2017\/val\.txt: image set "val" not found/,
    );
    await expect(listSequenceFrames(root, "unsupervised", "nope")).rejects.toThrow(
      /no images for sequence "nope"/,
    );
    await writeSequence(root, "bear", 3);
    await writeDavisImage(root, "bear", "00003", new Uint8Array(72), 6, 4);
    await expect(listSequenceFrames(root, "semi-supervised", "bear")).rejects.toThrow(
      `${davisMaskPath(root, "semi-supervised", "bear", "00003")}: missing frame: 4 images but 3 GT masks`,
    );
    await writeDavisMask(root, "semi-supervised", "bear", "00003", {
      width: 5,
      height: 4,
      data: new Uint8Array(20),
    });
    await expect(readSequenceGt(root, "semi-supervised", "bear")).rejects.toThrow(
      `${davisMaskPath(root, "semi-supervised", "bear", "00003")}: mask is 5×4 but the video is 6×4`,
    );
  });
});
