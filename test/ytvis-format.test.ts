import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  annotationFromMasks,
  readResults,
  readYtvis,
  resultFromMasks,
  validateResults,
  validateYtvis,
  writeResults,
  writeYtvis,
  type YtvisDataset,
} from "../src/formats/ytvis.js";

/** Parsed JSON that a test spoils on purpose. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LooseJson = any;

const dir = mkdtempSync(join(tmpdir(), "vidseg-ytvis-format-"));

/** A 2×3 video of 3 frames with one track: a 2-pixel mask, an absent frame, an empty mask. */
function smallDataset(): YtvisDataset {
  const annotation = annotationFromMasks({
    id: 7,
    videoId: 1,
    categoryId: 2,
    height: 2,
    width: 3,
    masks: [[1, 0, 0, 1, 0, 0], null, [0, 0, 0, 0, 0, 0]],
    occlusion: ["no_occlusion", null, "severe_occlusion"],
  });
  return {
    info: { description: "test" },
    videos: [{ id: 1, width: 3, height: 2, length: 3, file_names: ["a.jpg", "b.jpg", "c.jpg"] }],
    categories: [{ id: 2, name: "person", supercategory: "person" }],
    annotations: [annotation],
  };
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe("YouTube-VIS builders", () => {
  it("encodes per-frame masks with areas and boxes, null where absent", () => {
    const annotation = smallDataset().annotations[0];
    // Column 0 is fully set (2 pixels), the rest empty: runs [0, 2, 4] → "024"; empty: [6] → "6".
    expect(annotation.segmentations).toEqual([
      { size: [2, 3], counts: "024" },
      null,
      { size: [2, 3], counts: "6" },
    ]);
    expect(annotation.areas).toEqual([2, null, 0]);
    expect(annotation.bboxes).toEqual([[0, 0, 1, 2], null, [0, 0, 0, 0]]);
    expect(annotation).toMatchObject({
      iscrowd: 0,
      height: 2,
      width: 3,
      length: 3,
      video_id: 1,
      category_id: 2,
    });
    const result = resultFromMasks({
      videoId: 1,
      categoryId: 2,
      score: 0.5,
      height: 2,
      width: 3,
      masks: [null],
    });
    expect(result).toEqual({ video_id: 1, category_id: 2, score: 0.5, segmentations: [null] });
  });
});

describe("YouTube-VIS files", () => {
  it("round-trips through writeYtvis / readYtvis and writeResults / readResults", async () => {
    const dataset = smallDataset();
    await writeYtvis(join(dir, "gt.json"), dataset);
    expect(await readYtvis(join(dir, "gt.json"))).toEqual(dataset);
    const results = [
      resultFromMasks({
        videoId: 1,
        categoryId: 2,
        score: 0.25,
        height: 2,
        width: 3,
        masks: [null, null, null],
      }),
    ];
    await writeResults(join(dir, "res.json"), results);
    expect(await readResults(join(dir, "res.json"), dataset)).toEqual(results);
    expect(readFileSync(join(dir, "res.json"), "utf8")).toBe(JSON.stringify(results));
  });

  it("accepts polygons and uncompressed RLE in the GT and fills missing height/width/length", () => {
    const json = clone(smallDataset()) as unknown as { annotations: Record<string, unknown>[] };
    json.annotations[0].segmentations = [[[0, 0, 2, 0, 2, 1]], [], { size: [2, 3], counts: [1, 2, 3] }];
    delete json.annotations[0].height;
    const dataset = validateYtvis(json, "gt.json");
    expect(dataset.annotations[0].height).toBe(2);
  });

  it("names the file, the JSON path and the problem for malformed annotations", async () => {
    const cases: [string, (d: Record<string, LooseJson>) => void, RegExp][] = [
      [
        "malformed RLE counts",
        (d) => (d.annotations[0].segmentations[2].counts = "6 "),
        /gt\.json: annotations\[0\]\.segmentations\[2\]\.counts: malformed RLE counts/,
      ],
      [
        "runs that do not cover the mask",
        (d) => (d.annotations[0].segmentations[0].counts = "02"),
        /annotations\[0\]\.segmentations\[0\]\.counts: malformed RLE counts: runs cover 2 pixels but the mask has 2×3 = 6/,
      ],
      [
        "mask size disagreeing with the video",
        (d) => (d.annotations[0].segmentations[0].size = [3, 2]),
        /annotations\[0\]\.segmentations\[0\]\.size: mask size 3×2 disagrees with the video's 2×3/,
      ],
      [
        "segmentations shorter than the video",
        (d) => d.annotations[0].segmentations.pop(),
        /annotations\[0\]\.segmentations: has 2 entries but the video has 3 frames/,
      ],
      ["missing field", (d) => delete d.annotations[0].areas, /annotations\[0\]\.areas: missing field/],
      [
        "wrong type",
        (d) => (d.videos[0].width = "3"),
        /videos\[0\]\.width: expected a finite number, got "3"/,
      ],
      [
        "unknown video",
        (d) => (d.annotations[0].video_id = 9),
        /annotations\[0\]\.video_id: annotation for video 9/,
      ],
      [
        "duplicate ids",
        (d) => d.annotations.push(d.annotations[0]),
        /annotations\[1\]\.id: duplicate annotation id 7/,
      ],
      [
        "bad occlusion label",
        (d) => (d.annotations[0].occlusion[1] = "partial"),
        /annotations\[0\]\.occlusion\[1\]: unknown occlusion label "partial"/,
      ],
      [
        "polygon with two points",
        (d) => (d.annotations[0].segmentations[1] = [[0, 0, 1, 1]]),
        /annotations\[0\]\.segmentations\[1\]\[0\]: a polygon .* at least 3 points/,
      ],
      ["not an object", (d) => (d.videos = {}), /videos: expected a list/],
    ];
    for (const [name, spoil, message] of cases) {
      const json = clone(smallDataset()) as unknown as Record<string, LooseJson>;
      spoil(json);
      const file = join(dir, `bad-${name.replace(/ /g, "-")}-gt.json`);
      writeFileSync(file, JSON.stringify(json));
      await expect(readYtvis(file), name).rejects.toThrow(message);
    }
  });

  it("names the file, the JSON path and the problem for malformed results", async () => {
    const gt = smallDataset();
    const good = () => [
      { video_id: 1, category_id: 2, score: 0.5, segmentations: [null, { size: [2, 3], counts: "6" }, null] },
    ];
    const cases: [string, (r: Record<string, LooseJson>[]) => void, RegExp][] = [
      [
        "unknown video",
        (r) => (r[0].video_id = 5),
        /res\.json: \[0\]\.video_id: result for video 5, which is not in the GT/,
      ],
      [
        "unknown category (strict)",
        (r) => (r[0].category_id = 3),
        /\[0\]\.category_id: result for category 3, which is not in the GT/,
      ],
      [
        "length",
        (r) => r[0].segmentations.push(null),
        /\[0\]\.segmentations: has 4 entries but the video has 3 frames/,
      ],
      [
        "size",
        (r) => (r[0].segmentations[1].size = [2, 4]),
        /\[0\]\.segmentations\[1\]\.size: mask size 2×4/,
      ],
      [
        "counts",
        (r) => (r[0].segmentations[1].counts = "6\u00ff"),
        /\[0\]\.segmentations\[1\]\.counts: malformed RLE counts/,
      ],
      ["score", (r) => (r[0].score = null), /\[0\]\.score: expected a finite number, got null/],
      [
        "polygons",
        (r) => (r[0].segmentations[0] = [[0, 0, 1, 0, 1, 1]]),
        /\[0\]\.segmentations\[0\]: results must use RLE/,
      ],
    ];
    for (const [name, spoil, message] of cases) {
      const results = good();
      spoil(results);
      const file = join(dir, `bad-${name}-res.json`);
      writeFileSync(file, JSON.stringify(results));
      await expect(readResults(file, gt, { strict: true }), name).rejects.toThrow(message);
    }
    // By default a category that is not in the GT is accepted: the official evaluators never score it.
    const unknownCategory = good();
    unknownCategory[0].category_id = 3;
    expect(validateResults(clone(unknownCategory), "res.json", gt)).toEqual(unknownCategory);
    expect(() => validateResults({}, "res.json")).toThrow(/res\.json: \(top level\): expected a list/);
    await expect(readResults(join(dir, "missing.json"))).rejects.toThrow(/missing\.json: file not found/);
  });
});

describe("YouTube-VIS splits without GT", () => {
  it('reads `"annotations": null` (the official valid/test splits) as no annotations', () => {
    const json: LooseJson = clone(smallDataset());
    json.annotations = null;
    expect(validateYtvis(json, "valid.json").annotations).toEqual([]);
    delete json.annotations;
    expect(validateYtvis(json, "valid.json").annotations).toEqual([]);
  });
});
