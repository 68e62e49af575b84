/**
 * Hostile input through the CLI, as a user would run it: every case ends with exit code 1 and one line
 * naming the file (or with the official kind of numbers), never a stack trace, a hang, a write outside
 * --out or a changed global. Each case is one that once broke a promise (issue 16).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeDavisImage, writeDavisMask, writeImageSet, writeResultMask } from "../src/formats/davis.js";
import { annotationFromMasks, type YtvisDataset } from "../src/formats/ytvis.js";
import { presetConfig } from "../src/models/config.js";
import { saveModelFile } from "../src/train/checkpoint.js";
import { initRuntime } from "../src/runtime/backend.js";
import { runCli, type CliRun } from "./helpers/cli.js";
import { writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-hostile-"));
const modelFile = join(root, "model.safetensors");
const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
const prototypeToString = Object.prototype.toString;

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await writeRandomOnlineModel(modelFile, 0);
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  // No input may change a global.
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
  expect(Object.prototype.toString).toBe(prototypeToString);
  expect(Object.keys).toBeTypeOf("function");
});

/** Exit code 1 and exactly one line on stderr, `vidseg: error: …` matching `pattern`, nothing else. */
function expectOneLine(run: CliRun, pattern: RegExp): void {
  expect(run.exitCode, run.stderr).toBe(1);
  expect(run.stderr).toMatch(/^vidseg: error: [^\n]*\n$/);
  expect(run.stderr).toMatch(pattern);
  expect(run.stdout).toBe("");
}

function folder(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A 2-frame 8×6 GT with one track (an RLE), file names as given. */
function smallGt(fileNames = ["v/00000.jpg", "v/00001.jpg"]): YtvisDataset {
  const mask = new Uint8Array(48);
  mask.fill(1, 10, 20);
  return {
    videos: [{ id: 1, width: 8, height: 6, length: 2, file_names: fileNames }],
    categories: [{ id: 1, name: "thing" }],
    annotations: [
      annotationFromMasks({ id: 1, videoId: 1, categoryId: 1, masks: [mask, mask], height: 6, width: 8 }),
    ],
  };
}

describe("paths from dataset content stay inside their folders", () => {
  it("infer vis --png: file_names starting with ../../ are refused before anything is written", async () => {
    // The frames really exist where ../../ points, so nothing but the path check stops the run: the
    // PNG folder was dirname(file_names[0]) under --out/Annotations, i.e. the frames' own folder.
    const base = folder("escape-png");
    const victim = folder("escape-png/escape");
    for (const name of ["00000.png", "00001.png"]) {
      await sharp(Buffer.alloc(8 * 6 * 3, 120), { raw: { width: 8, height: 6, channels: 3 } })
        .png()
        .toFile(join(victim, name));
    }
    const before = readdirSync(victim).map((name) => readFileSync(join(victim, name)));
    const split = folder("escape-png/split");
    folder("escape-png/split/JPEGImages");
    writeFileSync(
      join(split, "instances.json"),
      JSON.stringify(smallGt(["../../escape/00000.png", "../../escape/00001.png"])),
    );
    const out = join(base, "out");
    const run = await runCli([
      "infer",
      "vis",
      "--checkpoint",
      modelFile,
      "--input",
      split,
      "--out",
      out,
      "--png",
      "--quiet",
    ]);
    expectOneLine(
      run,
      /instances\.json: videos\[0\]\.file_names\[0\]: path "\.\.\/\.\.\/escape\/00000\.png" leads outside its folder/,
    );
    expect(readdirSync(victim).map((name) => readFileSync(join(victim, name)))).toEqual(before);
    expect(readdirSync(base).sort()).toEqual(["escape", "split"]);
  });

  it("eval davis: a sequence name in ImageSets that leaves the sequence folders is refused", async () => {
    const davis = folder("davis-escape");
    await writeImageSet(davis, "val", ["ok", "../../../../etc"]);
    const run = await runCli([
      "eval",
      "davis",
      "--davis-root",
      davis,
      "--results",
      folder("davis-escape-results"),
      "--task",
      "semi-supervised",
    ]);
    expectOneLine(run, /val\.txt: line 2: path "\.\.\/\.\.\/\.\.\/\.\.\/etc" leads outside its folder/);
  });

  it("eval refer: video names, expression ids and frames in the meta must be single names", async () => {
    const split = folder("refer-escape");
    const meta = (video: string, expId: string, frame: string) =>
      JSON.stringify({
        videos: { [video]: { expressions: { [expId]: { exp: "a cat", obj_id: 1 } }, frames: [frame] } },
      });
    const cases: [string, RegExp][] = [
      [meta("../../x", "0", "00000"), /\$\.videos\["\.\.\/\.\.\/x"\]: path "\.\.\/\.\.\/x" leads outside/],
      [meta("v", "../0", "00000"), /expressions\["\.\.\/0"\]: path "\.\.\/0" leads outside/],
      [meta("v", "0", "/etc/passwd"), /frames\[0\]: path "\/etc\/passwd" is absolute/],
      [meta("v", "a/b", "00000"), /\$\.videos\["v"\]\.expressions\["a\/b"\]: name "a\/b" must be a single/],
    ];
    for (const [text, pattern] of cases) {
      writeFileSync(join(split, "meta_expressions.json"), text);
      const run = await runCli([
        "eval",
        "refer",
        "--protocol",
        "ref-youtube-vos",
        "--split-root",
        split,
        "--results",
        split,
      ]);
      expectOneLine(run, pattern);
    }
  });
});

describe("untrusted JSON cannot reach built-in objects", () => {
  it("a model file whose config holds __proto__ or constructor is refused; Object.prototype is untouched", async () => {
    const categories = { categoryIds: [1], categoryNames: ["a"] };
    const frames = folder("model-frames");
    await sharp(Buffer.alloc(8 * 6 * 3, 120), { raw: { width: 8, height: 6, channels: 3 } })
      .png()
      .toFile(join(frames, "00000.png"));
    for (const [name, config, pattern] of [
      [
        "proto",
        `{"preset": "tiny", "__proto__": {"toString": "pwned"}}`,
        /proto\.safetensors: __metadata__\.info\.config\.__proto__: forbidden key "__proto__"/,
      ],
      [
        "ctor",
        `{"preset": "tiny", "constructor": {"keys": 1}}`,
        /ctor\.safetensors: __metadata__\.info\.config\.constructor: forbidden key "constructor"/,
      ],
    ] as const) {
      const file = join(root, `${name}.safetensors`);
      // JSON.parse keeps "__proto__" as an own key, so the stored JSON holds it as an attacker writes it.
      const info = { kind: "online", config: JSON.parse(config) as never, ...categories };
      await saveModelFile(file, new Map(), info);
      expect(readFileSync(file).toString("latin1")).toContain(
        name === "proto" ? '\\"__proto__\\"' : "constructor",
      );
      const run = await runCli([
        "infer",
        "vis",
        "--checkpoint",
        file,
        "--input",
        frames,
        "--out",
        join(root, "o"),
      ]);
      expectOneLine(run, pattern);
    }
  });

  it("a config file with __proto__ anywhere is refused with the file and the JSON path", async () => {
    const file = join(root, "evil-config.json");
    writeFileSync(file, `{"preset": "tiny", "optim": {"lr": 0.1, "__proto__": {"polluted": true}}}`);
    const run = await runCli(["train", "vis", "--config", file, "--data", root, "--out", join(root, "run")]);
    expectOneLine(run, /evil-config\.json: optim\.__proto__: forbidden key "__proto__"/);
    // Escaped in the JSON text, it is the same key.
    writeFileSync(file, `{"preset": "tiny", "model": {"\\u005f_proto__": {"polluted": true}}}`);
    expectOneLine(
      await runCli(["train", "vis", "--config", file, "--data", root, "--out", join(root, "run")]),
      /model\.__proto__: forbidden key "__proto__"/,
    );
  });

  it("dataset JSON with a prototype key is refused", async () => {
    const gt = join(root, "proto-gt.json");
    writeFileSync(gt, JSON.stringify(smallGt()).replace('"videos":[{', '"videos":[{"prototype":{"x":1},'));
    const run = await runCli(["eval", "ytvis", "--gt", gt, "--results", gt]);
    expectOneLine(run, /proto-gt\.json: videos\[0\]\.prototype: forbidden key "prototype"/);
  });
});

describe("broken and hostile files are one clear line", () => {
  const gtFile = join(root, "gt.json");
  beforeAll(() => writeFileSync(gtFile, JSON.stringify(smallGt())));

  it("--gt a folder or /dev/zero", async () => {
    expectOneLine(
      await runCli(["eval", "ytvis", "--gt", root, "--results", gtFile]),
      /is a folder, not a file/,
    );
    const started = performance.now();
    expectOneLine(
      await runCli(["eval", "ytvis", "--gt", "/dev/zero", "--results", gtFile]),
      /^vidseg: error: \/dev\/zero: is not a regular file/,
    );
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("deeply nested JSON in results, GT and referring meta", async () => {
    const deep = join(root, "deep.json");
    writeFileSync(deep, "[".repeat(5000) + "]".repeat(5000));
    expectOneLine(
      await runCli(["eval", "ytvis", "--gt", gtFile, "--results", deep]),
      /deep\.json: \[0\]: expected an object, got \[\[\[\[.*\.\.\.$/m,
    );
    expectOneLine(
      await runCli(["eval", "ytvis", "--gt", deep, "--results", gtFile]),
      /deep\.json: \(top level\): expected an object, got \[\[\[/,
    );
    writeFileSync(deep, `{"videos": {"v": {"frames": ${"[".repeat(5000) + "]".repeat(5000)}}}}`);
    expectOneLine(
      await runCli(["eval", "refer", "--protocol", "mevis", "--meta", deep, "--results", root]),
      /deep\.json: \$\.videos\["v"\]\.frames\[0\]: expected a string, got \[\[\[/,
    );
  });

  it("a score of 1e999 is 'not finite', not 'null'", async () => {
    const results = join(root, "inf.json");
    writeFileSync(
      results,
      `[{"video_id": 1, "category_id": 1, "score": 1e999, "segmentations": [null, null]}]`,
    );
    expectOneLine(
      await runCli(["eval", "ytvis", "--gt", gtFile, "--results", results]),
      /inf\.json: \[0\]\.score: number is not finite \(Infinity/,
    );
  });

  it("a newline in a file name does not split the line", async () => {
    const results = join(root, "bad\nname.json");
    writeFileSync(results, "{");
    expectOneLine(
      await runCli(["eval", "ytvis", "--gt", gtFile, "--results", results]),
      /bad\\nname\.json: malformed JSON/,
    );
  });

  it("polygons at 4e8 (a 5 KB GT) evaluate at once to valid numbers", async () => {
    const far = 4e8;
    const gt = smallGt();
    gt.annotations[0].segmentations = [
      [[-far, -far, far, -far, far, far, -far, far]],
      Array.from({ length: 60 }, (_, i) => [-far, i, far, i + 0.5, far * (i % 2 ? 1 : -1), far]),
    ];
    const file = join(root, "far-polygons.json");
    writeFileSync(file, JSON.stringify(gt));
    expect(readFileSync(file).length).toBeLessThan(6000);
    const results = join(root, "far-results.json");
    writeFileSync(
      results,
      JSON.stringify([
        { video_id: 1, category_id: 1, score: 0.9, segmentations: smallGt().annotations[0].segmentations },
      ]),
    );
    const started = performance.now();
    const run = await runCli(["eval", "ytvis", "--gt", file, "--results", results, "--json"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
    const stats = (JSON.parse(run.stdout) as { stats: Record<string, number> }).stats;
    for (const value of Object.values(stats)) expect(value === -1 || (value >= 0 && value <= 1)).toBe(true);
  });
});

/** PNG chunks by hand (length, type, data, CRC), for files no encoder writes. */
function pngFile(
  ihdr: { width: number; height: number; depth: number; colourType: number },
  idat: Buffer,
): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    let crc = 0xffffffff;
    for (const byte of body) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE((crc ^ 0xffffffff) >>> 0, 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(ihdr.width, 0);
  header.writeUInt32BE(ihdr.height, 4);
  header[8] = ihdr.depth;
  header[9] = ihdr.colourType;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", header),
    chunk("PLTE", Buffer.from([0, 0, 0, 255, 255, 255])),
    chunk("IDAT", idat),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

describe("hostile PNG masks", () => {
  const davis = join(root, "davis");
  const results = join(root, "davis-results");
  const maskFile = join(results, "bear", "00001.png");
  const evalDavis = () =>
    runCli(["eval", "davis", "--davis-root", davis, "--results", results, "--task", "semi-supervised"]);
  beforeAll(async () => {
    await writeImageSet(davis, "val", ["bear"]);
    const labels = { width: 6, height: 4, data: new Uint8Array(24).fill(1) };
    for (const frame of ["00000", "00001", "00002"]) {
      await writeDavisImage(davis, "bear", frame, new Uint8Array(72).fill(90), 6, 4);
      await writeDavisMask(davis, "semi-supervised", "bear", frame, labels);
      await writeResultMask(results, "bear", frame, labels);
    }
  });

  it("the same folder with a valid prediction scores J&F 1", async () => {
    const run = await runCli([
      "eval",
      "davis",
      "--davis-root",
      davis,
      "--results",
      results,
      "--task",
      "semi-supervised",
      "--json",
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { global: Record<string, number> }).global["J&F-Mean"]).toBe(1);
  });

  it("a PNG bomb (a small file declaring 30000×30000) is refused from its header", async () => {
    // Rows of zeros compress ~1000:1: these 4,000 rows are ~120 KB declaring 900 million pixels.
    const rows = Buffer.alloc(4000 * 30001);
    writeFileSync(
      maskFile,
      pngFile({ width: 30000, height: 30000, depth: 8, colourType: 3 }, deflateSync(rows)),
    );
    const started = performance.now();
    expectOneLine(await evalDavis(), /00001\.png: mask is 30000×30000 but the GT mask is 6×4/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("a deflate bomb behind an honest header is refused before it is inflated in memory", async () => {
    const rows = Buffer.alloc(64 * 1024 * 1024); // 64 MiB of zeros for a 6×4 mask
    writeFileSync(maskFile, pngFile({ width: 6, height: 4, depth: 8, colourType: 3 }, deflateSync(rows)));
    expectOneLine(
      await evalDavis(),
      /00001\.png: PNG image data inflates to more than its declared 6×4 pixels/,
    );
  });

  it("a 16-bit palette PNG (invalid) is refused", async () => {
    const rows = Buffer.concat(
      Array.from({ length: 4 }, () => Buffer.from([0, ...new Array<number>(12).fill(0)])),
    );
    writeFileSync(maskFile, pngFile({ width: 6, height: 4, depth: 16, colourType: 3 }, deflateSync(rows)));
    expectOneLine(await evalDavis(), /00001\.png: invalid PNG: a palette image of bit depth 16/);
  });
});

const hasFfmpeg =
  spawnSync("ffmpeg", ["-version"]).status === 0 && spawnSync("ffprobe", ["-version"]).status === 0;

describe.skipIf(!hasFfmpeg)("video files named like ffmpeg options or protocols are files", () => {
  it("a video named -report, and one named concat:a.mp4|b.mp4, are read as themselves", async () => {
    const dir = folder("ffmpeg-names");
    const encode = (file: string, size: string) =>
      execFileSync("ffmpeg", [
        ...["-v", "error", "-y", "-f", "lavfi", "-i", `testsrc=size=${size}:rate=5:duration=1`],
        ...["-c:v", "mpeg4", "-f", "mp4", `file:${join(dir, file)}`],
      ]);
    encode("-report", "32x16");
    encode("concat:a.mp4|b.mp4", "48x32");
    encode("a.mp4", "16x16");
    encode("b.mp4", "16x16");
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const { openVideo } = await import("../src/infer/sources.js");
      const report = await openVideo("-report");
      expect([report.width, report.height]).toEqual([32, 16]);
      let frames = 0;
      for await (const frame of report) frames += frame.data.length === 32 * 16 * 3 ? 1 : 0;
      expect(frames).toBe(5);
      const concat = await openVideo("concat:a.mp4|b.mp4");
      expect([concat.width, concat.height]).toEqual([48, 32]);
      // -report makes ffmpeg write a log file into the working folder: none may appear.
      expect(readdirSync(dir).filter((name) => name.endsWith(".log"))).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("model config keys are checked as own properties", () => {
  it("resolveVisConfig refuses inherited names even when handed an object directly", async () => {
    const { resolveVisConfig } = await import("../src/models/config.js");
    expect(() => resolveVisConfig(JSON.parse(`{"__proto__": {"toString": "pwned"}}`), "c.json")).toThrow(
      /c\.json: __proto__: unknown section "__proto__"/,
    );
    expect(() => resolveVisConfig({ constructor: { keys: 1 } }, "c.json")).toThrow(
      /unknown section "constructor"/,
    );
    expect(() => resolveVisConfig({ model: { hasOwnProperty: 1 } }, "c.json")).toThrow(
      /model\.hasOwnProperty: unknown field "hasOwnProperty"/,
    );
    expect(resolveVisConfig({ preset: "tiny" })).toEqual(presetConfig("tiny"));
  });
});
